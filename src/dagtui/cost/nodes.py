"""Per-node cost: the FLOPs and bytes of one drawn operator, where its label's shapes can be read
(every dimension a number); and where the drawing's sizes disagree with the model spec.

What a node's shapes show decides the formula (doc: "Per node"): a projection's input and
output widths, the attention score's head size and key length, the message of a collective.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from math import prod

from dagtui.cost.formulas import all_to_all, ring_all_gather, ring_all_reduce
from dagtui.model.deployment import Deployment
from dagtui.model.node import NodeInfo
from dagtui.model.operators import Op
from dagtui.model.shapes import Shape
from dagtui.model.spec import DTYPE_BYTES, ModelSpec
from dagtui.safe_text import visible

_MATMULS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.O_PROJ, Op.LM_HEAD, Op.MLP, Op.EXPERT})
_WHOLE_MLPS = frozenset({Op.MLP, Op.EXPERT})  # a box of equal input and output width is a whole MLP
_POINTWISE = {Op.RESIDUAL_ADD: 1, Op.ELEMENTWISE: 1, Op.NORM: 4, Op.FINAL_NORM: 4, Op.SOFTMAX: 5}
_MOVES = frozenset({Op.ALL_REDUCE, Op.ALL_GATHER, Op.REDUCE_SCATTER, Op.ALL_TO_ALL, Op.SEND_RECV})
_STREAM = frozenset({Op.NORM, Op.RESIDUAL_ADD, Op.FINAL_NORM})


@dataclass(frozen=True)
class NodeCost:
    """FLOPs of one node and the bytes it reads and writes (weights included; for a collective,
    the bytes one GPU sends), with the formula used, in words a detail panel can show (file text
    in it is already made visible)."""

    flops: int
    bytes: int
    formula: str


def _elements(shape: Shape) -> int:
    return prod(shape.values)  # type: ignore[arg-type]


def _features(shape: Shape) -> int:
    """The width a projection reads or writes: heads x d_k when the shape names both, else the last dimension."""
    pair = shape.heads_and_head_dim()
    return pair[0] * pair[1] if pair else int(shape.values[-1])


def node_cost(node: NodeInfo, spec: ModelSpec | None = None) -> NodeCost | None:
    """The cost of one node, or None when its shapes cannot be read or its operator has no formula."""
    inputs = [shape for shape in node.inputs if shape.dims and shape.all_int]
    outputs = [shape for shape in node.outputs if shape.dims and shape.all_int]
    size = DTYPE_BYTES.get((spec.dtype if spec else None) or "bf16", 2)
    if node.op in _MOVES and (inputs or outputs):
        return _collective(node, (inputs or outputs)[0], size)
    if not inputs or not outputs or len(inputs) != len(node.inputs) or len(outputs) != len(node.outputs):
        return None
    first, out = inputs[0], outputs[0]
    moved = (sum(_elements(shape) for shape in inputs) + _elements(out)) * size
    if node.op in _MATMULS:
        return _matmul(node, first, out, moved, size, spec)
    if node.op is Op.ATTN_SCORE:
        pair = first.heads_and_head_dim()
        if pair is None:
            return None
        flops = 2 * _elements(out) * pair[1]
        return NodeCost(flops, moved, f"2 x {_elements(out):,} scores x d_k {pair[1]}")
    if node.op is Op.ATTN_WEIGHTED_SUM:
        scores = next((shape for shape in inputs if shape.heads_and_head_dim() is None and len(shape.dims) == 4), None)
        if scores is None:
            return None
        context = int(scores.values[-1])
        return NodeCost(2 * _elements(out) * context, moved, f"2 x {_elements(out):,} outputs x {context} keys")
    if node.op in _POINTWISE:
        per = _POINTWISE[node.op]
        return NodeCost(per * _elements(out), moved, f"{per} x {_elements(out):,} elements (memory-bound)")
    if node.op is Op.EMBEDDING:
        return NodeCost(0, _elements(out) * size, f"a lookup: writes {_elements(out):,} elements")
    return None


def no_cost_reason(node: NodeInfo, spec: ModelSpec | None = None) -> str:
    """Why `node_cost` gives nothing for a node, in a few words (file text made visible)."""
    shapes = [*node.inputs, *node.outputs]
    if not shapes:
        return "its label draws no shapes"
    unread = [shape for shape in shapes if not (shape.dims and shape.all_int)]
    if unread and (node.op not in _MOVES or len(unread) == len(shapes)):  # a collective needs one shape
        return f"the shape {visible(str(unread[0]))} is not all numbers"
    if node.op in _WHOLE_MLPS and not (spec and (spec.ffn_hidden_size or spec.moe_ffn_hidden_size)):
        return "the box hides its MLP's inner size (--model ffn_hidden or moe_ffn_hidden gives it)"
    return f"no formula for operator {node.op.value} from these shapes"


def _matmul(node: NodeInfo, first: Shape, out: Shape, moved: int, size: int, spec: ModelSpec | None) -> NodeCost | None:
    width_in, width_out = _features(first), _features(out)
    if width_in <= 0 or width_out <= 0 or _elements(first) % width_in:
        return None
    tokens = _elements(first) // width_in
    if node.op in _WHOLE_MLPS and width_in == width_out:
        inner = (spec.moe_ffn_hidden_size or spec.ffn_hidden_size) if spec and node.op is Op.EXPERT else None
        inner = inner or (spec.ffn_hidden_size if spec else None)
        if not inner:
            return None  # the box hides its MLP's inner size
        matrices = 3 if spec and spec.gated_mlp else 2
        weights = matrices * width_in * inner * size
        return NodeCost(2 * tokens * matrices * width_in * inner, moved + weights,
                        f"2 x {tokens:,} tokens x {matrices} x {width_in} x {inner} (a whole MLP, inner size from --model)")
    weights = width_in * width_out * size
    return NodeCost(2 * tokens * width_in * width_out, moved + weights, f"2 x {tokens:,} tokens x {width_in} x {width_out}")


def _collective(node: NodeInfo, tensor: Shape, size: int) -> NodeCost:
    """A collective's message, and with its group drawn (`TP Group: TP0-TP7`) the bytes one GPU
    sends (doc: "Communication"): ring all-reduce 2(t-1)/t, all-gather and reduce-scatter (t-1)/t,
    all-to-all (n-1)/n of the message; a send/recv sends it whole."""
    message = _elements(tensor) * size
    described = f"a {message:,}-byte message ({visible(str(tensor))} x {size} B)"  # the shape is file text
    if node.op is Op.SEND_RECV:
        return NodeCost(0, message, f"sends {described}")
    group = max((len(ranks) for ranks in node.group.values()), default=0)
    if group < 2:
        return NodeCost(0, message, f"moves {described}; its group size is not drawn")
    if node.op is Op.ALL_REDUCE:
        sent, rule = ring_all_reduce(message, group), f"2({group}-1)/{group}"
    elif node.op is Op.ALL_TO_ALL:
        sent, rule = all_to_all(message, group), f"({group}-1)/{group}"
    else:
        sent, rule = ring_all_gather(message, group), f"({group}-1)/{group}"
    return NodeCost(0, sent, f"each of {group} GPUs sends {rule} of {described} = {sent:,} B")


def node_costs(deployment: Deployment, spec: ModelSpec | None = None) -> dict[str, NodeCost]:
    """Every node whose cost can be read, by id."""
    costs = {}
    for node_id, node in deployment.nodes.items():
        cost = node_cost(node, spec)
        if cost is not None:
            costs[node_id] = cost
    return costs


def drawn_disagreements(deployment: Deployment, spec: ModelSpec, tp: int) -> list[str]:
    """Where the drawing's sizes contradict the spec (the residual stream's width, the heads a
    query projection shows), each said once with an example node: the cost follows the spec."""
    notes = []
    widths: Counter[int] = Counter()
    example: dict[int, str] = {}
    heads: dict[int, str] = {}
    for node_id, node in deployment.nodes.items():
        if node.op in _STREAM:
            for shape in [*node.inputs, *node.outputs]:
                width = shape.hidden()
                if width:
                    widths[width] += 1
                    example.setdefault(width, node_id)
        elif node.op is Op.Q_PROJ:
            for shape in node.outputs[:1]:
                pair = shape.heads_and_head_dim()
                if pair:
                    heads.setdefault(pair[0], node_id)
    if spec.hidden_size and widths and spec.hidden_size not in widths:
        width = widths.most_common(1)[0][0]
        shard = f" (hidden/TP{tp})" if tp > 1 and width * tp == spec.hidden_size else ""
        notes.append(f"the drawing's residual stream is {width} wide{shard} (e.g. `{example[width]}`), the spec's hidden_size "
                     f"{spec.hidden_size}: the cost follows the spec")
    total = spec.heads
    per_rank = -(-total // tp) if total else None
    wrong = sorted(count for count in heads if count not in (total, per_rank))
    if total and wrong:
        notes.append(f"the drawing gives `{heads[wrong[0]]}` {wrong[0]} query heads; the spec has {total}"
                     + (f", {per_rank} per TP{tp} rank" if tp > 1 else "") + ": the cost follows the spec")
    return notes


def stage_nodes(deployment: Deployment, index: int, layers: tuple[int, ...]) -> list[str]:
    """The nodes behind a stage's cost: the members of the stage the drawing shows (first replica),
    else the nodes of its layers (numbered as the file numbers them)."""
    replicas = deployment.replicas()
    drawn = [stage for stage in replicas.get(min(replicas), [])] if replicas else []
    if index < len(drawn):
        return [n for n in drawn[index].members if deployment.nodes[n].op not in (Op.STAGE_MARKER, Op.LEGEND)]
    numbers = [layer for stage in deployment.stages for layer in (stage.claimed_layers or [])] + deployment.layers_drawn
    base = 1 if numbers and min(numbers) == 1 else 0
    wanted = {layer + base for layer in layers}
    return [n for layer in sorted(wanted) for n in deployment.nodes_of_layer(layer)]
