"""Mutations: each takes a generated DAG (as data, in any house style) and injects one known
defect, returning the category dagtui must report and the nodes it must name (any one of them).

Mutations change what a label means (a shape, a placement, an operator), never its text, so the
same defect is written in each house style's own notation."""

from __future__ import annotations

from collections.abc import Callable

from dagtui.generate import GenCluster, GenGraph, GenNode, Place

Mutation = Callable[[GenGraph], tuple[str, set[str]]]
LAYER = 3  # a layer in the middle of stage 1 (layers 2-3 of 8 under PP4)


def _find(graph: GenGraph, **role) -> list[GenNode]:
    """Nodes with the given role, of DP replica 0 unless another is named (a style may draw all)."""
    role.setdefault("dp", 0)
    return graph.find(**role)


def _one(graph: GenGraph, **role) -> GenNode:
    (node,) = _find(graph, **role)
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
    before = set(g.predecessors(context.id)) - {n.id for n in _find(g, op="split")} - {n.id for n in _find(g, op="v_proj")}
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
    nodes = [n.id for n in _find(g, layer=LAYER)]
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
    markers = _find(g, op="stage_marker", stage=3)
    if markers:
        _bypass(g, markers[0].id)
    for node in _find(g, stage=3):
        node.role["stage"] = 2
    clusters = [c for c in g.clusters if c.name.endswith("pp3")]
    for cluster in clusters:
        target = next(c for c in g.clusters if c.name == cluster.name.replace("pp3", "pp2"))
        target.members += cluster.members
        target.label = target.label.replace("Layers 4-5", "Layers 4-7").replace("Layers 5-6", "Layers 5-8")
        g.clusters.remove(cluster)
    for marker in _find(g, op="stage_marker", stage=2):
        marker.notes = [note.replace("Layers 4-5", "Layers 4-7").replace("Layers 5-6", "Layers 5-8") for note in marker.notes]
    return "pipeline", {n.id for n in g.nodes.values() if n.role.get("stage") is not None}


def experts_on_subset(g: GenGraph):
    experts = _find(g, op="expert", layer=LAYER)
    for node in experts:
        node.place = experts[0].place
    return "expert", {n.id for n in experts}


def missing_all_to_all(g: GenGraph):
    dispatch = _one(g, op="all_to_all", extra="dispatch", layer=LAYER)
    _bypass(g, dispatch.id)
    return "expert", {n.id for n in _find(g, op="expert", layer=LAYER)}


def cycle(g: GenGraph):
    residual, norm = _one(g, op="residual_add", extra="moe", layer=LAYER), _one(g, op="norm", extra="attn", layer=LAYER)
    g.connect(residual.id, norm.id)
    return "structure", {residual.id, norm.id}


def node_without_input(g: GenGraph):
    k = (_find(g, op="k_proj", layer=LAYER, tp=0) or _find(g, op="qkv_proj", layer=LAYER, tp=0))[0]
    g.edges = [e for e in g.edges if e.target != k.id]
    return "structure", {k.id}


def node_without_output(g: GenGraph):
    expert = _find(g, op="expert", layer=LAYER)[-1]
    g.edges = [e for e in g.edges if e.source != expert.id]
    return "structure", {expert.id}


def cross_gpu_without_communication(g: GenGraph):
    expert = _find(g, op="expert", layer=LAYER)[-1]
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
    q = (_find(g, op="q_proj", layer=LAYER, tp=0) or _find(g, op="qkv_proj", layer=LAYER, tp=0))[0]
    q.place = Place(999, 999, (("tp", (0, 0)), ("pp", (1, 1))))
    return "gpu", {q.id}


def fewer_tp_shards(g: GenGraph):
    for node in _find(g, layer=LAYER, tp=1):
        g.remove(node.id)
    return "tensor", {n.id for n in _find(g, layer=LAYER, tp=0)}


def missing_all_reduce(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    _bypass(g, reduce.id)
    return "tensor", {n.id for n in _find(g, op="o_proj", layer=LAYER)}


def head_arithmetic(g: GenGraph):
    split = _find(g, op="split", layer=LAYER, tp=0)
    node = split[0] if split else _one(g, op="q_proj", layer=LAYER, tp=0)
    node.output = _dims(batch=8, seq=128, heads=8, d_k=64)
    return "attention", {node.id}


def uneven_experts(g: GenGraph):
    experts = _find(g, op="expert", layer=LAYER)
    experts[-1].place = experts[0].place
    return "expert", {n.id for n in experts}


def experts_share_a_gpu(g: GenGraph):
    expert = _find(g, op="expert", layer=LAYER)[-1]
    first = _find(g, op="expert", layer=LAYER)[0].place
    expert.place = Place(first.first, first.last, (("ep", (1, 1)), ("tp", (0, 1)), ("pp", (1, 1))))  # EP0's GPUs, labelled EP1
    return "expert", {n.id for n in _find(g, op="expert", layer=LAYER)}


def no_gate(g: GenGraph):
    _bypass(g, _one(g, op="gate", layer=LAYER).id)
    return "expert", {n.id for n in _find(g, op="expert", layer=LAYER)}


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
    for node in [reduce, *_find(g, op="o_proj", layer=LAYER)]:
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
    for marker in _find(g, op="stage_marker", stage=1):
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
    return "strategy", {n.id for n in _find(g, op="expert")} | {n.id for n in _find(g, op="all_to_all")}


def wrong_gpu_total(g: GenGraph):
    g.label = g.label.replace("(32 GPUs", "(24 GPUs", 1)
    return "strategy", set()


def placeholder_dims(g: GenGraph):
    expert = _find(g, op="expert", layer=LAYER)[0]
    expert.inputs = [_dims(tokens="?", hidden=1024)]
    return "annotation", {expert.id}


# -- defects real files show that the first mutations did not cover (issue 11) -----------------

def attention_box_other_wording(g: GenGraph):
    """Attention as one box, worded as real files word it."""
    category, nodes = collapsed_attention(g)
    (box,) = nodes
    words = ["Multi-Head Attention", "Attention Computation", "Attention (TP+SP)"]
    g.nodes[box].title = f"Layer {LAYER + g.style.first_layer} {words[len(g.style.name) % 3]}"
    return category, nodes


def moe_box_other_wording(g: GenGraph):
    category, nodes = moe_as_one_box(g)
    (box,) = nodes
    g.nodes[box].title = f"Layer {LAYER + g.style.first_layer} Expert Parallel"
    return category, nodes


def aggregation_across_gpus(g: GenGraph):
    """The combine all-to-all replaced by a local aggregation on EP group 0's GPUs: expert outputs of
    the other EP ranks cross GPUs into it with no communication node."""
    combine = _one(g, op="all_to_all", extra="combine", layer=LAYER)
    gate = _one(g, op="gate", layer=LAYER)
    combine.title, combine.shape, combine.group = "Aggregate Expert Outputs", "parallelogram", ""
    combine.place = gate.place
    combine.role = {**combine.role, "op": "combine"}
    far = [n.id for n in _find(g, op="expert", layer=LAYER) if n.role.get("ep") != 0]
    return "communication", {combine.id, *far}


def all_reduce_chain(g: GenGraph):
    """The all-reduce drawn as a chain through the ranks: o_proj(tp0) -> all-reduce -> o_proj(tp1)."""
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    first, second = _one(g, op="o_proj", layer=LAYER, tp=0), _one(g, op="o_proj", layer=LAYER, tp=1)
    g.edges = [e for e in g.edges if not (e.source == second.id and e.target == reduce.id)]
    g.connect(reduce.id, second.id)
    residual = _one(g, op="residual_add", extra="attn", layer=LAYER)
    g.edges = [e for e in g.edges if not (e.source == reduce.id and e.target == residual.id)]
    g.connect(second.id, residual.id)
    return "communication", {reduce.id, first.id, second.id}


def collective_as_parallelogram(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    reduce.shape = "parallelogram"
    return "communication", {reduce.id}


def residual_before_all_reduce(g: GenGraph):
    """Each rank's output projection is added to the residual stream before the all-reduce."""
    reduce = _one(g, op="all_reduce", extra="attn", layer=LAYER)
    residual = _one(g, op="residual_add", extra="attn", layer=LAYER)
    outs = [n.id for n in _find(g, op="o_proj", layer=LAYER)]
    after = g.successors(residual.id)
    g.edges = [e for e in g.edges if not (e.source in outs and e.target == reduce.id)
               and not (e.source == reduce.id and e.target == residual.id)
               and e.source != residual.id]
    for out in outs:
        g.connect(out, residual.id)
    g.connect(residual.id, reduce.id)
    for node in after:
        g.connect(reduce.id, node)
    return "tensor", set(outs)


def mlp_down_without_all_reduce(g: GenGraph):
    reduce = _one(g, op="all_reduce", extra="mlp", layer=0)
    _bypass(g, reduce.id)
    return "tensor", {n.id for n in _find(g, op="mlp", extra="down", layer=0)}


def missing_output_projection(g: GenGraph):
    for node in _find(g, op="o_proj", layer=LAYER):
        _bypass(g, node.id)
    return "attention", {n.id for n in _find(g, op="attn_weighted_sum", layer=LAYER)}


def moe_before_attention(g: GenGraph):
    """Within a layer, the MoE block runs before attention: the layer's input goes to the MoE norm,
    and the MoE's residual into the attention norm."""
    norm1 = _one(g, op="norm", extra="attn", layer=LAYER)
    residual1 = _one(g, op="residual_add", extra="attn", layer=LAYER)
    norm2 = _one(g, op="norm", extra="moe", layer=LAYER)
    residual2 = _one(g, op="residual_add", extra="moe", layer=LAYER)
    before = [p for p in g.predecessors(norm1.id)]
    after = g.successors(residual2.id)
    g.edges = [e for e in g.edges if not (
        (e.target == norm1.id and e.source in before) or (e.source == residual1.id)
        or (e.source == residual2.id) or (e.target == residual1.id and e.dashed) or (e.target == residual2.id and e.dashed))]
    for p in before:
        g.connect(p, norm2.id)
        g.connect(p, residual2.id, dashed=True)
    g.connect(residual2.id, norm1.id)
    g.connect(residual2.id, residual1.id, dashed=True)
    for node in after:
        g.connect(residual1.id, node)
    return "structure", {norm2.id, _one(g, op="gate", layer=LAYER).id, *[n.id for n in _find(g, op="expert", layer=LAYER)]}


def embedding_repeated(g: GenGraph):
    """A second embedding at the start of stage 1, on the activations the send/recv brought."""
    send = _one(g, op="send_recv", stage=0)
    first = next(n for n in _find(g, stage=1) if n.role.get("op") == "norm")
    embed = _one(g, op="embedding")
    again = g.add(GenNode("embedding_again", embed.title, inputs=list(embed.inputs), output=embed.output,
                          place=first.place, role={"op": "embedding", "stage": 1}))
    g.edges = [e for e in g.edges if e.source != send.id]
    g.connect(send.id, again)
    for marker in _find(g, op="stage_marker", stage=1):
        g.connect(again, marker.id)
    if not _find(g, op="stage_marker", stage=1):
        g.connect(again, first.id)
        g.connect(again, _one(g, op="residual_add", extra="attn", layer=first.role["layer"]).id, dashed=True)
    for cluster in g.clusters:
        if cluster.name.endswith("pp1"):
            cluster.members.insert(0, again)
    return "pipeline", {again}


def tp_splits_the_batch(g: GenGraph):
    """Each TP rank's attention takes half the batch at full hidden size: TP splitting the batch."""
    for node in _find(g, layer=LAYER):
        if node.role.get("tp") is None:
            continue
        node.inputs = [tuple((name, value // 2 if name == "batch" else value) for name, value in dims) for dims in node.inputs]
        if node.output is not None:
            node.output = tuple((name, value // 2 if name == "batch" else value) for name, value in node.output)
    return "tensor", {n.id for n in _find(g, layer=LAYER) if n.role.get("tp") is not None}


def tp_ranks_share_a_gpu(g: GenGraph):
    """TP rank 1 of the layer drawn on rank 0's GPU: a TP2 group on one GPU."""
    zero = _one(g, op="softmax", layer=LAYER, tp=0).place
    for node in _find(g, layer=LAYER, tp=1):
        node.place = Place(zero.first, zero.last, tuple((axis, (1, 1)) if axis == "tp" else (axis, span) for axis, span in zero.ranks))
    return "tensor", {n.id for n in _find(g, layer=LAYER) if n.role.get("tp") is not None}


def replica_incomplete(g: GenGraph):
    """DP replica 1 leaves one layer out; replica 0 draws it."""
    nodes = [n.id for n in _find(g, layer=LAYER, dp=1)]
    first = _one(g, op="norm", extra="attn", layer=LAYER, dp=1).id
    last = _one(g, op="residual_add", extra="moe", layer=LAYER, dp=1).id
    before, after = [p for p in g.predecessors(first) if p not in nodes], g.successors(last)
    for node in nodes:
        g.remove(node)
    for a in before:
        for b in after:
            g.connect(a, b)
    return "pipeline", {n.id for n in g.nodes.values() if n.role.get("dp") == 1 and n.role.get("stage") == 1}


replica_incomplete.dp_replicas = "shown"  # type: ignore[attr-defined]


def placeholder_layers(g: GenGraph):
    """Layer 3 drawn as a placeholder box standing for it ("same structure as layer 2")."""
    nodes = [n.id for n in _find(g, layer=LAYER)]
    first = _one(g, op="norm", extra="attn", layer=LAYER).id
    last = _one(g, op="residual_add", extra="moe", layer=LAYER).id
    before, after = [p for p in g.predecessors(first) if p not in nodes], g.successors(last)
    norm = g.nodes[first]
    for node in nodes:
        g.remove(node)
    shown = LAYER + g.style.first_layer
    box = g.add(GenNode("layer_placeholder", f"Layer {shown}", notes=[f"... same structure as layer {shown - 1}"],
                        place=norm.place, role={"op": "placeholder", "layer": LAYER, "stage": 1}))
    for a in before:
        g.connect(a, box)
    for b in after:
        g.connect(box, b)
    for cluster in g.clusters:
        if cluster.name.endswith("pp1"):
            cluster.members.append(box)
    return "annotation", {box}


def missing_norm(g: GenGraph):
    """Layer 3 loses the norm before its attention: the stream goes straight into Q/K/V."""
    norm = _one(g, op="norm", extra="attn", layer=LAYER)
    _bypass(g, norm.id)
    return "structure", {n.id for op in ("q_proj", "k_proj", "v_proj", "qkv_proj") for n in _find(g, op=op, layer=LAYER)}


def missing_residual_add(g: GenGraph):
    """Layer 3 loses the residual add after attention: the all-reduced attention output goes on to
    the MoE's norm, and the skip branch is gone with the add."""
    add = _one(g, op="residual_add", extra="attn", layer=LAYER)
    skips = {e.source for e in g.edges if e.target == add.id and e.dashed}
    main = [p for p in g.predecessors(add.id) if p not in skips]
    after = [s for s in g.successors(add.id) if g.nodes[s].role.get("op") != "residual_add"]
    g.remove(add.id)
    for a in main:
        for b in after:
            g.connect(a, b)
    moe_residual = _one(g, op="residual_add", extra="moe", layer=LAYER)
    return "structure", {*main, moe_residual.id, *(n.id for n in _find(g, op="o_proj", layer=LAYER))}


def residual_add_bypassed(g: GenGraph):
    """Layer 3's residual add after attention deleted as an editor deletes a node: every input
    (the attention output and the skip branch) joined to everything it fed (the MoE's norm and
    residual add)."""
    add = _one(g, op="residual_add", extra="attn", layer=LAYER)
    _bypass(g, add.id)
    return "structure", {n.id for n in _find(g, op="o_proj", layer=LAYER)}


def layer_skip_edge(g: GenGraph):
    """Layer 2's output also goes to what follows layer 3 (the send to stage 2, then layer 4):
    a stray edge jumping over layer 3."""
    source = _one(g, op="residual_add", extra="moe", layer=LAYER - 1)
    last = _one(g, op="residual_add", extra="moe", layer=LAYER)
    for successor in g.successors(last.id):
        g.connect(source.id, successor)
    return "structure", {source.id}


def missing_softmax(g: GenGraph):
    """Layer 3's softmax left out: the scores go straight to the weighted sum."""
    for softmax in _find(g, op="softmax", layer=LAYER):
        _bypass(g, softmax.id)
    return "attention", {n.id for op in ("attn_score", "attn_weighted_sum") for n in _find(g, op=op, layer=LAYER)}


def no_softmax_anywhere(g: GenGraph):
    """Every layer's softmax left out (all replicas): the raw scores weigh V everywhere."""
    for softmax in g.find(op="softmax"):
        _bypass(g, softmax.id)
    return "attention", {n.id for op in ("attn_score", "attn_weighted_sum") for n in _find(g, op=op, layer=LAYER)}


def experts_fed_only_scores(g: GenGraph):
    """Layer 3's dispatch loses its edge from the norm: only the gate's top-k choice reaches it, the
    hidden states never reach the experts."""
    dispatch = _one(g, op="all_to_all", extra="dispatch", layer=LAYER)
    norm = _one(g, op="norm", extra="moe", layer=LAYER)
    g.edges = [e for e in g.edges if not (e.source == norm.id and e.target == dispatch.id)]
    return "expert", {n.id for n in _find(g, op="expert", layer=LAYER)}


def no_norm_before_any_moe(g: GenGraph):
    """Every layer's norm before the MoE left out (attention keeps its own): the MoE reads the raw
    residual stream in every layer, where comparing layers shows nothing."""
    for norm in g.find(op="norm", extra="moe"):
        _bypass(g, norm.id)
    return "structure", {n.id for op in ("gate", "all_to_all") for n in _find(g, op=op, layer=LAYER)}


def missing_combine(g: GenGraph):
    """Layer 3's combine all-to-all left out: the experts' outputs go straight to the residual add."""
    _bypass(g, _one(g, op="all_to_all", extra="combine", layer=LAYER).id)
    return "expert", {n.id for n in _find(g, op="expert", layer=LAYER)}


def missing_v_projection(g: GenGraph):
    """TP rank 0 of layer 3 draws no V projection: its weighted sum has no V to weigh."""
    for v_proj in _find(g, op="v_proj", layer=LAYER, tp=0):
        g.remove(v_proj.id)
    return "attention", {n.id for n in _find(g, op="attn_weighted_sum", layer=LAYER, tp=0)}


def softmax_edge_reversed(g: GenGraph):
    """The edge between layer 3's softmax and weighted sum (TP rank 0) drawn backwards."""
    softmax = _one(g, op="softmax", layer=LAYER, tp=0)
    context = _one(g, op="attn_weighted_sum", layer=LAYER, tp=0)
    g.edges = [e for e in g.edges if not (e.source == softmax.id and e.target == context.id)]
    g.connect(context.id, softmax.id)
    return "structure", {softmax.id, context.id}


def _applies(mutation: Mutation, graph: GenGraph) -> bool:
    """Whether a mutation can be written in this graph's style (a declared degree to change, a
    total to contradict)."""
    style = graph.style
    if mutation is declared_degree_too_small:
        return style.strategy_at != "nowhere"
    if mutation is wrong_gpu_total:
        return style.strategy_at == "label"
    if mutation is tp_ranks_share_a_gpu:
        return style.placement not in ("ranks", "composite")  # sharing a GPU needs the GPU ids
    if mutation is replica_incomplete:
        # the replicas must be told apart: per-replica stages, or a DP rank on every placement
        return style.stages in ("markers", "replica_clusters") or style.placement in ("ids", "ranks", "composite")
    if mutation is aggregation_across_gpus:
        return style.placement not in ("ranks", "composite")  # which GPUs the aggregation uses needs ids
    if mutation is missing_v_projection:
        return not style.fused_qkv  # a fused QKV projection has no V projection of its own to leave out
    if mutation is tp_splits_the_batch:
        return style.dims == "named"  # the batch dimension is recognised by its name
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
        wrong_gpu_total, placeholder_dims, attention_box_other_wording, moe_box_other_wording, aggregation_across_gpus,
        all_reduce_chain, collective_as_parallelogram, residual_before_all_reduce, mlp_down_without_all_reduce,
        missing_output_projection, moe_before_attention, embedding_repeated, tp_splits_the_batch, tp_ranks_share_a_gpu,
        replica_incomplete, placeholder_layers, missing_norm, missing_residual_add, residual_add_bypassed,
        layer_skip_edge, missing_softmax, no_softmax_anywhere, missing_combine, missing_v_projection, experts_fed_only_scores,
        no_norm_before_any_moe,
        softmax_edge_reversed,
    )
}


def applies(name: str, graph: GenGraph) -> bool:
    return _applies(MUTATIONS[name], graph)


__all__ = ["LAYER", "MUTATIONS", "GenCluster", "applies", "stage_nodes"]
