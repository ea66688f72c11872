"""Tensor-parallel rules: every TP rank is drawn, and row-parallel outputs are reduced before use."""

from __future__ import annotations

from collections import defaultdict

from dagtui.model.operators import Op
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges, node_list

TP_OPS = {Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.O_PROJ, Op.ATTN_SCORE, Op.SOFTMAX, Op.ATTN_WEIGHTED_SUM, Op.MLP}
_REDUCERS = {Op.ALL_REDUCE, Op.REDUCE_SCATTER}


@rule("TEN001", "tensor", Severity.ERROR, "Tensor-parallel operator missing TP ranks")
def tp_ranks(ctx: Context):
    """Each tensor-parallel operator appears for every TP rank, or as one node whose GPU spec
    covers the whole TP group with per-shard shapes.

    Why: TP8 means eight shards of every column/row-parallel matmul; drawing fewer hides a
    placement that does not add up.
    Example: `L3_TP0_QPROJ` .. `L3_TP3_QPROJ` under TP8.
    """
    tp = ctx.degree("tp")
    if not tp or tp == 1:
        return
    drawn: dict[tuple[int | None, Op], set[int]] = defaultdict(set)
    members: dict[tuple[int | None, Op], list[str]] = defaultdict(list)
    for node_id, node in ctx.nodes.items():
        if node.op in TP_OPS and node.rank("tp"):
            drawn[(node.layer, node.op)] |= node.rank("tp")
            members[(node.layer, node.op)].append(node_id)
    short: dict[frozenset[int], list[tuple[int | None, Op]]] = defaultdict(list)
    for key, ranks in drawn.items():
        if not ranks >= set(range(tp)):
            short[frozenset(ranks)].append(key)
    for ranks, keys in short.items():
        nodes = [n for key in keys for n in members[key]]
        layers = sorted({layer for layer, _ in keys if layer is not None})
        ops = sorted({op.value for _, op in keys})
        yield tp_ranks.finding(
            f"{', '.join(ops)} of layer(s) {compact_ranges(layers) or '?'} appear for TP rank(s) {compact_ranges(ranks)} "
            f"only, of {ctx.degree_text('tp')}: rank(s) {compact_ranges(set(range(tp)) - ranks)} are missing.",
            nodes=nodes, key=f"TEN001:{compact_ranges(ranks)}", severity=ctx.severity_for(("tp",), nodes, Severity.ERROR),
            fix=f"Draw the operator for all {tp} TP ranks, or as one node placed on the whole TP group with per-shard shapes.",
        )


@rule("TEN002", "tensor", Severity.ERROR, "Row-parallel output used without all-reduce")
def row_parallel_reduced(ctx: Context):
    """Row-parallel outputs (o_proj, down projection) are all-reduced (or reduce-scattered)
    before they are used at full size.

    Why: each TP rank holds a partial sum; without the reduction every rank continues with a
    wrong result.
    Example: `layer0_o_proj -> layer0_residual` under TP8 with no all-reduce.
    """
    tp = ctx.degree("tp")
    if not tp or tp == 1:
        return
    graph = ctx.deployment.graph
    unreduced = []
    for node_id, node in ctx.nodes.items():
        row_parallel = node.op is Op.O_PROJ or (node.op in (Op.MLP, Op.EXPERT) and "row" in " ".join(node.label).lower())
        if not row_parallel or graph.out_degree(node_id) == 0:
            continue
        if not any(ctx.nodes[s].op in _REDUCERS for s in graph.successors(node_id)):
            unreduced.append(node_id)
    if unreduced:
        yield row_parallel_reduced.finding(
            f"{len(unreduced)} row-parallel output(s) ({node_list(unreduced)}) feed the next operator without an "
            f"all-reduce under {ctx.degree_text('tp')}{ctx.in_layers(unreduced)}.",
            nodes=unreduced, severity=ctx.severity_for(("tp",), unreduced, Severity.ERROR),
            fix="Insert an all-reduce (or reduce-scatter) over the TP group after each row-parallel projection.",
        )
