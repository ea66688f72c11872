"""Compare two reviewed deployments: pair the findings that are the same fault in both, pair each
node with its counterpart in the other deployment, and lay their strategies side by side."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dagtui.model.deployment import Deployment
from dagtui.model.node import NodeInfo
from dagtui.model.operators import COLLECTIVES, Op
from dagtui.review import Review
from dagtui.validate import Severity
from dagtui.validate.ranges import compact_ranges


@dataclass
class Comparison:
    """Paired findings (by id in each review) and the strategy table, one row per metric."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    table: list[tuple[str, str, str]] = field(default_factory=list)
    names: tuple[str, str] = ("", "")


def pair_reference(review: Review, finding_id: str) -> str:
    """How a finding of one review is named from the other: `new.dot#F3`."""
    return f"{Path(review.file).name}#{finding_id}"


def compare(first: Review, second: Review) -> Comparison:
    """Pair same-fault findings (same rule, same role) and build the side-by-side table."""
    comparison = Comparison(names=(first.name, second.name))
    by_key = {finding.key: finding for finding in second.findings}
    for finding in first.findings:
        other = by_key.pop(finding.key, None)
        if other is None:
            continue
        finding.pair = pair_reference(second, other.id)
        other.pair = pair_reference(first, finding.id)
        comparison.pairs.append((finding.id, other.id))
    comparison.table = strategy_table(first, second)
    return comparison


Role = tuple[Op, int | None, int | None]
# What a node without counterpart is, seen from the pair: only the second deployment (the new one)
# draws it, or only the first (the current one) does.
ADDED, REMOVED = "added", "removed"


def change_of(side: int) -> str:
    """What a node of deployment `side` (0 or 1) without counterpart is: `removed` or `added`."""
    return REMOVED if side == 0 else ADDED


def node_role(node: NodeInfo) -> Role:
    """What a node computes and where in the model: its operator, layer and expert. Ranks are left
    out: two deployments split the same work over different ranks."""
    return (node.op, node.layer, node.expert)


class NodePairing:
    """Each node's counterpart in the other deployment: the node of the same role (`node_role`)
    nearest in rank, the same id first among equals. A node whose role the other deployment does
    not draw has none: added in the second deployment, removed from the first."""

    def __init__(self, first: Deployment, second: Deployment) -> None:
        self._by_role = (_by_role(first), _by_role(second))

    def counterpart(self, side: int, node: NodeInfo) -> str | None:
        """The id of `node`'s counterpart, `node` being of deployment `side` (0 or 1)."""
        candidates = self._by_role[1 - side].get(node_role(node), [])
        if not candidates:
            return None
        return min(candidates, key=lambda other: (_rank_gap(node, other), other.id != node.id)).id

    def unmatched(self, side: int) -> set[str]:
        """Ids of deployment `side` without a counterpart (removed for side 0, added for side 1)."""
        others = self._by_role[1 - side]
        return {node.id for role, nodes in self._by_role[side].items() if role not in others for node in nodes}

    def changes(self, side: int) -> dict[str, str]:
        """Node id -> `added` or `removed` for the nodes of deployment `side` without a counterpart:
        what a view of the pair marks (the explorer's sync mode, a comparison view)."""
        return dict.fromkeys(self.unmatched(side), change_of(side))


def _by_role(deployment: Deployment) -> dict[Role, list[NodeInfo]]:
    roles: dict[Role, list[NodeInfo]] = defaultdict(list)
    for node in deployment.nodes.values():
        roles[node_role(node)].append(node)
    return roles


def _rank_gap(a: NodeInfo, b: NodeInfo) -> int:
    """How far apart two nodes run: the distance of their lowest TP, EP and PP ranks."""
    return sum(abs(min(a.rank(axis) or {0}) - min(b.rank(axis) or {0})) for axis in ("tp", "ep", "pp"))


def strategy_table(first: Review, second: Review) -> list[tuple[str, str, str]]:
    """Rows of (metric, first, second)."""
    rows = [
        ("File", first.file, second.file),
        ("Strategy", _strategy(first), _strategy(second)),
    ]
    metrics = [
        ("GPUs (EP×TP×PP×DP)", _gpus), ("Nodes", lambda d: str(len(d.nodes))),
        ("Edges", lambda d: str(len(d.edges))), ("Stages", _stages), ("Layers drawn", _layers),
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
