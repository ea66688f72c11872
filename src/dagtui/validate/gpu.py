"""GPU rules: every computation is placed, on GPUs that exist, stages apart, with balanced load."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from dagtui.model.operators import MOE_OPS, Kind, Op
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges, node_list


@rule("GPU001", "gpu", Severity.ERROR, "Computation node without GPU placement")
def unplaced(ctx: Context):
    """Every computation node has a GPU placement (`GPU: 0-7`, `GPU: TP0-TP7, PP0`, ...).

    Why: the point of a deployment DAG is where each operator runs; an unplaced operator cannot
    be costed or checked for cross-GPU traffic.
    Example: `layer3_mlp [label="MLP\\nInput: ...\\nOutput: ..."]` with no GPU line.
    Fix: Add a `GPU: ...` line (GPU ids or ranks) to every computation node.
    """
    compute = ctx.computation
    if not compute:
        return
    # Where the file places its operators with GPU lines, a rank named in passing (`L0 EP1 TP1`) is
    # no placement: the node lost its GPU line.
    placed = sum(1 for n in compute if ctx.nodes[n].placement is not None)
    by_lines = placed * 2 > len(compute)
    missing = [n for n in compute if ctx.nodes[n].placement is None and (by_lines or not ctx.nodes[n].ranks)]
    missing += _lost_own_line(ctx, compute)
    missing += _lost_gpu_ids(ctx, compute)
    if len(missing) == len(compute) and _says_one_gpu(ctx):
        return  # "// MoE Single GPU Deployment DAG": every operator runs on the one GPU there is
    if len(missing) == len(compute):
        yield unplaced.finding(
            f"No computation node states where it runs ({len(compute)} nodes): a deployment without placements "
            "cannot be costed or checked; GPU range, stage overlap, load balance and cross-GPU edge checks did not run.",
            nodes=missing[:1], severity=Severity.WARNING, key="GPU001:none", title="No GPU placement in the file",
            fix="Add a `GPU: ...` line to every computation node's label.",
        )
    elif missing:
        yield unplaced.finding(
            f"{len(missing)} computation node(s) have no GPU placement: {node_list(missing)}.",
            nodes=missing, fix="Add a `GPU: ...` line (ids or ranks) to each of them.",
        )


def _lost_own_line(ctx: Context, compute: list[str]) -> list[str]:
    """Nodes placed only by their cluster's label (`Stage 1 (GPUs 4-7)`) whose copies in other
    layers or ranks (the same operator, the same title but for its numbers) all carry a GPU line
    of their own: this one lost its line (a per-rank down projection is not on the whole stage)."""
    own: dict[tuple[Op, str], int] = defaultdict(int)
    inherited: dict[tuple[Op, str], list[str]] = defaultdict(list)
    for node_id in compute:
        node = ctx.nodes[node_id]
        key = (node.op, _DIGITS.sub("#", node.title.lower()))
        if node.placed_by_cluster:
            inherited[key].append(node_id)
        elif node.placement is not None:
            own[key] += 1
    return [n for key, nodes in inherited.items() if own[key] >= 2 * len(nodes) for n in nodes]


def _lost_gpu_ids(ctx: Context, compute: list[str]) -> list[str]:
    """Nodes placed by ranks alone (`rank: tp2/dp1`) whose copies (the same operator, the same title
    but for its numbers) all give GPU ids as well (`rank: tp2/dp1`, `gpu: 6`): this one lost its
    GPU line. (Where the file places every node by ranks, ranks are its placement.)"""
    with_ids: dict[tuple[Op, str], int] = defaultdict(int)
    ranks_only: dict[tuple[Op, str], list[str]] = defaultdict(list)
    for node_id in compute:
        node = ctx.nodes[node_id]
        placement = node.placement
        if placement is None or node.placed_by_cluster:
            continue
        key = (node.op, _DIGITS.sub("#", node.title.lower()))
        if placement.gpus:
            with_ids[key] += 1
        elif placement.ranks and not placement.everywhere and placement.placeholder is None:
            ranks_only[key].append(node_id)
    return [n for key, nodes in ranks_only.items() if with_ids[key] >= 2 * len(nodes) for n in nodes]


_DIGITS = re.compile(r"\d+")


def _says_one_gpu(ctx: Context) -> bool:
    """Whether the graph's name or label, or a comment before the graph, says it runs on one GPU."""
    raw = ctx.deployment.raw
    texts = [raw.name, raw.attrs.get("label", ""), *(comment.text for comment in raw.comments if comment.header)]
    return any(_ONE_GPU.search(text.replace("_", " ")) for text in texts)


_ONE_GPU = re.compile(r"\b(?:single|one|1)[- ]gpu\b", re.IGNORECASE)


@rule("GPU002", "gpu", Severity.ERROR, "GPU id beyond the strategy's GPU count")
def out_of_range(ctx: Context):
    """GPU ids lie within the strategy's GPU count (EP*TP*PP*DP).

    Why: a GPU id past the count means the placement and the strategy disagree: either the
    strategy needs more GPUs than stated or the ids are wrong.
    Example: `GPU: 64` under EP8-TP4-PP2-DP1 (64 GPUs: ids 0-63).
    Fix: Renumber the GPUs within the strategy's count, or correct the strategy.
    """
    strategy = ctx.deployment.strategy
    count, assumed = strategy.gpu_count, ""
    total, megatron = strategy.declared_total, strategy.megatron_gpu_count
    if count and total and total == megatron and total < count:
        # The file counts as Megatron does (EP carved out of the other ranks) and says so: its ids run to that total.
        count, assumed = total, f"; the file states {total} GPUs, Megatron's count TP*CP*PP*DP"
    if not count and _one_replica_drawn(ctx):
        count, assumed = _count_without_dp(ctx), "; DP is stated nowhere and no replica is drawn, so DP1"
    if not count:
        return
    # A legend's `GPUs: 8` counts the GPUs; it places nothing.
    beyond = [n for n, info in ctx.nodes.items() if info.gpus and max(info.gpus) >= count and info.op is not Op.LEGEND]
    if beyond:
        ids = sorted({gpu for n in beyond for gpu in ctx.nodes[n].gpus if gpu >= count})
        axes = ("ep", "tp", "pp", "dp")
        yield out_of_range.finding(
            f"{len(beyond)} node(s) use GPU id(s) {compact_ranges(ids)}, beyond the {count} GPUs of "
            f"{strategy.label()} (ids 0-{count - 1}{assumed}): {node_list(beyond)}.",
            nodes=beyond, severity=Severity.WARNING if assumed else ctx.severity_for(axes, beyond, Severity.ERROR),
            fix="Renumber the GPUs within the strategy's count, or correct the strategy.",
        )


def _one_replica_drawn(ctx: Context) -> bool:
    """DP unknown, every other degree stated, and the drawing shows no DP rank or replica."""
    strategy = ctx.deployment.strategy
    dense = strategy.degrees.get("ep") == 1 and not ctx.deployment.nodes_of_op(*MOE_OPS)  # EP1: no experts drawn
    return (strategy.degrees.get("dp") is None and all(strategy.is_declared(axis) for axis in ("tp", "pp"))
            and (strategy.is_declared("ep") or dense)
            and not any(node.rank("dp") for node in ctx.nodes.values())
            and not any(stage.replica for stage in ctx.deployment.stages))


def _count_without_dp(ctx: Context) -> int:
    degrees = ctx.deployment.strategy.degrees
    return (degrees.get("ep") or 1) * (degrees.get("tp") or 1) * (degrees.get("pp") or 1)


@rule("GPU003", "gpu", Severity.ERROR, "Pipeline stages share GPUs")
def stage_overlap(ctx: Context):
    """GPU ranges of different pipeline stages do not overlap.

    Why: each stage runs on its own GPUs; overlapping stages serialise on the shared GPUs.
    Example: stage 0 on GPUs 0-7 and stage 1 on GPUs 4-11.
    Fix: Give every pipeline stage its own, disjoint GPUs.
    """
    stage_gpus = {}
    for stage in ctx.deployment.stages:
        gpus: set[int] = set()
        for member in stage.members:
            info = ctx.nodes[member]
            if info.kind is Kind.COMPUTE and not (info.placement and info.placement.everywhere):
                gpus |= info.gpus
        if gpus:
            stage_gpus[stage.index] = gpus
    indices = sorted(stage_gpus)
    for position, first in enumerate(indices):
        for second in indices[position + 1:]:
            shared = stage_gpus[first] & stage_gpus[second]
            if shared:
                nodes = [
                    m for s in ctx.deployment.stages if s.index in (first, second) for m in s.members
                    if ctx.nodes[m].gpus & shared
                ]
                yield stage_overlap.finding(
                    f"PP Stage {first} and PP Stage {second} both use GPU(s) {compact_ranges(shared)}.",
                    nodes=nodes, key=f"GPU003:{first}:{second}",
                    fix="Give every pipeline stage its own disjoint GPU range.",
                )
    yield from _placed_on_another_stage(ctx)


def _placed_on_another_stage(ctx: Context):
    """Where placements name ranks (`GPU: DP0_PP1_TP3`), a node of one stage placed on another
    stage's PP rank: on that stage's GPUs. Judged where most nodes (two in three) name their own."""
    own = other = 0
    astray: dict[tuple[int, int], list[str]] = defaultdict(list)
    for stage in ctx.deployment.stages:
        if stage.source != "cluster":
            continue  # stages read from the PP ranks themselves agree with them
        for member in stage.members:
            placement = ctx.nodes[member].placement
            pp = placement.ranks.get("pp") if placement is not None else None
            if pp is None or len(pp) != 1 or ctx.nodes[member].kind is not Kind.COMPUTE:
                continue
            rank = next(iter(pp))
            if rank == stage.index:
                own += 1
            else:
                other += 1
                astray[(stage.index, rank)].append(member)
    if not astray or own < 2 * other:
        return
    for (index, rank), nodes in sorted(astray.items()):
        yield stage_overlap.finding(
            f"{len(nodes)} node(s) of PP Stage {index} are placed on PP rank {rank}, the GPUs of PP Stage {rank}: "
            f"{node_list(nodes)}.",
            nodes=nodes, key=f"GPU003:rank:{index}:{rank}",
            fix=f"Place the nodes of PP Stage {index} on PP rank {index}.",
        )


@rule("GPU004", "gpu", Severity.INFO, "Unbalanced load across GPUs")
def balance(ctx: Context):
    """Load is balanced across GPUs: report the spread of computation nodes per GPU.

    Why: the slowest GPU sets the pace; a GPU with twice the operators of another is a bottleneck.
    Example: GPU 0 runs 40 operators, GPU 7 runs 12.
    Fix: Rebalance operators (or experts) so that every GPU carries a similar load.
    """
    load: Counter[int] = Counter()
    for node in ctx.computation:
        info = ctx.nodes[node]
        if info.gpus and len(info.gpus) <= 64:
            for gpu in info.gpus:
                load[gpu] += 1
    if len(load) < 2:
        return
    (busiest, most), (idlest, least) = load.most_common(1)[0], min(load.items(), key=lambda item: item[1])
    if most >= 2 * least and most - least >= 3:
        yield balance.finding(
            f"Computation nodes per GPU range from {least} (GPU {idlest}) to {most} (GPU {busiest}) over {len(load)} GPUs.",
            nodes=[n for n in ctx.computation if busiest in ctx.nodes[n].gpus][:20],
            fix="Rebalance operators (or experts) so that every GPU carries a similar load.",
        )
