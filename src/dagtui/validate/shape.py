"""Shape rules: shapes agree along every edge, and a TP shard of the hidden size never leaves
a tensor-parallel region without being gathered or reduced."""

from __future__ import annotations

import math
import re
from collections import defaultdict

from dagtui.model.node import NodeInfo
from dagtui.model.operators import SHAPE_CHANGING, Kind, Op
from dagtui.model.shapes import Shape
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import node_list

# Operators that work on the full hidden size: a TP shard must not reach them.
FULL_SIZE_OPS = {
    Op.EMBEDDING, Op.NORM, Op.FINAL_NORM, Op.RESIDUAL_ADD, Op.GATE, Op.OUTPUT, Op.LM_HEAD,
    Op.SEND_RECV, Op.MOE, Op.ATTENTION,
}


_ATTENDING = frozenset({Op.ATTN_CORE, Op.ATTN_SCORE, Op.ATTN_WEIGHTED_SUM, Op.ATTENTION})
_KEYS_AND_VALUES = frozenset({Op.K_PROJ, Op.V_PROJ, Op.KV_CACHE})
_SCORES = frozenset({Op.ATTN_SCORE, Op.SOFTMAX})
# Operators that take different tensors by design (scores and V; expert outputs and routing weights).
_GATHERING = _ATTENDING | {Op.COMBINE, Op.CONCAT, Op.RESIDUAL_ADD}


# Shape-changing operators whose input is still the tensor their producer gives: a gate reads the
# hidden states it routes (its output, the routing weights, is another shape).
_TAKES_ITS_INPUT_WHOLE = frozenset({Op.GATE})


def _same_head_layout(produced: Shape, consumer: NodeInfo) -> bool:
    """Tensors of the same rank and last (head or hidden) size: K/V may differ from Q in heads and length."""
    return any(len(produced.dims) == len(shape.dims) and produced.values[-1] == shape.values[-1]
               for shape in consumer.inputs)


# "MHA-TP (Layer 0)", "Attention (TP)", "Per GPU": a block drawn per TP rank works on its shard.
_TENSOR_PARALLEL_WORDS = re.compile(r"(?<![a-z])tp(?![a-z])|tensor[-_ ]?parallel|per[-_ ]?(?:gpu|rank)|\bshard", re.IGNORECASE)


def _says_tensor_parallel(node: NodeInfo) -> bool:
    return any(_TENSOR_PARALLEL_WORDS.search(line) for line in node.label)


def _fused_qkv_of(produced: Shape, consumer: NodeInfo) -> bool:
    """A fused QKV output whose last dimension is three times the consumer's (Q, K and V of one head
    side by side), every other dimension equal."""
    return produced.all_int and any(
        shape.all_int and len(shape.dims) == len(produced.dims) and produced.values[:-1] == shape.values[:-1]
        and produced.values[-1] == 3 * shape.values[-1]  # type: ignore[operator]
        for shape in consumer.inputs)


def _comparable(shape: Shape) -> bool:
    return bool(shape.dims) and all(dim.is_int or not dim.is_placeholder for dim in shape.dims)


def _mismatch(produced: Shape, consumer: NodeInfo) -> bool:
    """Whether `produced` matches none of the consumer's inputs, on evidence that is not symbolic."""
    candidates = [shape for shape in consumer.inputs if _comparable(shape)]
    if not candidates or not _comparable(produced):
        return False
    for expected in candidates:
        if produced.same_as(expected) or produced.same_elements(expected) or _tokens_flattened(produced, expected):
            return False  # equal, or the same tensor with heads merged or split ([b,s,32,128] = [b,s,4096])
        if len(produced.dims) == len(expected.dims) and any(
            not a.is_int or not b.is_int for a, b in zip(produced.dims, expected.dims) if a.value != b.value
        ):
            return False  # differs only where a symbol stands: not evidence of a mismatch
    return True


def _tokens_flattened(a: Shape, b: Shape) -> bool:
    """`[b, s, h]` and `[b*s, h]`: the same tokens, batch and sequence merged into one dimension."""
    if not a.all_int or not b.all_int or len(a.dims) == len(b.dims) or not a.dims or not b.dims:
        return False
    return a.values[-1] == b.values[-1] and math.prod(a.values) == math.prod(b.values)  # type: ignore[arg-type]


def _shard_sources(ctx: Context, starts: list[str]) -> set[str]:
    """The nodes upstream of `starts` that emit the shard, up to the first that does not (one walk
    shared by all starts): where the shard came from."""
    graph = ctx.deployment.graph
    found: set[str] = set()
    frontier = list(starts)
    while frontier:
        current = frontier.pop()
        for producer in graph.predecessors(current):
            node = ctx.nodes[producer]
            if producer in found or node.is_communication or not node.outputs:
                continue
            if ctx.is_tp_shard(node.outputs[0].hidden()):
                found.add(producer)
                frontier.append(producer)
    return found


def _shard_to_full(ctx: Context, produced: Shape, consumer: NodeInfo) -> bool:
    if not ctx.is_tp_shard(produced.hidden()) or ctx.hidden is None:
        return False  # the usual case, decided before looking at the consumer
    return any(shape.hidden() == ctx.hidden.value for shape in consumer.inputs)


@rule("SHP001", "shape", Severity.ERROR, "Shape mismatch on an edge")
def edge_mismatch(ctx: Context):
    """On every edge, the producer's output shape equals (one of) the consumer's input shapes,
    except across nodes whose job is to change it (communication, split/combine, reshape).

    Why: a mismatch means an operator, a collective or a reshape is missing, or a label is wrong.
    Example: `attn_out` outputs [128,1024,4096] but `residual` expects [128,1024,2048].
    Fix: Make the shapes agree: correct the label, or insert the collective or reshape the edge is missing.
    """
    groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    candidates = [
        (source, target, producer, consumer) for source, target, producer, consumer in ctx.edges
        if producer.op not in SHAPE_CHANGING and producer.outputs and not producer.is_communication
        and not consumer.is_communication and (consumer.op not in SHAPE_CHANGING or consumer.op in _TAKES_ITS_INPUT_WHOLE
                                               or _logit_shard_into_output(ctx, producer, consumer))
    ]
    # Consumers whose listed input matches one producer: the other producers' inputs are unlisted.
    matched = {target for _, target, producer, consumer in candidates if not _mismatch(producer.outputs[0], consumer)}
    for source, target, producer, consumer in candidates:
        produced = producer.outputs[0]
        if any(not _mismatch(output, consumer) for output in producer.outputs) or _shard_to_full(ctx, produced, consumer):
            continue  # (a node listing several outputs hands each consumer one of them)
        if len(consumer.inputs) < ctx.in_degree[target] and (target in matched or consumer.op in _GATHERING):
            continue  # a node of several inputs that lists fewer: an annotation gap (ANN), not a mismatch
        if producer.op is Op.QKV_PROJ and consumer.op in _ATTENDING and _fused_qkv_of(produced, consumer):
            continue  # Q, K and V side by side ([.., heads, 3*d_k]) into a core that takes each of them
        if consumer.op is Op.ATTN_WEIGHTED_SUM and producer.op in _SCORES and len(consumer.inputs) == 1:
            continue  # scores and V differ by design: a weighted sum listing one input lists V
        if consumer.op in _ATTENDING and producer.op in _KEYS_AND_VALUES and _same_head_layout(produced, consumer):
            continue  # K/V may have fewer heads (GQA/MQA) and another length (a KV cache) than Q
        groups[(str(produced), " or ".join(str(s) for s in consumer.inputs))].append((source, target))
    yield from _edges_disagree(ctx)
    for (produced_text, expected), edges in groups.items():
        nodes = [node for edge in edges for node in edge]
        first_source, first_target = edges[0]
        explanation = _factor_note(ctx, ctx.nodes[first_source].outputs[0], ctx.nodes[first_target].inputs)
        edge_text = ", ".join(f"`{a}` -> `{b}`" for a, b in edges[:4]) + (f" and {len(edges) - 4} more" if len(edges) > 4 else "")
        yield edge_mismatch.finding(
            f"{edge_text}: the producer outputs {produced_text} but the consumer expects {expected}.{explanation}",
            nodes=nodes, key=f"SHP001:{ctx.nodes[first_source].op.value}->{ctx.nodes[first_target].op.value}",
            severity=ctx.severity_for((), nodes, Severity.ERROR),
            fix="Make the shapes agree: fix the label, or insert the missing collective or reshape on the edge.",
        )


def _edges_disagree(ctx: Context):
    """Where the tensors are written on the edges, an operator of one output (a norm, an add, a
    projection) whose outgoing edges carry different shapes: one edge's label is wrong."""
    for node_id, node in ctx.nodes.items():
        if (not node.shapes_from_edges or len(node.outputs) < 2 or node.op in SHAPE_CHANGING or node.is_communication
                or node.op in (Op.QKV_PROJ, Op.UNKNOWN) or not all(_comparable(shape) for shape in node.outputs)):
            continue
        first, *others = node.outputs
        if any(not shape.same_as(first) and not shape.same_elements(first) for shape in others):
            edges = [(node_id, target) for target in ctx.deployment.graph.successors(node_id)]
            yield edge_mismatch.finding(
                f"`{node_id}` hands on {' and '.join(str(shape) for shape in node.outputs)} on its outgoing edges "
                f"({', '.join(f'`{a}` -> `{b}`' for a, b in edges[:4])}): one operator gives one tensor, so an edge's "
                "shape is wrong.",
                nodes=[node_id, *(b for _, b in edges)], key=f"SHP001:edges:{node_id}",
                severity=ctx.severity_for((), [node_id], Severity.ERROR),
                fix="Correct the shape on the edge that disagrees with the operator's output.",
            )


def _logit_shard_into_output(ctx: Context, producer: NodeInfo, consumer: NodeInfo) -> bool:
    """A vocab-parallel LM head's shard (vocab/TP) straight into an output that takes the whole
    vocabulary: the all-gather of logits is missing. (Other edges into an output are not judged:
    outputs are drawn with shapes of every kind.)"""
    tp = ctx.degree("tp") or 1
    if producer.op is not Op.LM_HEAD or consumer.op is not Op.OUTPUT or tp == 1:
        return False
    produced = producer.outputs[0]
    return produced.all_int and any(
        shape.all_int and len(shape.dims) == len(produced.dims) and shape.values[:-1] == produced.values[:-1]
        and shape.values[-1] == tp * produced.values[-1]  # type: ignore[operator]
        for shape in consumer.inputs)


def _factor_note(ctx: Context, produced: Shape, expected: list[Shape]) -> str:
    for shape in expected:
        a, b = produced.hidden(), shape.hidden()
        if a and b and a != b:
            note = ctx.explain_factor(min(a, b), max(a, b))
            if note:
                collective = "an all-gather or all-reduce" if a < b else "a reduce-scatter or split"
                return f" {note}: {collective} is missing on this edge."
    return ""


@rule("SHP002", "shape", Severity.ERROR, "TP shard of the hidden size outside a tensor-parallel region")
def shard_outside_tp(ctx: Context):
    """A shard of the hidden size (H/TP) may only exist inside a tensor-parallel region: what
    reaches a node that expects the full hidden size H must have been gathered or reduced first.

    Why: embeddings, norms, residual adds, the gate, pipeline transfers and the output work on
    the full hidden vector; a shard there computes on 1/TP of the features.
    Example: the embedding emits hidden_size=512 (= 4096/TP8) and `output` expects 4096: an
    all-gather is missing after the embedding.
    Fix: Gather (or reduce) the TP shards back to the full hidden size before any full-size operator.
    """
    full = ctx.hidden
    if full is None or ctx.shard_tp is None or ctx.shard_tp.value == 1:
        return
    # A full-size operator that consumes a shard (an embedding sharded by hidden size may emit one,
    # for an all-gather to join: only what it feeds is judged).
    carriers = [
        node_id for node_id, node in ctx.nodes.items()
        if node.op in FULL_SIZE_OPS and node.op is not Op.EMBEDDING and any(ctx.is_tp_shard(s.hidden()) for s in node.inputs)
        and not (node.op in (Op.ATTENTION, Op.MOE) and _says_tensor_parallel(node))
    ]
    sinks = [
        (source, target) for source, target, producer, consumer in ctx.edges
        if producer.outputs and producer.kind is not Kind.INPUT and not consumer.is_communication
        and _shard_to_full(ctx, producer.outputs[0], consumer)
    ]
    if not carriers and not sinks:
        return
    involved = set(carriers) | {node for edge in sinks for node in edge} | _shard_sources(ctx, [*carriers, *(s for s, _ in sinks)])
    order = {node: index for index, node in enumerate(ctx.topological_order or ctx.nodes)}
    emits_shard = [node for node in involved if ctx.nodes[node].outputs and ctx.is_tp_shard(ctx.nodes[node].outputs[0].hidden())]
    # The shard leaves the TP region where it enters a full-size operator: name the node that feeds
    # it there (a head-sharded attention further up is inside the region, where shards belong).
    entering = {p for carrier in [*carriers, *(t for _, t in sinks)] for p in ctx.deployment.graph.predecessors(carrier)}
    origin = min([n for n in emits_shard if n in entering] or emits_shard, key=lambda node: order.get(node, 0), default=None)
    shard = next(
        (s.hidden() for node in involved for s in ctx.nodes[node].outputs if ctx.is_tp_shard(s.hidden())), None,
    )
    tp = ctx.shard_tp.value
    parts = []
    if origin:
        parts.append(f"`{origin}` outputs hidden size {shard} ({shard} = {full.value}/TP{tp}), a shard under {ctx.shard_tp_text()}, outside a tensor-parallel region")
    others = [node for node in carriers if node != origin]
    if others:
        parts.append(f"it flows through {len(others)} full-size operator(s) ({node_list(others, 4)})")
    for _, target in sinks[:2]:
        parts.append(f"it reaches `{target}`, which expects {full.value}")
    nodes = [node for node in [origin, *(t for _, t in sinks), *others] if node]
    yield shard_outside_tp.finding(
        "; ".join(parts) + f". An all-gather over the TP{tp} group is missing after `{origin or (sinks[0][0] if sinks else others[0])}` "
        f"(full hidden size {full.value}, {full.source}).",
        nodes=nodes, key="SHP002",
        details=[f"`{origin}` output: {ctx.nodes[origin].outputs[0]}" if origin else ""] + [
            f"`{target}` input: {ctx.nodes[target].inputs[0]}" for _, target in sinks[:2] if ctx.nodes[target].inputs
        ],
        severity=ctx.severity_for(("tp",), nodes, Severity.ERROR),
        fix=f"Bring the hidden size back to {full.value} before full-size operators: all-gather the TP shards "
        "(or all-reduce a vocab-parallel embedding's partial outputs).",
    )



@rule("SHP003", "shape", Severity.WARNING, "Hidden states reach the output without an LM head")
def no_lm_head(ctx: Context):
    """The LM head projects the final hidden state (H) to the vocabulary; the output node receives
    logits. An output node that takes the hidden state and gives vocabulary-sized logits does the
    LM head's work unseen.

    Why: the LM head is one of the largest matmuls of the model (H x vocab), often vocab-parallel
    with its own all-gather; folded into the output node it is neither placed nor costed.
    Example: `final_norm [.., 4096] -> output "Output: [batch, seq, vocab=32000]"`.
    Fix: Draw the LM head (vocab-parallel under TP, followed by the all-gather of logits) between the
    final norm and the output.
    """
    full = ctx.hidden
    if full is None or ctx.deployment.nodes_of_op(Op.LM_HEAD):
        return
    folded = []
    for source, target, producer, consumer in ctx.edges:
        # A marker node may state its tensor as one bare shape (`Layer 15 Output\n[b, s, hidden=1024]`).
        produced = producer.outputs[0] if producer.outputs else (producer.bare_shapes[0] if len(producer.bare_shapes) == 1 else None)
        if consumer.kind is not Kind.OUTPUT or produced is None or produced.hidden() != full.value:
            continue
        if any(_vocab_sized(shape, full.value) for shape in [*consumer.inputs, *consumer.outputs, *consumer.bare_shapes]):
            folded.append((source, target))
    if folded:
        nodes = [n for edge in folded for n in edge]
        yield no_lm_head.finding(
            f"{', '.join(f'`{a}` -> `{b}`' for a, b in folded[:3])}: hidden states ({full.value} wide) reach the "
            "output, which gives vocabulary-sized logits; no LM head is drawn.",
            nodes=nodes, fix="Draw the LM head between the final norm and the output.",
        )


def _vocab_sized(shape: Shape, hidden: int) -> bool:
    if shape.names_vocab():
        return True
    last = shape.last
    return last is not None and last.is_int and last.value >= 16000 and last.value >= 2 * hidden  # type: ignore[operator]
