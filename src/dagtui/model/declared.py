"""Where a file states its parallel strategy, and what it states.

Files write their strategy in many places: the graph label and name, a `comment` attribute,
`//` and `#` comment lines, cluster labels, node labels, the file name. Each place is read into
a `Statement`; the degree of an axis is taken from the most trusted place that states it, and two
whole-file statements that disagree are kept as a conflict (STG002 reports it).

Trust, highest first: the graph label, the graph name, the `comment` attribute and the comment
lines before the first statement (the file's title) are whole-file statements; then the file
name. Comments inside the graph, cluster labels and node labels often describe a part (`experts
TP=2` beside attention `TP=8`): they fill in axes nothing above states, and only when they agree.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

from dagtui.dot.labels import label_lines
from dagtui.dot.raw import RawGraph
from dagtui.model.strategy import (
    AXES,
    Statement,
    Strategy,
    degree_matches,
    explicit_matches,
    parse_declared_total,
    parse_degrees,
)

_WHOLE_FILE = ("graph label", "graph name", "comment attribute", "title comment")
_FILE_NAME = "file name"


@functools.lru_cache(maxsize=65536)
def line_degrees(line: str) -> tuple[tuple[str, int], ...]:
    """Degrees a node label line states (`TP=8 across GPUs 0-7`, `EP64-TP8-PP2`, `TP8-EP64`), never
    ranks: not a placement line (`GPU: EP1, PP1` names ranks), and a run of two axes only where
    neither is 0 or 1 (`PP0_TP1` numbers ranks)."""
    if _PLACEMENT_LINE.match(line):
        return ()
    explicit = explicit_matches(line)
    seen = set(explicit)
    chained = [m for m in degree_matches(line, single_tokens=False, count_first=False) if m not in seen]
    axes = {m.axis for m in chained}
    states_degrees = len(axes) >= 3 or (len(axes) == 2 and all(m.value >= 2 for m in chained))
    matches = explicit + (chained if states_degrees else [])
    degrees: dict[str, int] = {}
    for match in sorted(matches, key=lambda m: m.start):
        degrees.setdefault(match.axis, match.value)  # a 0 is kept: across nodes it shows an index
    return tuple(degrees.items())


_PLACEMENT_LINE = re.compile(r"^\s*(?:gpus?|devices?|placement|ranks?)\s*[:=]", re.IGNORECASE)


def declared_strategy(raw: RawGraph, node_lines: Iterable[list[str]], legends: Iterable[tuple[str, list[str]]] = ()) -> Strategy:
    """The strategy the file states, with where each degree was read and the conflicts between
    whole-file statements; `node_lines` are the nodes' label lines, `legends` the (id, lines) of
    its legend boxes, which speak for the whole file as a title does."""
    whole, local = _statements(raw, node_lines, legends)
    strategy = Strategy()
    named_only: set[str] = set()  # axes a graph name gave by a bare token (`sglang_dpattn_ep_3`)
    for statement in whole:
        explicit = {match.axis for match in explicit_matches(statement.text)}
        for axis, value in statement.degrees.items():
            if axis not in strategy.declared:
                _declare(strategy, axis, value, statement)
                if statement.source == "graph name" and axis not in explicit:
                    named_only.add(axis)
            elif strategy.degrees[axis] != value and axis in named_only and axis in explicit:
                _declare(strategy, axis, value, statement)  # an explicit statement (`--ep-size 8`) over a name's token
                named_only.discard(axis)
            elif strategy.degrees[axis] != value:
                first = next(s for s in whole if s.degrees.get(axis) == strategy.degrees[axis])
                strategy.conflicts.append((axis, first, statement))
    for axis in AXES:
        if axis in strategy.declared:
            continue
        # One value, stated the same everywhere; `TP:0` here and `TP:1` there number ranks.
        values = {statement.degrees[axis] for statement in local if axis in statement.degrees}
        if len(values) == 1 and min(values) > 0:
            _declare(strategy, axis, values.pop(), next(s for s in local if axis in s.degrees))
    for statement in whole:
        if _DP_ATTENTION.search(statement.text) and {"tp", "dp"} <= statement.degrees.keys() \
                and strategy.degrees.get("tp") == statement.degrees["tp"] and statement.degrees["dp"] \
                and statement.degrees["tp"] % statement.degrees["dp"] == 0:
            # SGLang's `--tp-size 8 --dp-size 8 --enable-dp-attention`: tp-size counts the stage's GPUs;
            # attention runs tp-size/dp-size wide in each of dp-size replicas.
            strategy.degrees["tp"] = statement.degrees["tp"] // statement.degrees["dp"]
            break
    for statement in whole:
        if _SERVING_COMMAND.search(statement.text):
            # `vllm serve --tensor-parallel-size 4`: a command line states every degree, the ones it
            # leaves out at the tool's default of 1.
            for axis in ("tp", "pp", "dp"):
                if axis not in strategy.declared:
                    _declare(strategy, axis, 1, Statement(statement.source, statement.text, {axis: 1}))
            break
    for statement in whole:
        total = parse_declared_total(statement.text)
        if total is not None:
            strategy.declared_total = total
            break
    return strategy


_CONTEXT_PARALLEL = re.compile(r"(?<![a-z])cp(?![a-z])|context[-_ ]?parallel", re.IGNORECASE)
_DP_ATTENTION = re.compile(r"--enable-dp-attention\b", re.IGNORECASE)
_SERVING_COMMAND = re.compile(r"--(?:tensor|pipeline|data)-parallel-size\b|--(?:tp|pp|dp)-size\b", re.IGNORECASE)


def _declare(strategy: Strategy, axis: str, value: int, statement: Statement) -> None:
    strategy.degrees[axis] = value
    strategy.declared.add(axis)
    strategy.sources[axis] = statement.source
    if axis == "sp" and _CONTEXT_PARALLEL.search(statement.text):
        strategy.context_parallel = True
    if strategy.raw is None:
        strategy.raw, strategy.source = statement.text, statement.source


def _statements(raw: RawGraph, node_lines: Iterable[list[str]],
                legends: Iterable[tuple[str, list[str]]] = ()) -> tuple[list[Statement], list[Statement]]:
    """Whole-file statements in trust order (file name last), and local ones (body comments,
    clusters, nodes); only statements that state a degree."""
    whole: list[Statement] = []
    local: list[Statement] = []

    def add(into: list[Statement], source: str, text: str, **options: bool) -> None:
        text = " ".join(label_lines(text)) if "\\" in text or "<" in text else " ".join(text.split())
        degrees = parse_degrees(text, **options) if text else {}
        if degrees:
            into.append(Statement(source, text, degrees))

    add(whole, "graph label", raw.attrs.get("label", ""))
    add(whole, "graph name", raw.name)
    add(whole, "comment attribute", raw.attrs.get("comment", ""))
    for legend_id, lines in legends:
        add(whole, f"legend `{legend_id}`", " · ".join(lines), single_tokens=False)
    for comment in raw.comments:
        if comment.header:
            add(whole, "title comment", comment.text)
        else:
            add(local, f"comment at line {comment.line}", comment.text, single_tokens=False)
    add(whole, _FILE_NAME, Path(raw.file).stem)
    clusters: list[Statement] = []
    for cluster in raw.clusters():
        add(clusters, f"cluster `{cluster.name}`", cluster.label, single_tokens=False, keep_zero=True)
    local.extend(_without_varying_axes(clusters))
    for lines in node_lines:
        for line in lines:
            degrees = line_degrees(line)
            if degrees:
                local.append(Statement("a node label", line, dict(degrees)))
    return whole, local


def _without_varying_axes(statements: list[Statement]) -> list[Statement]:
    """Cluster labels that name an axis with different values (`DP1 PP2`, `DP2 PP2` in a drawing
    per replica) name ranks, not degrees: drop those axes."""
    values: dict[str, set[int]] = {}
    for statement in statements:
        for axis, value in statement.degrees.items():
            values.setdefault(axis, set()).add(value)
    varying = {axis for axis, seen in values.items() if len(seen) > 1}
    kept = []
    for statement in statements:
        degrees = {axis: value for axis, value in statement.degrees.items() if axis not in varying and value > 0}
        if degrees:
            kept.append(Statement(statement.source, statement.text, degrees))
    return kept


def is_whole_file(source: str) -> bool:
    """Whether a statement's source speaks for the whole file (its title), not for a part."""
    return source in _WHOLE_FILE or source == _FILE_NAME
