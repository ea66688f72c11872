"""Compare two reviewed deployments: pair the findings that are the same fault in both (shared),
and name those fixed and introduced; lay their strategies, stages and placements side by side;
with a model spec, their costs per GPU (`dagtui.cost`) with the ratio new / current; the
structural diff of what each draws (`structural_diff`), and from it each node's counterpart in
the other deployment (`NodePairing`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dagtui.cost import CostEstimate, HardwareProfile, Unavailable, estimate_deployment
from dagtui.cost.summary import CostRow, cost_rows
from dagtui.model.deployment import Deployment, Stage
from dagtui.model.operators import COLLECTIVES, NOT_OPERATORS
from dagtui.model.spec import ModelSpec
from dagtui.review import Review
from dagtui.structural_diff import StructuralDiff, structural_diff
from dagtui.validate import Severity
from dagtui.validate.ranges import compact_ranges


@dataclass
class Comparison:
    """Paired findings (by id in each review: shared), those of one side only (fixed: in the
    current only; introduced: in the new only), the strategy table (one row per metric), the cost
    estimates and their table, and the structural diff."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    table: list[tuple[str, str, str]] = field(default_factory=list)
    names: tuple[str, str] = ("", "")
    fixed: list[str] = field(default_factory=list)
    introduced: list[str] = field(default_factory=list)
    costs: tuple[CostEstimate | Unavailable | None, CostEstimate | Unavailable | None] = (None, None)
    cost_table: list[CostRow] = field(default_factory=list)
    deployments: tuple[Deployment | None, Deployment | None] = (None, None)
    _diff: StructuralDiff | None = field(default=None, repr=False)

    @property
    def diff(self) -> StructuralDiff | None:
        """The structural diff, computed when first asked for (a pass over both deployments that
        the explorer does not need to load); None when a file did not load."""
        first, second = self.deployments
        if self._diff is None and first is not None and second is not None:
            self._diff = structural_diff(first, second)
        return self._diff


def pair_reference(review: Review, finding_id: str) -> str:
    """How a finding of one review is named from the other: `new.dot#F3`."""
    return f"{Path(review.file).name}#{finding_id}"


def compare(first: Review, second: Review, spec: ModelSpec | None = None,
            hardware: HardwareProfile | None = None) -> Comparison:
    """Pair same-fault findings (same rule, same role), build the side-by-side tables and the
    structural diff; the cost table needs `spec` (and `hardware` for times and HBM use)."""
    comparison = Comparison(names=(first.name, second.name))
    by_key = {finding.key: finding for finding in second.findings}
    for finding in first.findings:
        other = by_key.pop(finding.key, None)
        if other is None:
            continue
        finding.pair = pair_reference(second, other.id)
        other.pair = pair_reference(first, finding.id)
        comparison.pairs.append((finding.id, other.id))
    paired = ({a for a, _ in comparison.pairs}, {b for _, b in comparison.pairs})
    comparison.fixed = [f.id for f in first.findings if f.id not in paired[0]]
    comparison.introduced = [f.id for f in second.findings if f.id not in paired[1]]
    comparison.table = strategy_table(first, second)
    if spec is not None:
        add_costs(comparison, first, second, spec, hardware)
    comparison.deployments = (first.deployment, second.deployment)
    return comparison


def add_costs(comparison: Comparison, first: Review, second: Review, spec: ModelSpec,
              hardware: HardwareProfile | None = None) -> None:
    """The cost estimates of both deployments and their table, into `comparison` (the explorer
    adds them when its compare view first opens, not at load)."""
    comparison.costs = (_estimate(first, spec, hardware), _estimate(second, spec, hardware))
    comparison.cost_table = cost_rows(*comparison.costs)


# What a node without counterpart is, seen from the pair: only the second deployment (the new one)
# draws it, or only the first (the current one) does.
ADDED, REMOVED = "added", "removed"


class NodePairing:
    """Each node's counterpart in the other deployment as the structural diff matches them (by
    operator, layer, expert and first rank, `structural_diff.node_key`), and the nodes without
    one: removed (drawn in the first deployment only) or added (in the second only), the same
    nodes `dagtui compare` counts. Nodes that are no operators (notes, legends) have neither. What
    a view of the pair shows: the explorer's sync mode, a comparison view."""

    def __init__(self, diff: StructuralDiff) -> None:
        self._partners: tuple[dict[str, str], dict[str, str]] = (dict(diff.pairs), {b: a for a, b in diff.pairs})
        self._changes: tuple[dict[str, str], dict[str, str]] = (
            {node: REMOVED for entry in diff.removed for node in entry.nodes},
            {node: ADDED for entry in diff.added for node in entry.nodes},
        )

    def counterpart(self, side: int, node_id: str) -> str | None:
        """The id of the counterpart of node `node_id` of deployment `side` (0 or 1), if any."""
        return self._partners[side].get(node_id)

    def change(self, side: int, node_id: str) -> str | None:
        """`added` or `removed` for a node of deployment `side` without a counterpart, else None."""
        return self._changes[side].get(node_id)

    def changes(self, side: int) -> dict[str, str]:
        """Node id -> `added` or `removed`, for every node of deployment `side` without a counterpart."""
        return self._changes[side]


def _estimate(review: Review, spec: ModelSpec, hardware: HardwareProfile | None) -> CostEstimate | Unavailable:
    if review.deployment is None:
        return Unavailable(review.error or "the file does not parse")
    return estimate_deployment(review.deployment, spec, hardware)


def strategy_table(first: Review, second: Review) -> list[tuple[str, str, str]]:
    """Rows of (metric, first, second)."""
    rows = [
        ("File", first.file, second.file),
        ("Strategy", _strategy(first), _strategy(second)),
    ]
    metrics = [
        ("GPUs (EP×TP×PP×DP)", _gpus), ("Nodes", lambda d: str(len(d.nodes))),
        ("Edges", lambda d: str(len(d.edges))), ("Stages", _stages), ("Placement per stage", _placements),
        ("Layers drawn", _layers),
        ("Experts per EP rank", _experts_per_rank), ("Communication nodes", _collectives),
    ]
    for title, metric in metrics:
        rows.append((title, _cell(first, metric), _cell(second, metric)))
    rows.append(("Findings (E/W/I)", _counts(first), _counts(second)))
    return rows


def _cell(review: Review, metric) -> str:
    return metric(review.deployment) if review.deployment else "—"


def _strategy(review: Review) -> str:
    if review.deployment is None:
        return review.error or "does not parse"
    strategy = review.deployment.strategy
    inferred = [axis.upper() for axis in ("ep", "tp", "pp", "dp") if strategy.degree(axis) and not strategy.is_declared(axis)]
    text = strategy.compact() or "unknown"
    return text + (f" ({', '.join(inferred)} inferred)" if inferred else "")


def _gpus(deployment: Deployment) -> str:
    strategy = deployment.strategy
    product, megatron = strategy.gpu_count, strategy.megatron_gpu_count
    if product is None:
        return "unknown (a degree is unknown)"
    if megatron is not None and megatron != product:
        return f"{product} (Megatron TP×PP×DP: {megatron})"
    return str(product)


def _stages(deployment: Deployment) -> str:
    if not deployment.stages:
        return "none drawn"
    return ", ".join(
        f"{s.index}" + (f" (L{compact_ranges(s.claimed_layers)})" if s.claimed_layers else "") for s in deployment.stages
    )


def _placements(deployment: Deployment) -> str:
    """`0: TP0-7, EP0-63; 1: ...`: the GPUs (or ranks) the operators of each stage of the first
    replica run on."""
    replicas = deployment.replicas()
    stages = replicas[min(replicas)] if replicas else []
    return "; ".join(f"{stage.index}: {_stage_placement(deployment, stage)}" for stage in stages) or "no stages drawn"


def _stage_placement(deployment: Deployment, stage: Stage) -> str:
    gpus: set[int] = set()
    ranks: dict[str, set[int]] = {}
    for node_id in stage.members:
        node = deployment.nodes[node_id]
        if node.op in NOT_OPERATORS or node.is_communication:
            continue
        gpus |= node.gpus
        sources = [node.ranks, node.placement.ranks if node.placement else {}]
        for axis, values in (item for source in sources for item in source.items()):
            if axis != "pp":
                ranks.setdefault(axis, set()).update(values)
    parts = [f"{axis.upper()}{compact_ranges(sorted(ranks[axis]))}" for axis in ("dp", "ep", "tp", "sp") if ranks.get(axis)]
    if gpus:
        parts.append(f"GPUs {compact_ranges(sorted(gpus))}")
    return ", ".join(parts) or "not placed"


def _layers(deployment: Deployment) -> str:
    return compact_ranges(deployment.layers_drawn) or "none"


def _experts_per_rank(deployment: Deployment) -> str:
    layer, counts = deployment.experts_per_rank()
    if not counts:
        return "no EP ranks drawn"
    ep = deployment.strategy.ep
    shown = ", ".join(f"EP{rank}: {count}" for rank, count in list(counts.items())[:4])
    more = " …" if len(counts) > 4 else ""
    where = f"layer {layer}: " if layer is not None else ""
    return f"{where}{shown}{more} ({len(counts)} of {ep or '?'} ranks)"


def _collectives(deployment: Deployment) -> str:
    counts = Counter(deployment.nodes[n].op.value for n in deployment.nodes_of_op(*COLLECTIVES))
    return ", ".join(f"{op}: {count}" for op, count in sorted(counts.items())) or "none"


def _counts(review: Review) -> str:
    return "/".join(str(review.count(severity)) for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO))
