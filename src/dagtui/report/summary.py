"""`dagtui info`: what the model made of a file, to see that classification works.

Text from the file (names, ids, operators read from labels) is shown through `visible`, and every
line starts with dagtui's own words or a table border."""

from __future__ import annotations

from collections import Counter

from rich.console import Group
from rich.table import Table
from rich.text import Text

from dagtui.model.deployment import Deployment
from dagtui.model.operators import Op
from dagtui.safe_text import visible
from dagtui.validate.ranges import compact_ranges, node_list


def summary(deployment: Deployment) -> Group:
    """A rich renderable summarising one deployment."""
    strategy = deployment.strategy
    parts: list = [Text(f"Deployment: {visible(deployment.name)}  ({visible(deployment.file)})", style="bold underline")]
    declared = ", ".join(sorted(a.upper() for a in strategy.declared)) or "none"
    where = f" from {visible(strategy.source)}" if strategy.source else ""
    gpus = strategy.gpu_count
    megatron = strategy.megatron_gpu_count
    gpu_text = "unknown" if gpus is None else str(gpus)
    if megatron and gpus and megatron != gpus:
        gpu_text += f" (Megatron TP×PP×DP: {megatron})"
    parts.append(Text(f"Strategy: {strategy.label()}  declared: {declared}{where}  GPUs: {gpu_text}"))
    parts.append(Text(f"Nodes: {len(deployment.nodes)}  Edges: {len(deployment.edges)}  Backend: {deployment.raw.backend}"))
    if deployment.raw.after_first_graph is not None:
        parts.append(Text(f"Only the first graph is read: more follows it from line {deployment.raw.after_first_graph} "
                          "(SYN002)", style="bold red"))

    kinds = Counter(node.kind.value for node in deployment.nodes.values())
    table = Table(title="Nodes by kind and operator", show_header=True)
    table.add_column("kind")
    table.add_column("count", justify="right")
    table.add_column("operators")
    for kind, count in kinds.most_common():
        kind_ops = Counter(n.op.value for n in deployment.nodes.values() if n.kind.value == kind)
        table.add_row(kind, str(count), ", ".join(f"{op} {c}" for op, c in kind_ops.most_common()))
    parts.append(table)

    stages = Table(title="Pipeline stages", show_header=True)
    for column in ("stage", "from", "claimed layers", "layers drawn", "nodes"):
        stages.add_column(column)
    for stage in deployment.stages:
        drawn = deployment.stage_coverage(stage).drawn
        stages.add_row(
            str(stage.index), visible(stage.source), compact_ranges(stage.claimed_layers or []) or "—",
            compact_ranges(drawn) or "none", str(len(stage.members)),
        )
    parts.append(stages if deployment.stages else Text("Pipeline stages: none drawn"))
    drawn_text = compact_ranges(deployment.layers_drawn) or "none"
    transfers = deployment.layers_with_transfers_only
    if transfers:
        drawn_text += f" (named only by a transfer: {compact_ranges(transfers)})"
    parts.append(Text(f"Layers drawn: {drawn_text}"))

    layer, per_rank = deployment.experts_per_rank()
    if per_rank:
        text = ", ".join(f"EP{rank}: {count}" for rank, count in per_rank.items())
        parts.append(Text(f"Experts per EP rank (layer {layer}): {text} ({len(per_rank)} of {strategy.ep or '?'} ranks)"))
    else:
        parts.append(Text(f"Experts: {len(deployment.nodes_of_op(Op.EXPERT))} expert nodes, no EP ranks drawn"))
    unplaced = deployment.unplaced()
    parts.append(Text(f"Unplaced (classifier found no role): {len(unplaced)}" + (f": {visible(node_list(unplaced, 10))}" if unplaced else "")))
    return Group(*parts)
