"""The explorer's view of a reviewed deployment, without Textual: the tree outline (stages ->
layers -> blocks -> operators, experts by EP rank), severity markers, node search and jump
history. Widgets render this; tests exercise it directly."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from dagtui.model.deployment import Deployment
from dagtui.model.node import NodeInfo
from dagtui.model.operators import ATTENTION_OPS, COLLECTIVES, MOE_OPS, Kind, Op
from dagtui.review import Review
from dagtui.validate import Finding, Severity
from dagtui.validate.ranges import compact_ranges

KIND_LETTER = {Kind.COMPUTE: "C", Kind.COMMUNICATION: "X", Kind.ROUTING: "R", Kind.INPUT: "I", Kind.OUTPUT: "O",
               Kind.NOTE: "N"}
SEVERITY_MARK = {Severity.ERROR: "✖", Severity.WARNING: "▲", Severity.INFO: "ℹ"}
_FIELD_QUERY = re.compile(r"\s*(\w+)\s*=\s*(.+?)\s*")  # `op=expert`, `layer = 3`


@dataclass(slots=True)
class Entry:
    """One row of the outline: a group (stage, layer, block, rank) or a node."""

    key: str
    title: str = ""  # a group's text; a node's row text is made when it is shown
    node: NodeInfo | None = None
    children: list[str] = field(default_factory=list)

    @property
    def node_id(self) -> str | None:
        return self.node.id if self.node is not None else None

    @property
    def text(self) -> str:
        return node_text(self.node) if self.node is not None else self.title


def node_text(node: NodeInfo) -> str:
    """A node's row: kind letter, operator, id and where it runs."""
    where = placement_text(node)
    return f"{KIND_LETTER[node.kind]} {node.op.value} {node.id}" + (f"  {where}" if where else "")


def placement_text(node: NodeInfo) -> str:
    """`GPU 0-7`, or ranks `TP0-7 PP0` when the file places by rank."""
    if node.gpus:
        return f"GPU {compact_ranges(node.gpus)}"
    parts = [f"{axis.upper()}{compact_ranges(values)}" for axis, values in sorted(node.ranks.items()) if values]
    if node.placement is not None and node.placement.everywhere:
        parts.insert(0, "all GPUs")
    return " ".join(parts)


def _worse(a: Severity | None, b: Severity | None) -> Severity | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.rank <= b.rank else b


class Outline:
    """The tree of one deployment as plain data: entries by key, the path to every node."""

    ROOT = "root"

    def __init__(self, review: Review) -> None:
        self.review = review
        self.deployment: Deployment | None = review.deployment
        self.entries: dict[str, Entry] = {}
        self.parent: dict[str, str] = {}
        self.findings_by_node: dict[str, list[Finding]] = defaultdict(list)
        self.severity: dict[str, Severity] = {}  # entry key -> worst finding at or beneath it
        self._parents: dict[tuple, str] = {}  # where nodes go, by what decides it (see _parent_for)
        self._add(Entry(self.ROOT, review.name))
        if self.deployment is not None:
            self._build(self.deployment)
        self.apply_findings()

    def apply_findings(self) -> None:
        """(Re)read the review's findings: which nodes they name, and the markers on every row.
        The explorer builds the outline before validation and calls this once findings exist (in
        its loading thread: both maps are built aside and swapped in, never seen half-made)."""
        by_node: dict[str, list[Finding]] = defaultdict(list)
        for finding in self.review.findings:
            for node in finding.nodes:
                by_node[node].append(finding)
        severity = self._severities(by_node)
        self.findings_by_node, self.severity = by_node, severity

    # -- building ------------------------------------------------------------------------------
    def _add(self, entry: Entry, parent: str | None = None) -> Entry:
        self.entries[entry.key] = entry
        if parent is not None:
            self.parent[entry.key] = parent
            self.entries[parent].children.append(entry.key)
        return entry

    def _group(self, key: str, text: str, parent: str) -> str:
        if key not in self.entries:
            self._add(Entry(key, text), parent)
        return key

    def _build(self, deployment: Deployment) -> None:
        for stage in deployment.stages:
            claimed = f" · layers {compact_ranges(stage.claimed_layers)}" if stage.claimed_layers else ""
            coverage = deployment.stage_coverage(stage)
            gap = f" · missing {compact_ranges(coverage.missing)}" if coverage.missing else ""
            if coverage.transfer_only:
                gap += f" · {compact_ranges(coverage.transfer_only)} transfer only"
            self._group(f"stage:{stage.index}", f"PP Stage {stage.index}{claimed}{gap}", self.ROOT)
        unplaced = set(deployment.unplaced())
        for node_id, node in deployment.nodes.items():
            if node_id in unplaced:
                parent = self._group("unplaced", "Unplaced (no operator or layer found)", self.ROOT)
            else:
                parent = self._parent_for(node)
            self._add(Entry(f"node:{node_id}", node=node), parent)

    def _parent_for(self, node: NodeInfo) -> str:
        """The key of the row a node goes under. Thousands of nodes share each row: the row is
        worked out once per distinct (stage, layer, cluster, block, EP rank)."""
        block = rank = None
        if node.layer is not None:
            block = "MoE" if node.op in MOE_OPS else "Attention" if node.op in ATTENTION_OPS else (
                "Communication" if node.op in COLLECTIVES or node.kind is Kind.COMMUNICATION else "Other")
            ranks = node.rank("ep")
            rank = next(iter(ranks)) if node.op is Op.EXPERT and len(ranks) == 1 else None
        place = (node.stage, node.layer, node.clusters[-1] if node.clusters else None, block, rank)
        parent = self._parents.get(place)
        if parent is None:
            parent = self._parents[place] = self._row_for(*place)
        return parent

    def _row_for(self, stage: int | None, layer: int | None, cluster: str | None, block: str | None,
                 rank: int | None) -> str:
        parent = self.ROOT
        if stage is not None and f"stage:{stage}" in self.entries:
            parent = f"stage:{stage}"
        elif layer is None and cluster:
            return self._group(f"cluster:{cluster}", cluster, self.ROOT)
        elif self.deployment and self.deployment.stages and layer is not None:
            parent = self._group("nostage", "No stage", self.ROOT)
        if layer is None:
            return parent
        parent = self._group(f"{parent}/layer:{layer}", f"Layer {layer}", parent)
        parent = self._group(f"{parent}/block:{block}", str(block), parent)
        if rank is not None:
            parent = self._group(f"{parent}/ep:{rank}", f"EP rank {rank}", parent)
        return parent

    def _severities(self, by_node: dict[str, list[Finding]]) -> dict[str, Severity]:
        severity: dict[str, Severity] = {}
        for node_id, findings in by_node.items():
            key = f"node:{node_id}"
            if key not in self.entries:
                continue
            worst = min((f.severity for f in findings), key=lambda s: s.rank)
            while True:
                severity[key] = _worse(severity.get(key), worst)  # type: ignore[assignment]
                if key not in self.parent:
                    break
                key = self.parent[key]
        return severity

    # -- queries -------------------------------------------------------------------------------
    def path_to(self, node_id: str) -> list[str]:
        """Keys from the root's child down to the node's entry."""
        key = f"node:{node_id}"
        if key not in self.entries:
            return []
        path = [key]
        while path[-1] in self.parent and self.parent[path[-1]] != self.ROOT:
            path.append(self.parent[path[-1]])
        return list(reversed(path))

    def search(self, query: str) -> list[str]:
        """Node ids matching `query`: a regex over id and label, or `key=value` on a field or attribute."""
        if self.deployment is None or not query.strip():
            return []
        field_match = _FIELD_QUERY.fullmatch(query)
        if field_match:
            key, value = field_match.group(1).lower(), field_match.group(2)
            pattern = _pattern(value)
            return [n for n, info in self.deployment.nodes.items() if any(pattern.fullmatch(v) for v in _field_values(info, key))]
        pattern = _pattern(query)
        return [
            n for n, info in self.deployment.nodes.items()
            if pattern.search(n) or any(pattern.search(line) for line in info.label)
        ]


def query_problem(query: str) -> str | None:
    """What is wrong with a search's regex (`search` then looks for the text as written), or None."""
    field_match = _FIELD_QUERY.fullmatch(query)
    try:
        re.compile(field_match.group(2) if field_match else query)
    except re.error as error:
        return f"not a valid regex ({error.msg} at position {error.pos}): searched as plain text"
    return None


def _pattern(text: str) -> re.Pattern[str]:
    """A case-insensitive regex; text that is not a valid regex is searched for literally."""
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(text), re.IGNORECASE)


def _field_values(info: NodeInfo, key: str) -> list[str]:
    """The values a `key=value` search compares: model fields first, then DOT attributes."""
    if key in ("op", "operator"):
        return [info.op.value]
    if key == "kind":
        return [info.kind.value]
    if key in ("layer", "stage", "expert"):
        value = getattr(info, key)
        return [] if value is None else [str(value)]
    if key in ("tp", "ep", "pp", "dp", "sp"):
        return [str(rank) for rank in info.rank(key)]
    if key in ("gpu", "gpus"):
        return [str(gpu) for gpu in info.gpus]
    if key == "id":
        return [info.id]
    return [info.attrs[key]] if key in info.attrs else []


class History:
    """Jumps recorded as in editors and xdot: back and forward through visited (pane, node) pairs."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []
        self.position = -1

    def record(self, item: tuple[int, str]) -> None:
        if 0 <= self.position < len(self.items) and self.items[self.position] == item:
            return
        del self.items[self.position + 1:]
        self.items.append(item)
        self.position = len(self.items) - 1

    def back(self) -> tuple[int, str] | None:
        if self.position <= 0:
            return None
        self.position -= 1
        return self.items[self.position]

    def forward(self) -> tuple[int, str] | None:
        if self.position >= len(self.items) - 1:
            return None
        self.position += 1
        return self.items[self.position]


@dataclass
class IssueRow:
    """A row of the issue panel: one finding, or a pair of the same finding in both deployments."""

    key: str
    sides: list[tuple[int, Finding]]  # (pane index, finding)

    @property
    def finding(self) -> Finding:
        return self.sides[0][1]

    @property
    def severity(self) -> Severity:
        return min((finding.severity for _, finding in self.sides), key=lambda s: s.rank)

    def targets(self) -> list[tuple[int, str]]:
        """Every node this row points at, in both deployments: what `enter` cycles through."""
        return [(pane, node) for pane, finding in self.sides for node in finding.nodes]


def issue_rows(reviews: list[Review]) -> list[IssueRow]:
    """Rows for all findings; a finding paired across deployments appears once, with both sides."""
    rows: list[IssueRow] = []
    taken: set[tuple[int, str]] = set()
    for pane, review in enumerate(reviews):
        for finding in review.findings:
            if (pane, finding.id) in taken:
                continue
            sides = [(pane, finding)]
            if finding.pair and len(reviews) == 2:
                other_pane = 1 - pane
                other_id = finding.pair.rsplit("#", 1)[-1]
                other = next((f for f in reviews[other_pane].findings if f.id == other_id), None)
                if other is not None:
                    sides.append((other_pane, other))
                    taken.add((other_pane, other.id))
            rows.append(IssueRow(f"{pane}:{finding.id}", sides))
    rows.sort(key=lambda row: (row.severity.rank, row.finding.rule))
    return rows
