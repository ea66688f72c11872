"""Communication rules: edges across GPUs pass through communication nodes, collectives carry the
right tensors, and shapes follow the drawing convention (ellipse / box / parallelogram)."""

from __future__ import annotations

import re
from collections import defaultdict

from dagtui.model.node import NodeInfo
from dagtui.model.operators import COLLECTIVES, NOT_OPERATORS, ROUTING_OPS, Kind, Op
from dagtui.model.shapes import Shape
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import node_list


def _placements_disjoint(a: NodeInfo, b: NodeInfo) -> bool:
    if a.gpus and b.gpus:
        return not (a.gpus & b.gpus)
    for axis in ("pp", "tp", "ep"):
        ra, rb = a.rank(axis), b.rank(axis)
        if ra and rb and not (ra & rb):
            return True
    return False


@rule("COM001", "communication", Severity.ERROR, "Edge across GPUs without a communication node")
def cross_gpu(ctx: Context):
    """An edge between nodes on different GPUs passes through a communication node.

    Why: data does not move between GPUs by itself; the transfer (send/recv, all-to-all, ...)
    costs time and must be in the DAG to be planned.
    Example: `expert_3 (GPU 3) -> combine_gpu0 (GPU 0)` drawn as a plain edge.
    Fix: Insert the communication node (send/recv, all-gather, all-to-all) that moves the tensor between the GPUs.
    """
    edges = []
    # Where the file labels its nodes, a node without a label (only named in an edge, or declared
    # bare) is placed by its id alone: too weak to call an edge a transfer.
    labelled = any(node.label for node in ctx.nodes.values())
    for source, target, a, b in ctx.edges:
        if a.is_communication or b.is_communication or a.kind in _NOT_MOVED or b.kind in _NOT_MOVED:
            continue
        if labelled and (not a.label or not b.label):
            continue
        if a.op in _ROUTING_DECISION or b.op in _ROUTING_DECISION or a.op in NOT_OPERATORS or b.op in NOT_OPERATORS:
            continue  # a gate's routing decision (its edges carry no tokens), a marker
        if not _moves_data(a) or not _moves_data(b):
            continue  # a control edge, from a scheduler the file does not describe as an operator
        if a.placement is not None and b.placement is not None and _placements_disjoint(a, b):
            edges.append((source, target))
    if edges:
        nodes = [n for edge in edges for n in edge]
        yield cross_gpu.finding(
            f"{len(edges)} edge(s) join nodes on different GPUs with no communication node: "
            + ", ".join(f"`{a}` -> `{b}`" for a, b in edges[:4]) + (" ..." if len(edges) > 4 else "") + ".",
            nodes=nodes, details=[f"`{a}` ({_where(ctx.nodes[a])}) -> `{b}` ({_where(ctx.nodes[b])})" for a, b in edges[:6]],
            fix="Insert the communication node (send/recv, all-gather, all-to-all...) that moves the tensor.",
        )


_NOT_MOVED = (Kind.INPUT, Kind.OUTPUT, Kind.NOTE)
_ROUTING_DECISION = frozenset({Op.GATE, Op.STAGE_MARKER})
# A gate or router by name: "Expert 0 Route" moves tokens (a dispatch); drawn as an ellipse it is right.
_GATE_WORDS = re.compile(r"\bgate\b|\bgating\b|router", re.IGNORECASE)
# Words that make a node routing whatever operator its label also names ("Split FFN", "token pack").
_ROUTING_WORDS = re.compile(r"split|\bslice\b|chunk|pack|dispatch|rout|top[-_ ]?k|select|gather|scatter|distribut|merge|combine", re.IGNORECASE)
# Operators that compute, never route: a parallelogram (gate, split, combine) misdraws them.
_PLAIN_COMPUTE = frozenset({
    Op.NORM, Op.FINAL_NORM, Op.RESIDUAL_ADD, Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.O_PROJ, Op.ATTN_SCORE,
    Op.SOFTMAX, Op.ATTN_WEIGHTED_SUM, Op.ATTN_CORE, Op.MLP, Op.EXPERT, Op.EMBEDDING, Op.LM_HEAD,
})
_BOX_SHAPES = frozenset({"box", "rect", "rectangle", "square", "box3d", "component", "record", "mrecord"})
_TENSOR_NAME = re.compile(r"(?<![a-z])(?:input|output|result|activations?|hidden states?|tokens?)\s*\d*$", re.IGNORECASE)


def _moves_data(node: NodeInfo) -> bool:
    """Whether the node is an operator whose edges carry tensors: one dagtui recognised, one whose
    label states shapes, or a box (a "Stage 0" or "Transformer Layer 1" block); not a diamond
    scheduler whose edges say which GPUs to start."""
    if node.op is not Op.UNKNOWN or node.inputs or node.outputs or node.bare_shapes:
        return True
    return node.kind is Kind.COMPUTE and (node.shape or "box").lower() in _BOX_SHAPES


def _where(node: NodeInfo) -> str:
    if node.gpus:
        return f"GPU {min(node.gpus)}" + (f"-{max(node.gpus)}" if len(node.gpus) > 1 else "")
    return ", ".join(f"{axis.upper()}{min(v)}" + (f"-{max(v)}" if len(v) > 1 else "") for axis, v in node.ranks.items())


@rule("COM002", "communication", Severity.WARNING, "Node shape breaks the drawing convention")
def shape_convention(ctx: Context):
    """Communication nodes are ellipses, computation nodes rectangles, routing nodes parallelograms.

    Why: reviewers read the kind of a node from its shape; a collective drawn as a box is read as
    computation and its cost is missed.
    Example: `all_reduce [shape=box]`.
    Fix: Draw communication as an ellipse, computation as a box, routing (gate, split, combine) as a parallelogram.
    """
    wrong: dict[str, list[str]] = defaultdict(list)
    # Named only in an edge, or declared without a label (often a typo: `pipeline_commulation`): no
    # shape was chosen for what the id says.
    undeclared = set(ctx.deployment.undeclared)
    for node_id, node in ctx.nodes.items():
        if node_id in undeclared or (node.label in ([], [node_id]) and node.op in COLLECTIVES):
            continue  # (`label="\\N"`, the default, echoes the id)
        named_by_id = node.op_source == "id" and (not node.label or node.op in COLLECTIVES)
        if node.op_source != "label" and not named_by_id:
            continue  # where the first label line names the operator, or the id does (unlabelled, or a collective's id)
        if node.op in COLLECTIVES and node.kind is Kind.COMPUTE:
            wrong["collective drawn as a box"].append(node_id)
        elif node.op in COLLECTIVES and node.kind is Kind.ROUTING:
            wrong["collective drawn as a parallelogram (routing)"].append(node_id)
        elif node.op in _PLAIN_COMPUTE and node.kind is Kind.ROUTING and not _ROUTING_WORDS.search(node.title):
            wrong["computation drawn as a parallelogram (routing)"].append(node_id)
        elif node.op is Op.GATE and node.kind is Kind.COMMUNICATION and _GATE_WORDS.search(node.title):
            wrong["routing (gate) drawn as an ellipse"].append(node_id)
        elif (node.op not in COLLECTIVES | ROUTING_OPS | NOT_OPERATORS | {Op.UNKNOWN} and node.kind is Kind.COMMUNICATION
              and not _TENSOR_NAME.search(node.title)):
            # An ellipse naming a tensor ("MoE Output") marks the flow; it is not an operator.
            wrong["computation drawn as an ellipse"].append(node_id)
    for what, nodes in wrong.items():
        yield shape_convention.finding(
            f"{len(nodes)} node(s): {what} ({node_list(nodes)}).", nodes=nodes, key=f"COM002:{what}",
            fix="Draw communication as ellipse, computation as box, routing (gate, split, combine) as parallelogram.",
        )


@rule("COM003", "communication", Severity.ERROR, "All-reduce of a TP shard")
def all_reduce_shard(ctx: Context):
    """An all-reduce sums partial results of full size; its tensor is never a TP shard (H/TP).

    Why: after a row-parallel projection every rank holds a partial [.., H]; an all-reduce of
    [.., H/TP] means the shapes (or the collective) are wrong: a shard is gathered, not reduced.
    Example: `All-Reduce / Size: [128, 1024, 512]` under TP8 with H = 4096.
    Fix: All-reduce the full-size partial sums of the row-parallel projection; if the tensor really is a shard, all-gather it.
    """
    nodes = [
        n for n in ctx.deployment.nodes_of_op(Op.ALL_REDUCE)
        if any(ctx.is_tp_shard(shape.hidden()) for shape in [*ctx.nodes[n].inputs, *ctx.nodes[n].outputs])
    ]
    if nodes and ctx.hidden:
        shard = next(s.hidden() for n in nodes for s in [*ctx.nodes[n].inputs, *ctx.nodes[n].outputs] if ctx.is_tp_shard(s.hidden()))
        tp = ctx.shard_tp.value if ctx.shard_tp else None
        yield all_reduce_shard.finding(
            f"{node_list(nodes)} all-reduce(s) a tensor of hidden size {shard} = {ctx.hidden.value}/TP{tp}, a shard under {ctx.shard_tp_text()}; "
            f"a row-parallel all-reduce carries the full {ctx.hidden.value} ({ctx.hidden.source}).",
            nodes=nodes, key="COM003", severity=ctx.severity_for(("tp",), nodes, Severity.ERROR),
            fix=f"All-reduce the full-size partial sums [.., {ctx.hidden.value}] (or all-gather if the tensor really is a shard).",
        )


def _stacked(inputs: list, output) -> bool:
    """Whether an output lists its n equal inputs stacked (`[1024, 4096]` twice -> `[2, 1024, 4096]`):
    each reduced on its own, the shapes kept."""
    first = inputs[0]
    return (len(inputs) > 1 and all(shape.same_as(first) for shape in inputs) and len(output.dims) == len(first.dims) + 1
            and output.dims[0].value == len(inputs) and all(a.value == b.value for a, b in zip(output.dims[1:], first.dims)))


@rule("COM004", "communication", Severity.ERROR, "Communication node has the wrong shape")
def collective_shape(ctx: Context):
    """A collective's shapes agree with what it does and with its neighbours: an all-reduce keeps
    the shape; an all-gather multiplies one dimension by the group size and a reduce-scatter
    divides it; what it receives is what its producer emits.

    Why: a collective with the wrong tensor size is planned with the wrong cost, and usually
    means the operator around it is mislabelled.
    Example: `All-Reduce / Input: [128,1024,4096] / Output: [128,1024,512]`.
    Fix: Label each collective with the tensor it really moves, as its producer emits it, and with the shape its kind gives.
    """
    problems: list[tuple[str, str]] = []
    graph = ctx.deployment.graph
    for node_id, node in ctx.nodes.items():
        if node.op not in COLLECTIVES or not node.inputs:
            continue
        if (node.op is Op.ALL_REDUCE and node.outputs and not node.inputs[0].same_as(node.outputs[0])
                and not node.inputs[0].same_elements(node.outputs[0])  # heads merged on the way is the same tensor
                and not _stacked(node.inputs, node.outputs[0])):
            problems.append((node_id, f"`{node_id}` all-reduces {node.inputs[0]} into {node.outputs[0]}; an all-reduce keeps the shape"))
        for producer in graph.predecessors(node_id):
            if ctx.nodes[producer].op is Op.GATE or (producer, node_id) in ctx.deployment.dashed:
                continue  # routing decisions, not the tensor being moved
            produced = ctx.nodes[producer].outputs
            comparable = produced and produced[0].dims and produced[0].all_int and node.inputs[0].all_int
            if comparable and not any(produced[0].same_as(shape) or _regrouped(node, produced[0], shape) for shape in node.inputs):
                problems.append((node_id, f"`{producer}` emits {produced[0]} but `{node_id}` carries {node.inputs[0]}"))
    if problems:
        nodes = [node for node, _ in problems]
        yield collective_shape.finding(
            "; ".join(text for _, text in problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "") + ".",
            nodes=nodes, details=[text for _, text in problems[:8]], severity=ctx.severity_for((), nodes, Severity.ERROR),
            fix="Label each collective with the tensor it really moves, as its producer emits it.",
        )


def _regrouped(node: NodeInfo, produced: Shape, carried: Shape) -> bool:
    """An all-to-all or all-gather moves tokens between ranks: what it carries may hold more (or
    fewer) tokens than one producer emits, in one dimension before the feature width (an all-gather
    also in the feature width: it joins the shards). An all-to-all
    dispatch may also flatten batch and sequence into token rows, each token once per expert it is
    routed to (`[2, 512, 1024]` in, `[2048, 1024]` carried under top-2): the feature width is what
    must agree."""
    if node.op is Op.ALL_TO_ALL and len(produced.dims) != len(carried.dims):
        return produced.values[-1] == carried.values[-1]
    if node.op not in (Op.ALL_TO_ALL, Op.ALL_GATHER) or len(produced.dims) != len(carried.dims):
        return False
    differing = [i for i, (a, b) in enumerate(zip(produced.values, carried.values)) if a != b]
    if len(differing) != 1:
        return False
    if differing[0] < len(carried.dims) - 1:
        return True
    # The feature width: an all-gather of shards (a vocab-parallel LM head's logits, a TP shard of
    # the hidden size) carries the whole, a multiple of what one rank emits.
    whole, shard = carried.values[-1], produced.values[-1]
    return (node.op is Op.ALL_GATHER and isinstance(whole, int) and isinstance(shard, int)
            and whole > shard > 0 and whole % shard == 0)


def _copies(a: NodeInfo, b: NodeInfo) -> bool:
    """Two ranks' copies of one operator: same operator and layer, and the same name or id but for
    their numbers (`O Proj TP0` / `O Proj TP1`); a gate and the top-k routing after it are not."""
    if (a.op, a.layer) != (b.op, b.layer):
        return False
    return _DIGITS.sub("#", a.title.lower()) == _DIGITS.sub("#", b.title.lower()) or _DIGITS.sub("#", a.id) == _DIGITS.sub("#", b.id)


_DIGITS = re.compile(r"\d+")


@rule("COM005", "communication", Severity.ERROR, "Collective drawn as a chain through the ranks")
def collective_chain(ctx: Context):
    """A collective joins all ranks of its group at once: each rank's operator feeds it, and it
    feeds what comes after all of them. Drawn in a chain (`o_proj tp0 -> all-reduce -> o_proj tp1`),
    it feeds one rank's copy of the very operator it reduces.

    Why: a chain says rank 1 computes after the reduction, on its result: the collective and the
    ranks are serialised, and what is reduced is not the ranks' partial sums.
    Example: `layer3_o_proj_tp0 -> layer3_all_reduce -> layer3_o_proj_tp1 -> layer3_residual`.
    Fix: Draw every rank's operator into the collective and the collective into what follows all of them.
    """
    chains = []
    for node_id in ctx.deployment.nodes_of_op(Op.ALL_REDUCE, Op.ALL_GATHER, Op.REDUCE_SCATTER):
        feeders = [ctx.nodes[p] for p in ctx.deployment.graph.predecessors(node_id)
                   if ctx.nodes[p].op not in NOT_OPERATORS and not ctx.nodes[p].is_communication]
        looped = [s for s in ctx.deployment.graph.successors(node_id)
                  if any(_copies(ctx.nodes[s], feeder) for feeder in feeders)]
        if looped:
            chains.append((node_id, looped))
    if chains:
        nodes = [n for node, looped in chains for n in (node, *looped)]
        yield collective_chain.finding(
            f"{len(chains)} collective(s) feed a copy of the operator they reduce: "
            + ", ".join(f"`{node}` -> {node_list(looped)}" for node, looped in chains[:3])
            + f"{ctx.in_layers([n for n, _ in chains])}.",
            nodes=nodes, fix="Draw every rank's operator into the collective, and the collective into what follows them all.",
        )
