"""Parallel strategies: parse `EP64-TP8-PP2-DP2` and the dozen other ways files write them.

A degree is a count (`TP=8`, `TP: 8`, `tp_size=8`, `8-way TP`, `16 EP x 4 TP`, `PP4_TP4_DP2_EP1`);
a rank is an index (`TP3`, `EP0-EP63`, `dp1_pp0_tp7`). Only degrees are read here; ranks are
read by `gpus.parse_ranks`, and a text's degree statements are masked before ranks are read
(`degree_spans`), so that `TP=8` never becomes rank 8.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from dagtui.errors import ConfigError
from dagtui.model import templates

AXES = ("ep", "tp", "pp", "dp", "sp")
MAX_DEGREE = 1_000_000
MAX_GPUS = 10_000_000

_AXIS = r"(EP|TP|PP|DP|SP|CP)"
_WORD_AXES = {"expert": "ep", "tensor": "tp", "pipeline": "pp", "data": "dp", "sequence": "sp", "context": "sp",
              "column": "tp", "row": "tp"}
_AXIS_WORD = r"(expert|tensor|pipeline|data|sequence|context)"
# Forms that state a degree wherever they stand; not `Expert Parallelism: 1 expert per GPU`.
_NOT_A_COUNT_OF_RANKS = r"(?![\d.])(?!\s*(?:experts?\s+)?per\b)"
_EXPLICIT = [
    # TP=8, TP: 8, tp_size=8, TP degree = 8, EP-size: 16, `TP=8×EP=1`; not the last factor of a product
    # of axes (`TP*PP*DP = 4`, `TP x PP x DP = 16`)
    re.compile(r"(?<![A-Za-z][*×/])(?<![A-Za-z]\s[*×x/]\s)" + _AXIS + r"(?:[-_ ]?(?:size|degree|world[-_ ]?size|ways?))?\s*[=:]\s*(\d+)" + _NOT_A_COUNT_OF_RANKS, re.IGNORECASE),
    # 8-way TP, 8 way EP
    re.compile(r"(?<![\w.])(\d+)\s*[-‐ ]?\s*ways?\s+" + _AXIS + r"\b", re.IGNORECASE),
    # 8-way tensor parallel(ism); 8-way column-parallel FC1 (a column or row split is tensor parallelism)
    re.compile(r"(?<![\w.])(\d+)\s*[-‐ ]?\s*ways?\s+" + _AXIS_WORD + r"[-_ ]?parallel", re.IGNORECASE),
    re.compile(r"(?<![\w.])(\d+)\s*[-‐ ]?\s*ways?\s+(column|row)[-_ ]?parallel", re.IGNORECASE),
    # 16 devices (sequence parallel), 8 GPUs for tensor parallelism
    re.compile(r"(?<![\w.])(\d+)\s*(?:devices|gpus|ranks)\s*[(\[,:-]?\s*(?:for\s+|with\s+)?" + _AXIS_WORD + r"[-_ ]?parallel",
               re.IGNORECASE),
    # sequence parallelism across 16 devices
    re.compile(_AXIS_WORD + r"[-_ ]?parallel(?:ism)?\s+(?:across|over|on)\s+(\d+)\s*(?:devices|gpus|ranks)", re.IGNORECASE),
    # Data Parallel (3 groups), expert parallelism: 16 ranks
    re.compile(_AXIS_WORD + r"[-_ ]?parallel(?:ism)?\s*[:(]?\s*(\d+)\s*(?:groups|replicas|ranks)\b", re.IGNORECASE),
    # Tensor Parallel 4-way, tensor parallelism (8-way)
    re.compile(_AXIS_WORD + r"[-_ ]?parallel(?:ism)?\s*[:(]?\s*(\d+)\s*[-‐ ]?\s*ways?\b", re.IGNORECASE),
    # vLLM's and SGLang's flags: --tensor-parallel-size 4, --pipeline-parallel-size 2, --data-parallel-size 2
    re.compile(r"--" + _AXIS_WORD + r"-parallel-size[=\s]+(\d+)", re.IGNORECASE),
    # SGLang's: --tp-size 8, --dp-size 8, --ep-size 8, --pp-size 2
    re.compile(r"--" + _AXIS + r"-size[=\s]+(\d+)", re.IGNORECASE),
    # 2 pipeline stages
    re.compile(r"(?<![\w.])(\d+)\s+(pipeline)\s+stages\b", re.IGNORECASE),
    # tensor parallel(ism) (degree|size)?: 8, tensor parallelism of 8, Megatron's tensor_model_parallel_size=8
    # (not its expert_tensor_parallel_size: the TP of the experts alone)
    re.compile(r"(?<!expert[-_])" + _AXIS_WORD + r"[-_ ]?(?:model[-_ ]?)?parallel(?:ism)?(?:[-_ ]?(?:degree|size))?\s*(?:[=:]|of|degree|size)\s*(\d+)"
               + _NOT_A_COUNT_OF_RANKS, re.IGNORECASE),
]
# `16 EP x 4 TP`: a count before the axis, then a separator or the end (not `3 TP rank`).
_COUNT_FIRST = re.compile(
    r"(?<![\w.=:-])(?<!layer )(?<!stage )(?<!rank )(?<!gpu )(\d+)\s*" + _AXIS
    + r"(?=\s*(?:[x×*,;)\]/+]|and\b|$))", re.IGNORECASE,
)
# A rank range, `TP0-TP7`, `EP0-63`, `PP 0 to 3`: neither end is a degree.
_RANK_RANGE = re.compile(
    r"(?<![A-Za-z0-9])" + _AXIS + r"[-_ ]?\d+\s*(?:-|–|to|\.\.)\s*(?:\1[-_ ]?)?\d+(?![\d.])", re.IGNORECASE,
)
# `EP64`, `EP-16`, `tp8`, `TP 8`: a token that is a degree or a rank, depending on its company.
_TOKEN = re.compile(r"(?<![A-Za-z0-9])" + _AXIS + r"[-_ ]?(\d+)(?![\d.])", re.IGNORECASE)
_CHAIN_GAP = re.compile(r"^\s*(?:[-_,/x×*+|]|and|\s)\s*(?:[-_,/x×*+|]\s*)?$", re.IGNORECASE)
# `Total GPUs: 2048`, `2048 GPUs`; not the value of another key before a line break (`vocab=32000` then
# `gpu = ((dp_rank*PP ...`).
_TOTAL = re.compile(r"(?:total\s*gpus?\s*[:=]?\s*(\d+))|(?:(?<![=:\w.])(?<!x )(?<!× )(\d+)\s*gpus?\b(?!\s*(?:per|/|each)\s*(?:node|host)))",
                    re.IGNORECASE)  # not `2 nodes x 8 GPUs`, `8 GPUs per node`: one host's


def _axis(name: str) -> str:
    name = name.lower()
    return _WORD_AXES.get(name, "sp" if name == "cp" else name)


@dataclass(frozen=True)
class DegreeMatch:
    """One degree statement in a text: the axis, its value and where it stands."""

    axis: str
    value: int
    start: int
    end: int


# A match found in a template: its axis, where its value stands, and where it starts and ends.
# The values are read from the text itself (see `templates`): all these patterns treat every digit
# alike, and `_RANK_RANGE`'s back-reference repeats an axis, never a number.
_Shape = tuple[str, int, int, int, int]


def _replayed(text: str, shapes: tuple[_Shape, ...]) -> list[DegreeMatch]:
    return [DegreeMatch(axis, int(text[low:high]), start, end) for axis, low, high, start, end in shapes]


def explicit_matches(text: str) -> list[DegreeMatch]:
    """The degrees `text` states in explicit forms only (`TP=8`, `8-way TP`, `tp_size=8`)."""
    return _replayed(text, _explicit(templates.template(text)))


@functools.lru_cache(maxsize=16384)
def _explicit(masked: str) -> tuple[_Shape, ...]:
    found = []
    for pattern in _EXPLICIT:
        for match in pattern.finditer(masked):
            axis, value = (1, 2) if not match.group(1).isdigit() else (2, 1)
            found.append((_axis(match.group(axis)), match.start(value), match.end(value), match.start(), match.end()))
    for listed in _WORD_LIST.finditer(masked):
        items = list(_WORD_ITEM.finditer(masked, listed.start(), listed.end()))
        if len({_axis(item.group(1)) for item in items}) == len(items):  # not `expert 3, expert 4 and expert 5`
            found.extend((_axis(item.group(1)), item.start(2), item.end(2), item.start(), item.end()) for item in items)
    return tuple(found)


# `expert 4, tensor 2, pipeline 2, data 1`: three different axis words at least, each with its
# degree, in a list (one alone, "expert 4", is an expert's number).
_WORD_ITEM = re.compile(r"\b" + _AXIS_WORD + r"\s+(\d+)\b", re.IGNORECASE)
_WORD_LIST = re.compile(r"\b" + _AXIS_WORD + r"\s+\d+(?:\s*(?:,|;|\band\b)\s*(?:and\s+)?" + _AXIS_WORD + r"\s+\d+\b){2,}",
                        re.IGNORECASE)


def _marks(length: int, spans) -> bytearray:
    """Which offsets of a text fall in one of `spans`: a lookup per token instead of a walk over
    every span (which made a line of many statements quadratic)."""
    marks = bytearray(length + 1)
    for start, end in spans:
        marks[start:end] = b"\x01" * (end - start)
    return marks


def _chains(masked: str, taken: bytearray) -> list[tuple[_Shape, ...]]:
    """Runs of `AXISn` tokens joined by `-`, `_`, `x`, `,` or spaces (`EP64-TP8-PP2-DP2`), each
    run a tuple; rank ranges (`TP0-TP7`, `EP0-63`) are ranks and break runs."""
    chains: list[tuple[_Shape, ...]] = []
    current: list[_Shape] = []
    ranges = _marks(len(masked), ((match.start(), match.end()) for match in _RANK_RANGE.finditer(masked)))
    for match in _TOKEN.finditer(masked):
        if taken[match.start()]:
            continue
        if ranges[match.start()]:
            if current:
                chains.append(tuple(current))
            current = []
            continue
        token = (_axis(match.group(1)), match.start(2), match.end(2), match.start(), match.end())
        if current and _CHAIN_GAP.match(masked[current[-1][4]:match.start()]):
            current.append(token)
        else:
            if current:
                chains.append(tuple(current))
            current = [token]
    if current:
        chains.append(tuple(current))
    return chains


@functools.lru_cache(maxsize=16384)
def _statements(masked: str, count_first: bool) -> tuple[tuple[_Shape, ...], tuple[tuple[_Shape, ...], ...]]:
    """The explicit and count-first statements of a template, and its runs of `AXISn` tokens."""
    found = list(_explicit(masked))
    taken = _marks(len(masked), ((start, end) for _, _, _, start, end in found))
    if count_first:
        for match in _COUNT_FIRST.finditer(masked):
            if not taken[match.start()]:
                found.append((_axis(match.group(2)), match.start(1), match.end(1), match.start(), match.end()))
                taken[match.start():match.end()] = b"\x01" * (match.end() - match.start())
    return tuple(found), tuple(_chains(masked, taken))


_RANK_WORD_BEFORE = re.compile(r"\branks?\s*[:=#]?\s*[`'\"(\[]?\s*$", re.IGNORECASE)


def degree_matches(text: str, single_tokens: bool = True, count_first: bool = True) -> list[DegreeMatch]:
    """Every degree `text` states, in order of position.

    Explicit forms (`TP=8`, `8-way TP`, `tensor parallel size 8`) always count. `AXISn` tokens count
    in runs of two or more axes (`EP64-TP8`, `PP4_TP4_DP2_EP1`) unless a value is 0 (then the run
    names ranks: `dp1_pp0_tp7`), and alone only where `single_tokens` (a graph label or title:
    `Baseline TP8`, not a node label's `QKV TP3`). `count_first` reads `16 EP x 4 TP`.
    """
    statements, chains = _statements(templates.template(text), count_first)
    found = _replayed(text, statements)
    for chain in chains:
        tokens = _replayed(text, chain)
        axes = {token.axis for token in tokens}
        if any(token.value == 0 for token in tokens):
            continue  # ranks: `DP0_PP1`, `dp1_pp0_tp7`
        if len(tokens) == 1 and _RANK_WORD_BEFORE.search(text[max(0, tokens[0].start - 12):tokens[0].start]):
            continue  # `rank: tp1`, `on rank TP3`: the word says it is a rank
        if len(axes) >= 2 or single_tokens:
            found.extend(tokens)
    if "no " in text.lower():  # `(no data parallelism)`: a degree of 1, in words
        found.extend(DegreeMatch(_axis(m.group(1)), 1, m.start(), m.end()) for m in _NO_PARALLELISM.finditer(text))
    # A degree past MAX_DEGREE states nothing dagtui can use: checks would enumerate its ranks.
    return sorted((m for m in found if m.value <= MAX_DEGREE), key=lambda m: m.start)


_NO_PARALLELISM = re.compile(r"\bno\s+" + _AXIS_WORD + r"[-_ ]?parallel(?:ism)?\b", re.IGNORECASE)


def parse_degrees(text: str, single_tokens: bool = True, count_first: bool = True, keep_zero: bool = False) -> dict[str, int]:
    """Degrees written in free text: `EP64-TP8-PP2-DP2`, `EP-16 x TP-4`, `TP=4, EP=16`, `TP8_PP2`,
    `8-way TP`, `16 EP x 4 TP`; the first statement of each axis wins. Rank ranges (`TP0-TP7`)
    and zero values are ranks, not degrees, and are ignored (`keep_zero` keeps `DP=0`, so that a
    caller can see that a set of labels numbers replicas)."""
    degrees: dict[str, int] = {}
    for match in degree_matches(text, single_tokens, count_first):
        if match.value > 0 or keep_zero:
            degrees.setdefault(match.axis, match.value)
    return degrees


def degree_spans(text: str) -> list[tuple[int, int]]:
    """Where `text` states degrees in explicit forms (`TP=8`, `8-way TP`): spans that rank
    parsing must skip."""
    return [(start, end) for _, _, _, start, end in _explicit(templates.template(text))]


@dataclass
class Statement:
    """One place where a file states degrees: its source (`graph label`, `comment line 1`, ...),
    the text as written, and the degrees read from it."""

    source: str
    text: str
    degrees: dict[str, int]


@dataclass
class Strategy:
    """Degrees of parallelism, each declared (written in the file or given) or inferred from what is drawn."""

    degrees: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(AXES))
    declared: set[str] = field(default_factory=set)
    raw: str | None = None
    source: str | None = None
    declared_total: int | None = None
    sources: dict[str, str] = field(default_factory=dict)  # axis -> where its declared degree was read
    conflicts: list[tuple[str, Statement, Statement]] = field(default_factory=list)  # (axis, first, other)
    # The SP degree was stated as context parallelism (`CP=2`): its ranks hold different GPUs. (Megatron's
    # sequence parallelism shards the sequence over the TP group and adds none.)
    context_parallel: bool = False

    def degree(self, axis: str) -> int | None:
        return self.degrees.get(axis)

    def is_declared(self, axis: str) -> bool:
        return axis in self.declared

    @property
    def ep(self) -> int | None:
        return self.degrees["ep"]

    @property
    def tp(self) -> int | None:
        return self.degrees["tp"]

    @property
    def pp(self) -> int | None:
        return self.degrees["pp"]

    @property
    def dp(self) -> int | None:
        return self.degrees["dp"]

    @property
    def cp(self) -> int:
        """The context-parallel degree: the SP degree when stated as CP, else 1."""
        return (self.degrees["sp"] or 1) if self.context_parallel else 1

    @property
    def gpu_count(self) -> int | None:
        """EP*TP*PP*DP (times CP where stated), the convention these files use; None while a degree
        is unknown."""
        values = [self.degrees[axis] for axis in ("ep", "tp", "pp", "dp")]
        if any(value is None for value in values):
            return None
        product = self.cp
        for value in values:
            product *= value  # type: ignore[operator]
        return product

    @property
    def megatron_gpu_count(self) -> int | None:
        """TP*CP*PP*DP: Megatron carves EP out of DP*CP*TP instead of multiplying it in."""
        tp, pp, dp = (self.degrees[axis] for axis in ("tp", "pp", "dp"))
        if tp is None or pp is None or dp is None:
            return None
        if self.ep and (tp * dp * self.cp) % self.ep:  # EP cannot be carved out of DP*CP*TP: not a Megatron layout
            return None
        return tp * self.cp * pp * dp

    def label(self) -> str:
        """`EP64-TP8-PP2-DP2`, with `?` for unknown degrees and `~` for inferred ones."""
        parts = []
        for axis in ("ep", "tp", "pp", "dp", "sp"):
            value = self.degrees.get(axis)
            if axis == "sp" and value is None:
                continue
            text = "?" if value is None else str(value)
            marker = "" if axis in self.declared or value is None else "~"
            parts.append(f"{axis.upper()}{marker}{text}")
        return "-".join(parts)

    def compact(self) -> str | None:
        """`EP64-TP8-PP2-DP2` over the known degrees, or None when nothing is known."""
        parts = [f"{axis.upper()}{value}" for axis, value in self.degrees.items() if value is not None]
        return "-".join(parts) or None


def parse_declared_total(text: str) -> int | None:
    """A stated GPU total: `Total GPUs: 2048` or `2048 GPUs`."""
    match = _TOTAL.search(text)
    if not match:
        return None
    total = int(match.group(1) or match.group(2))
    return total if total <= MAX_GPUS else None


_USER_STRATEGY = re.compile(
    r"^\s*(?:" + _AXIS + r"\s*[=:]?\s*(\d+))(?:\s*[-_,x×\s]\s*(?:" + _AXIS + r"\s*[=:]?\s*(\d+)))*\s*$", re.IGNORECASE,
)
_USER_TOKEN = re.compile(_AXIS + r"\s*[=:]?\s*(\d+)", re.IGNORECASE)


def parse_strategy(text: str, source: str = "--strategy") -> Strategy:
    """Parse a strategy the user gives (`EP64-TP8-PP2-DP2`, `TP=8,EP=16`); raises ConfigError on
    anything else (`EP-1-TP8`), on a degree given twice, and on absurd sizes."""
    if not _USER_STRATEGY.match(text):
        raise ConfigError(f"cannot read a parallel strategy from {text!r} (expected e.g. EP64-TP8-PP2-DP2)")
    strategy = Strategy(raw=text, source=source)
    for name, value_text in _USER_TOKEN.findall(text):
        axis, value = _axis(name), int(value_text)
        if axis in strategy.declared:
            raise ConfigError(f"{text!r} gives {axis.upper()} twice")
        if not 1 <= value <= MAX_DEGREE:
            raise ConfigError(f"{text!r}: {axis.upper()}{value} is outside 1-{MAX_DEGREE:,}")
        strategy.degrees[axis] = value
        strategy.declared.add(axis)
        strategy.sources[axis] = source
    product = 1
    for axis in strategy.declared:
        product *= strategy.degrees[axis] or 1
    if product > MAX_GPUS:
        raise ConfigError(f"{text!r} needs {product:,} GPUs, more than the {MAX_GPUS:,} dagtui accepts")
    return strategy
