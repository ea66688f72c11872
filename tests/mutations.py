"""Mutations: each takes a generated DAG (as data) and injects one known defect, returning the
category dagtui must report and the nodes it must name (any one of them)."""

from __future__ import annotations

from collections.abc import Callable

from dagtui.generate import GenGraph, GenNode

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


def _set_line(node: GenNode, prefix: str, value: str | None) -> None:
    node.lines = [line for line in node.lines if not line.startswith(prefix)] + ([f"{prefix} {value}"] if value else [])


def v_bypasses_softmax(g: GenGraph):
    softmax, context = _one(g, op="softmax", layer=LAYER, tp=0), _one(g, op="attn_weighted_sum", layer=LAYER, tp=0)
    out = _one(g, op="o_proj", layer=LAYER, tp=0)
    g.edges = [e for e in g.edges if not (e.source == softmax.id and e.target == context.id)]
    g.connect(softmax.id, out.id)
    return "attention", {softmax.id, context.id}


def collapsed_attention(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    residual = _one(g, op="residual_add", extra="attn", layer=LAYER)
    for node in list(g.nodes.values()):
        if node.role.get("layer") == LAYER and (node.role.get("tp") is not None or (node.role.get("extra") == "attn" and node.role["op"] == "all_reduce")):
            g.remove(node.id)
    full = next(line for line in norm.lines if line.startswith("Output:")).removeprefix("Output: ")
    box = g.add(GenNode("collapsed_attention", [f"Layer {LAYER}: Attention", f"Input: {full}", f"Output: {full}",
                                                next(line for line in norm.lines if line.startswith("GPU:"))]))
    g.connect(norm.id, box)
    g.connect(box, residual.id)
    return "attention", {box}


def tp_shard_reaches_output(g: GenGraph):
    norm, head = _one(g, op="final_norm"), _one(g, op="lm_head")
    shard = "[batch=8, seq=128, hidden=512]"
    _set_line(norm, "Output:", shard)
    _set_line(head, "Input:", shard)
    return "shape", {norm.id, head.id}


def shape_mismatch(g: GenGraph):
    norm = _one(g, op="norm", extra="moe", layer=LAYER)
    _set_line(norm, "Input:", "[batch=8, seq=128, hidden=1000]")
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
    return "pipeline", {_one(g, op="stage_marker", stage=1).id}


def transfer_only_stage(g: GenGraph):
    marker, send = _one(g, op="stage_marker", stage=2), _one(g, op="send_recv", stage=2)
    for node in [n.id for n in g.nodes.values() if n.role.get("stage") == 2 and n.role.get("layer") is not None]:
        g.remove(node)
    g.connect(marker.id, send.id)
    return "pipeline", {marker.id, send.id}


def stage_count(g: GenGraph):
    marker = _one(g, op="stage_marker", stage=3)
    _bypass(g, marker.id)
    return "pipeline", {n.id for n in g.find(op="stage_marker")}


def experts_on_subset(g: GenGraph):
    experts = g.find(op="expert", layer=LAYER)
    gpu = next(line for line in experts[0].lines if line.startswith("GPU:"))
    for node in experts:
        _set_line(node, "GPU:", gpu.removeprefix("GPU: "))
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
    k = _one(g, op="k_proj", layer=LAYER, tp=0)
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
    _set_line(reduce, "Input:", "[batch=8, seq=128, hidden=1000]")
    _set_line(reduce, "Output:", "[batch=8, seq=128, hidden=1000]")
    return "communication", {reduce.id}


def missing_shapes(g: GenGraph):
    softmax = _one(g, op="softmax", layer=LAYER, tp=0)
    _set_line(softmax, "Input:", None)
    _set_line(softmax, "Output:", None)
    return "annotation", {softmax.id}


def missing_gpu(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    _set_line(norm, "GPU:", None)
    return "gpu", {norm.id}


def gpu_out_of_range(g: GenGraph):
    q = _one(g, op="q_proj", layer=LAYER, tp=0)
    _set_line(q, "GPU:", "999 (TP0, PP1)")
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
    q = _one(g, op="q_proj", layer=LAYER, tp=0)
    _set_line(q, "Output:", "[batch=8, seq=128, heads=8, d_k=64]")
    return "attention", {q.id}


def uneven_experts(g: GenGraph):
    expert = g.find(op="expert", layer=LAYER)[-1]
    first = g.find(op="expert", layer=LAYER)[0]
    expert.lines = [line for line in expert.lines if not line.startswith("GPU:")] + [
        next(line for line in first.lines if line.startswith("GPU:"))]
    return "expert", {n.id for n in g.find(op="expert", layer=LAYER)}


def experts_share_a_gpu(g: GenGraph):
    expert = g.find(op="expert", layer=LAYER)[-1]
    _set_line(expert, "GPU:", "4-5 (EP1, PP1)")  # EP0's GPUs of stage 1, but labelled EP1
    return "expert", {n.id for n in g.find(op="expert", layer=LAYER)}


def no_gate(g: GenGraph):
    _bypass(g, _one(g, op="gate", layer=LAYER).id)
    return "expert", {n.id for n in g.find(op="expert", layer=LAYER)}


def moe_as_one_box(g: GenGraph):
    norm, residual = _one(g, op="norm", extra="moe", layer=LAYER), _one(g, op="residual_add", extra="moe", layer=LAYER)
    for node in [n.id for n in g.nodes.values() if n.role.get("layer") == LAYER and n.role["op"] in ("gate", "expert", "all_to_all")]:
        g.remove(node)
    box = g.add(GenNode("moe_box", [f"Layer {LAYER}: MoE", *[line for line in norm.lines if line.startswith(("Input", "Output", "GPU"))]]))
    g.connect(norm.id, box)
    g.connect(box, residual.id)
    return "expert", {box}


def collective_drawn_as_box(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    reduce.shape = "box"
    return "communication", {reduce.id}


def all_reduce_of_a_shard(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    for node in [reduce, *g.find(op="o_proj", layer=LAYER)]:
        _set_line(node, "Output:", "[batch=8, seq=128, hidden=512]")
    _set_line(reduce, "Input:", "[batch=8, seq=128, hidden=512]")
    return "communication", {reduce.id}


def stages_share_gpus(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    _set_line(norm, "GPU:", "0-1 (TP0-TP1, PP1)")  # stage 0's GPUs
    return "gpu", {norm.id}


def island(g: GenGraph):
    a = g.add(GenNode("stray_a", ["RMSNorm", "Input: [batch=8, seq=128, hidden=1024]", "Output: [batch=8, seq=128, hidden=1024]", "GPU: 0"]))
    b = g.add(GenNode("stray_b", ["RMSNorm", "Input: [batch=8, seq=128, hidden=1024]", "Output: [batch=8, seq=128, hidden=1024]", "GPU: 0"]))
    g.connect(a, b)
    return "structure", {a, b}


def edge_to_undeclared(g: GenGraph):
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    g.connect(norm.id, "typo_node")
    g.connect("typo_node", _one(g, op="residual_add", extra="attn", layer=LAYER).id)
    return "structure", {"typo_node"}


def overlapping_stage_ranges(g: GenGraph):
    marker = _one(g, op="stage_marker", stage=1)
    marker.lines = [line if not line.startswith("Layers") else "Layers 1-3" for line in marker.lines]
    return "pipeline", {n.id for n in g.find(op="stage_marker")}


def stages_without_transfer(g: GenGraph):
    _bypass(g, _one(g, op="send_recv", stage=1).id)
    return "pipeline", {n.id for n in g.nodes.values() if n.role.get("stage") in (1, 2)}


def declared_degree_too_small(g: GenGraph):
    g.label = g.label.replace("EP2-TP2", "EP1-TP2", 1)
    return "strategy", {n.id for n in g.find(op="expert")} | {n.id for n in g.find(op="all_to_all")}


def wrong_gpu_total(g: GenGraph):
    g.label = g.label.replace("(16 GPUs", "(12 GPUs", 1)
    return "strategy", set()


def placeholder_dims(g: GenGraph):
    expert = g.find(op="expert", layer=LAYER)[0]
    _set_line(expert, "Input:", "[tokens=?, hidden=1024]")
    return "annotation", {expert.id}


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
