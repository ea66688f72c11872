"""Mutations: each takes a generated DAG (as data, in any house style) and injects one known
defect, returning the category dagtui must report and the nodes it must name (any one of them).

Mutations change what a label means (a shape, a placement, an operator), never its text, so the
same defect is written in each house style's own notation."""

from __future__ import annotations

from collections.abc import Callable

from dagtui.generate import GenCluster, GenGraph, GenNode, Place

Mutation = Callable[[GenGraph], tuple[str, set[str]]]
LAYER = 3  # a layer in the middle of stage 1 (layers 2-3 of 8 under PP4)


def _one(graph: GenGraph, **role) -> GenNode:
    (node,) = graph.find(**role)
    return node


def _bypass(graph: GenGraph, node_id: str) -> None:
    """Remove a node, joining its predecessors to its successors."""
    before, after = graph.predecessors(node_id), graph.successors(node_id)
    graph.remove(node_id)
    for a in before:
        for b in after:
            graph.connect(a, b)


def _dims(**named: object) -> tuple[tuple[str, object], ...]:
    return tuple(named.items())


def stage_nodes(g: GenGraph, stage: int) -> set[str]:
    """What a pipeline finding about `stage` may name: its marker, or (drawn as a cluster) any node."""
    return {n.id for n in g.nodes.values() if n.role.get("stage") == stage}


def v_bypasses_softmax(g: GenGraph):
    softmax, context = _one(g, op="softmax", layer=LAYER, tp=0), _one(g, op="attn_weighted_sum", layer=LAYER, tp=0)
    out = _one(g, op="o_proj", layer=LAYER, tp=0)
    before = set(g.predecessors(context.id)) - {n.id for n in g.find(op="split")} - {n.id for n in g.find(op="v_proj")}
    g.edges = [e for e in g.edges if not (e.target == context.id and e.source in before)]
    g.connect(softmax.id, out.id)
    return "attention", {softmax.id, context.id, out.id}


def collapsed_attention(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    residual = _one(g, op="residual_add", extra="attn", layer=LAYER)
    for node in list(g.nodes.values()):
        if node.role.get("layer") == LAYER and (node.role.get("tp") is not None or (node.role.get("extra") == "attn" and node.role["op"] == "all_reduce")):
            g.remove(node.id)
    box = g.add(GenNode("collapsed_attention", f"Layer {LAYER + g.style.first_layer}: Attention", inputs=[norm.output], output=norm.output,
                        place=norm.place, role={"op": "attention", "layer": LAYER, "stage": 1}))
    g.connect(norm.id, box)
    g.connect(box, residual.id)
    return "attention", {box}


def tp_shard_reaches_output(g: GenGraph):
    norm, head = _one(g, op="final_norm"), _one(g, op="lm_head")
    shard = _dims(batch=8, seq=128, hidden=512)
    norm.output = shard
    head.inputs = [shard]
    return "shape", {norm.id, head.id}


def shape_mismatch(g: GenGraph):
    norm = _one(g, op="norm", extra="moe", layer=LAYER)
    norm.inputs = [_dims(batch=8, seq=128, hidden=1000)]
    return "shape", {norm.id}


def missing_layer(g: GenGraph):
    nodes = [n.id for n in g.find(layer=LAYER)]
    first = _one(g, op="norm", extra="attn", layer=LAYER).id
    last = _one(g, op="residual_add", extra="moe", layer=LAYER).id
    before, after = [p for p in g.predecessors(first) if p not in nodes], g.successors(last)
    for node in nodes:
        g.remove(node)
    for a in before:
        for b in after:
            g.connect(a, b)
    return "pipeline", stage_nodes(g, 1)


def transfer_only_stage(g: GenGraph):
    send = _one(g, op="send_recv", stage=2)
    inside = [n.id for n in g.nodes.values() if n.role.get("stage") == 2 and n.role.get("layer") is not None]
    entry = g.predecessors(inside[0])
    for node in inside:
        g.remove(node)
    for node in entry:
        g.connect(node, send.id)
    return "pipeline", stage_nodes(g, 2)


def stage_count(g: GenGraph):
    """Stage 3 drawn as part of stage 2: three stages under a declared PP4."""
    markers = g.find(op="stage_marker", stage=3)
    if markers:
        _bypass(g, markers[0].id)
    for node in g.find(stage=3):
        node.role["stage"] = 2
    clusters = [c for c in g.clusters if c.name.endswith("pp3")]
    for cluster in clusters:
        target = next(c for c in g.clusters if c.name == cluster.name.replace("pp3", "pp2"))
        target.members += cluster.members
        target.label = target.label.replace("Layers 4-5", "Layers 4-7").replace("Layers 5-6", "Layers 5-8")
        g.clusters.remove(cluster)
    for marker in g.find(op="stage_marker", stage=2):
        marker.notes = [note.replace("Layers 4-5", "Layers 4-7").replace("Layers 5-6", "Layers 5-8") for note in marker.notes]
    return "pipeline", {n.id for n in g.nodes.values() if n.role.get("stage") is not None}


def experts_on_subset(g: GenGraph):
    experts = g.find(op="expert", layer=LAYER)
    for node in experts:
        node.place = experts[0].place
    return "expert", {n.id for n in experts}


def missing_all_to_all(g: GenGraph):
    dispatch = _one(g, op="all_to_all", extra="dispatch", layer=LAYER)
    _bypass(g, dispatch.id)
    return "expert", {n.id for n in g.find(op="expert", layer=LAYER)}


def cycle(g: GenGraph):
    residual, norm = _one(g, op="residual_add", extra="moe", layer=LAYER), _one(g, op="norm", extra="attn", layer=LAYER)
    g.connect(residual.id, norm.id)
    return "structure", {residual.id, norm.id}


def node_without_input(g: GenGraph):
    k = (g.find(op="k_proj", layer=LAYER, tp=0) or g.find(op="qkv_proj", layer=LAYER, tp=0))[0]
    g.edges = [e for e in g.edges if e.target != k.id]
    return "structure", {k.id}


def node_without_output(g: GenGraph):
    expert = g.find(op="expert", layer=LAYER)[-1]
    g.edges = [e for e in g.edges if e.source != expert.id]
    return "structure", {expert.id}


def cross_gpu_without_communication(g: GenGraph):
    expert = g.find(op="expert", layer=LAYER)[-1]
    residual = _one(g, op="residual_add", extra="moe", layer=LAYER)
    g.connect(expert.id, residual.id)
    return "communication", {expert.id, residual.id}


def collective_wrong_shape(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    reduce.inputs = [_dims(batch=8, seq=128, hidden=1000)]
    reduce.output = _dims(batch=8, seq=128, hidden=1000)
    return "communication", {reduce.id}


def missing_shapes(g: GenGraph):
    softmax = _one(g, op="softmax", layer=LAYER, tp=0)
    softmax.inputs, softmax.output = [], None
    return "annotation", {softmax.id}


def missing_gpu(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    norm.place = None
    return "gpu", {norm.id}


def gpu_out_of_range(g: GenGraph):
    q = (g.find(op="q_proj", layer=LAYER, tp=0) or g.find(op="qkv_proj", layer=LAYER, tp=0))[0]
    q.place = Place(999, 999, (("tp", (0, 0)), ("pp", (1, 1))))
    return "gpu", {q.id}


def fewer_tp_shards(g: GenGraph):
    for node in g.find(layer=LAYER, tp=1):
        g.remove(node.id)
    return "tensor", {n.id for n in g.find(layer=LAYER, tp=0)}


def missing_all_reduce(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    _bypass(g, reduce.id)
    return "tensor", {n.id for n in g.find(op="o_proj", layer=LAYER)}


def head_arithmetic(g: GenGraph):
    split = g.find(op="split", layer=LAYER, tp=0)
    node = split[0] if split else _one(g, op="q_proj", layer=LAYER, tp=0)
    node.output = _dims(batch=8, seq=128, heads=8, d_k=64)
    return "attention", {node.id}


def uneven_experts(g: GenGraph):
    experts = g.find(op="expert", layer=LAYER)
    experts[-1].place = experts[0].place
    return "expert", {n.id for n in experts}


def experts_share_a_gpu(g: GenGraph):
    expert = g.find(op="expert", layer=LAYER)[-1]
    first = g.find(op="expert", layer=LAYER)[0].place
    expert.place = Place(first.first, first.last, (("ep", (1, 1)), ("tp", (0, 1)), ("pp", (1, 1))))  # EP0's GPUs, labelled EP1
    return "expert", {n.id for n in g.find(op="expert", layer=LAYER)}


def no_gate(g: GenGraph):
    _bypass(g, _one(g, op="gate", layer=LAYER).id)
    return "expert", {n.id for n in g.find(op="expert", layer=LAYER)}


def moe_as_one_box(g: GenGraph):
    norm, residual = _one(g, op="norm", extra="moe", layer=LAYER), _one(g, op="residual_add", extra="moe", layer=LAYER)
    for node in [n.id for n in g.nodes.values() if n.role.get("layer") == LAYER and n.role["op"] in ("gate", "expert", "all_to_all")]:
        g.remove(node)
    box = g.add(GenNode("moe_box", f"Layer {LAYER + g.style.first_layer}: MoE", inputs=[norm.output], output=norm.output, place=norm.place,
                        role={"op": "moe", "layer": LAYER, "stage": 1}))
    g.connect(norm.id, box)
    g.connect(box, residual.id)
    return "expert", {box}


def collective_drawn_as_box(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    reduce.shape = "box"
    return "communication", {reduce.id}


def all_reduce_of_a_shard(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    shard = _dims(batch=8, seq=128, hidden=512)
    for node in [reduce, *g.find(op="o_proj", layer=LAYER)]:
        node.output = shard
    reduce.inputs = [shard]
    return "communication", {reduce.id}


def stages_share_gpus(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    norm.place = Place(0, 1, (("tp", (0, 1)), ("pp", (1, 1))))  # stage 0's GPUs
    return "gpu", {norm.id}


def island(g: GenGraph):
    full = _dims(batch=8, seq=128, hidden=1024)
    a = g.add(GenNode("stray_a", "RMSNorm", inputs=[full], output=full, place=Place(0, 0)))
    b = g.add(GenNode("stray_b", "RMSNorm", inputs=[full], output=full, place=Place(0, 0)))
    g.connect(a, b)
    return "structure", {a, b}


def edge_to_undeclared(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    g.connect(norm.id, "typo_node")
    g.connect("typo_node", _one(g, op="residual_add", extra="attn", layer=LAYER).id)
    return "structure", {"typo_node"}


def overlapping_stage_ranges(g: GenGraph):
    first = g.style.first_layer
    claim = f"Layers {1 + first}-{3 + first}"
    for marker in g.find(op="stage_marker", stage=1):
        marker.notes = [claim if note.startswith("Layers") else note for note in marker.notes]
    for cluster in g.clusters:
        if cluster.name.endswith("pp1"):
            cluster.label = cluster.label[: cluster.label.index("(Layers")] + f"({claim})"
    return "pipeline", stage_nodes(g, 0) | stage_nodes(g, 1)


def stages_without_transfer(g: GenGraph):
    _bypass(g, _one(g, op="send_recv", stage=1).id)
    return "pipeline", stage_nodes(g, 1) | stage_nodes(g, 2)


def declared_degree_too_small(g: GenGraph):
    """The strategy, wherever the style states it, says EP1 while EP ranks 0-1 are drawn."""
    g.label = g.label.replace("EP2-TP2", "EP1-TP2", 1)
    g.title_comment = g.title_comment.replace("EP2-TP2", "EP1-TP2", 1)
    g.name = g.name.replace("EP2_TP2", "EP1_TP2", 1)
    return "strategy", {n.id for n in g.find(op="expert")} | {n.id for n in g.find(op="all_to_all")}


def wrong_gpu_total(g: GenGraph):
    g.label = g.label.replace("(16 GPUs", "(12 GPUs", 1)
    return "strategy", set()


def placeholder_dims(g: GenGraph):
    expert = g.find(op="expert", layer=LAYER)[0]
    expert.inputs = [_dims(tokens="?", hidden=1024)]
    return "annotation", {expert.id}


def _applies(mutation: Mutation, graph: GenGraph) -> bool:
    """Whether a mutation can be written in this graph's style (a declared degree to change, a
    total to contradict)."""
    style = graph.style
    if mutation is declared_degree_too_small:
        return style.strategy_at != "nowhere"
    if mutation is wrong_gpu_total:
        return style.strategy_at == "label"
    if mutation is stage_count:
        return style.strategy_at != "nowhere"  # PP is stated nowhere: the stages drawn are all there is
    if mutation is experts_share_a_gpu:
        return style.placement == "ids"  # needs both the GPU ids and the EP rank of each expert
    if mutation is head_arithmetic:
        return style.dims == "named"  # heads and d_k are read by name (positional dims: SHP001 sees the mismatch)
    if mutation in (gpu_out_of_range, cross_gpu_without_communication, stages_share_gpus):
        # Written with GPU ids only: rank placements (`GPU: TP0-TP1, PP1`) name no GPU, and without DP
        # stated the GPU count is unknown (STG001 says which checks that blinds).
        return style.placement not in ("ranks", "composite") and (mutation is not gpu_out_of_range or style.strategy_at != "nowhere")
    return True


MUTATIONS: dict[str, Mutation] = {
    function.__name__: function for function in (
        v_bypasses_softmax, collapsed_attention, tp_shard_reaches_output, shape_mismatch, missing_layer,
        transfer_only_stage, stage_count, experts_on_subset, missing_all_to_all, cycle, node_without_input,
        node_without_output, cross_gpu_without_communication, collective_wrong_shape, missing_shapes, missing_gpu,
        gpu_out_of_range, fewer_tp_shards, missing_all_reduce, head_arithmetic, uneven_experts, experts_share_a_gpu,
        no_gate, moe_as_one_box, collective_drawn_as_box, all_reduce_of_a_shard, stages_share_gpus, island,
        edge_to_undeclared, overlapping_stage_ranges, stages_without_transfer, declared_degree_too_small,
        wrong_gpu_total, placeholder_dims,
    )
}


def applies(name: str, graph: GenGraph) -> bool:
    return _applies(MUTATIONS[name], graph)


__all__ = ["LAYER", "MUTATIONS", "GenCluster", "applies", "stage_nodes"]
