"""Expert rules: experts on every EP rank, E/EP each, behind a gate, reached through all-to-alls."""

from __future__ import annotations

import functools
import re
from collections import defaultdict

from dagtui.model.deployment import overlapping
from dagtui.model.flow import nearest
from dagtui.model.node import NodeInfo
from dagtui.model.operators import Kind, Op
from dagtui.model.roles import top_k_in
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges, node_list


def _experts_by_layer(ctx: Context) -> list[tuple[int | None, list[str]]]:
    """Each MoE layer's experts, with its layer number; a file drawing prefill and decode has each
    phase's layer apart (decode's layer 1 may leave out experts prefill's draws)."""
    layers: dict[tuple[str, int | None], list[str]] = defaultdict(list)
    for node_id in ctx.deployment.nodes_of_op(Op.EXPERT):
        node = ctx.nodes[node_id]
        layers[(node.phase, node.layer)].append(node_id)
    return [(layer, nodes) for (_, layer), nodes in layers.items()]


def _alike_layers(items: list[tuple[str, int | None, list[str]]]) -> list[tuple[str, str, list[str]]]:
    """Layers with the same fault are one finding: for each fault (in first-seen order), where it
    is (`Layer(s) 0-15`, or `The MoE block` for unnumbered experts) and the nodes of all of them."""
    grouped: dict[str, tuple[list[int], list[str]]] = {}
    for fault, layer, nodes in items:
        layers, members = grouped.setdefault(fault, ([], []))
        if layer is not None:
            layers.append(layer)
        members.extend(nodes)
    return [(fault, f"Layer(s) {compact_ranges(layers)}" if layers else "The MoE block", members)
            for fault, (layers, members) in grouped.items()]


@rule("EXP001", "expert", Severity.ERROR, "Experts placed on a subset of the EP ranks")
def ep_coverage(ctx: Context):
    """Each MoE layer shown places experts on every EP rank (0..EP-1), and draws as many experts as
    the gate or the model declares.

    Why: under EPn every rank holds E/EP experts; a DAG showing two ranks of 64 says nothing
    about the other 62, and may hide a placement that cannot hold the experts.
    Example: EP64 with experts 0 and 1 on EP0 and EP1 only.
    Fix: Place the experts on every EP rank (E/EP each), or draw one node per EP rank that says which experts it holds.
    """
    ep = ctx.degree("ep")
    if not ep or ep == 1 or ctx.drawn_below_declared("ep"):
        return  # (every MoE layer on the same fewer ranks: the declared degree disagrees, STG002)
    experts_declared = ctx.expert_count
    grouped: dict[tuple[frozenset[int], int], list[tuple[int | None, list[str]]]] = defaultdict(list)
    by_gpus: dict[int, list[tuple[int | None, list[str]]]] = defaultdict(list)
    for layer, experts in _experts_by_layer(ctx):
        ranks = frozenset(rank for node in experts for rank in ctx.nodes[node].rank("ep"))
        if not ranks:
            # An expert's GPUs: all its nodes' (an expert split over its EP rank's TP GPUs is on all of them).
            held: dict[int, set[int]] = defaultdict(set)
            for n in experts:
                if ctx.nodes[n].gpus:
                    for expert in _numbered_experts(ctx.nodes[n]):
                        held[expert] |= ctx.nodes[n].gpus
            groups = {frozenset(gpus) for gpus in held.values()}
            if (0 < len(groups) < ep and len(held) > 1 and not overlapping(groups)
                    and (len(groups) > 1 or not _numbered_twice(ctx, experts)) and not _stages_holding_ep(ctx, groups, ep)):
                by_gpus[len(groups)].append((layer, experts))  # no ranks drawn: count the GPU groups used
            continue
        if ranks >= set(range(ep)):
            continue
        grouped[(ranks, len(experts))].append((layer, experts))
    for used, occurrences in by_gpus.items():
        layers = [layer for layer, _ in occurrences if layer is not None]
        nodes = [node for _, experts in occurrences for node in experts]
        where = f"Layer(s) {compact_ranges(layers)}" if layers else "The MoE block"
        # Experts counted once each, however many nodes draw one (its TP shards, its up and down projections).
        counted = len({(ctx.nodes[n].layer, ctx.nodes[n].expert) for n in nodes if ctx.nodes[n].expert is not None}) or len(nodes)
        yield ep_coverage.finding(
            f"{where} place(s) {counted} expert(s) on {used} GPU group(s) ({_gpu_text(ctx, nodes)}), but "
            f"{ctx.degree_text('ep')} spreads them over {ep} EP ranks, each on GPUs of its own.",
            nodes=nodes, key=f"EXP001:gpus:{compact_ranges(layers)}",
            severity=ctx.severity_for(("ep",), nodes, Severity.ERROR),
            fix="Place each EP rank's experts on that rank's GPUs (E/EP experts on each of the EP ranks).",
        )
    for (ranks, count), occurrences in grouped.items():
        layers = [layer for layer, _ in occurrences if layer is not None]
        nodes = [node for _, experts in occurrences for node in experts]
        expert_ids = sorted({number for n in nodes if (number := ctx.nodes[n].expert) is not None})
        where = f"Layer(s) {compact_ranges(layers)}" if layers else "The MoE block"
        message = (
            f"{where} place(s) {count} expert(s) ({'experts ' + compact_ranges(expert_ids) if expert_ids else node_list(nodes)}) "
            f"on EP rank(s) {compact_ranges(ranks)} only, of {ctx.degree_text('ep')} (EP0-EP{ep - 1}): "
            f"{ep - len(ranks)} rank(s) hold no expert"
        )
        if experts_declared:
            per_rank = experts_declared.value / ep
            per_rank_text = f"{experts_declared.value}/{ep} = {per_rank:g}"
            message += f"; the model has {experts_declared.value} experts ({experts_declared.source}), so each EP rank should hold {per_rank_text}"
        yield ep_coverage.finding(
            message + ".", nodes=nodes, key=f"EXP001:{compact_ranges(layers)}",
            severity=ctx.severity_for(("ep",), nodes, Severity.ERROR),
            fix="Show the expert distribution across all EP ranks (E/EP experts on each), not only the first ranks.",
        )


@rule("EXP007", "expert", Severity.WARNING, "Fewer experts drawn than declared")
def expert_count_drawn(ctx: Context):
    """Where no stated EP degree divides them among ranks, each MoE layer draws as many experts as
    the gate, the labels or the model declare (under a stated EP > 1, EXP001 and EXP002 judge the
    experts per rank instead).

    Why: a gate over 128 experts with four expert nodes after it describes another model, or hides
    where the other 124 experts run.
    Example: `Gate (num_experts=128)` followed by `Expert 0` .. `Expert 3`.
    Fix: Draw every expert (or one node per GPU group saying which experts it holds, `Experts 0-31`).
    """
    ep = ctx.degree("ep")
    declared = ctx.expert_count
    if (ep and ep > 1 and ctx.declared("ep")) or declared is None:
        return
    if ctx.deployment.nodes_of_op(Op.PLACEHOLDER):
        return  # an elided part ("... 56 more experts") is ANN003's
    short: list[tuple[str, int | None, list[str]]] = []
    for layer, nodes in _experts_by_layer(ctx):
        if any(_COUNTS_EXPERTS.search(" ".join(ctx.nodes[n].label)) for n in nodes):
            continue  # `4 Experts`: a node holding several experts without saying which
        indices = {expert for n in nodes for expert in _experts_held(ctx.nodes[n]) if isinstance(expert, int)}
        if 2 <= len(indices) < declared.value:
            fault = (f"draw(s) {len(indices)} experts, but the model has {declared.value} ({declared.source}): "
                     f"{declared.value - len(indices)} are not drawn")
            short.append((fault, layer, nodes))
    for fault, where, nodes in _alike_layers(short):
        yield expert_count_drawn.finding(
            f"{where} {fault}.",
            nodes=nodes, key=f"EXP007:{fault}",
            fix="Draw every expert, or one node per GPU group saying which experts it holds.",
        )


_COUNTS_EXPERTS = re.compile(r"\d+\s*experts|experts?\s*\[", re.IGNORECASE)


@rule("EXP006", "expert", Severity.WARNING, "MoE drawn as one box")
def monolithic_moe(ctx: Context):
    """A MoE layer is drawn as gate, all-to-all dispatch, experts per EP rank and combine, not as
    one "MoE" box.

    Why: one box hides the expert placement and the all-to-alls, the parts most often wrong.
    Example: `layer15_moe [label="Layer 15: MoE"]`.
    Fix: Draw the gate, the all-to-all dispatch, the experts on every EP rank and the all-to-all combine.
    """
    layers_with_experts = {ctx.nodes[n].layer for n in ctx.deployment.nodes_of_op(Op.EXPERT)}
    graph = ctx.deployment.graph
    boxes = [
        node for node in ctx.deployment.nodes_of_op(Op.MOE)
        if ctx.nodes[node].label and ctx.nodes[node].layer not in layers_with_experts
        and not nearest(ctx.nodes, node, graph.predecessors, _drawn_moe_part, hops=2)
        and not nearest(ctx.nodes, node, graph.successors, _drawn_moe_part, hops=2)
    ]  # a "MoE" node next to a drawn gate, dispatch, expert or combine names a part ("MoE Output")
    if boxes:
        yield monolithic_moe.finding(
            f"The MoE of {ctx.where(boxes)} is drawn as one box ({node_list(boxes)}): gate, all-to-alls and expert placement "
            "cannot be checked.",
            nodes=boxes, key=f"EXP006:{compact_ranges(ctx.layers_of(boxes))}",
            fix="Draw the gate, the all-to-all dispatch, the experts on every EP rank and the all-to-all combine.",
        )
    # Layers that draw their router but no expert and no MoE box: the experts were left out.
    layers_with_boxes = {ctx.nodes[n].layer for n in ctx.deployment.nodes_of_op(Op.MOE)}
    gates = [n for n in ctx.deployment.nodes_of_op(Op.GATE) if ctx.nodes[n].layer is not None
             and ctx.nodes[n].layer not in layers_with_experts | layers_with_boxes]
    if gates and layers_with_experts - {None}:
        yield monolithic_moe.finding(
            f"Layer(s) {compact_ranges(ctx.layers_of(gates))} draw their gate ({node_list(gates)}) but no expert, "
            f"while layer(s) {compact_ranges(sorted(layer for layer in layers_with_experts if layer is not None))} "
            "draw theirs: the experts are left out.",
            nodes=gates, key="EXP006:no-experts",
            fix="Draw the experts of every MoE layer, on every EP rank, between the dispatch and the combine.",
        )


_ROUTING_HOPS = 4  # gate -> (dashed) dispatch -> expert; or gate -> split -> send -> expert


def _per_gpu_group(ctx: Context, nodes: list[str]) -> dict[tuple[int, int], int]:
    """Numbered experts per GPU group (numbered in order of the groups' first GPU), when the groups
    do not overlap; empty otherwise."""
    experts: dict[frozenset[int], set[object]] = defaultdict(set)
    labelled = any(ctx.nodes[n].labelled for n in nodes)
    for node in nodes:
        info = ctx.nodes[node]
        if info.gpus and _numbered_experts(info) and (info.labelled or not labelled):
            experts[info.gpus] |= _numbered_experts(info)
    counts = {group: len(numbers) for group, numbers in experts.items()}
    if len(counts) < 2 or overlapping(set(counts)):
        return {}
    return {(0, index): counts[group] for index, group in enumerate(sorted(counts, key=min))}


def _stages_holding_ep(ctx: Context, groups: set[frozenset[int]], ep: int) -> bool:
    """Whether the expert groups are whole pipeline stages with room for all EP ranks each: the
    experts of layers of different stages drawn unnumbered, not one EP rank per group (a stage
    smaller than EP cannot hold it, and that is EXP001's finding)."""
    stages = _stage_gpus(ctx)
    return all(group in stages and len(group) >= ep for group in groups)


def _stage_gpus(ctx: Context) -> set[frozenset[int]]:
    """The GPUs of each pipeline stage drawn."""
    def compute(c: Context) -> set[frozenset[int]]:
        return {frozenset(gpu for member in stage.members if member in c.nodes for gpu in c.nodes[member].gpus)
                for stage in c.deployment.stages}
    return ctx.shared("stage_gpus", compute)


def _numbered_twice(ctx: Context, experts: list[str]) -> bool:
    """Whether one expert number sits on two GPU groups: unnumbered layers (or replicas) drawn
    together, whose groups are stages, not EP ranks."""
    group_of: dict[int, frozenset[int]] = {}
    for node in experts:
        info = ctx.nodes[node]
        if info.expert is not None and info.gpus and group_of.setdefault(info.expert, info.gpus) != info.gpus:
            return True
    return False


def _gpu_text(ctx: Context, nodes: list[str]) -> str:
    gpus = sorted({gpu for node in nodes for gpu in ctx.nodes[node].gpus})
    return f"GPU(s) {compact_ranges(gpus)}"


def _connected(ctx: Context, node: str) -> bool:
    """Whether an expert node takes part in the flow judged: an isolated "Expert 3" box in a layer
    whose other experts are wired is a header (or an island STR004 reports), not a routed expert."""
    if ctx.in_degree[node] + ctx.out_degree[node] > 0:
        return True
    wired = ctx.shared("layers_with_wired_experts", _layers_with_wired_experts)
    return ctx.nodes[node].layer not in wired


def _layers_with_wired_experts(ctx: Context) -> set[int | None]:
    return {ctx.nodes[n].layer for n in ctx.deployment.nodes_of_op(Op.EXPERT) if ctx.in_degree[n] + ctx.out_degree[n]}


def _drawn_moe_part(node: NodeInfo) -> bool:
    return node.op in (Op.GATE, Op.DISPATCH, Op.EXPERT, Op.COMBINE, Op.ALL_TO_ALL)


@rule("EXP002", "expert", Severity.ERROR, "Experts unevenly divided among EP ranks")
def even_split(ctx: Context):
    """The model's experts are divided evenly: E/EP experts on each EP rank.

    Why: an uneven split overloads the ranks with more experts and breaks the all-to-all sizing.
    Example: 64 experts on EP16 with 6 on EP0 and 3 on EP1 (should be 4 each).
    Fix: Give every EP rank the same number of experts (E/EP); choose an EP degree that divides the expert count.
    """
    ep = ctx.degree("ep")
    experts = ctx.expert_count
    if not ep or ep == 1:
        return
    if experts and experts.value % ep:
        yield even_split.finding(
            f"{experts.value} experts ({experts.source}) cannot be divided evenly over {ctx.degree_text('ep')}.",
            key="EXP002:divisible", fix="Choose an EP degree that divides the expert count.",
        )
        return
    if not ctx.declared("ep") and any(node.op is Op.PLACEHOLDER and _NAMES_EXPERTS.search(" ".join(node.label))
                                      for node in ctx.nodes.values()):
        return  # "... 12 more experts (GPUs 4-15)": the EP read from the experts drawn is not the file's
    # Layers with the same spread are one finding: a file drawing one expert per rank in every
    # layer has one fault, not one per layer.
    uneven: list[tuple[str, int | None, list[str]]] = []
    for layer, nodes in _experts_by_layer(ctx):
        per_rank = _experts_per_rank(ctx, nodes)
        if len({rank for _, rank in per_rank}) < 2:
            continue
        counts = set(per_rank.values())
        expected = experts.value // ep if experts else None
        if len(counts) > 1:
            spread = ", ".join(f"EP{rank}: {count}" for (_, rank), count in sorted(per_rank.items())[:8])
            problem = f"experts per EP rank differ ({spread})" + (f"; expected {expected} each" if expected else "")
        elif experts and expected is not None and counts != {expected} and {r for _, r in per_rank} == set(range(ep)):
            each = counts.pop()
            # The ranks agree with each other: the drawing and the declared count disagree, and
            # either may be the one that is wrong (a gate scoring 8 experts beside 64 drawn).
            problem = (f"every EP rank draws {each} expert(s), {each * ep} in all, but {experts.value} experts are "
                       f"declared ({experts.source}): over {ctx.degree_text('ep')} that is {expected} on each")
        else:
            continue
        uneven.append((problem, layer, nodes))
    for problem, where, nodes in _alike_layers(uneven):
        yield even_split.finding(
            f"{where}: {problem}.", nodes=nodes, key=f"EXP002:{problem}",
            severity=ctx.severity_for(("ep",), nodes, Severity.ERROR),
            fix="Place the same number of experts (E/EP) on every EP rank.",
        )


def _experts_per_rank(ctx: Context, nodes: list[str]) -> dict[tuple[int, int], int]:
    """(DP replica, EP rank) -> experts drawn there; an expert drawn as several nodes (up, act,
    down) counts once, a node holding `Experts 0-3` counts four. Without EP ranks drawn, each GPU
    group stands for one."""
    held: dict[tuple[int, int], set[object]] = defaultdict(set)
    labelled = any(ctx.nodes[n].labelled for n in nodes)
    for node in nodes:
        if labelled and not ctx.nodes[node].labelled:
            continue  # an id only an edge names (`l0_expert-5_gpu10`): STR005's, no expert drawn
        ranks, replica = ctx.nodes[node].rank("ep"), ctx.nodes[node].rank("dp")
        if len(ranks) == 1:
            held[(min(replica, default=0), next(iter(ranks)))] |= _experts_held(ctx.nodes[node])
    return {rank: _count(experts) for rank, experts in held.items()} or _per_gpu_group(ctx, nodes)


def _count(held: set[object]) -> int:
    """Experts on one rank: the numbered ones, where any is numbered (an unnumbered "Expert Down
    Proj" beside them is part of those experts); else the nodes."""
    return len({expert for expert in held if isinstance(expert, int)}) or len(held)


def _experts_held(node: NodeInfo) -> set[object]:
    """The experts a node stands for: the range its label names (`Experts 0-3`), its expert
    number, or (unnumbered) the node itself."""
    span = _EXPERT_RANGE.search(" ".join(node.label))
    if span and int(span.group(2)) - int(span.group(1)) < 4096:
        return set(range(int(span.group(1)), int(span.group(2)) + 1))
    return {node.expert if node.expert is not None else node.id}


def _numbered_experts(node: NodeInfo) -> set[int]:
    """The numbered experts a node stands for: its number, or the range its label names
    (`FusedMoE (experts 0-3)`); empty when it names none."""
    return {expert for expert in _experts_held(node) if isinstance(expert, int)}


_NAMES_EXPERTS = re.compile(r"expert", re.IGNORECASE)
_EXPERT_RANGE = re.compile(r"experts?\s*(\d{1,6})\s*(?:-|–|to|\.\.)\s*(\d{1,6})", re.IGNORECASE)


@rule("EXP003", "expert", Severity.ERROR, "Experts of different EP ranks share a GPU")
def shared_gpu(ctx: Context):
    """Experts of different EP ranks do not share a GPU.

    Why: an EP rank is a set of GPUs; two ranks on one GPU means the EP degree is not what is
    drawn, and that GPU holds twice the expert weights.
    Example: `expert_0 (EP0, GPU 3)` and `expert_8 (EP1, GPU 3)`.
    Fix: Give each EP rank GPUs of its own.
    """
    ranks_on_gpu: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for node_id in ctx.deployment.nodes_of_op(Op.EXPERT):
        node = ctx.nodes[node_id]
        if len(node.rank("ep")) == 1:
            for gpu in node.gpus:
                ranks_on_gpu[gpu][next(iter(node.rank("ep")))].append(node_id)
    clashes = {gpu: ranks for gpu, ranks in ranks_on_gpu.items() if len(ranks) > 1}
    if clashes:
        nodes = [n for ranks in clashes.values() for members in ranks.values() for n in members]
        details = [f"GPU {gpu}: EP ranks {compact_ranges(ranks)}" for gpu, ranks in sorted(clashes.items())[:8]]
        yield shared_gpu.finding(
            f"{len(clashes)} GPU(s) ({compact_ranges(clashes)}) hold experts of several EP ranks.",
            nodes=nodes, details=details, fix="Give each EP rank its own GPUs.",
        )
        return
    straddling = [(layer, pair) for layer, experts in _experts_by_layer(ctx)
                  if (pair := _straddling_expert(ctx, [e for e in experts if not ctx.nodes[e].rank("ep")]))]
    for fault, where, nodes in _alike_layers([(_straddle_text(ctx, pair), layer, list(pair)) for layer, pair in straddling]):
        yield shared_gpu.finding(
            f"{where}: {fault}", nodes=nodes, severity=Severity.WARNING,
            fix="Place each expert on the GPUs of one EP rank (the same GPU set as the other experts of that rank).",
        )


def _straddling_expert(ctx: Context, experts: list[str]) -> tuple[str, str] | None:
    """Where no EP rank is named, an EP rank is the GPU set its experts share. When the experts of
    one layer sit on equal-sized GPU sets, all disjoint but one, and that one overlaps others,
    its expert straddles two ranks: the pair (straddling expert, an expert it overlaps). Any
    other overlap is a layout this cannot read (`GPU: 0_1` as host 0, GPU 1) and is left alone."""
    by_gpus: dict[frozenset[int], str] = {}
    for expert in experts:
        if ctx.nodes[expert].gpus:
            by_gpus.setdefault(frozenset(ctx.nodes[expert].gpus), expert)
    if len(by_gpus) < 3 or len({len(gpus) for gpus in by_gpus}) != 1:
        return None
    holders: dict[int, list[frozenset[int]]] = defaultdict(list)
    for gpus in by_gpus:
        for gpu in gpus:
            holders[gpu].append(gpus)
    shared = [sets for sets in holders.values() if len(sets) > 1]
    if not shared or any(len(sets) > 2 for sets in shared):
        return None
    common = set(shared[0]).intersection(*shared[1:])
    if len(common) != 1:
        return None  # overlaps between several pairs: no one expert breaks an otherwise clean layout
    straddler = common.pop()
    other = next(sets for sets in shared[0] if sets != straddler)
    return by_gpus[straddler], by_gpus[other]


def _straddle_text(ctx: Context, pair: tuple[str, str]) -> str:
    straddler, other = (ctx.nodes[node_id] for node_id in pair)
    shared = sorted(straddler.gpus & other.gpus)
    return (f"expert `{straddler.id}` on GPUs {compact_ranges(straddler.gpus)} shares GPU(s) "
            f"{compact_ranges(shared)} with `{other.id}` (GPUs {compact_ranges(other.gpus)}) without "
            f"sitting on the same GPUs: its GPUs straddle two EP ranks.")


@rule("EXP004", "expert", Severity.ERROR, "Experts without a gate before them")
def gate_first(ctx: Context):
    """A gate/router precedes the experts, directly or through the dispatch all-to-all (its edges
    dashed by convention).

    Why: without the gate there is no routing decision: every token would reach every expert.
    Example: `layer0_norm -> expert_0` with no gate in the layer.
    Fix: Draw the gate (router) before the experts, with its edge into the dispatch dashed.
    """
    experts = ctx.deployment.nodes_of_op(Op.EXPERT)
    if not experts:
        return
    graph = ctx.deployment.graph
    gated: set[str] = set()
    # Gates, dispatch nodes and parallelograms dagtui cannot name ("Token Distributor") route tokens;
    # a stage marker or a split does not.
    # Where the file draws gates, a layer's gate is one of them: a token slice or an all-to-all
    # dispatch in a layer that lost its gate routes nothing.
    # So is a dispatch split in a numbered layer that draws no gate while other layers draw theirs.
    gate_layers = {ctx.nodes[gate].layer for gate in ctx.deployment.nodes_of_op(Op.GATE)}
    gates_drawn = bool(gate_layers)
    routers = [n for n, node in ctx.nodes.items()
               if node.op is Op.GATE
               or (node.op is Op.DISPATCH and not _SPLITS_ONLY.search(node.title)
                   and not (gates_drawn and (node.is_communication or _gate_lost(node, gate_layers))))
               or (node.kind is Kind.ROUTING and node.op is Op.UNKNOWN and not gates_drawn)]
    # A gate routes its own layer's tokens: do not let layer 2's gate vouch for layer 3's experts;
    # and it routes to the experts a few steps on, not to everything downstream. One search from
    # all routers, a node expanded again only when reached with more hops to spare.
    spare: dict[str, int] = {}
    frontier = [(gate, _ROUTING_HOPS, ctx.nodes[gate].layer) for gate in routers]
    while frontier:
        node, hops, layer = frontier.pop()
        for successor in graph.successors(node):
            other_layer = ctx.nodes[successor].layer
            # An expert's own nodes ("Expert 0 QKV Proj" ... "Expert 0 MLP") lie inside it: no hop spent.
            left = hops if ctx.nodes[successor].expert is not None else hops - 1
            if spare.get(successor, -1) >= left or (layer is not None and other_layer is not None and other_layer != layer):
                continue
            spare[successor] = left
            gated.add(successor)
            if left > 0:
                frontier.append((successor, left, layer))
    ungated = [node for node in experts if node not in gated and _connected(ctx, node)]
    if ungated:
        yield gate_first.finding(
            f"{len(ungated)} expert node(s) ({node_list(ungated)}) have no gate/router upstream{ctx.in_layers(ungated)}.",
            nodes=ungated, severity=ctx.severity_for((), ungated, Severity.ERROR),
            fix="Add the gate (router) and draw its edge into the dispatch, dashed.",
        )


# "Token Split (.., Sorted By Expert)": cuts the tokens by the routing decision it is given; decides nothing.
_SPLITS_ONLY = re.compile(r"^\s*token[-_ ]?split\b|^\s*split[-_ ]?tokens\b", re.IGNORECASE)


def _gate_lost(dispatch: NodeInfo, gate_layers: set[int | None]) -> bool:
    return dispatch.layer is not None and None not in gate_layers and dispatch.layer not in gate_layers


@rule("EXP005", "expert", Severity.ERROR, "Experts reached without all-to-all dispatch/combine")
def all_to_all(ctx: Context):
    """When EP > 1, tokens reach the experts through an all-to-all dispatch and return through an
    all-to-all combine.

    Why: experts live on other ranks than the tokens routed to them; without the all-to-all the
    tokens never get there.
    Example: `gate -> expert_5 -> combine` with EP16 and no all-to-all node.
    Fix: Insert the all-to-all dispatch between the gate/tokens and the experts, and the all-to-all combine after them.
    """
    ep = ctx.degree("ep")
    if not ep or ep == 1:
        return
    dispatched, combined = _near_all_to_all(ctx, upstream=True), _near_all_to_all(ctx, upstream=False)
    # Experts on replicated tokens whose outputs an all-reduce (or reduce-scatter) sums need no
    # all-to-all either way: that is the other way to combine experts carved from a TP group,
    # where the file states no EP; under a stated EP the experts hold other ranks' tokens.
    reduced = set() if ctx.declared("ep") else ctx.shared("reduced_experts", _reduced_experts)
    experts = [node for node in ctx.deployment.nodes_of_op(Op.EXPERT) if _connected(ctx, node) and node not in reduced]
    missing_in = [node for node in experts if node not in dispatched or _routed_across_gpus(ctx, node)]
    missing_out = [node for node in experts if node not in combined]
    for nodes, which in ((missing_in, "dispatch"), (missing_out, "combine")):
        if nodes:
            yield all_to_all.finding(
                f"{len(nodes)} expert node(s) ({node_list(nodes)}) have no all-to-all {which} "
                f"{'before' if which == 'dispatch' else 'after'} them under {ctx.degree_text('ep')}{ctx.in_layers(nodes)}.",
                nodes=nodes, key=f"EXP005:{which}", severity=ctx.severity_for(("ep",), nodes, Severity.ERROR),
                fix=f"Insert the all-to-all {which} between the {'gate/tokens and the experts' if which == 'dispatch' else 'experts and the combine'}.",
            )


def _routed_across_gpus(ctx: Context, expert: str) -> bool:
    """Whether a gate hands the expert its tokens straight from another GPU: the edge carries the
    hidden states (the gate's output is the expert's input shape), and no all-to-all moves them,
    whatever gathered the tokens before the gate."""
    node = ctx.nodes[expert]
    for source in ctx.deployment.graph.predecessors(expert):
        gate = ctx.nodes[source]
        if (gate.op is Op.GATE and gate.gpus and node.gpus and gate.gpus.isdisjoint(node.gpus)
                and gate.outputs and any(gate.outputs[0].same_as(shape) for shape in node.inputs)):
            return True
    return False


def _reduced_experts(ctx: Context) -> set[str]:
    """Experts combined by an all-reduce (or reduce-scatter) instead of an all-to-all: the
    collective sums the outputs of several experts on different GPUs, reached through expert
    internals and aggregation. A TP all-reduce inside one expert combines nothing.

    One search from all the collectives at once, each node claimed by the first that reaches it."""
    graph = ctx.deployment.graph
    frontier = [(reducer, reducer) for reducer in ctx.deployment.nodes_of_op(Op.ALL_REDUCE, Op.REDUCE_SCATTER)]
    claimed = {node: reducer for node, reducer in frontier}
    while frontier:
        current, reducer = frontier.pop()
        for producer in graph.predecessors(current):
            if producer not in claimed and ctx.nodes[producer].op in _SUMMED_BY_A_REDUCTION:
                claimed[producer] = reducer
                frontier.append((producer, reducer))
    experts_of: dict[str, list[str]] = defaultdict(list)
    for node, reducer in claimed.items():
        if ctx.nodes[node].op is Op.EXPERT:
            experts_of[reducer].append(node)
    return {
        expert for experts in experts_of.values()
        if len({ctx.nodes[expert].gpus for expert in experts}) > 1 for expert in experts
    }


def _all_to_alls(ctx: Context) -> list[str]:
    """Nodes that move tokens between EP ranks: all-to-alls; dispatch, combine, scatter and gather
    nodes drawn as communication (and routers so drawn that say they send tokens: "Token Routing
    (Cross-Node)"); point-to-point sends and receives; and any node whose label names
    an all-to-all on a later line ("Expert Dispatch\\nAll-to-All"). A combine drawn as a routing
    parallelogram is the aggregation of expert outputs, not the transfer."""
    found = []
    moves_tokens = (Op.DISPATCH, Op.COMBINE, Op.SPLIT, Op.CONCAT, Op.ALL_GATHER, Op.UNKNOWN)
    for node_id, node in ctx.nodes.items():
        routes_across = node.op is Op.GATE and _SENDS_TOKENS.search(node.title) is not None
        if node.op in (Op.ALL_TO_ALL, Op.SEND_RECV) or (node.is_communication and (node.op in moves_tokens or routes_across)) or any(map(_names_all_to_all, node.label[1:])):
            found.append(node_id)
    return found


_SENDS_TOKENS = re.compile(r"token[-_ ]?rout|cross[-_ ]?node|dispatch|scatter|\bsend|route\s+to|\brouting\b", re.IGNORECASE)
_ALL_TO_ALL_WORDS = re.compile(r"all[-_ ]?to[-_ ]?all|all2all|\ba2a\b|alltoall", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def _names_all_to_all(line: str) -> bool:
    return _ALL_TO_ALL_WORDS.search(line) is not None
# What lies between the all-to-alls and the experts, or inside an expert.
_PASSABLE_OPS = frozenset({Op.DISPATCH, Op.COMBINE, Op.EXPERT, Op.MLP, Op.UNKNOWN, Op.GATE, Op.ELEMENTWISE,
                           Op.RESHAPE, Op.SPLIT, Op.CONCAT})
_INSIDE_AN_EXPERT = frozenset({Op.EXPERT, Op.MLP, Op.ELEMENTWISE, Op.RESHAPE, Op.UNKNOWN})
_SUMMED_BY_A_REDUCTION = _INSIDE_AN_EXPERT | {Op.COMBINE}


def _passable(node: NodeInfo) -> bool:
    """Passed on the way between the all-to-alls and the experts: routing, expert internals (an
    expert's own norm and output projection too), communication; not the layer's norm, attention
    or residual add."""
    if node.op in _PASSABLE_OPS or node.is_communication:
        return True
    # An operator of one expert (`Expert 0 LayerNorm`, `Expert 0 Output Proj`) is inside it.
    return node.expert is not None or (node.op in (Op.NORM, Op.O_PROJ) and "exp" in (node.id + node.title).lower())


def _near_all_to_all(ctx: Context, upstream: bool) -> set[str]:
    """Nodes with an all-to-all before them (`upstream`) or after them, looking through routing,
    expert-internal (an expert drawn as gate, up, activation, multiply, down) and communication
    nodes, and stopping at anything else (a norm, a residual add). One search from all the
    all-to-alls at once, against the direction looked in, each node visited once."""
    graph = ctx.deployment.graph
    towards = graph.successors if upstream else graph.predecessors
    frontier = list(ctx.shared("all_to_alls", _all_to_alls))
    reached = set(frontier)
    while frontier:
        current = frontier.pop()
        layer = ctx.nodes[current].layer
        for neighbour in towards(current):
            if neighbour in reached:
                continue
            node = ctx.nodes[neighbour]
            if layer is not None and node.layer is not None and node.layer != layer:
                continue  # one layer's all-to-all does not dispatch another layer's tokens
            reached.add(neighbour)
            if _passable(node):
                frontier.append(neighbour)
    return reached


@rule("EXP008", "expert", Severity.WARNING, "Experts fed only the routing scores")
def fed_only_scores(ctx: Context):
    """Tokens reach the experts: what feeds them (directly, or through the dispatch, a split or a
    transfer) carries the hidden states, not only the router's scores.

    Why: the gate's output is one score per expert (or the top-k choice) for each token; an expert
    whose every input comes from it multiplies scores by its weights, and the hidden states never
    reach the MoE. Judged only where the gate's output is stated as scores (a dimension named
    `experts`, `top_k`, `routing`, or as wide as the expert count), never on a gate drawn as the
    router that hands the tokens on.
    Example: `gate [Output: [8, 128, num_experts=16]] -> dispatch -> expert_0 [Input: [.., 4096]]`,
    and no edge from the norm to the dispatch.
    Fix: Feed the dispatch (or the experts) the normed hidden states; let the gate's scores choose where they go.
    """
    order = ctx.topological_order
    experts = ctx.deployment.nodes_of_op(Op.EXPERT)
    if order is None or not experts:
        return
    graph = ctx.deployment.graph
    scorers = {n for n in ctx.deployment.nodes_of_op(Op.GATE) if _states_scores(ctx, ctx.nodes[n])}
    if not scorers:
        return
    # What reaches each conduit node (dispatch, all-to-all, split, transfer, expert internals):
    # "scores" from a scoring gate, "other" from anything else. One pass in data-flow order.
    reaching: dict[str, frozenset[str]] = {}
    for node in order:
        if not _conduit(ctx.nodes[node]):
            continue
        kinds: set[str] = set()
        for producer in graph.predecessors(node):
            if producer in reaching:
                kinds |= reaching[producer]
            else:
                kinds.add("scores" if producer in scorers else "other")
        reaching[node] = frozenset(kinds)
    unfed = [n for n in experts if reaching.get(n) == {"scores"}]
    if unfed:
        layers = {ctx.nodes[n].layer for n in unfed}
        gates = sorted(n for n in scorers if ctx.nodes[n].layer in layers) or sorted(scorers)
        yield fed_only_scores.finding(
            f"{len(unfed)} expert node(s) ({node_list(unfed)}) are reached only by the router's scores "
            f"({node_list(gates)} output one score per expert or the top-k choice){ctx.in_layers(unfed)}: "
            "the hidden states never reach them.",
            nodes=unfed, fix="Feed the dispatch (or the experts) the normed hidden states; the gate's scores only choose where they go.",
        )


_SCORE_NAMES = ("experts", "num_experts", "n_experts", "top_k", "topk", "k", "routing", "scores", "logits",
                "selected_experts", "expert_weights", "routing_weights", "router_logits", "expert_scores")
# What the tokens pass through on their way from the dispatch into an expert's first operator.
_CONDUITS = frozenset({Op.DISPATCH, Op.ALL_TO_ALL, Op.SEND_RECV, Op.SPLIT, Op.RESHAPE, Op.EXPERT, Op.MLP,
                       Op.ELEMENTWISE})


def _conduit(node: NodeInfo) -> bool:
    return node.op in _CONDUITS


def _states_scores(ctx: Context, gate: NodeInfo) -> bool:
    """Whether a gate's stated output is the routing scores, not the tokens: its last dimension is
    named for experts or top-k, or is as wide as the expert count or the top-k its label states (and
    is not the hidden size)."""
    if not gate.outputs:
        return False
    last = gate.outputs[0].last
    if last is None:
        return False
    if last.name is not None and last.name.lower() in _SCORE_NAMES:
        return True
    hidden = ctx.hidden
    if not last.is_int or hidden is None or last.value == hidden.value:
        return False
    experts = ctx.expert_count
    top_k = next(filter(None, map(top_k_in, gate.label)), None)  # "Top-2 of 8 experts" with [8, 128, 2] out
    return (experts is not None and last.value == experts.value) or last.value == top_k
