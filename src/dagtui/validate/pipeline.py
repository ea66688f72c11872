"""Pipeline rules: PP stages, their layer ranges, the layers drawn in them, and the transfers between them."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import TYPE_CHECKING

from dagtui.model.deployment import Stage
from dagtui.model.node import NodeInfo
from dagtui.model.operators import NOT_OPERATORS, Kind, Op
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges, node_list

if TYPE_CHECKING:
    import networkx as nx

_TRANSFER_OPS = {Op.SEND_RECV, Op.STAGE_MARKER}
_ENDS = (Kind.INPUT, Kind.OUTPUT, Kind.NOTE)


def _stage_name(stage: Stage) -> str:
    claimed = f" (claims layers {compact_ranges(stage.claimed_layers)})" if stage.claimed_layers else ""
    return f"PP Stage {stage.index}{claimed}"


@rule("PIP001", "pipeline", Severity.ERROR, "Stage count differs from PP")
def stage_count(ctx: Context):
    """The number of pipeline stages drawn equals the PP degree.

    Why: each PP rank runs one stage; a missing or extra stage means the pipeline is not the
    one the strategy describes.
    Example: EP64-TP8-PP2-DP2 with four "Pipeline Stage" clusters.
    Fix: Draw as many stages as PP says, or correct the PP degree.
    """
    pp = ctx.degree("pp")
    stages = ctx.deployment.stages
    if pp is None or not ctx.declared("pp") or not stages:
        return
    indices = sorted({stage.index for stage in stages})  # DP replicas draw the same stages again
    for axis, first, other in ctx.deployment.strategy.conflicts:
        if axis == "pp" and ctx.stages_settle(first, other):
            # Two statements disagree and the stages drawn agree with one: the other miscounts them.
            agrees, wrong = (first, other) if first.degrees["pp"] == len(indices) else (other, first)
            yield stage_count.finding(
                f"The {wrong.source} states PP{wrong.degrees['pp']} but {len(indices)} pipeline stage(s) are drawn "
                f"({', '.join(map(str, indices))}), as the {agrees.source} states (PP{agrees.degrees['pp']}).",
                nodes=[s.anchor or s.members[0] for s in stages if s.anchor or s.members], key="PIP001:statement",
                fix=f"State PP{len(indices)} in the {wrong.source} too, or draw {wrong.degrees['pp']} stages.",
            )
    if len(indices) != pp:
        yield stage_count.finding(
            f"{len(indices)} pipeline stage(s) are drawn ({', '.join(map(str, indices))}) but the strategy "
            f"declares PP{pp}.",
            nodes=[s.anchor or s.members[0] for s in stages if s.anchor or s.members],
            fix=f"Draw exactly {pp} stages, or correct the strategy's PP degree.",
        )


@rule("PIP002", "pipeline", Severity.ERROR, "Stage layer ranges overlap, leave gaps or miss layers")
def stage_ranges(ctx: Context):
    """Stage layer ranges are contiguous, disjoint, and together cover all layers of the model.

    Why: a layer claimed twice runs twice; a layer claimed by no stage never runs.
    Example: "Layers 0-7" and "Layers 6-15", or stages covering 0-11 of a 16-layer model.
    Fix: Give the stages contiguous, disjoint layer ranges that cover every layer once.
    """
    stages = [s for s in ctx.deployment.stages if s.claimed_layers]
    if not stages:
        return
    problems: list[str] = []
    for replica in ctx.deployment.replicas().values():
        problems.extend(_range_problems(ctx, [s for s in replica if s.claimed_layers]))
    if problems:
        yield stage_ranges.finding(
            "; ".join(problems) + ".", nodes=[s.anchor or s.members[0] for s in stages if s.anchor or s.members],
            fix="Give the stages contiguous, disjoint layer ranges that cover every layer once.",
        )


_SUBLAYER = re.compile(r"\b(?:mha|attention|attn|mlp|ffn|moe|experts?)\b", re.IGNORECASE)


def _range_problems(ctx: Context, stages: list[Stage]) -> list[str]:
    """Overlaps, gaps and uncovered layers among the stages of one replica."""
    problems = []
    seen: dict[int, int] = {}
    for stage in stages:
        # "Layer 0 MHA" / "Layer 0 MLP": the stages split a layer, they do not both hold it
        splits_layers = bool(_SUBLAYER.search(stage.label))
        overlap = [layer for layer in stage.claimed_layers or [] if layer in seen]
        if overlap and not splits_layers:
            problems.append(f"PP Stage {stage.index} claims layer(s) {compact_ranges(overlap)} already claimed by PP Stage {seen[overlap[0]]}")
        for layer in stage.claimed_layers or []:
            seen.setdefault(layer, stage.index)
    total = ctx.layer_count
    if total and stages:
        first = ctx.first_layer
        missing = sorted(set(range(first, total.value + first)) - set(seen))
        if missing:
            problems.append(f"no stage claims layer(s) {compact_ranges(missing)} of {total.value} ({total.source})")
    for before, after in itertools.pairwise(stages):
        if before.claimed_layers and after.claimed_layers and min(after.claimed_layers) > max(before.claimed_layers) + 1:
            problems.append(f"gap between PP Stage {before.index} (ends at {max(before.claimed_layers)}) and PP Stage {after.index} (starts at {min(after.claimed_layers)})")
    return problems


@rule("PIP003", "pipeline", Severity.ERROR, "Stage claims layers it does not draw")
def missing_layers(ctx: Context):
    """Every layer a stage claims has its own operator nodes.

    Why: a DAG that draws one representative layer per stage cannot be checked for the others,
    and a reviewer cannot tell whether they exist at all.
    Example: "PP Stage 0 / Layers 0-7" with only layer 0 drawn: layers 1-7 are missing.
    Fix: Draw the operators of every layer a stage claims, or narrow the range it claims.
    """
    details, all_missing, nodes, unnumbered = [], [], [], []
    short: list[tuple[Stage, int]] = []
    for stage in ctx.deployment.stages:
        if not stage.claimed_layers:
            continue
        coverage = ctx.deployment.stage_coverage(stage)
        if not coverage.drawn and not coverage.transfer_only and _draws_operators(ctx, stage):
            drawn_count = _layers_drawn_unnumbered(ctx, stage)
            if drawn_count and drawn_count < len(stage.claimed_layers):
                short.append((stage, drawn_count))
            elif not drawn_count:
                unnumbered.append(stage)  # operators without layer numbers: how many layers is unknown
            continue
        drawn, transfers, missing = coverage.drawn, coverage.transfer_only, coverage.missing
        if not missing and not transfers:
            continue
        shown = f"only layer(s) {compact_ranges(drawn)} drawn" if drawn else "no layers drawn"
        text = f"PP Stage {stage.index} claims layers {compact_ranges(stage.claimed_layers)} but has {shown}"
        if missing:
            text += f": layers {compact_ranges(missing)} are missing"
        if transfers:
            text += "; layer(s) " + ", ".join(
                f"{layer} appear(s) only as the pipeline transfer `{node}`" for layer, node in sorted(transfers.items())
            )
        details.append(text)
        all_missing.extend(missing)
        nodes.append(stage.anchor or (stage.members[0] if stage.members else ""))
    if details:
        what = f"Missing layers {compact_ranges(all_missing)}" if all_missing else "Layers named only by transfers"
        yield missing_layers.finding(
            f"{what} in {len(details)} stage(s): the stages claim layers they do not draw.",
            nodes=[node for node in nodes if node], details=details, key="PIP003",
            fix="Complete each stage with the operators of every layer it claims (attention and MoE per layer).",
        )
    if short:
        yield missing_layers.finding(
            "; ".join(f"PP Stage {stage.index} claims {len(stage.claimed_layers or [])} layers "
                      f"({compact_ranges(stage.claimed_layers or [])}) but draws the operators of {drawn}"
                      for stage, drawn in short)
            + " (counted from its norms, residual adds and gates: its operators name no layer).",
            nodes=[stage.anchor or stage.members[0] for stage, _ in short], key="PIP003:unnumbered-short",
            severity=Severity.WARNING,
            fix="Complete each stage with the operators of every layer it claims, and name the layer in each.",
        )
    if unnumbered:
        names = ", ".join(f"PP{stage.index}" for stage in unnumbered)
        yield missing_layers.finding(
            f"Stage(s) {names} draw operators that name no layer, so which of the claimed layers they draw "
            "could not be checked.",
            nodes=[stage.anchor or stage.members[0] for stage in unnumbered if stage.anchor or stage.members],
            key="PIP003:unnumbered", severity=Severity.INFO, title="Stage layers not numbered",
            fix="Name the layer in each operator's id or label (`layer3_qkv`, `Layer 3 QKV`).",
        )


def _layers_drawn_unnumbered(ctx: Context, stage: Stage) -> int:
    """How many layers a stage draws when its operators name none: a layer has two norms and two
    residual adds, and one gate if it is MoE (operators drawn once per layer, not per rank)."""
    counts = {op: 0 for op in (Op.NORM, Op.RESIDUAL_ADD, Op.GATE)}
    for member in stage.members:
        op = ctx.nodes[member].op
        if op in counts:
            counts[op] += 1
    return max(counts[Op.NORM] // 2, counts[Op.RESIDUAL_ADD] // 2, counts[Op.GATE])


def _draws_operators(ctx: Context, stage: Stage) -> bool:
    return any(ctx.nodes[m].op not in _TRANSFER_OPS and ctx.nodes[m].op not in NOT_OPERATORS
               and not ctx.nodes[m].is_communication for m in stage.members)


@rule("PIP004", "pipeline", Severity.ERROR, "Stage holds only pipeline transfers")
def transfer_only(ctx: Context):
    """No stage holds only transfers (send/recv) without computation.

    Why: a stage that only forwards activations does no work, yet its GPUs are counted; usually
    the stage's layers were left out of the drawing.
    Example: PP1 and PP2 drawn as `PP Stage 1 -> PP1 → PP2 -> PP Stage 2 -> PP2 → PP3`.
    Fix: Draw the layers the stage computes between receiving and sending activations.
    """
    graph = ctx.deployment.graph

    def moves_only(node: NodeInfo, ends: tuple[Kind, ...] = ()) -> bool:
        return node.op in _TRANSFER_OPS or node.is_communication or node.kind in ends

    staged = [stage for stage in ctx.deployment.stages if stage.members]
    if all(all(moves_only(ctx.nodes[m], _ENDS) for m in stage.members)
           and any(_stands_for_layers(ctx.nodes[m], graph) for m in stage.members) for stage in staged):
        return  # every stage drawn as one box naming its layers: a summary of the pipeline (PIP003 says what is not drawn)
    empty = [stage for stage in staged if all(moves_only(ctx.nodes[m]) for m in stage.members)]
    if empty:
        names = ", ".join(f"PP{stage.index}" for stage in empty)
        nodes = [m for stage in empty for m in stage.members]
        yield transfer_only.finding(
            f"Stage(s) {names} hold only pipeline transfers ({node_list(nodes)}) and no computation.",
            nodes=nodes, key="PIP004", details=[f"{_stage_name(stage)}: {node_list(stage.members)}" for stage in empty],
            fix=f"Draw the layers that stage(s) {names} compute between receiving and sending activations.",
        )


def _stands_for_layers(node: NodeInfo, graph: nx.DiGraph) -> bool:
    """A stage box in the data flow that names the layers it holds ("Pipeline Stage 1\nGPUs 0-7\n
    Layer 1-2", between the input and the transfer): the stage's computation drawn as one box, where
    every stage is drawn so (beside stages that draw their operators, it marks a stage left empty)."""
    return node.op is Op.STAGE_MARKER and any(map(_NAMES_LAYERS.search, node.label[1:])) \
        and graph.in_degree(node.id) > 0 and graph.out_degree(node.id) > 0


_NAMES_LAYERS = re.compile(r"\blayers?\s*\d", re.IGNORECASE)


@rule("PIP005", "pipeline", Severity.ERROR, "Consecutive stages not joined by a send/recv")
def stage_junction(ctx: Context):
    """Consecutive stages are joined through a send/recv (or p2p) communication node.

    Why: stages run on different GPUs; activations cross between them only by a transfer.
    Example: `stage0_layer7_out -> stage1_layer8_norm` with no send/recv between.
    Fix: Insert a send/recv node on the edge between consecutive stages.
    """
    graph = ctx.deployment.graph
    pairs = [pair for replica in ctx.deployment.replicas().values() for pair in itertools.pairwise(replica)]
    for before, after in pairs:
        following = set(after.members)
        crossing = [(a, b) for a in before.members for b in graph.successors(a) if b in following]
        if not crossing:
            continue
        if any(ctx.nodes[a].op is Op.SEND_RECV or ctx.nodes[b].op is Op.SEND_RECV for a, b in crossing):
            continue
        yield stage_junction.finding(
            f"PP Stage {before.index} -> PP Stage {after.index} are joined by "
            + ", ".join(f"`{a}` -> `{b}`" for a, b in crossing[:3]) + " with no send/recv between them.",
            nodes=[n for edge in crossing for n in edge], key=f"PIP005:{before.index}",
            fix=f"Insert a send/recv node (PP{before.index} → PP{after.index}) on the edge between the stages.",
        )


@rule("PIP006", "pipeline", Severity.ERROR, "DP replicas drawn differently")
def replicas_alike(ctx: Context):
    """Every DP replica drawn holds the same stages, layers and operators: data parallelism copies
    the whole pipeline.

    Why: a replica with a layer or an operator less computes another model on its share of the
    batch; usually the copy was drawn by hand and something was left out.
    Example: replica 0 draws layers 0-7 and replica 1 layers 0-2, 4-7.
    Fix: Draw every DP replica with the same stages, layers and operators (or draw one and say the others are identical).
    """
    # A node's replica: its own DP rank where it names one, else its stage's.
    contents: dict[int, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
    anchors: dict[tuple[int, int], str] = {}
    for stage in ctx.deployment.stages:
        for member in stage.members:
            node = ctx.nodes[member]
            dp = node.rank("dp")
            replica = next(iter(dp)) if len(dp) == 1 else stage.replica
            anchors.setdefault((replica, stage.index), stage.anchor or member)
            if node.op not in NOT_OPERATORS:
                contents[replica][(stage.index, node.layer, node.op, node.expert)].append(member)
    if len(contents) < 2:
        return
    everything = set().union(*contents.values())
    details, nodes = [], []
    for replica, drawn in sorted(contents.items()):
        missing = everything - set(drawn)
        if not missing:
            continue
        layers = sorted({layer for _, layer, _, _ in missing if layer is not None})
        ops = sorted({op.value for _, _, op, _ in missing})
        details.append(f"DP replica {replica} lacks {len(missing)} operator kind(s) the other replicas draw"
                       + (f", in layer(s) {compact_ranges(layers)}" if layers else "") + f" ({', '.join(ops[:6])})")
        nodes += [anchors[(replica, index)] for index in sorted({index for index, _, _, _ in missing}) if (replica, index) in anchors]
    if details:
        yield replicas_alike.finding("; ".join(details) + ".", nodes=nodes, details=details,
                                     fix="Draw every DP replica with the same stages, layers and operators.")


@rule("PIP007", "pipeline", Severity.ERROR, "Embedding repeated in a later stage")
def embedding_once(ctx: Context):
    """The token embedding runs once, in the first pipeline stage; later stages receive hidden
    states through the pipeline transfer.

    Why: an embedding in a later stage embeds activations as if they were token ids, and holds a
    second copy of the embedding table.
    Example: `pp1_recv -> pp1_embedding -> layer8_norm`.
    Fix: Keep the embedding in the first stage; later stages start from the hidden states they receive.
    """
    stages = ctx.deployment.stages
    if len({stage.index for stage in stages}) < 2:
        return
    first = min(stage.index for stage in stages)
    later = [m for stage in stages if stage.index != first for m in stage.members if ctx.nodes[m].op is Op.EMBEDDING]
    if later:
        yield embedding_once.finding(
            f"{len(later)} embedding node(s) sit in a later pipeline stage than the first: {node_list(later)}.",
            nodes=later, fix="Keep the embedding in the first stage; later stages start from the received hidden states.",
        )
