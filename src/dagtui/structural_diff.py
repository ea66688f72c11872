"""What two deployments draw differently: operators and collectives present in one and not the
other, and those present in both whose placement changed.

Nodes are matched as the explorer's counterpart key (`s`) matches them: by operator, layer,
expert and rank (the first TP and EP rank a node runs on; a numbered expert by its number, its EP
rank being placement; a send/recv by the first pipeline stage it leaves, not by a layer). The stage, the GPUs, the other ranks and a collective's group are its
placement, compared between matched nodes. Several nodes of one key (copies a file draws, or
operators it does not name) are paired in id order; the rest are added or removed. One pass
over each deployment's nodes, dictionaries only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from dagtui.model.deployment import Deployment
from dagtui.model.node import NodeInfo
from dagtui.model.operators import NOT_OPERATORS, Op
from dagtui.validate.ranges import compact_ranges

_AXES = ("dp", "pp", "ep", "tp", "sp")


class NodeKey(NamedTuple):
    """What makes two nodes of two deployments the same operator (a tuple: sorted and hashed in C)."""

    op: str
    layer: int = -1  # -1: no layer (embedding, final norm, LM head)
    expert: int = -1
    tp: int = -1  # the first TP rank, -1 when none is drawn
    ep: int = -1
    pp: int = -1  # send/recv only: the stage it leaves

    def describe(self) -> str:
        """`all_to_all, layer 0, EP0`."""
        parts = [self.op]
        if self.layer >= 0:
            parts.append(f"layer {self.layer}")
        if self.expert >= 0:
            parts.append(f"expert {self.expert}")
        parts += [f"{axis.upper()}{value}" for axis, value in (("pp", self.pp), ("ep", self.ep), ("tp", self.tp)) if value >= 0]
        return ", ".join(parts)


@dataclass
class KeyedNodes:
    """Nodes of one key that only one deployment draws."""

    key: NodeKey
    nodes: list[str]


@dataclass
class PlacementChange:
    """A node drawn in both whose placement differs."""

    first: str
    second: str
    before: str
    after: str


@dataclass
class StructuralDiff:
    removed: list[KeyedNodes] = field(default_factory=list)  # drawn in the first deployment only
    added: list[KeyedNodes] = field(default_factory=list)  # drawn in the second only
    moved: list[PlacementChange] = field(default_factory=list)
    matched: int = 0
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (first id, second id) of every matched node

    @property
    def removed_count(self) -> int:
        return sum(len(entry.nodes) for entry in self.removed)

    @property
    def added_count(self) -> int:
        return sum(len(entry.nodes) for entry in self.added)

    def moves_by_change(self) -> list[tuple[str, str, list[PlacementChange]]]:
        """Placement changes grouped by (before, after), largest group first."""
        groups: dict[tuple[str, str], list[PlacementChange]] = defaultdict(list)
        for change in self.moved:
            groups[(change.before, change.after)].append(change)
        return [(before, after, changes) for (before, after), changes
                in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))]


def _first(ranks: frozenset[int]) -> int:
    return min(ranks) if ranks else -1


def node_key(node: NodeInfo) -> NodeKey:
    """The key a node is matched by."""
    ranks = node.placement.ranks if node.placement else {}
    tp = node.rank("tp") or ranks.get("tp", frozenset())
    ep = node.rank("ep") or ranks.get("ep", frozenset())
    pp = (node.rank("pp") or ranks.get("pp", frozenset())) if node.op is Op.SEND_RECV else frozenset()
    if node.expert is not None:
        ep = frozenset()  # expert 3 is expert 3 on whichever EP rank holds it
    layer = -1 if node.layer is None or node.op is Op.SEND_RECV else node.layer  # a boundary, wherever the layers split
    return NodeKey(node.op.value, layer, -1 if node.expert is None else node.expert, _first(tp), _first(ep), _first(pp))


def placement_text(node: NodeInfo) -> str:
    """`stage 1, TP0-7, PP1` or `GPUs 0-7`, `TP group 0-15`: where a node runs, as compared."""
    parts = [f"stage {node.stage}"] if node.stage is not None else []
    ranks = dict(node.placement.ranks) if node.placement else {}
    for axis, values in node.ranks.items():
        ranks[axis] = ranks.get(axis, frozenset()) | values
    parts += [f"{axis.upper()}{compact_ranges(ranks[axis])}" for axis in _AXES if ranks.get(axis)]
    if node.gpus:
        parts.append(f"GPUs {compact_ranges(node.gpus)}")
    parts += [f"{axis.upper()} group {compact_ranges(node.group[axis])}" for axis in _AXES if node.group.get(axis)]
    return ", ".join(parts) or "not placed"


def _by_key(deployment: Deployment) -> dict[NodeKey, list[str]]:
    keyed: dict[NodeKey, list[str]] = defaultdict(list)
    for node_id, node in deployment.nodes.items():
        if node.op not in NOT_OPERATORS:
            keyed[node_key(node)].append(node_id)
    return keyed


def structural_diff(first: Deployment, second: Deployment) -> StructuralDiff:
    """Operators drawn in one deployment and not the other, and placement changes of the rest."""
    diff = StructuralDiff()
    ours, theirs = _by_key(first), _by_key(second)
    for key in sorted(ours.keys() | theirs.keys()):
        left, right = sorted(ours.get(key, [])), sorted(theirs.get(key, []))
        for a, b in zip(left, right):
            diff.matched += 1
            diff.pairs.append((a, b))
            before, after = placement_text(first.nodes[a]), placement_text(second.nodes[b])
            if before != after:
                diff.moved.append(PlacementChange(a, b, before, after))
        if len(left) > len(right):
            diff.removed.append(KeyedNodes(key, left[len(right):]))
        elif len(right) > len(left):
            diff.added.append(KeyedNodes(key, right[len(left):]))
    return diff
