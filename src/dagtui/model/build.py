"""Turn a `RawGraph` into a `Deployment`: classify nodes, find stages, read or infer the strategy."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from dagtui.dot.labels import label_lines
from dagtui.dot.raw import RawCluster, RawGraph
from dagtui.errors import Checkpoint, no_checkpoint
from dagtui.model.declared import declared_strategy
from dagtui.model.deployment import Deployment, Stage, expert_spread
from dagtui.model.flow import read_roles_from_flow
from dagtui.model.gpus import inline_placement
from dagtui.model.node import NodeInfo, ids_are_hashes, read_node
from dagtui.model.operators import MOE_OPS, NOT_OPERATORS, Kind, Op, kind_for, operator_from_text
from dagtui.model.roles import claimed_layers, layer_in, stage_in
from dagtui.model.shapes import Shape, parse_shapes, resolved
from dagtui.model.strategy import AXES, Strategy

if TYPE_CHECKING:
    import networkx as nx

_STAGE_WORDS = re.compile(r"(?<![a-z])pp\s*=\s*\d+(?=[\s,]+(?:layers?|blocks?)\b)|(?<![a-z])(?:pipeline|pp)(?![a-z])[-_ ]*(?:model[-_ ]*)?(?:parallel[-_ ]*)?(?:stage|rank\s*\d)|(?<![a-z])pp[-_ ]?\d+\s*(?:$|[\[(:|,]|(?=\s+(?:l\d|layers?\b|blocks?\b)))|\bpp\s*stage|pipeline[-_ ]*\d|\bstage\s*\d", re.IGNORECASE)


# Nodes read between two calls of the checkpoint: a few milliseconds' work.
_NODES_PER_CHECKPOINT = 2048


def build_deployment(raw: RawGraph, strategy_override: Strategy | None = None,
                     checkpoint: Checkpoint = no_checkpoint) -> Deployment:
    """Build the deployment model from a raw graph; `strategy_override` is `--strategy`;
    `checkpoint` is called between steps (see `dagtui.errors.Checkpoint`)."""
    raw = _without_layout(raw)
    nodes: dict[str, NodeInfo] = {}
    items = list(_global_gpu_ids(raw).nodes.items())
    ids_name_roles = not ids_are_hashes([node_id for node_id, node in items if "label" in node.attrs])
    for start in range(0, len(items), _NODES_PER_CHECKPOINT):
        checkpoint()
        nodes.update((node_id, read_node(raw_node, ids_name_roles))
                     for node_id, raw_node in items[start:start + _NODES_PER_CHECKPOINT])
    for node_id, raw_node in items:
        if raw_node is not raw.nodes[node_id]:  # placements read as global GPU ids; the label shown as written
            nodes[node_id].label = read_node(raw.nodes[node_id], ids_name_roles).label
    checkpoint()
    import networkx as nx  # imported when needed: `dagtui rules` and `generate` do without it

    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from((edge.source, edge.target) for edge in raw.edges)  # parallel edges become one
    dashed = {(edge.source, edge.target) for edge in raw.edges if "dashed" in edge.attrs.get("style", "")}
    _banners_in_the_flow(nodes, graph)
    _shapes_from_edge_labels(raw, nodes)
    _resolve_symbols(raw, nodes)
    _apply_clusters(raw.subgraphs, nodes, [])
    _layers_from_id_pattern(nodes)
    checkpoint()
    _read_attention_in_context(nodes, graph)
    checkpoint()
    stages = _stage_clusters(raw) or _stage_markers(nodes, graph) or _stage_ranks(nodes, raw)
    _layers_from_stage_claims(nodes, stages)
    for stage in stages:
        for member in stage.members:
            if nodes[member].stage is None:
                nodes[member].stage = stage.index
    strategy = _strategy(raw, nodes, stages, strategy_override)
    return Deployment(
        file=raw.file,
        name=_name(raw),
        raw=raw,
        strategy=strategy,
        nodes=nodes,
        graph=graph,
        edges=raw.edges,
        stages=stages,
        undeclared=[node_id for node_id, node in raw.nodes.items() if "label" not in node.attrs],
        dashed=dashed,
    )


_DEFINITION = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]{0,15})\s*=\s*(\d{1,9})(?![\w.])")


def _shapes_from_edge_labels(raw: RawGraph, nodes: dict[str, NodeInfo]) -> None:
    """Where a file writes each tensor on the edge that moves it (`a -> b [label="[8,1024,4096]"]`)
    and its nodes state none: the shapes on a node's incoming edges are its inputs, those on its
    outgoing edges its outputs (each shape once, in edge order)."""
    incoming: dict[str, list[Shape]] = defaultdict(list)
    outgoing: dict[str, list[Shape]] = defaultdict(list)
    for edge in raw.edges:
        label = edge.attrs.get("label")
        if not label or "[" not in label:
            continue
        shapes = parse_shapes(label)
        if len(shapes) != 1:
            continue
        incoming[edge.target].append(shapes[0])
        outgoing[edge.source].append(shapes[0])
    if not incoming:
        return
    for node_id, node in nodes.items():
        if node.inputs or node.outputs or node.bare_shapes:
            continue  # the node's own label states its shapes
        node.inputs.extend(dict.fromkeys(incoming.get(node_id, [])))
        node.outputs.extend(dict.fromkeys(outgoing.get(node_id, [])))
        node.shapes_from_edges = node_id in incoming or node_id in outgoing


def _resolve_symbols(raw: RawGraph, nodes: dict[str, NodeInfo]) -> None:
    """Shapes written in symbols the graph label or a title comment defines (`B=8, S=2048, H=4096,
    NH=32, TP=4` over `[B, S, NH/TP, HD]`): each symbolic dimension evaluated to its number, so that
    the shape rules compare numbers. Three definitions at least (a lone `TP=4` defines no shapes)."""
    texts = [raw.attrs.get("label", ""), *(comment.text for comment in raw.comments if comment.header)]
    symbols: dict[str, int] = {}
    for text in texts:
        for name, value in _DEFINITION.findall(text.replace("\\n", " ")):
            symbols.setdefault(name, int(value))
    if len(symbols) < 3:
        return
    for node in nodes.values():
        node.inputs[:] = [resolved(shape, symbols) for shape in node.inputs]
        node.outputs[:] = [resolved(shape, symbols) for shape in node.outputs]
        node.bare_shapes[:] = [resolved(shape, symbols) for shape in node.bare_shapes]


def _banners_in_the_flow(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """Text drawn without a box is a note (node.py), unless it is a stage banner wired into the
    flow (`== Pipeline stage 1: layers 2-3 ==` between the send and the stage's first layer): a
    marker that opens its stage."""
    for node_id, node in nodes.items():
        if (node.op is Op.LEGEND and node.op_source == "shape" and graph.degree(node_id)
                and operator_from_text(node.title) is Op.STAGE_MARKER):
            node.op, node.op_source, node.kind = Op.STAGE_MARKER, "label", kind_for(Op.STAGE_MARKER, node.shape)


# `node1/gpu3`, `node0/gpu0-7`: a GPU named by its host and its index on the host.
# `node1:gpu0,2,4,6` and `node1:gpu0-1,4-5` list several indices on one host.
_HOST_GPU = re.compile(r"\bnode\s*(\d{1,4})\s*[/:]\s*gpus?\s*(\d{1,3}(?:\s*-\s*\d{1,3})?(?:\s*,\s*\d{1,3}(?:\s*-\s*\d{1,3})?)*)",
                       re.IGNORECASE)
_LOCAL_RANGE = re.compile(r"(\d{1,3})(?:\s*-\s*(\d{1,3}))?")
# `n0g3`, `n0g0-n0g7`, `n0g0-n1g7`: host and local index run together.
_COMPACT_PRECHECK = re.compile(r"n\d{1,4}g\d")  # (starts with a literal: a fast scan of all labels)
_COMPACT_HOST_GPU = re.compile(r"(?<![A-Za-z0-9])n(\d{1,4})g(\d{1,3})(?:\s*-\s*n(\d{1,4})g(\d{1,3}))?(?![A-Za-z0-9])")
_PER_HOST = re.compile(r"(\d{1,3})\s*gpus?\s*(?:per|/|each)\s*(?:node|host)|(?:\bx|×)\s*(\d{1,3})\s*gpus?\b", re.IGNORECASE)
# `host: worker-1` then `devices: [4, 5, 6, 7]` (a scheduler's placement), once per host a node spans.
_HOST_DEVICES = re.compile(r"(?:(?<=\\[nl])|(?<![A-Za-z]))host\s*[:=]\s*[A-Za-z_-]*?(\d{1,4})\s*(?:\\[nl]|\n|[,;])\s*devices?\s*[:=]\s*\[([\d,\s-]+)\]",
                           re.IGNORECASE)


def _global_gpu_ids(raw: RawGraph) -> RawGraph:
    """A file that places nodes as `node1/gpu3` or `n1g3` (host and local index) has its placements read as
    global GPU ids, host x GPUs per host + index: the count a comment states (`2 nodes x 8 GPUs`,
    `8 GPUs per node`), else the most local indices any host shows."""
    labels = {node_id: node.attrs.get("label", "") for node_id, node in raw.nodes.items()}
    # One scan of all the labels for each notation, behind a plain substring test where the pattern
    # cannot start with a literal (a search per label costs a call per node; see benchmarks/bench_check.py).
    text = "\n".join(labels.values())
    if "evices" in text and _HOST_DEVICES.search(text):
        return _host_device_lists(raw, labels)
    long_form = ("node" in text or "Node" in text or "NODE" in text) and any(
        "node" in label.lower() and _HOST_GPU.search(label) for label in labels.values())
    if not long_form and not _COMPACT_PRECHECK.search(text):
        return raw
    if long_form:
        highest = max(int(number) for label in labels.values() for m in _HOST_GPU.finditer(label)
                      for number in re.findall(r"\d+", m.group(2)))
    else:
        highest = max(int(local) for label in labels.values() for m in _COMPACT_HOST_GPU.finditer(label)
                      for local in (m.group(2), m.group(4)) if local)
    per_host = _gpus_per_host(raw, highest)

    def global_ids(match: re.Match[str]) -> str:
        offset = int(match.group(1)) * per_host
        ranges = [(offset + int(low), offset + int(high or low)) for low, high in _LOCAL_RANGE.findall(match.group(2))]
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            return f"GPU {ranges[0][0]}"
        return "GPUs " + ",".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges)

    def compact_ids(match: re.Match[str]) -> str:
        first = int(match.group(1)) * per_host + int(match.group(2))
        last = int(match.group(3)) * per_host + int(match.group(4)) if match.group(3) else first
        return str(first) if first == last else f"{first}-{last}"

    nodes = {}
    for node_id, node in raw.nodes.items():
        label = labels[node_id]
        if long_form and _HOST_GPU.search(label):
            label = re.sub(r"(?<=\d)\s*\+\s*GPUs?\s*", ", ", _HOST_GPU.sub(global_ids, label))
            node = dataclasses.replace(node, attrs={**node.attrs, "label": label})
        elif not long_form and _COMPACT_HOST_GPU.search(label):
            node = dataclasses.replace(node, attrs={**node.attrs, "label": _COMPACT_HOST_GPU.sub(compact_ids, label)})
        nodes[node_id] = node
    return dataclasses.replace(raw, nodes=nodes)


def _gpus_per_host(raw: RawGraph, highest_local: int) -> int:
    """GPUs per host: the count the graph label or a comment states (`2 nodes x 8 GPUs`, `8 GPUs per
    node`) where it leaves room for the highest local index drawn, else that index + 1."""
    stated = next((int(m.group(1) or m.group(2)) for text in [raw.attrs.get("label", ""), *(c.text for c in raw.comments)]
                   if (m := _PER_HOST.search(text))), None)
    return stated if stated and stated > highest_local else highest_local + 1


def _host_device_lists(raw: RawGraph, labels: dict[str, str]) -> RawGraph:
    """`host: worker-1` / `devices: [4, 5, 6, 7]` pairs read as one `GPUs:` line of global ids (host x
    GPUs per host + device; GPUs per host as a comment or the label states it, else the most local
    devices any host shows)."""
    highest = max(int(device) for label in labels.values() for m in _HOST_DEVICES.finditer(label)
                  for device in re.findall(r"\d+", m.group(2)))
    per_host = _gpus_per_host(raw, highest)
    nodes = {}
    for node_id, node in raw.nodes.items():
        pairs = list(_HOST_DEVICES.finditer(labels[node_id]))
        if pairs:
            gpus = sorted({int(pair.group(1)) * per_host + local for pair in pairs for local in _local_devices(pair.group(2))})
            label = labels[node_id]
            label = label[:pairs[0].start()] + "GPUs: " + ",".join(map(str, gpus)) + \
                "".join(label[a.end():b.start()] for a, b in itertools.pairwise(pairs)) + label[pairs[-1].end():]
            node = dataclasses.replace(node, attrs={**node.attrs, "label": label})
        nodes[node_id] = node
    return dataclasses.replace(raw, nodes=nodes)


def _local_devices(text: str) -> set[int]:
    return {device for low, high in _LOCAL_RANGE.findall(text) for device in range(int(low), int(high or low) + 1)}


def _invisible(attrs: dict[str, str]) -> bool:
    return "invis" in attrs.get("style", "")


def _without_layout(raw: RawGraph) -> RawGraph:
    """The graph without what only steers Graphviz's layout: invisible edges, and nodes without a
    label of their own that are invisible or joined to the drawing by invisible edges alone
    (`anchor_0 -> anchor_1 [style=invis]`), with their edges. None of them is data flow. (An
    invisible node with a label stands for what is not drawn: a placeholder, kept.)"""
    invisible_edges = [edge for edge in raw.edges if _invisible(edge.attrs)]
    unlabelled = {node_id for node_id, node in raw.nodes.items() if node.attrs.get("label", "\\N") == "\\N"}
    layout = {node_id for node_id in unlabelled if _invisible(raw.nodes[node_id].attrs)}
    if invisible_edges:
        visible_ends = {end for edge in raw.edges if not _invisible(edge.attrs) for end in (edge.source, edge.target)}
        layout |= {end for edge in invisible_edges for end in (edge.source, edge.target)
                   if end in unlabelled and end not in visible_ends}
    if not layout and not invisible_edges:
        return raw
    # An invisible edge orders the layout (`q_r0 -> q_r1 [style=invis]`); no tensor flows along it.
    edges = [edge for edge in raw.edges if edge.source not in layout and edge.target not in layout
             and not _invisible(edge.attrs)]
    return dataclasses.replace(raw, nodes={k: v for k, v in raw.nodes.items() if k not in layout}, edges=edges,
                               subgraphs=[_cluster_without(cluster, layout) for cluster in raw.subgraphs])


def _cluster_without(cluster: RawCluster, layout: set[str]) -> RawCluster:
    return RawCluster(cluster.name, cluster.attrs, [n for n in cluster.nodes if n not in layout],
                      [_cluster_without(child, layout) for child in cluster.children])


def _apply_clusters(clusters: list[RawCluster], nodes: dict[str, NodeInfo], path: list[str]) -> None:
    """Nodes inherit layer and placement from the clusters around them when they state none."""
    for cluster in clusters:
        label = " ".join(label_lines(cluster.label)) if cluster.label else ""
        inner = [*path, label or cluster.name]
        if _LEGEND.search(cluster.name) or _LEGEND.search(label):
            _mark_notes(cluster.all_nodes(), nodes)
            continue
        for member in cluster.all_nodes():
            node = nodes[member]
            if len(node.clusters) < len(inner):
                node.clusters = inner
        claimed = claimed_layers(label) if label else None
        single_layer = claimed[0] if claimed and len(claimed) == 1 else None
        if single_layer is None and label and not _STAGE_WORDS.search(label):
            single_layer = layer_in(label)
        placement = inline_placement(label) if label else None
        for member in cluster.nodes:
            node = nodes[member]
            if node.layer is None and single_layer is not None:
                node.layer = single_layer
            if node.placement is None and placement is not None:
                node.placement = placement
                node.placed_by_cluster = True
        _apply_clusters(cluster.children, nodes, inner)
        if single_layer is not None:
            for member in cluster.all_nodes():
                if nodes[member].layer is None:
                    nodes[member].layer = single_layer


_LEGEND = re.compile(r"(?:^|[^a-z])(?:legend|key|notes?)(?:[^a-z]|$)", re.IGNORECASE)


def _mark_notes(members: list[str], nodes: dict[str, NodeInfo]) -> None:
    """The boxes of a legend cluster explain the drawing; they are not operators."""
    for member in members:
        node = nodes[member]
        if not node.inputs and not node.outputs:
            node.op, node.op_source, node.kind = Op.LEGEND, "cluster", Kind.NOTE


_FIRST_NUMBER = re.compile(r"(?<![A-Za-z])(\d{1,6})(?!\d)")  # a layer index: below MAX_INDEX


def _layers_from_id_pattern(nodes: dict[str, NodeInfo]) -> None:
    """Learn from the file whether the first number in an id is the layer (`gate_11` labelled
    "Gate Layer 11"); when it is for nine labelled nodes in ten, read it from unlabelled ids too,
    for the layers the labels draw."""
    agree = disagree = 0
    for node in nodes.values():
        if node.layer is None or layer_in(node.id) is not None:
            continue
        number = _FIRST_NUMBER.search(node.id)
        if number is None:
            continue
        if int(number.group(1)) == node.layer:
            agree += 1
        else:
            disagree += 1
    if agree < 5 or agree < 9 * disagree:
        return
    # Only layers the labels draw: `mlp_linear1_4` among layers 0-1 numbers a shard, not layer 4.
    labelled_layers = {node.layer for node in nodes.values() if node.layer is not None}
    for node in nodes.values():
        if node.layer is None and node.op not in (Op.STAGE_MARKER, Op.INPUT, Op.OUTPUT):
            number = _FIRST_NUMBER.search(node.id)
            if number is not None and int(number.group(1)) in labelled_layers:
                node.layer = int(number.group(1))


_ID_PREFIX_NUMBER = re.compile(r"^[A-Za-z]{1,6}(\d{1,4})[_.\-]")  # `b2_add2_r0`, `blk3.attn`: a block's number


def _layers_from_stage_claims(nodes: dict[str, NodeInfo], stages: list[Stage]) -> None:
    """In a file whose labels name no layer, learn from the stage clusters whether the number an id
    starts with is the layer (`b2_add2_r0` in a stage claiming blocks 2-3): when it falls in its
    stage's claimed range for nine ids in ten (five at least), it is read as the layer."""
    if any(node.layer is not None for node in nodes.values()):
        return
    numbered: list[tuple[NodeInfo, int]] = []
    agree = disagree = 0
    for stage in stages:
        claimed = set(stage.claimed_layers or [])
        for member in stage.members:
            match = _ID_PREFIX_NUMBER.match(member)
            if match and claimed:
                number = int(match.group(1))
                numbered.append((nodes[member], number))
                agree, disagree = (agree + 1, disagree) if number in claimed else (agree, disagree + 1)
    if agree >= 5 and agree >= 9 * disagree:
        for node, number in numbered:
            if node.op not in NOT_OPERATORS:
                node.layer = number


def _read_attention_in_context(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """The roles only the data flow can decide (model/flow.py)."""
    read_roles_from_flow(nodes, graph)


def _stage_clusters(raw: RawGraph) -> list[Stage]:
    """Stage clusters (`Pipeline Stage 1 (Layers 2-3)`), each of its DP replica when the file
    repeats the pipeline per replica (`DP1 · Pipeline Stage 1`, or inside a `Replica 1` cluster)."""
    stages: list[Stage] = []

    def visit(clusters: list[RawCluster], replica: int, phase: str) -> None:
        for cluster in clusters:
            text = " ".join(label_lines(cluster.label)) if cluster.label else cluster.name.replace("_", " ")
            named = _REPLICA.search(text) or _REPLICA.search(cluster.name.replace("_", " "))
            own = int(named.group(1)) if named else replica
            phased = _PHASE.search(text) or _PHASE.search(cluster.name)
            own_phase = phased.group(1).lower() if phased else phase
            index = stage_in(_REPLICA.sub(" ", text)) if _STAGE_WORDS.search(text) else None
            if index is None or _BETWEEN_STAGES.search(text):  # "Pipeline Communication (Stage 1 -> Stage 2)"
                visit(cluster.children, own, own_phase)
                continue
            stages.append(Stage(index, text, claimed_layers(text), cluster.all_nodes(), "cluster", replica=own,
                                phase=own_phase))

    visit(raw.subgraphs, 0, "")
    return sorted(_merged(stages), key=lambda stage: (stage.replica, stage.phase, stage.index))


# A phase cluster (`Prefill (prompt 2048 tokens)`, `cluster_decode`): its stages are the pipeline of
# that phase, as a replica's are of that replica.
_PHASE = re.compile(r"(?<![a-z])(prefill|decode)(?![a-z])", re.IGNORECASE)


_BETWEEN_STAGES = re.compile(r"stage\s*\d+\s*(?:->|→|to)\s*(?:stage\s*)?\d+", re.IGNORECASE)


def _merged(stages: list[Stage]) -> list[Stage]:
    """Consecutive clusters naming one stage ("Embedding (Pipeline Stage 0)", "Layer 0 (Pipeline
    Stage 0)") are parts of that stage: one stage, claiming the layers its parts claim. Clusters of
    one stage with another stage's between them (layers interleaved over the stages) stay apart
    for PIP002 to judge."""
    merged: list[Stage] = []
    for stage in stages:
        last = merged[-1] if merged else None
        if last is None or (last.replica, last.phase, last.index) != (stage.replica, stage.phase, stage.index):
            merged.append(stage)
            continue
        claims = None if last.claimed_layers is None and stage.claimed_layers is None else \
            sorted({*(last.claimed_layers or []), *(stage.claimed_layers or [])})
        merged[-1] = Stage(last.index, f"{last.label} · {stage.label}", claims, [*last.members, *stage.members],
                           "cluster", replica=last.replica, phase=last.phase)
    return merged


_REPLICA = re.compile(r"(?<![a-z])(?:dp|replica)[-_ ]*(?:r|#|no\.?\s*)?(\d+)", re.IGNORECASE)  # `DP1`, `Replica R0`, `replica #2`


def _stage_markers(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> list[Stage]:
    """In files without clusters, `pp0_start [label="PP Stage 0\\n..."]` nodes open stages: a stage
    holds what its marker reaches before the next marker. A node several markers reach belongs to
    the last of them (markers are walked last first, and a node is claimed once: linear). When the
    first marker drawn is not stage 0, what comes before it is the first stage, drawn without one."""
    markers = {
        node_id: index for node_id, node in nodes.items()
        if node.op is Op.STAGE_MARKER and (index := stage_in(node.title)) is not None
    }
    if not markers:
        return []
    order = sorted(markers, key=lambda marker: (_marker_replica(nodes[marker]), markers[marker]))
    owner: dict[str, str] = {marker: marker for marker in markers}
    for marker in reversed(order):
        frontier = [marker]
        while frontier:
            current = frontier.pop()
            for successor in graph.successors(current):
                if successor not in owner:
                    owner[successor] = marker
                    frontier.append(successor)
    members: dict[str, list[str]] = {marker: [marker] for marker in markers}
    for node_id in nodes:
        if node_id in owner and owner[node_id] != node_id:
            members[owner[node_id]].append(node_id)
    stages = []
    for marker in order:
        text = " ".join(nodes[marker].label)
        replica = _marker_replica(nodes[marker])
        stages.append(Stage(markers[marker], text, claimed_layers(text), members[marker], "marker", anchor=marker,
                            replica=replica))
    first = stages[0]
    if first.index > 0:
        before = _unclaimed_ancestors(first.anchor or "", nodes, graph, owner)
        # Only computation makes a stage: a side collective before "Pipeline Stage 1" is no stage 0.
        if any(nodes[n].kind is Kind.COMPUTE and not nodes[n].is_communication and nodes[n].op not in NOT_OPERATORS
               for n in before):
            stages.insert(0, Stage(first.index - 1, f"PP Stage {first.index - 1} (before `{first.anchor}`, no marker)",
                                   None, before, "implicit"))
    return stages


def _unclaimed_ancestors(start: str, nodes: dict[str, NodeInfo], graph: nx.DiGraph, owner: dict[str, str]) -> list[str]:
    """The operators upstream of `start` that no stage marker claims (the input excluded)."""
    seen: set[str] = set()
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for predecessor in graph.predecessors(current):
            if predecessor not in seen and predecessor not in owner:
                seen.add(predecessor)
                frontier.append(predecessor)
    found = [n for n in nodes if n in seen and nodes[n].op not in NOT_OPERATORS]
    return found


def _marker_replica(marker: NodeInfo) -> int:
    """The DP replica a stage marker opens a stage of: its DP rank, or the replica its label names
    (`DP replica 1 of 4`)."""
    named = _REPLICA.search(" ".join(marker.label))
    return min(marker.rank("dp"), default=int(named.group(1)) if named else 0)


def _stage_ranks(nodes: dict[str, NodeInfo], raw: RawGraph) -> list[Stage]:
    """Without clusters or markers, `GPU: ..., PP1` placements (or `| stage 1` tags) still say
    which stage a node is in; a comment may say which layers it holds (`// stage 1: layers 2-3`)."""
    by_rank: dict[int, list[str]] = {}
    for node_id, node in nodes.items():
        pp = node.rank("pp")
        if len(pp) == 1:
            by_rank.setdefault(next(iter(pp)), []).append(node_id)
    if len(by_rank) < 2:
        return []
    claims = _stage_claims_in_comments(raw)
    return [Stage(index, claims.get(index, f"PP{index}"), claimed_layers(claims[index]) if index in claims else None,
                  members, "rank") for index, members in sorted(by_rank.items())]


def _stage_claims_in_comments(raw: RawGraph) -> dict[int, str]:
    """Comments naming one stage and the layers it holds (`// stage 1: layers 2-3, gpus 2-3`), by
    stage; a stage named by two such comments is left unclaimed (which one is meant is unknown)."""
    claims: dict[int, str] = {}
    doubled: set[int] = set()
    for comment in raw.comments:
        text = comment.text.strip()
        if not _STAGE_WORDS.search(text) or _BETWEEN_STAGES.search(text) or not claimed_layers(text):
            continue
        index = stage_in(text)
        if index is not None:
            if index in claims:
                doubled.add(index)
            claims[index] = text
    return {index: text for index, text in claims.items() if index not in doubled}


def _strategy(raw: RawGraph, nodes: dict[str, NodeInfo], stages: list[Stage], override: Strategy | None) -> Strategy:
    legends = [(node.id, node.label) for node in nodes.values() if node.op is Op.LEGEND and node.label]
    strategy = declared_strategy(raw, (node.label for node in nodes.values() if node.op is not Op.LEGEND), legends)
    if override is not None:
        for axis in override.declared:
            strategy.degrees[axis] = override.degrees[axis]
            strategy.declared.add(axis)
            strategy.sources[axis] = override.source or "--strategy"
        strategy.raw = override.raw if not strategy.raw else f"{override.raw} (over {strategy.raw})"
        strategy.source = override.source
    seen = _ranks_drawn(nodes)
    if stages:
        # Files that repeat the pipeline per DP replica draw PP x DP stages: count distinct ones.
        seen["pp"] = max(seen.get("pp", 0), len({stage.index for stage in stages}))
    # Numbered experts spread over disjoint GPUs show EP.
    spread = expert_spread(nodes)
    if not seen.get("ep") and spread > 1:
        seen["ep"] = spread
    for axis in AXES:
        if axis not in strategy.declared and seen.get(axis):
            strategy.degrees[axis] = seen[axis]
    if strategy.degrees.get("ep") is None and strategy.declared and not any(node.op in MOE_OPS for node in nodes.values()):
        strategy.degrees["ep"] = 1  # a dense model, its other degrees stated: no experts to spread
    if strategy.degrees.get("pp") is None and strategy.declared and not stages:
        strategy.degrees["pp"] = 1  # its other degrees stated, no stage drawn: one pipeline stage
    return strategy


def _ranks_drawn(nodes: dict[str, NodeInfo]) -> dict[str, int]:
    """Degree each axis must have at least, from the highest rank drawn (TP0-TP15 -> 16); pipeline
    stages numbered from 1 ("Pipeline Stage 1", "Pipeline Stage 2", no stage 0) count from 1."""
    highest: dict[str, int] = {}
    lowest: dict[str, int] = {}
    for node in nodes.values():
        for ranks in (node.ranks, node.group):
            for axis, values in ranks.items():
                if values:
                    highest[axis] = max(highest.get(axis, 0), max(values) + 1)
                    lowest[axis] = min(lowest.get(axis, max(values)), min(values))
    if lowest.get("pp") == 1:
        highest["pp"] -= 1
    return highest


def _name(raw: RawGraph) -> str:
    """"Current Deployment" / "New Deployment" when the file or label says so, else the file stem."""
    stem = Path(raw.file).stem
    label = raw.attrs.get("label", "")
    for word in ("current", "new"):
        if re.search(rf"\b{word}\b", label, re.IGNORECASE) or re.fullmatch(rf"{word}(?:[-_].*)?", stem, re.IGNORECASE):
            return f"{word.capitalize()} Deployment"
    return stem
