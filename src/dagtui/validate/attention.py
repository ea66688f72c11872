"""Attention rules: decomposed into operators, wired Q,K -> score -> softmax -> (x V) -> o_proj,
and head arithmetic that agrees with the hidden size and the TP split."""

from __future__ import annotations

import re
from collections import defaultdict

from dagtui.model.flow import nearest, passes_through
from dagtui.model.node import NodeInfo
from dagtui.model.operators import ATTENTION_OPS, Op, low_rank_down
from dagtui.model.roles import heads_stated
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges, node_list

_V_OPS = {Op.V_PROJ, Op.QKV_PROJ}
_QK_OPS = {Op.Q_PROJ, Op.K_PROJ}


def feeders(ctx: Context, node: str) -> set[str]:
    """The nearest attention operators (and KV caches) upstream of `node`, looking through
    pass-through and unknown nodes."""
    return nearest(ctx.nodes, node, ctx.deployment.graph.predecessors, _attention_stop, through=_attention_through)


def consumers(ctx: Context, node: str) -> set[str]:
    """The nearest attention operators (and KV caches) downstream of `node`, looking through
    pass-through and unknown nodes."""
    return nearest(ctx.nodes, node, ctx.deployment.graph.successors, _attention_stop, through=_attention_through)


def _attention_stop(node: NodeInfo) -> bool:
    return node.op in ATTENTION_OPS or node.op is Op.KV_CACHE


def _attention_through(node: NodeInfo) -> bool:
    return passes_through(node) or node.op is Op.UNKNOWN


@rule("ATT001", "attention", Severity.WARNING, "Attention drawn as one box")
def monolithic(ctx: Context):
    """Attention is decomposed into operators (projections, score, softmax, weighted sum, output
    projection), not drawn as one "Multi-Head Attention" box.

    Why: a single box hides exactly what reviewers must check: the wiring, the head split and
    where the TP all-reduce sits.
    Example: `layer15_attention [label="Layer 15: Attention"]` as a representative layer.
    Fix: Draw Q/K/V projections, score, softmax, weighted sum and output projection (or a fused core between the projections and the output projection).
    """
    # A box is what a label says; an id only an edge mentions is STR005's to report.
    boxes = [node for node in ctx.deployment.nodes_of_op(Op.ATTENTION) if ctx.nodes[node].label]
    boxes += _cores_where_others_decompose(ctx)
    if not boxes:
        return
    yield monolithic.finding(
        f"Attention of {ctx.where(boxes)} is drawn as one box ({node_list(boxes)}), so its wiring, head split and "
        "TP collective cannot be checked.",
        nodes=boxes, key=f"ATT001:{compact_ranges(ctx.layers_of(boxes))}",
        fix="Decompose attention into Q/K/V projections, score, softmax, weighted sum (x V) and output "
        "projection, with the all-reduce after the row-parallel projection.",
    )


def _cores_where_others_decompose(ctx: Context) -> list[str]:
    """Fused cores of layers that draw no score or softmax, in a file whose other layers draw
    them: there the layer's attention is one box among decomposed ones (a fused core is fine where
    the file draws its attention so throughout)."""
    decomposed = set(ctx.layers_of(ctx.deployment.nodes_of_op(Op.ATTN_SCORE, Op.SOFTMAX)))
    if not decomposed:
        return []
    # A core that names scores is scores with no softmax after them (ATT002's); one not wired in is STR's.
    return [node for node in ctx.deployment.nodes_of_op(Op.ATTN_CORE)
            if ctx.nodes[node].label and ctx.nodes[node].layer is not None and ctx.nodes[node].layer not in decomposed
            and not _names_scores(ctx.nodes[node]) and ctx.in_degree[node] and ctx.out_degree[node]]


def _names_scores(node: NodeInfo) -> bool:
    return _SCORE_WORDS.search(" ".join(node.label[:2]) or node.title) is not None  # `Layer 1` then `Attention Score`


_SCORE_WORDS = re.compile(r"score|dot[-_ ]?product|\bqk\b|q\s*[x×*@·]\s*k|k\s*\^\s*t\b|kᵀ", re.IGNORECASE)


@rule("ATT002", "attention", Severity.ERROR, "Attention block wired incorrectly")
def wiring(ctx: Context):
    """Q and K feed the score; the score feeds softmax; softmax AND V feed the weighted sum
    ("attention output", "context", "scores x V"); the weighted sum feeds the output projection.

    Why: each wrong edge computes something else than attention. V into the weighted sum is
    right when the softmax feeds it too (that is attention: softmax(QK^T) V), and wrong when
    the softmax does not (V then bypasses the probabilities).
    Also wrong: V into the score, Q/K into the weighted sum, the softmax skipping the weighted
    sum, Q/K/V straight into the output projection, no softmax drawn at all (the raw scores weigh V).
    Example: `layer0_attn_v -> layer0_attn_out` while `layer0_attn_softmax -> layer0_attn_oproj`.
    Fix: Wire Q,K -> score -> softmax -> weighted sum <- V, then weighted sum -> output projection; Q, K and V each from the normed hidden state.
    """
    problems: dict[tuple[str, ...], list[tuple[int | None, list[str], list[str]]]] = defaultdict(list)
    layers_with_sum = {ctx.nodes[n].layer for n in ctx.deployment.nodes_of_op(Op.ATTN_WEIGHTED_SUM)}
    for layer, faults in _layer_faults(ctx, layers_with_sum).items():
        kinds = tuple(sorted({kind for kind, _, _ in faults}))
        nodes = [node for _, edge_nodes, _ in faults for node in edge_nodes]
        texts = [text for _, _, text in faults]
        problems[kinds].append((layer, nodes, texts))
    for kinds, occurrences in problems.items():
        layers = [layer for layer, _, _ in occurrences if layer is not None]
        nodes = [node for _, layer_nodes, _ in occurrences for node in layer_nodes]
        details = list(dict.fromkeys(text for _, _, texts in occurrences for text in texts))
        where = f"layer(s) {compact_ranges(layers)}" if layers else "the attention block"
        summary = "; ".join(_SUMMARY[kind] for kind in kinds)
        yield wiring.finding(
            f"In {where}: {summary}.", nodes=nodes, details=details[:8], key=f"ATT002:{','.join(kinds)}:{compact_ranges(layers)}",
            severity=ctx.severity_for((), nodes, Severity.ERROR),
            fix="Wire attention as Q,K -> score -> softmax -> weighted sum <- V, then weighted sum -> output projection.",
        )


_SUMMARY = {
    "v-bypasses-softmax": "V feeds the weighted sum but the softmax does not, so V bypasses the attention probabilities",
    "softmax-skips-sum": "the softmax skips the weighted sum",
    "sum-without-v": "the weighted sum gets no V",
    "v-into-score": "V feeds the attention score",
    "qk-into-sum": "Q or K feeds the weighted sum",
    "qkv-into-oproj": "Q/K/V feed the output projection directly",
    "score-without-qk": "the attention score is not fed by both Q and K",
    "no-weighted-sum": "the softmax output never meets V: there is no weighted sum",
    "no-softmax": "no softmax is drawn: the raw scores weigh V",
    "scores-without-softmax": "the scores go on with no softmax (and no weighted sum with V), unlike the file's other layers",
    "no-oproj": "the output projection is missing",
    "core-missing-inputs": "the attention core does not get all of Q, K and V",
    "projection-chain": "a Q/K/V projection is fed by another projection",
    "qkv-outside-attention": "Q/K/V go to operators outside attention",
}


def _layer_faults(ctx: Context, layers_with_sum: set[int | None]) -> dict[int | None, list[tuple[str, list[str], str]]]:
    faults: dict[int | None, list[tuple[str, list[str], str]]] = defaultdict(list)

    def add(node: str, kind: str, nodes: list[str], text: str) -> None:
        faults[ctx.nodes[node].layer].append((kind, nodes, text))

    softmax_drawn = bool(ctx.deployment.nodes_of_op(Op.SOFTMAX))
    tensors = _edge_tensors(ctx)  # Q, K or V by edge, after a fused QKV's split
    for node in ctx.deployment.nodes_of_op(Op.ATTN_WEIGHTED_SUM):
        upstream = feeders(ctx, node)
        ops = {ctx.nodes[n].op for n in upstream}
        scores = sorted(n for n in upstream if ctx.nodes[n].op is Op.ATTN_SCORE)
        if not softmax_drawn and scores and ops & _V_OPS:
            # Q.K^T straight into the product with V, and no softmax anywhere in the file (a score
            # node that said "softmax" would have been read as one).
            add(node, "no-softmax", [scores[0], node], f"`{scores[0]}` -> `{node}` with no softmax between")
        v_nodes = sorted(n for n in upstream if ctx.nodes[n].op in _V_OPS or ctx.nodes[n].op is Op.KV_CACHE)
        probability_ops = {Op.SOFTMAX} if ctx.deployment.nodes_of_op(Op.SOFTMAX) else {Op.SOFTMAX, Op.ATTN_SCORE}
        if v_nodes and not ops & probability_ops:
            add(node, "v-bypasses-softmax", [*v_nodes, node], f"`{v_nodes[0]}` -> `{node}` without the softmax feeding `{node}`")
        if not v_nodes and ops & probability_ops:
            add(node, "sum-without-v", [node], f"`{node}` has no V input")
        for qk in sorted(n for n in upstream if ctx.nodes[n].op in _QK_OPS):
            add(node, "qk-into-sum", [qk, node], f"`{qk}` -> `{node}`")
        for source in sorted(p for p in ctx.deployment.graph.predecessors(node) if tensors.get((p, node), set()) & {"Q", "K"}):
            carried = "/".join(sorted(tensors[(source, node)] & {"Q", "K"}))
            add(node, "qk-into-sum", [source, node], f"`{source}` -> `{node}` (the edge carries {carried})")
    for node in ctx.deployment.nodes_of_op(Op.SOFTMAX):
        downstream = consumers(ctx, node)
        if any(ctx.nodes[n].op in (Op.ATTN_WEIGHTED_SUM, Op.ATTN_CORE) for n in downstream):
            continue
        targets = sorted(downstream)
        goes = f", it goes to {node_list(targets)}" if targets else ""
        if not ctx.out_degree[node]:
            continue  # a softmax with no edge out is unwired (STR003, STR004), not skipping anything
        if ctx.nodes[node].layer in layers_with_sum:
            add(node, "softmax-skips-sum", [node, *targets], f"`{node}` does not feed the weighted sum{goes}")
        else:
            add(node, "no-weighted-sum", [node, *targets], f"`{node}` meets no V before the output{goes}")
    _core_and_projection_faults(ctx, add)
    layers_with_softmax = set(ctx.layers_of(ctx.deployment.nodes_of_op(Op.SOFTMAX)))
    for node in ctx.deployment.nodes_of_op(Op.ATTN_SCORE, Op.ATTN_CORE):
        # Scores (or an "Attention Score" read as a fused core: no softmax after it) in a layer with no
        # softmax where the file's other layers draw theirs: the scores go on unnormalised, V unused.
        layer = ctx.nodes[node].layer
        named = ctx.nodes[node].op is Op.ATTN_SCORE or _names_scores(ctx.nodes[node])
        if layers_with_softmax and layer is not None and layer not in layers_with_softmax and named and ctx.out_degree[node]:
            add(node, "scores-without-softmax", [node], f"`{node}` computes scores; its layer draws no softmax")
    for node in ctx.deployment.nodes_of_op(Op.ATTN_SCORE):
        upstream = feeders(ctx, node)
        for v in sorted(n for n in upstream if ctx.nodes[n].op is Op.V_PROJ):
            add(node, "v-into-score", [v, node], f"`{v}` -> `{node}`")
        for source in sorted(p for p in ctx.deployment.graph.predecessors(node) if "V" in tensors.get((p, node), set())):
            add(node, "v-into-score", [source, node], f"`{source}` -> `{node}` (the edge carries V)")
        ops = {ctx.nodes[n].op for n in upstream}
        keys = {Op.K_PROJ, Op.KV_CACHE, Op.QKV_PROJ}
        if upstream and not ((Op.Q_PROJ in ops or Op.QKV_PROJ in ops) and ops & keys):
            add(node, "score-without-qk", [node], f"`{node}` is fed by {node_list(sorted(upstream))}")
    for node in ctx.deployment.nodes_of_op(Op.O_PROJ):
        direct = sorted(n for n in feeders(ctx, node) if ctx.nodes[n].op in _QK_OPS | _V_OPS)
        if direct:
            add(node, "qkv-into-oproj", [*direct, node], f"{node_list(direct)} -> `{node}`")
    return faults


_AFTER_ATTENTION = frozenset({
    Op.RESIDUAL_ADD, Op.NORM, Op.FINAL_NORM, Op.GATE, Op.MLP, Op.EXPERT, Op.MOE, Op.DISPATCH, Op.LM_HEAD, Op.OUTPUT,
})


def _core_and_projection_faults(ctx: Context, add) -> None:
    """Faults around the fused core and the projections: a core or weighted sum that goes on
    without the output projection, a core missing Q, K or V, a projection fed by a projection, and
    Q/K/V that go to operators outside attention."""
    graph = ctx.deployment.graph
    for node in ctx.deployment.nodes_of_op(Op.ATTN_CORE, Op.ATTN_WEIGHTED_SUM):
        if any(ctx.nodes[n].op is Op.O_PROJ for n in consumers(ctx, node)):
            continue
        after = sorted(nearest(ctx.nodes, node, graph.successors, lambda n: not passes_through(n)))
        beyond = [n for n in after if ctx.nodes[n].op in _AFTER_ATTENTION]
        if beyond:
            add(node, "no-oproj", [node, *beyond], f"`{node}` goes to {node_list(beyond)} without an output projection")
    for node in ctx.deployment.nodes_of_op(Op.ATTN_CORE):
        ops = {ctx.nodes[n].op for n in feeders(ctx, node)}
        if any(_brings_kv(ctx.nodes[n]) for n in graph.predecessors(node)):
            ops.add(Op.KV_CACHE)  # "Recv KV from 15": another device's K and V, a ring-attention step
        missing = [name for name, sources in _CORE_INPUTS if not ops & sources]
        if missing and ctx.in_degree[node]:
            add(node, "core-missing-inputs", [node], f"`{node}` gets no {', '.join(missing)}")
    projections = ctx.deployment.nodes_of_op(Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ)
    for node in projections:
        # Q, K and V drawn after a fused QKV projection (and its split) are its parts, not projections.
        fed_by = sorted(n for n in feeders(ctx, node) if ctx.nodes[n].op in _PROJECTION_OPS
                        and not (ctx.nodes[n].op is Op.QKV_PROJ and ctx.nodes[node].op is not Op.QKV_PROJ)
                        and not low_rank_down(ctx.nodes[n].title))  # MLA's q_a_proj, then q_b_proj: one projection
        if fed_by:
            add(node, "projection-chain", [*fed_by, node], f"{node_list(fed_by)} -> `{node}`")
        # A norm right after a projection (Qwen3's q_norm, MLA's q_a_layernorm) is part of attention's way.
        consumers_of = nearest(ctx.nodes, node, graph.successors, lambda n: not passes_through(n) and n.op is not Op.NORM,
                               through=lambda n: passes_through(n) or n.op is Op.NORM)
        attending = [n for n in consumers_of if ctx.nodes[n].op in ATTENTION_OPS or ctx.nodes[n].op is Op.KV_CACHE]
        outside = sorted(n for n in consumers_of if ctx.nodes[n].op in _AFTER_ATTENTION)
        if outside and not attending:
            add(node, "qkv-outside-attention", [node, *outside], f"`{node}` goes to {node_list(outside)}")


def _edge_tensors(ctx: Context) -> dict[tuple[str, str], set[str]]:
    """Edges that say which of Q, K and V they carry, where no projection node does (after a fused
    QKV's split): labelled so (`split -> score [label="V"]`), or leaving a pass-through node named
    for it (`reshape (v)`, `RotaryEmbedding (k)`, `v (split_heads)`) or a split that gives only it
    (`split v`). Found once per file."""
    def read(ctx: Context) -> dict[tuple[str, str], set[str]]:
        named: dict[tuple[str, str], set[str]] = defaultdict(set)  # parallel edges may carry one each
        for edge in ctx.deployment.edges:
            # labelled `V`, or leaving a record's port `<v>` (`split:v -> pv`)
            tensor = (_TENSOR_LABELS.get(edge.attrs.get("label", "").strip().strip('"').lower())
                      or _TENSOR_LABELS.get(edge.attrs.get("tailport", "").split(":")[0].strip().lower()))
            source = ctx.nodes.get(edge.source)
            if tensor is None and source is not None:
                tensor = _tensor_named_by(source)
            if tensor:
                named[(edge.source, edge.target)].add(tensor)
        return dict(named)
    return ctx.shared("edge_tensors", read)


def _tensor_named_by(node: NodeInfo) -> str | None:
    """Q, K or V, where a pass-through or split node's name says it carries only that tensor."""
    role = None
    if node.op is Op.SPLIT:
        role = _SPLIT_OF_ONE.match(node.title.split("|")[0])  # `split v | L1 | tp0`: the tags follow the name
    if role is None and node.op is Op.KV_CACHE:
        # `kv_cache_read; cache=v`, `K Cache Read`, `v_cache`: a cache of one of the two
        role = next(filter(None, (_ONE_CACHE.search(line) for line in node.label)), None)
    if role is None and passes_through(node):
        role = _NAMED_TENSOR.search(node.title) or _LEADING_TENSOR.match(node.title)
    return _TENSOR_LABELS.get(next(group for group in role.groups() if group).lower()) if role else None


_ONE_CACHE = re.compile(r"^\s*cache\s*[=:]\s*(k|v|key|value)\s*$|^\s*(?:read\s+|write\s+)?(k|v|key|value)[-_ ]cache\b",
                        re.IGNORECASE)


_NAMED_TENSOR = re.compile(r"\(\s*(q|k|v|query|key|value)\s*\)\s*$", re.IGNORECASE)
_LEADING_TENSOR = re.compile(r"^\s*(q|k|v|query|key|value)(?:\s*\(|\s*[:\-–]|\s*$)", re.IGNORECASE)  # `v (split_heads)`
_SPLIT_OF_ONE = re.compile(r"^\s*(?:split|slice|chunk)[\s_:\-]*(q|k|v|query|key|value)\s*$", re.IGNORECASE)


_TENSOR_LABELS = {"q": "Q", "query": "Q", "k": "K", "key": "K", "v": "V", "value": "V"}


def _brings_kv(node: NodeInfo) -> bool:
    """A transfer or collective whose name says it carries K and V ("Recv KV from 15", "All-Gather K/V")."""
    return node.is_communication and bool(_NAMES_KV.search(node.title))


_NAMES_KV = re.compile(r"\bkv\b|\bk\s*[,/&]\s*v\b|\bkeys?\s*(?:and|&|/)\s*values?\b", re.IGNORECASE)
_PROJECTION_OPS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ})
_CORE_INPUTS = (
    ("Q", frozenset({Op.Q_PROJ, Op.QKV_PROJ})),
    ("K", frozenset({Op.K_PROJ, Op.QKV_PROJ, Op.KV_CACHE})),
    ("V", frozenset({Op.V_PROJ, Op.QKV_PROJ, Op.KV_CACHE})),
)


@rule("ATT003", "attention", Severity.ERROR, "Head arithmetic disagrees with the hidden size or TP split")
def heads(ctx: Context):
    """Heads x d_k equals the hidden size, and under TP each rank holds heads/TP heads (a node drawn
    once for the whole TP group shows what one rank holds).

    Why: a projection whose heads x d_k is not H (or H/TP on a TP rank) cannot be the model's
    attention; a TP rank holding all heads means the split was not applied.
    Example: `heads=32, d_k=64` after a TP8 projection of hidden 4096 is wrong twice:
    32x64 = 2048, and a TP8 rank holds 4 heads.
    Fix: Give each TP rank heads/TP heads of the model's head size d_k, so that heads x d_k = H/TP on a rank (H in all).
    """
    full = ctx.hidden
    tp = ctx.degree("tp") or 1
    # Where no strategy states TP, the split the drawing shows (`shard_tp`) is a rank's share too.
    shown_tp = ctx.shard_tp.value if tp == 1 and ctx.shard_tp else 1
    total_heads = ctx.spec.heads if ctx.spec and ctx.spec.heads else None
    widths, kv_widths, kv_counts = _spec_widths(ctx, tp)
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    # How many shards of an operator a layer draws, per DP replica (each replica holds all the heads).
    copies: dict[tuple[Op, str, int | None, int, int], int] = defaultdict(int)
    drawn_width: dict[tuple[Op, str, int | None, int, int], int] = defaultdict(int)  # the heads x d_k its shards hold together
    for node_id in [*ctx.deployment.nodes_of_op(*_HEAD_OPS, Op.SPLIT), *_named_head_splits(ctx)]:
        node = ctx.nodes[node_id]
        copies[_shard_key(node)] += 1
        for shape in node.outputs[:1]:
            splits_heads = node.op in _PROJECTIONS or node.op in (Op.RESHAPE, Op.ELEMENTWISE, Op.SPLIT)
            pair = shape.heads_split_from(node.inputs[0]) if node.inputs and splits_heads else shape.heads_and_head_dim()
            if pair is None and node.op in _PROJECTIONS:
                pair = heads_stated(node.label)  # `heads=8 head_dim=128` on a line of its own
            if pair:
                groups[pair].append(node_id)
                drawn_width[_shard_key(node)] += pair[0] * pair[1]
    yield from _head_size_within_layers(ctx)
    if full is None:
        return
    if tp > 1 and ctx.declared("tp"):
        whole = _full_width_ranks(ctx, tp, full.value)
        if whole:
            yield heads.finding(
                f"{len(whole)} projection(s) of one TP rank output the full width ({node_list(whole)}){ctx.in_layers(whole)}: "
                f"under {ctx.degree_text('tp')} a rank holds 1/{tp} of the heads, {full.value // tp} wide ({full.source}).",
                nodes=whole, key="ATT003:rank-width", severity=Severity.WARNING, title="A TP rank's projection holds all heads",
                fix=f"Give each TP rank's Q/K/V projection heads/TP heads: {full.value // tp} wide ({3 * full.value // tp} for a fused QKV).",
            )
    for (head_count, head_dim), nodes in groups.items():
        product = head_count * head_dim
        shards = max(copies[_shard_key(ctx.nodes[n])] for n in nodes)
        if tp > 1 and ctx.declared("tp") and shards > tp and shards % tp == 0:
            shards = tp  # TP groups drawn side by side (attention per EP rank or replica): each holds all the heads
        drawn_tp = ctx.drawn_below_declared("tp") or 1  # the degree the drawing shows, where it disagrees (STG002)
        per_rank = {full.value} | {full.value // d for d in (tp, shards, shown_tp, drawn_tp) if d > 1 and full.value % d == 0}
        if all(ctx.nodes[n].op is Op.QKV_PROJ for n in nodes):
            per_rank |= {3 * width for width in per_rank}  # a fused QKV emits Q, K and V side by side
        per_rank |= widths
        key_value = all(ctx.nodes[n].op in (Op.K_PROJ, Op.V_PROJ) for n in nodes)
        if key_value:
            per_rank |= kv_widths
        problems = []
        # Heads spread unevenly over the GPUs (8 with 3 heads and 4 with 2 of 32): with no TP degree, where
        # the layer's copies together hold the hidden size, each rank's heads x d_k is its share.
        uneven = (tp == 1 and shards > 1 and product < full.value
                  and all(drawn_width[_shard_key(ctx.nodes[n])] == full.value for n in nodes))
        if product not in per_rank and not uneven and not (key_value and _fewer_kv_heads(ctx, nodes, head_count, head_dim, groups)):
            splits = " nor ".join(f"its {d}-way shard {full.value // d}" for d in sorted({tp, shards}) if d > 1)
            problems.append(f"{head_count} x {head_dim} = {product}, which is neither the hidden size {full.value} nor {splits}"
                            if splits else f"{head_count} x {head_dim} = {product}, which is not the hidden size {full.value}")
        if key_value and head_count in kv_counts:
            pass  # grouped-query attention: a rank holds its share of the KV heads
        elif tp > 1 and total_heads and head_count not in _heads_a_rank_shows(ctx, nodes, total_heads, tp):
            problems.append(f"a TP{tp} rank holds {total_heads}/{tp} = {total_heads // tp} heads, not {head_count}")
        elif tp > 1 and ctx.declared("tp") and not total_heads and product == full.value and shards > 1:
            problems.append(f"each of the {shards} TP{tp} shards drawn shows the full {head_count} heads; a rank holds 1/{tp} of them")
        group_nodes = [n for n in nodes if _drawn_for_the_group(ctx.nodes[n], tp)]
        if tp > 1 and ctx.declared("tp") and group_nodes and product in (full.value, 3 * full.value) and head_count % tp == 0:
            yield heads.finding(
                f"{len(group_nodes)} projection(s) drawn once for a TP group show all {head_count} heads "
                f"({node_list(group_nodes)}){ctx.in_layers(group_nodes)}: under {ctx.degree_text('tp')} each rank holds "
                f"{head_count // tp} of them.",
                nodes=group_nodes, key=f"ATT003:group:{head_count}x{head_dim}", severity=Severity.WARNING,
                title="One node for the TP group shows all heads",
                fix="Show per-rank shapes (heads/TP heads) on a node drawn once for the TP group, or draw one node per TP rank.",
            )
            nodes = [n for n in nodes if n not in group_nodes]  # said once, above
        if problems and nodes:
            yield heads.finding(
                f"{node_list(nodes)} output heads={head_count}, d_k={head_dim}: " + "; and ".join(problems)
                + f" (hidden size {full.value}, {full.source}).",
                nodes=nodes, key=f"ATT003:{head_count}x{head_dim}",
                severity=Severity.WARNING if full.guessed else ctx.severity_for(("tp",), nodes, Severity.ERROR),
                fix=f"Give each TP rank heads/TP heads of d_k = H/heads, so that heads x d_k = {full.value // tp if tp > 1 else full.value} per rank.",
            )


def _fewer_kv_heads(ctx: Context, nodes: list[str], kv_heads: int, head_dim: int,
                    groups: dict[tuple[int, int], list[str]]) -> bool:
    """Grouped-query attention read from the drawing: the Q projections of the same layers show
    more heads of the same size, a multiple of the K/V heads (32 query heads and 8 KV heads)."""
    layers = {ctx.nodes[n].layer for n in nodes}
    return any(q_heads > kv_heads and q_heads % kv_heads == 0 and size == head_dim
               and any(ctx.nodes[q].op is Op.Q_PROJ and ctx.nodes[q].layer in layers for q in q_nodes)
               for (q_heads, size), q_nodes in groups.items())


def _named_head_splits(ctx: Context) -> list[str]:
    """Reshape and rotary nodes named for Q, K or V (`reshape (v)`, `RotaryEmbedding (q)`): where a
    fused QKV's output is cut into heads, they show the heads a rank holds."""
    return [n for n in ctx.deployment.nodes_of_op(Op.RESHAPE, Op.ELEMENTWISE) if _NAMED_TENSOR.search(ctx.nodes[n].title)]


def _full_width_ranks(ctx: Context, tp: int, full: int) -> list[str]:
    """Projections drawn for one TP rank (a rank named, one GPU) whose unnamed output is the full
    width: H for Q, K or V, 3H for a fused QKV. A rank holds 1/TP of the heads."""
    found = []
    for node_id in ctx.deployment.nodes_of_op(*_PROJECTIONS):
        node = ctx.nodes[node_id]
        if not node.rank("tp") or len(node.gpus) > 1 or not node.outputs or not node.inputs:
            continue
        output = node.outputs[0]
        if output.heads_split_from(node.inputs[0]) or len(output.dims) not in (2, 3) or not output.all_int:
            continue
        if output.values[-1] == (3 * full if node.op is Op.QKV_PROJ else full):
            found.append(node_id)
    return found


def _heads_a_rank_shows(ctx: Context, nodes: list[str], total_heads: int, tp: int) -> set[int]:
    """The head count a TP rank's projection may show: heads/TP, and for a fused QKV the Q, K and
    V heads side by side (3 x heads/TP, or (heads + 2 kv_heads)/TP under grouped-query attention)."""
    counts = {total_heads // tp}
    if all(ctx.nodes[n].op is Op.QKV_PROJ for n in nodes):
        kv = ctx.spec.kv_head_count if ctx.spec and ctx.spec.kv_head_count else total_heads
        counts |= {3 * total_heads // tp, (total_heads + 2 * kv) // tp}
    return counts


def _drawn_for_the_group(node: NodeInfo, tp: int) -> bool:
    """A projection drawn once for its TP group: placed on the group's GPUs, naming no TP rank."""
    return node.op in _PROJECTIONS and len(node.gpus) >= tp and not node.rank("tp")


def _shard_key(node: NodeInfo) -> tuple[Op, str, int | None, int, int]:
    """An operator's copies in one layer, per DP replica and per EP rank (attention placed with an EP
    rank runs data-parallel over the EP ranks: each holds all the heads, split over its TP ranks),
    and per tensor a reshape, rotary or split names (`(q)` and `(k)`, `split q` and `split k` are two operators)."""
    named = _NAMED_TENSOR.search(node.title)
    return (node.op, named.group(1).lower() if named else (_tensor_named_by(node) or ""), node.layer, min(node.rank("dp"), default=0),
            min(node.rank("ep"), default=0))


_HEAD_OPS = (Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.ATTN_WEIGHTED_SUM)
_PROJECTIONS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ})


def _spec_widths(ctx: Context, tp: int) -> tuple[set[int], set[int], set[int]]:
    """What --model allows besides the hidden size: the query width heads x head_dim (Qwen3's
    64 x 128 over a hidden size of 4096) and its TP shard, a fused QKV's (heads + 2 kv_heads) x
    head_dim; and, for K and V under grouped-query attention, kv_heads x head_dim with the KV
    heads a rank holds (⌈kv_heads/TP⌉, replicated past kv_heads ranks)."""
    spec = ctx.spec
    if spec is None or not spec.heads or not spec.head_dim:
        return set(), set(), set()
    d, kv = spec.head_dim, spec.kv_head_count or spec.heads
    widths = {spec.heads * d, spec.heads * d // tp, (spec.heads + 2 * kv) * d, (spec.heads + 2 * kv) * d // tp}
    kv_counts = {kv, -(-kv // tp)}
    return widths, {count * d for count in kv_counts}, kv_counts


def _head_size_within_layers(ctx: Context):
    """The head size d_k is one number per model: TP splits heads, never a head. Within a layer,
    projections, a QKV split, the attention core and the weighted sum that show one agree on it."""
    by_layer: dict[int | None, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for node_id in ctx.deployment.nodes_of_op(*_HEAD_OPS, Op.ATTN_CORE, Op.SPLIT):
        node = ctx.nodes[node_id]
        for shape in [*node.outputs[:1], *node.inputs[:1]]:  # a QKV split shows heads on its output
            pair = shape.heads_and_head_dim()
            if pair:
                by_layer[node.layer][pair[1]].append(node_id)
                break
    odd: dict[tuple[int, int], list[int | None]] = defaultdict(list)
    nodes_of: dict[tuple[int, int], list[str]] = defaultdict(list)
    for layer, sizes in by_layer.items():
        if len(sizes) < 2:
            continue
        usual = max(sizes, key=lambda size: (any(ctx.nodes[n].op is Op.ATTN_CORE for n in sizes[size]), len(sizes[size])))
        for size, nodes in sizes.items():
            if size == 3 * usual and all(ctx.nodes[n].op is Op.QKV_PROJ for n in nodes):
                continue  # a fused QKV written `d_k=192`: Q, K and V of d_k=64 side by side
            if size != usual:
                odd[(size, usual)].append(layer)
                nodes_of[(size, usual)].extend(nodes)
    for (size, usual), layers in odd.items():
        nodes = nodes_of[(size, usual)]
        numbered = [layer for layer in layers if layer is not None]
        where = f"layer(s) {compact_ranges(numbered)}" if numbered else "the attention block"
        yield heads.finding(
            f"{node_list(nodes)} show a head size d_k={size} where the rest of {where} "
            f"use d_k={usual}: tensor parallelism splits the heads, never the size of a head.",
            nodes=nodes, key=f"ATT003:d_k:{size}:{usual}", severity=Severity.WARNING,
            title="Head size differs within a layer",
            fix=f"Give every attention operator of the layer the model's head size ({usual}); split heads across TP ranks.",
        )


_MIXING = (Op.MLP, Op.EXPERT, Op.MOE, Op.GATE)


def _whole_moe_layer(node: NodeInfo) -> bool:
    """A box standing for a whole MoE layer ("Layer 0\nMoE Layer\n64 Experts"), beside "Dense Layer"
    boxes: the layer drawn as one box (ATT001's and EXP006's), not an MLP drawn without attention."""
    return node.op is Op.MOE and any(map(_WHOLE_MOE_LAYER.match, node.label[:2]))


_WHOLE_MOE_LAYER = re.compile(r"^\s*(?:layer\s*\d+\s*:?\s*)?(?:moe|sparse|mixture[- ]of[- ]experts)\s+(?:layer|block)\s*\d*\s*$",
                              re.IGNORECASE)


@rule("ATT004", "attention", Severity.WARNING, "Attention missing")
def attention_missing(ctx: Context):
    """Every transformer layer drawn has attention: a layer that draws its MLP or MoE draws its
    attention too, and a drawing of the whole model (embedding to output) has attention in it.

    Why: a layer without attention is not the model's layer; usually the attention nodes of some
    layers were left out, or the whole block was forgotten.
    Example: layers 1-3 draw `FFN 1`..`FFN 3` but no attention node, while layer 0 draws it.
    Fix: Draw every drawn layer's attention, or mark a layer left out as a placeholder that says which layer it repeats.
    """
    undeclared = set(ctx.deployment.undeclared)  # ids only an edge names: STR005's, not drawn layers
    attention_ops = [n for n in ctx.deployment.nodes_of_op(*ATTENTION_OPS)]
    mixing = [n for n in ctx.deployment.nodes_of_op(*_MIXING) if n not in undeclared and not _whole_moe_layer(ctx.nodes[n])]
    if not mixing:
        return
    whole_model = ctx.deployment.nodes_of_op(Op.EMBEDDING, Op.LM_HEAD)
    if not attention_ops:
        if whole_model:
            yield attention_missing.finding(
                f"The model is drawn from {node_list(whole_model)} on, with MLP/MoE operators "
                f"({node_list(mixing)}), but no attention operator anywhere.",
                nodes=mixing[:8], key="ATT004:none",
                fix="Draw each layer's attention (Q/K/V projections, score, softmax, weighted sum, output projection).",
            )
        return
    with_attention = set(ctx.layers_of(attention_ops))
    if not with_attention:
        return
    without = [layer for layer in ctx.layers_of(mixing) if layer not in with_attention]
    if without:
        nodes = [n for n in mixing if ctx.nodes[n].layer in without]
        yield attention_missing.finding(
            f"Layer(s) {compact_ranges(without)} draw their MLP/MoE ({node_list(nodes)}) but no attention, while "
            f"layer(s) {compact_ranges(sorted(with_attention))} draw it.",
            nodes=nodes, key=f"ATT004:{compact_ranges(without)}",
            fix="Draw the attention of every layer that is drawn, or mark the layer as a placeholder for a repeated one.",
        )
