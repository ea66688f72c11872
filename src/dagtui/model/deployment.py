"""The deployment model: typed nodes, stages and strategy, over a networkx graph, with the queries
the validator and the TUI need so that no caller walks labels again."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from dagtui.dot.raw import RawEdge, RawGraph
from dagtui.model.node import NodeInfo
from dagtui.model.operators import Kind, Op
from dagtui.model.strategy import Strategy

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class Stage:
    """A pipeline stage: a cluster, or the nodes after a stage marker up to the next marker."""

    index: int
    label: str
    claimed_layers: list[int] | None
    members: list[str]
    source: str  # "cluster", "marker" or "rank"
    anchor: str | None = None  # the marker node or None for a cluster
    replica: int = 0  # the DP replica, when a file draws several
    phase: str = ""  # `prefill` or `decode`, when a file draws both phases, each with its own stages


_PHASE_ORDER = {"": 0, "prefill": 1, "decode": 2}


@dataclass
class StageCoverage:
    """Which claimed layers a stage draws, names only through a transfer, or leaves out."""

    drawn: list[int]
    transfer_only: dict[int, str]  # layer -> the send/recv node that names it
    missing: list[int]


@dataclass
class Deployment:
    """A parsed, classified deployment DAG."""

    file: str
    name: str
    raw: RawGraph
    strategy: Strategy
    nodes: dict[str, NodeInfo]
    graph: nx.DiGraph
    edges: list[RawEdge]
    stages: list[Stage] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    dashed: set[tuple[str, str]] = field(default_factory=set)  # (source, target) drawn dashed: control, not data

    # -- queries -------------------------------------------------------------------------------
    def predecessors(self, node_id: str) -> list[str]:
        return list(self.graph.predecessors(node_id))

    def successors(self, node_id: str) -> list[str]:
        return list(self.graph.successors(node_id))

    def inputs(self) -> list[str]:
        """Source nodes (no incoming edge), and nodes classified as inputs."""
        return [n for n, info in self.nodes.items() if self.graph.in_degree(n) == 0 or info.kind is Kind.INPUT]

    def outputs(self) -> list[str]:
        """Sink nodes (no outgoing edge), and nodes classified as outputs."""
        return [n for n, info in self.nodes.items() if self.graph.out_degree(n) == 0 or info.kind is Kind.OUTPUT]

    @cached_property
    def _by_layer(self) -> dict[int, list[str]]:
        return _index(self.nodes, lambda info: [info.layer] if info.layer is not None else [])

    @cached_property
    def _by_expert(self) -> dict[int, list[str]]:
        return _index(self.nodes, lambda info: [info.expert] if info.expert is not None else [])

    @cached_property
    def _by_ep_rank(self) -> dict[int, list[str]]:
        return _index(self.nodes, lambda info: sorted(info.rank("ep")))

    @cached_property
    def _by_op(self) -> dict[Op, list[str]]:
        return _index(self.nodes, lambda info: [info.op])

    def nodes_of_layer(self, layer: int) -> list[str]:
        return self._by_layer.get(layer, [])

    def nodes_of_expert(self, expert: int) -> list[str]:
        return self._by_expert.get(expert, [])

    def nodes_of_ep_rank(self, rank: int) -> list[str]:
        return self._by_ep_rank.get(rank, [])

    def nodes_of_op(self, *ops: Op) -> list[str]:
        return [node for op in ops for node in self._by_op.get(op, [])]

    def replicas(self) -> dict[int, list[Stage]]:
        """Stages of each DP replica, in stage order (one replica unless the file draws several);
        a file that draws prefill and decode with stages each gives each phase of a replica its own
        entry (numbered after the replicas: a phase runs its own pipeline)."""
        grouped: dict[tuple[int, str], list[Stage]] = defaultdict(list)
        for stage in sorted(self.stages, key=lambda s: (s.replica, _PHASE_ORDER.get(s.phase, 2), s.index)):
            grouped[(stage.replica, stage.phase)].append(stage)
        return {number: stages for number, stages in enumerate(grouped.values())}

    def nodes_of_stage(self, index: int) -> list[str]:
        for stage in self.stages:
            if stage.index == index:
                return stage.members
        return []

    @property
    def layers_drawn(self) -> list[int]:
        """Layers that have at least one operator node of their own (a pipeline transfer alone is not one)."""
        return sorted(
            layer for layer, members in self._by_layer.items()
            if any(self.nodes[member].op is not Op.SEND_RECV for member in members)
        )

    @property
    def layers_with_transfers_only(self) -> list[int]:
        """Layers named only by a pipeline send/recv (e.g. "Layer 7 output"), with no operators drawn."""
        return sorted(set(self._by_layer) - set(self.layers_drawn))

    def stage_coverage(self, stage: Stage) -> StageCoverage:
        """Layers of a stage: drawn with operators, named only by a pipeline transfer, or missing."""
        drawn: set[int] = set()
        transfers: dict[int, str] = {}
        for member in stage.members:
            node = self.nodes[member]
            if node.layer is None:
                continue
            if node.op is Op.SEND_RECV:
                transfers.setdefault(node.layer, member)
            else:
                drawn.add(node.layer)
        transfer_only = {layer: node for layer, node in sorted(transfers.items()) if layer not in drawn}
        claimed = stage.claimed_layers or []
        missing = [layer for layer in claimed if layer not in drawn and layer not in transfer_only]
        return StageCoverage(sorted(drawn), transfer_only, missing)

    def experts_per_rank(self) -> tuple[int | None, dict[int, int]]:
        """Experts on each EP rank in the first MoE layer drawn: (layer, {rank: count})."""
        experts = [self.nodes[n] for n in self.nodes_of_op(Op.EXPERT) if self.nodes[n].rank("ep")]
        if not experts:
            return None, {}
        layers = sorted({node.layer for node in experts if node.layer is not None})
        layer = layers[0] if layers else None
        counts: dict[int, int] = defaultdict(int)
        for node in experts:
            if node.layer == layer and min(node.rank("dp"), default=0) == 0:
                for rank in node.rank("ep"):
                    counts[rank] += 1
        return layer, dict(sorted(counts.items()))

    def unplaced(self) -> list[str]:
        """Nodes the classifier could give no operator, layer, stage, expert or cluster (nothing to group them by)."""
        return [
            n for n, info in self.nodes.items()
            if info.op is Op.UNKNOWN and info.layer is None and info.expert is None and info.stage is None
            and not info.clusters
        ]


def _index(nodes: dict[str, NodeInfo], keys) -> dict:
    index: dict = defaultdict(list)
    for node_id, info in nodes.items():
        for key in keys(info):
            index[key].append(node_id)
    return dict(index)


def expert_spread(nodes: dict[str, NodeInfo]) -> int:
    """Over how many disjoint GPU groups one layer's numbered experts are spread, when the file names
    no EP ranks (experts 0..7 on GPUs 0..7 suggest EP8); each expert counts once (its up and down
    projections are one expert). The most, over the layers drawn; 0 when nothing is spread."""
    places: dict[tuple[int | None, int], dict[int, frozenset[int]]] = defaultdict(dict)
    for node in nodes.values():
        if node.op is Op.EXPERT and node.expert is not None and node.gpus and len(node.gpus) < 512:
            places[(node.layer, min(node.rank("dp"), default=0))].setdefault(node.expert, node.gpus)
    best = 0
    for copies in places.values():
        groups = set(copies.values())
        if len(groups) > 1 and not overlapping(groups):
            best = max(best, len(groups))
    return best


def overlapping(groups: set[frozenset[int]]) -> bool:
    """Whether any two of the GPU groups share a GPU."""
    seen: set[int] = set()
    for group in groups:
        if seen & group:
            return True
        seen |= group
    return False
