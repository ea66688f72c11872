"""Tensor-parallel rules: every TP rank is drawn, and row-parallel outputs are reduced before use."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import NamedTuple

from dagtui.model.node import NodeInfo
from dagtui.model.operators import Op
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges, node_list

# Tuples, not sets: their nodes are listed operator by operator in this order (a set's order changes
# with the hash seed of each process, and reports with it).
TP_OPS = (Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.O_PROJ, Op.ATTN_SCORE, Op.SOFTMAX, Op.ATTN_WEIGHTED_SUM, Op.MLP)
_REDUCERS = {Op.ALL_REDUCE, Op.REDUCE_SCATTER}


# One rank's scores node read as a fused core (its softmax wired elsewhere) is still that rank's scores.
_SAME_ROLE = {Op.ATTN_CORE: Op.ATTN_SCORE}


@rule("TEN001", "tensor", Severity.ERROR, "Tensor-parallel operator missing TP ranks")
def tp_ranks(ctx: Context):
    """Each tensor-parallel operator appears for every TP rank, or as one node whose GPU spec
    covers the whole TP group with per-shard shapes.

    Why: TP8 means eight shards of every column/row-parallel matmul; drawing fewer hides a
    placement that does not add up. Each operator is also judged against its own copies in the
    file: one layer's `Up proj` on fewer ranks than in the other layers, a group node on fewer GPUs
    than the same operator's other group nodes, a gate projection beside an up projection on all.
    Example: `L3_TP0_QPROJ` .. `L3_TP3_QPROJ` under TP8.
    Fix: Draw the operator for every TP rank, or as one node placed on the whole TP group with per-shard shapes.
    """
    tp = ctx.degree("tp")
    if not tp or tp == 1 or ctx.drawn_below_declared("tp"):
        return  # (every operator on the same fewer ranks: the declared degree disagrees, STG002)
    # Per DP replica drawn (and phase: prefill and decode draw a layer each): each has its own TP group.
    drawn: dict[tuple[int, int, str, int | None, Op], set[int]] = defaultdict(set)
    members: dict[tuple[int, int, str, int | None, Op], list[str]] = defaultdict(list)
    ep_holds_tp_groups = _ep_holds_tp_groups(ctx)
    for node_id, node in ctx.nodes.items():
        if (node.op in TP_OPS or node.op in _SAME_ROLE) and node.rank("tp"):
            key = (*_group_of(node, ep_holds_tp_groups), node.layer, _SAME_ROLE.get(node.op, node.op))
            drawn[key] |= node.rank("tp")
            members[key].append(node_id)
    short: dict[frozenset[int], list[tuple[int, int, str, int | None, Op]]] = defaultdict(list)
    for key, ranks in drawn.items():
        if not ranks >= set(range(tp)):
            short[frozenset(ranks)].append(key)
    for group, keys in short.items():
        nodes = [n for key in keys for n in members[key]]
        layers = sorted({key[3] for key in keys if key[3] is not None})
        ops = sorted({key[4].value for key in keys})
        yield tp_ranks.finding(
            f"{', '.join(ops)} of layer(s) {compact_ranges(layers) or '(no layer named)'} appear for TP rank(s) "
            f"{compact_ranges(group)} only, of {ctx.degree_text('tp')}: rank(s) {compact_ranges(set(range(tp)) - group)} are missing.",
            nodes=nodes, key=f"TEN001:{compact_ranges(group)}", severity=ctx.severity_for(("tp",), nodes, Severity.ERROR),
            fix=f"Draw the operator for all {tp} TP ranks, or as one node placed on the whole TP group with per-shard shapes.",
        )
    reported = set().union(*([members[key] for keys in short.values() for key in keys] or [[]]))
    copies = list(_copies_missing_ranks(ctx, tp, reported))
    yield from copies
    yield from _vocab_shards_missing(ctx, tp)
    yield from _partial_sums_missing(ctx, tp, reported.union(*(finding.nodes for finding in copies)))


def _missing_whole_copies(ctx: Context, short: list[tuple[str, list[str], list[int]]]) -> bool:
    """Whether each short reduction lacks exactly the GPUs of one more producer like the ones it
    has (three copies on GPUs {0,4}, {1,5}, {2,6} of a reduction over 0-7: {3,7} is the fourth)."""
    for _, producers, missing in short:
        sizes = {len(ctx.nodes[p].gpus) for p in producers}
        if len(sizes) != 1 or len(missing) != sizes.pop():
            return False
    return True


def _partial_sums_missing(ctx: Context, tp: int, reported: set[str]):
    """An all-reduce (or reduce-scatter) over a group of GPUs that gets partial sums from some of
    them only, where the file's other such collectives get one from every GPU they span: the
    operators of the rank on the missing GPU are not drawn (`o_proj` of TP rank 3 left out).
    Collectives fed by operators already reported missing a rank are left to that finding."""
    graph = ctx.deployment.graph
    full, short = 0, []
    for collective in ctx.deployment.nodes_of_op(Op.ALL_REDUCE, Op.REDUCE_SCATTER):
        span = ctx.nodes[collective].gpus
        producers = [p for p in graph.predecessors(collective) if not ctx.nodes[p].is_communication and ctx.nodes[p].gpus]
        if len(span) < 2 or not producers or reported.intersection(producers):
            continue
        covered = set().union(*(ctx.nodes[p].gpus for p in producers))
        if covered >= span:
            full += 1
        elif covered < span:
            short.append((collective, sorted(producers), sorted(span - covered)))
    if not short or full < len(short) or (full < 2 and not _missing_whole_copies(ctx, short)):
        return
    nodes = [n for collective, producers, _ in short for n in (*producers, collective)]
    texts = [f"`{collective}` spans GPU(s) {compact_ranges(set(ctx.nodes[collective].gpus))} but gets partial sums from "
             f"{node_list(producers)} only, none from GPU(s) {compact_ranges(set(missing))}" for collective, producers, missing in short[:3]]
    yield tp_ranks.finding(
        f"{'; '.join(texts)}{' and more' if len(short) > 3 else ''}: the operators of the rank(s) on the missing GPU(s) "
        f"are not drawn{ctx.in_layers([c for c, _, _ in short])}, where the file's other {full} reductions get one from "
        f"every GPU they span ({ctx.degree_text('tp')}).",
        nodes=nodes, key="TEN001:partial-sums", severity=ctx.severity_for(("tp",), nodes, Severity.ERROR),
        fix="Draw the operators of every TP rank the reduction spans, each feeding it its partial sum.",
    )


def _vocab_shards_missing(ctx: Context, tp: int):
    """A vocab-parallel LM head drawn for fewer TP ranks than the all-gather of logits after it
    assembles: the gather's output is TP shards wide, fewer shards come in."""
    graph = ctx.deployment.graph
    for gather in ctx.deployment.nodes_of_op(Op.ALL_GATHER):
        heads = [p for p in graph.predecessors(gather) if ctx.nodes[p].op is Op.LM_HEAD and ctx.nodes[p].outputs]
        gathered = ctx.nodes[gather].outputs
        widths = {ctx.nodes[p].outputs[0].values[-1] for p in heads}
        if not heads or not gathered or len(widths) != 1:
            continue
        width = next(iter(widths))
        covered = set().union(*(ctx.nodes[p].rank("tp") or ctx.nodes[p].gpus for p in heads))  # a group node covers its group
        if isinstance(width, int) and width and gathered[0].values[-1] == tp * width and len(heads) < tp and len(covered) < tp:
            yield tp_ranks.finding(
                f"The LM head is drawn for {len(heads)} of {tp} TP ranks ({node_list(sorted(heads))}): the all-gather "
                f"`{gather}` assembles {tp} vocabulary shards of {width} into {tp * width}, so "
                f"{tp - len(heads)} shard(s) of the logits are missing ({ctx.degree_text('tp')}).",
                nodes=[*sorted(heads), gather], key=f"TEN001:vocab:{gather}",
                severity=ctx.severity_for(("tp",), sorted(heads), Severity.ERROR),
                fix=f"Draw the vocab-parallel LM head on all {tp} TP ranks, each feeding the all-gather of logits.",
            )


class _CopyKey(NamedTuple):
    """One operator's copies in one layer of one TP group (DP replica, EP or CP rank, phase: see `_group_of`)."""

    dp: int
    ep: int
    phase: str
    layer: int | None
    op: Op
    template: str  # the operator's title (and id, where ids name operators), numbers masked

    @property
    def operator(self) -> tuple[Op, str]:
        """The operator whatever its group and layer: its copies across the file."""
        return self.op, self.template

    @property
    def kind_in_layer(self) -> tuple[int, int, str, int | None, Op]:
        """The operators of its kind beside it: same group, same layer, same role."""
        return self.dp, self.ep, self.phase, self.layer, self.op

    @property
    def across_layers(self) -> tuple[int, int, str, Op, str]:
        """The same operator of the same group in every layer."""
        return self.dp, self.ep, self.phase, self.op, self.template


def _copies_missing_ranks(ctx: Context, tp: int, reported: set[str]):
    """One operator of a layer drawn for fewer TP ranks than its copies in the file's other layers
    (`Up proj` for TP0 only in layer 2, for TP0 and TP1 in the others), or drawn once for a group
    on fewer GPUs than the same operator's other group nodes (`K Projection` on GPUs 0-2 beside
    Q and V on 0-3): judged against the file's own pattern, operator by operator. Where no TP rank
    is named, the copies' GPUs stand for the ranks they cover."""
    ranks_of, nodes_of = _copies(ctx, reported)
    full: dict[tuple[Op, str], int] = defaultdict(int)
    shorts: dict[tuple[Op, str], int] = defaultdict(int)
    sizes: dict[tuple[Op, str], Counter[int]] = defaultdict(Counter)
    for key, covering in ranks_of.items():
        (full if len(covering) >= tp else shorts)[key.operator] += 1
        sizes[key.operator][len(covering)] += 1
    # Copies the file draws for more than one TP group it does not name (`.g0.r1`, `.g1.r0` on four
    # GPUs under TP2), or elementwise operators drawn per rank (rotary): the count most of the
    # operator's layers draw is the pattern a layer with fewer breaks.
    usual = {operator: size for operator, counts in sizes.items() if (size := _usual_size(counts, tp, operator[0]))}
    # The pattern is the file's: the copies on all ranks outnumber those on fewer (at least one each),
    # or, where the operator has no copy elsewhere, the other operators of its kind beside it in the
    # same TP group name all the ranks (`GATE_PROJ` on TP0-2 beside `UP_PROJ` on TP0-3).
    named_ranks = {key for key, nodes in nodes_of.items() if all(ctx.nodes[n].rank("tp") for n in nodes)}
    complete_beside = {key.kind_in_layer for key, covering in ranks_of.items() if len(covering) >= tp and key in named_ranks}
    beside = _siblings_cover(ranks_of)

    def below_tp(key: _CopyKey) -> bool:
        operator = key.operator
        return key.op is not Op.ELEMENTWISE and (
            full[operator] >= shorts[operator]
            or (not full[operator] and key in named_ranks and key.kind_in_layer in complete_beside))

    def falls_short(key: _CopyKey, ranks: set[int]) -> bool:
        return (len(ranks) < tp and below_tp(key)) or len(ranks) < usual.get(key.operator, 0) or key in beside

    def short_of(key: _CopyKey, ranks: set[int]) -> str:
        """What the copy falls short of, for the message."""
        if len(ranks) < tp:
            return f"{tp} ranks"
        if len(ranks) < usual.get(key.operator, 0):
            return f"{usual[key.operator]} GPUs its copies in other layers cover"
        return f"{beside[key]} GPUs the others of its kind beside it cover"

    short = [(key, ranks) for key, ranks in ranks_of.items() if falls_short(key, ranks)]
    if not short:
        return
    nodes = [n for key, _ in short for n in nodes_of[key]]
    texts = [f"`{nodes_of[key][0]}` ({key.op.value}, layer {key.layer if key.layer is not None else '?'}) on "
             f"{len(ranks)} of {short_of(key, ranks)}" for key, ranks in short[:4]]
    yield tp_ranks.finding(
        f"{'; '.join(texts)}{' and more' if len(short) > 4 else ''}: the same operator in other layers, or the others "
        f"of its kind beside it, cover all of them under {ctx.degree_text('tp')}.",
        nodes=nodes, key="TEN001:copies", severity=ctx.severity_for(("tp",), nodes, Severity.ERROR),
        fix=f"Draw the operator for all {tp} TP ranks, as the file does in its other layers.",
    )


def _copies(ctx: Context, reported: set[str]) -> tuple[dict[_CopyKey, set[int]], dict[_CopyKey, list[str]]]:
    """The ranks (or, where no TP rank is named, the GPUs) each operator's copies cover, and the
    copies, by group, layer and operator; nodes already `reported` left out."""
    ranks_of: dict[_CopyKey, set[int]] = defaultdict(set)
    nodes_of: dict[_CopyKey, list[str]] = defaultdict(list)
    # Ids that name the operator (`model.layers.1.input_layernorm[tp=0]`) repeat once numbers are
    # masked, a few patterns for many nodes; hashed ids (`op_3fa9c1`) stay nearly unique, and
    # opaque ones (`n12`) are one pattern for all: only the title tells the operator then.
    id_templates = Counter(_DIGITS.sub("#", node_id.lower()) for node_id in ctx.nodes)
    ids_name_operators = len(id_templates) * 2 <= len(ctx.nodes)  # hashed ids stay (nearly) unique
    ep_holds_tp_groups = _ep_holds_tp_groups(ctx)
    for node_id, node in ctx.nodes.items():
        # Norms and residual adds drawn per TP rank (each rank holds the whole stream) count where they name their rank.
        replicated = node.op in (Op.NORM, Op.RESIDUAL_ADD) and bool(node.rank("tp"))
        if not (node.op in TP_OPS or replicated or node.op is Op.ELEMENTWISE) or node_id in reported:
            continue
        covered = node.rank("tp") or node.gpus  # where no TP rank is named, the GPUs the copies cover
        if not covered:
            continue
        # The operator by its title and its id, numbers masked (`input_layernorm` and
        # `post_attention_layernorm` are two norms though both are titled `rms_norm(x)`).
        id_template = _DIGITS.sub("#", node_id.lower())
        named_by_id = id_template if ids_name_operators and id_templates[id_template] > 1 else ""
        tensor = _TENSOR_LINE.search(" ".join(node.label[1:])) if node.op is Op.ELEMENTWISE else None
        template = f"{_DIGITS.sub('#', node.title.lower())}|{named_by_id}|{tensor.group(1).lower() if tensor else ''}"
        key = _CopyKey(*_group_of(node, ep_holds_tp_groups), node.layer, node.op, template)
        ranks_of[key] |= covered
        nodes_of[key].append(node_id)
    return ranks_of, nodes_of


def _siblings_cover(ranks_of: dict[_CopyKey, set[int]]) -> dict[_CopyKey, int]:
    """Operators that cover fewer GPUs than the others of their kind beside them (`W_up` on 7 of the
    8 GPUs `W_gate` covers in layer 1), where in every other layer the file draws them they cover
    the same GPUs as those others: the copy on the missing GPU is left out. Maps each to the count
    its siblings cover."""
    union: dict[tuple, set[int]] = defaultdict(set)
    for key, covering in ranks_of.items():
        union[key.kind_in_layer] |= covering
    matches: dict[tuple, list[bool]] = defaultdict(list)  # per operator: does it cover what its siblings do, layer by layer
    for key, covering in ranks_of.items():
        matches[key.across_layers].append(covering == union[key.kind_in_layer])
    found = {}
    for key, covering in ranks_of.items():
        siblings = union[key.kind_in_layer]
        layers = matches[key.across_layers]
        if covering < siblings and layers.count(True) >= 1 and layers.count(False) == 1:
            found[key] = len(siblings)
    return found


def _usual_size(counts: Counter[int], tp: int, op: Op) -> int | None:
    """How many GPUs most layers' copies of an operator cover, where that is the file's clear
    pattern (two layers or more, outnumbering those with fewer) and says more than TP alone
    does: above TP, or at least TP for an elementwise operator, which TP_OPS leaves out."""
    size, times = max(counts.items(), key=lambda item: (item[1], item[0]))
    fewer = sum(n for other, n in counts.items() if other < size)
    enough = size > tp or (op is Op.ELEMENTWISE and size >= tp)
    return size if enough and times >= 2 and times > fewer else None


def _group_of(node: NodeInfo, ep_holds_tp_groups: bool = True) -> tuple[int, int, str]:
    """Which TP group's copy a node is: its DP replica, its EP rank (attention drawn per EP rank
    runs data-parallel over them, each EP rank with TP ranks of its own) and its phase. Where the
    EP ranks are folded over the TP ranks instead (Megatron-Core's `EP rank = tp + TP*cp`), the
    context-parallel rank tells the groups apart in the EP rank's place."""
    if ep_holds_tp_groups:
        return min(node.rank("dp"), default=0), min(node.rank("ep"), default=0), node.phase
    return min(node.rank("dp"), default=0), min(node.rank("sp"), default=0), node.phase


def _ep_holds_tp_groups(ctx: Context) -> bool:
    """Whether an EP rank named on tensor-parallel operators holds a TP group (several TP ranks
    share it), rather than each EP rank being one TP rank's (EP folded over TP)."""
    tp_of_ep: dict[int, set[int]] = defaultdict(set)
    for node in ctx.nodes.values():
        if node.op in TP_OPS and len(node.rank("ep")) == 1 and node.rank("tp"):
            tp_of_ep[min(node.rank("ep"))] |= node.rank("tp")
    folded = len(tp_of_ep) > 1 and all(len(ranks) == 1 for ranks in tp_of_ep.values()) \
        and len(set().union(*tp_of_ep.values())) > 1
    return not folded


_DIGITS = re.compile(r"\d+")
# `OP=ROPE` then `TENSOR=K`: a rotary on K is another operator than the one on Q.
_TENSOR_LINE = re.compile(r"\btensor\s*[=:]\s*(q|k|v)\b", re.IGNORECASE)


@rule("TEN002", "tensor", Severity.ERROR, "Row-parallel output used without all-reduce")
def row_parallel_reduced(ctx: Context):
    """Row-parallel outputs (o_proj, down projection) are all-reduced (or reduce-scattered)
    before they are used at full size.

    Why: each TP rank holds a partial sum; without the reduction every rank continues with a
    wrong result.
    Example: `layer0_o_proj -> layer0_residual` under TP8 with no all-reduce.
    Fix: Insert an all-reduce (or reduce-scatter) over the TP group after each row-parallel projection.
    """
    tp = ctx.degree("tp")
    if tp == 1:
        return
    graph = ctx.deployment.graph
    unreduced = []
    for node_id, node in ctx.nodes.items():
        row_parallel = node.op is Op.O_PROJ or (node.op is Op.MLP and _DOWN.search(node.title)) or (
            node.op in (Op.MLP, Op.EXPERT) and "row" in " ".join(node.label).lower())
        if not row_parallel or graph.out_degree(node_id) == 0 or _runs_whole(ctx, node):
            continue
        if not tp and not _shows_tensor_parallel(ctx, node_id):
            continue
        if not any(ctx.nodes[s].op in _REDUCERS for s in graph.successors(node_id)):
            unreduced.append(node_id)
    if unreduced:
        under = ctx.degree_text("tp") if tp else "tensor parallelism its label states"
        yield row_parallel_reduced.finding(
            f"{len(unreduced)} row-parallel output(s) ({node_list(unreduced)}) feed the next operator without an "
            f"all-reduce under {under}{ctx.in_layers(unreduced)}.",
            nodes=unreduced, severity=ctx.severity_for(("tp",), unreduced, Severity.ERROR) if tp else Severity.WARNING,
            fix="Insert an all-reduce (or reduce-scatter) over the TP group after each row-parallel projection.",
        )


_COLUMN_PARALLEL = (Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ)


@rule("TEN003", "tensor", Severity.ERROR, "Column-parallel projection fed a shard of the hidden size")
def column_parallel_input(ctx: Context):
    """Column-parallel projections (Q, K, V, the MLP's up and gate) take the full hidden state on
    every TP rank and split their output; a shard of the hidden size (H/TP) at their input means
    the split was applied to the wrong side.

    Why: a linear layer fed 1/TP of its input features computes partial sums, not a shard of its
    output: what follows it (per-rank attention heads) is wrong unless the sums are all-reduced.
    Example: `Split to TP8` cuts [.., 4096] into 8 x [.., 512] in front of the Q/K/V projections.
    Fix: Feed column-parallel projections the full hidden state; split their output columns across the TP ranks.
    """
    tp = ctx.shard_tp
    if tp is None or tp.value == 1 or ctx.hidden is None:
        return
    fed = [
        node_id for node_id, node in ctx.nodes.items()
        if (node.op in _COLUMN_PARALLEL or (node.op is Op.MLP and _UP.search(node.title)))
        and node.inputs and all(ctx.is_tp_shard(shape.hidden()) for shape in node.inputs)
    ]
    if fed:
        yield column_parallel_input.finding(
            f"{len(fed)} column-parallel projection(s) take a {ctx.hidden.value // tp.value}-wide input, "
            f"{ctx.hidden.value}/TP{tp.value}: {node_list(fed)}{ctx.in_layers(fed)}. Under {ctx.shard_tp_text()} "
            f"they need the full hidden state ({ctx.hidden.value}, {ctx.hidden.source}) and split their output instead.",
            nodes=fed, severity=ctx.severity_for(("tp",), fed, Severity.ERROR),
            fix="Feed the column-parallel projections the full (replicated) hidden state; split their weight's "
                "output columns across the TP ranks.",
        )


def _runs_whole(ctx: Context, node: NodeInfo) -> bool:
    """An output projection taking and giving the full width (all heads in, the hidden size out), on
    one GPU or right after the heads were gathered (and no word of a split in its label): not split,
    so there is nothing to reduce (whether attention should have been split is another question)."""
    gathered = any(ctx.nodes[p].op in (Op.CONCAT, Op.ALL_GATHER) for p in ctx.deployment.graph.predecessors(node.id))
    single = len(node.gpus) == 1 or (gathered and not any(_SAYS_TENSOR_PARALLEL.search(line) for line in node.label))
    return (node.op is Op.O_PROJ and single and ctx.hidden is not None and bool(node.outputs)
            and _feature_width(node) == ctx.hidden.value == node.outputs[0].hidden())


def _file_says_tensor_parallel(ctx: Context) -> bool:
    """Whether the graph's name or label, a cluster label or a comment names tensor parallelism
    (and none says there is none: "no TP", "replicated on every GPU")."""
    raw = ctx.deployment.raw
    texts = [raw.name, raw.attrs.get("label", ""), *(cluster.label for cluster in raw.clusters()),
             *(comment.text for comment in raw.comments)]
    return any(map(_SAYS_TENSOR_PARALLEL.search, texts)) and not any(map(_NO_TENSOR_PARALLEL.search, texts))


_NO_TENSOR_PARALLEL = re.compile(r"\bno\s+(?:TP|tensor[-_ ]parallel)|without\s+(?:TP|tensor[-_ ]parallel)|replicated\s+on\s+(?:every|all|each)",
                                 re.IGNORECASE)


def _shows_tensor_parallel(ctx: Context, node_id: str) -> bool:
    """With TP unknown, whether a row-parallel projection shows its own split: its label calls it
    tensor-parallel, it is placed on several GPUs and takes less than the full width (one box on
    GPUs 0-15 taking and giving the full width is replicated: data or sequence parallel), or k
    copies of it on other GPUs, each fed hidden/k, feed the same consumer (partial sums that meet
    without a reduction; copies fed the full width are sequence or data parallel, and need none)."""
    node = ctx.nodes[node_id]
    whole = ctx.hidden is not None and _feature_width(node) == ctx.hidden.value
    if any(map(_SAYS_TENSOR_PARALLEL.search, node.label)):
        return True
    if len(node.gpus) > 1 and (not whole or ctx.shared("file_says_tensor_parallel", _file_says_tensor_parallel)):
        # One box on several GPUs is its shards drawn together where it takes less than the full
        # width, or where the file says it uses tensor parallelism (its name, a cluster, a comment);
        # else one box on GPUs 0-15 taking and giving the full width is replicated.
        return True
    graph = ctx.deployment.graph
    width = _feature_width(node)
    if not (ctx.hidden and width):
        return False
    # What feeds each consumer, counted once per consumer: a hub fed by thousands of copies is read once, not once per copy.
    feeding: dict[str, tuple[Counter, Counter]] = ctx.shared("feeding_by_op_and_gpus", lambda _: {})
    for consumer in graph.successors(node_id):
        if consumer not in feeding:
            feeders = [ctx.nodes[p] for p in graph.predecessors(consumer)]
            feeding[consumer] = (Counter(f.op for f in feeders), Counter((f.op, f.gpus) for f in feeders))
        by_op, by_op_and_gpus = feeding[consumer]
        copies = by_op[node.op] - by_op_and_gpus[(node.op, node.gpus)]  # the same operator on other GPUs
        if copies and width * (copies + 1) == ctx.hidden.value:
            return True
    return False


def _feature_width(node: NodeInfo) -> int | None:
    """How many features per token a node takes: heads x head size, or the hidden size it shows."""
    if not node.inputs:
        return None
    heads = node.inputs[0].heads_and_head_dim()
    return heads[0] * heads[1] if heads else node.inputs[0].hidden()


_SAYS_TENSOR_PARALLEL = re.compile(r"tensor[-_ ]?parallel|row[-_ ]?parallel|\bTP\b", re.IGNORECASE)
# Words, or snake_case and CamelCase parts (`down_proj`, `DownProj`, `linear_fc2`): an underscore separates as a space does.
_DOWN = re.compile(r"(?<![A-Za-z0-9])(?:down|fc2|w2)(?![A-Za-z0-9])|^\s*dn\s*$|down[-_ ]?proj|linear2|row[-_ ]?parallel", re.IGNORECASE)
_UP = re.compile(r"(?<![A-Za-z0-9])(?:up|fc1|w1|w3)(?![A-Za-z0-9])|up[-_ ]?proj|gate[-_ ]?(?:proj|linear)|column", re.IGNORECASE)


@rule("TEN004", "tensor", Severity.WARNING, "Tensor parallelism without a collective")
def no_tp_collective(ctx: Context):
    """Under TP > 1, the partial results of the row-parallel projections are combined by a
    collective (all-reduce, reduce-scatter or all-gather) somewhere in each layer.

    Why: a TP8 drawing with no collective at all either does not split anything (every rank
    holds the full weights) or leaves every rank with a partial result.
    Example: `TP=8` in the title, operators on `GPU: 0-7`, and no all-reduce anywhere.
    Fix: Draw the all-reduce after each row-parallel projection (or show per-shard shapes if the split is elsewhere).
    """
    tp = ctx.degree("tp")
    if not tp or tp == 1 or not ctx.declared("tp"):
        return
    reducers = ctx.deployment.nodes_of_op(Op.ALL_REDUCE, Op.REDUCE_SCATTER, Op.ALL_GATHER)
    split = [n for n in ctx.deployment.nodes_of_op(*TP_OPS) if len(ctx.nodes[n].gpus) > 1 or ctx.nodes[n].rank("tp")]
    if reducers or not split:
        return
    yield no_tp_collective.finding(
        f"The file declares {ctx.degree_text('tp')} and places {len(split)} tensor-parallel operator(s) on several "
        f"GPUs ({node_list(split)}), but draws no all-reduce, reduce-scatter or all-gather anywhere.",
        nodes=split, fix="Draw the all-reduce after each row-parallel projection (attention output, MLP down), "
        "or show per-shard shapes if the split is elsewhere.",
    )


_BATCH = ("batch", "batch_size", "b", "bs")


@rule("TEN005", "tensor", Severity.ERROR, "Tensor parallelism splits the batch")
def splits_batch(ctx: Context):
    """Tensor parallelism splits weights (heads, the MLP's inner size, the vocabulary); every TP rank
    sees the whole batch (its DP replica's, after a drawn DP split). A TP rank's operator with 1/TP
    of the batch is data parallelism drawn as tensor parallelism.

    Why: with the batch split, each rank needs all the weights, and the all-reduce that follows sums
    different sequences together.
    Example: under TP8 with batch 128, `q_proj_tp3` takes `[batch=16, seq=1024, hidden=4096]`.
    Fix: Give every TP rank the whole batch; split weights (heads, MLP columns), not sequences.
    """
    tp = ctx.degree("tp")
    if not tp or tp == 1:
        return
    # The whole batch is what the operators outside TP see, per DP replica where ranks are drawn
    # (a DP split before the replicas is no TP split).
    seen: dict[int | None, Counter[int]] = defaultdict(Counter)
    for node in ctx.nodes.values():
        if node.rank("tp") == frozenset() and node.op not in TP_OPS:
            replica = min(node.rank("dp")) if node.rank("dp") else None
            for dim in (d for shape in [*node.inputs, *node.outputs] for d in shape.dims if d.name in _BATCH and d.is_int):
                seen[replica][dim.value] += 1  # type: ignore[index]
                if replica is not None:
                    seen[None][dim.value] += 1  # type: ignore[index]
    if not seen[None]:
        return
    whole_of = {replica: counts.most_common(1)[0][0] for replica, counts in seen.items() if counts}
    # What a drawn DP split (`DP_SPLIT`, 1024 -> 512) hands each replica is that replica's whole batch.
    replica_batches = {
        dim.value for node in ctx.nodes.values() if node.op is Op.SPLIT and _NAMES_DP.search(f"{node.id} {node.title}")
        for shape in node.outputs for dim in shape.dims if dim.name in _BATCH and dim.is_int
    }
    split: dict[str, tuple[int, int]] = {}
    for node_id, node in ctx.nodes.items():
        if node.op not in TP_OPS or not (len(node.rank("tp")) == 1 or len(node.gpus) == 1):
            continue
        replica = min(node.rank("dp")) if node.rank("dp") else None
        whole = whole_of.get(replica, whole_of[None])
        if whole % tp == 0 and whole // tp not in replica_batches and any(
            dim.name in _BATCH and dim.value == whole // tp for shape in node.inputs for dim in shape.dims
        ):
            split[node_id] = (whole // tp, whole)
    if split:
        batch, whole = next(iter(split.values()))
        yield splits_batch.finding(
            f"{len(split)} tensor-parallel operator(s) take batch {batch} = {whole}/TP{tp} on their rank: "
            f"{node_list(list(split))}{ctx.in_layers(list(split))}. Under {ctx.degree_text('tp')} every rank sees the whole batch.",
            nodes=list(split), severity=ctx.severity_for(("tp",), list(split), Severity.ERROR),
            fix="Give every TP rank the whole batch and split the weights (heads, MLP columns) instead.",
        )


_NAMES_DP = re.compile(r"(?<![a-z])dp(?![a-z])|data[-_ ]?parallel", re.IGNORECASE)


@rule("TEN006", "tensor", Severity.ERROR, "Tensor-parallel ranks share a GPU")
def ranks_share_gpu(ctx: Context):
    """The ranks of a TP group sit on distinct GPUs: each holds its own shard of the weights.

    Why: two TP ranks of one operator on the same GPU split nothing across devices; the group is
    larger than the GPUs it uses.
    Example: `q_proj_tp0` and `q_proj_tp1` both on `GPU: 8`.
    Fix: Give each TP rank of a group its own GPU.
    """
    clashes: dict[tuple[Op, int | None, int], dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for node_id, node in ctx.nodes.items():
        ranks = node.rank("tp")
        if node.op in TP_OPS and len(ranks) == 1 and len(node.gpus) == 1:
            clashes[(node.op, node.layer, next(iter(node.gpus)))][next(iter(ranks))].append(node_id)
    shared = {key: ranks for key, ranks in clashes.items() if len(ranks) > 1}
    if shared:
        nodes = [n for ranks in shared.values() for members in ranks.values() for n in members]
        details = [f"GPU {gpu}: {op.value} of TP ranks {compact_ranges(ranks)}" for (op, _, gpu), ranks in list(shared.items())[:6]]
        yield ranks_share_gpu.finding(
            f"{len(shared)} operator(s) place several TP ranks on one GPU{ctx.in_layers(nodes)}: " + "; ".join(details) + ".",
            nodes=nodes, details=details, fix="Give each TP rank of a group its own GPU.",
        )
