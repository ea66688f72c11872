"""Annotation rules: every computation node states its shapes; dimensions parse; placeholders
and symbols that stop a reviewer from checking are reported once per graph."""

from __future__ import annotations

import re
from collections import defaultdict

from dagtui.model.node import NodeInfo
from dagtui.model.operators import Kind, Op
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import node_list


@rule("ANN001", "annotation", Severity.WARNING, "Computation node without Input/Output shapes")
def shapes_present(ctx: Context):
    """Every computation node carries `Input: [...]` and `Output: [...]` shapes.

    Why: without shapes the shape rules cannot check the edge, and the reviewer cannot either.
    Example: `layer0_mlp [label="MLP\\nGPU: 0-7"]`.
    Fix: Add `Input: [...]` and `Output: [...]` lines to every computation node's label.
    """
    compute = ctx.computation
    if not compute or all(ctx.nodes[n].op is Op.UNKNOWN for n in compute):
        return  # boxes that name no operator at all: STR014's (no operator drawn), not missing shapes
    lacking = [n for n in compute if (not ctx.nodes[n].inputs or not ctx.nodes[n].outputs)
               and not any(_FEATURE_ARROW.search(line) for line in ctx.nodes[n].label)
               and not (ctx.nodes[n].inputs and any(map(_SAME_OUTPUT.search, ctx.nodes[n].label)))]
    if not lacking:
        return
    if len(lacking) == len(compute):
        with_one = sum(1 for n in compute if ctx.nodes[n].bare_shapes or ctx.nodes[n].inputs or ctx.nodes[n].outputs)
        if with_one:  # one shape per node, not said to be the input or the output: a reviewer reads some
            text = (f"No computation node gives both Input and Output shapes ({len(compute)} nodes; {with_one} give one "
                    "shape): no edge can be checked by dagtui; the shape rules did not run.")
        else:
            text = (f"No computation node gives both Input and Output shapes ({len(compute)} nodes): no edge, shard "
                    "or collective size can be checked, by dagtui or by a reviewer; the shape rules did not run.")
        yield shapes_present.finding(
            text, nodes=lacking[:1], key="ANN001:none",
            title="No node gives both its shapes" if with_one else "No shapes in the file",
            fix="Add `Input: [...]` and `Output: [...]` lines to every computation node's label.",
        )
    elif lacking:
        bare = [n for n in lacking if ctx.nodes[n].bare_shapes]
        note = f" ({len(bare)} of them give a shape without saying whether it is Input or Output)" if bare else ""
        yield shapes_present.finding(
            f"{len(lacking)} computation node(s) lack Input or Output shapes{note}: {node_list(lacking)}.",
            nodes=lacking, fix="Add the missing `Input: [...]` / `Output: [...]` lines.",
        )


# `(4096→8192)`: a feature width in and out, readable by a reviewer though no full shape to compare.
# `[4096→12288]` too.
_FEATURE_ARROW = re.compile(r"[(\[]\s*\d+\s*(?:→|->|⟶)\s*\d+\s*[)\]]")
# `Input: [..]` then `Output: same`: the output is stated, as the input's shape.
_SAME_OUTPUT = re.compile(r"^\s*outputs?\s*:\s*(?:same|unchanged)\b", re.IGNORECASE)


@rule("ANN002", "annotation", Severity.INFO, "Symbolic dimensions")
def symbolic(ctx: Context):
    """Dimensions are numbers; symbols (`tokens_per_expert`) are reported once per graph, not per node.

    Why: a symbolic dimension cannot be checked; one finding lists the symbols and where they occur.
    Example: `[16, tokens_per_expert, 8192]`.
    Fix: Write the concrete sizes where they are known (tokens per expert = batch x seq x top_k / experts).
    """
    symbols: dict[str, list[str]] = defaultdict(list)
    for node_id, node in ctx.nodes.items():
        for shape in [*node.inputs, *node.outputs, *node.bare_shapes]:
            for dim in shape.dims:
                if not dim.is_int and not dim.is_placeholder:
                    symbols[str(dim.value)].append(node_id)
    if symbols:
        nodes = list(dict.fromkeys(n for ids in symbols.values() for n in ids))
        names = ", ".join(f"`{name}` ({len(set(ids))} node(s))" for name, ids in sorted(symbols.items()))
        yield symbolic.finding(
            f"Symbolic dimension(s) {names}: shapes through them are checked by the numbers around them only.",
            nodes=nodes, fix="Write concrete sizes where they are known (e.g. tokens per expert = batch*seq*top_k/E).",
        )


@rule("ANN003", "annotation", Severity.WARNING, "Placeholders instead of values")
def placeholders(ctx: Context):
    """Placeholders instead of values (`?`, `batch_size=?`, `GPU: Host`, `layer*16+N`, nodes named
    `*_template` standing for many) are findings, because a reviewer cannot check them.

    Why: a DAG with placeholders describes a pattern, not a deployment.
    Example: `Input: [batch_size=?, seq_len=?, 4096]`, `GPU: Host`.
    Fix: Replace each placeholder with the concrete value: draw the layers or experts it stands for, and give real GPU ids.
    """
    found: dict[str, list[str]] = defaultdict(list)
    for node_id, node in ctx.nodes.items():
        if any(shape.has_placeholder for shape in [*node.inputs, *node.outputs, *node.bare_shapes]):
            found["`?` in shapes"].append(node_id)
        if (node.placement is not None and node.placement.placeholder and node.kind is not Kind.NOTE
                and ctx.in_degree[node_id] + ctx.out_degree[node_id]  # a free-floating box describes, STR004 flags it
                and not _honest_placement(node)):
            found[f"GPU placeholder `{node.placement.placeholder}`"].append(node_id)
        if node.op is Op.PLACEHOLDER or "template" in node_id.lower():
            found["template node standing for many"].append(node_id)
    for what, nodes in found.items():
        yield placeholders.finding(
            f"{len(nodes)} node(s) with {what}: {node_list(nodes)}.", nodes=nodes, key=f"ANN003:{what}",
            fix="Replace placeholders with the concrete values of this deployment.",
        )


# `GPU: PCIe` on a transfer names the link it crosses (its ends are on its other lines), no value left out.
_LINK = re.compile(r"^\s*(?:pcie|nvlink|nvswitch|infiniband|ib|rdma|ethernet|network|roce)\b", re.IGNORECASE)


def _honest_placement(node: NodeInfo) -> bool:
    text = node.placement.placeholder if node.placement is not None and node.placement.placeholder else ""
    return node.is_communication and bool(_LINK.match(text))


@rule("ANN004", "annotation", Severity.INFO, "Labels dagtui could not read")
def unread(ctx: Context):
    """Said once per file: how many nodes dagtui could not read (no operator it knows, or a shape
    line whose dimensions it could not parse), and which rules that blinds. A label the model
    cannot read never switches a rule family off silently.

    Why: a reviewer must know where the checks stopped, or a clean report reads as a clean file.
    Example: `Frobnicate\\nIn: <8 x 128 x 4096>`: no operator, and a shape in no notation dagtui reads.
    Fix: Name the operator on each node's first label line and write shapes as `[8, 128, 4096]`.
    """
    unknown = [n for n, node in ctx.nodes.items() if node.op is Op.UNKNOWN and node.kind is Kind.COMPUTE]
    unparsed = [n for n, node in ctx.nodes.items() if node.kind is not Kind.NOTE
                and any(_SHAPE_WORD.match(line) for line in node.label) and not node.inputs and not node.outputs]
    parts = []
    if unknown:
        parts.append(f"{len(unknown)} node(s) name no operator dagtui knows ({node_list(unknown)}): the attention, "
                     "expert and tensor-parallel rules do not judge them")
    if unparsed:
        parts.append(f"{len(unparsed)} node(s) have Input/Output lines whose shapes could not be read "
                     f"({node_list(unparsed)}): the shape rules skip them")
    if parts:
        yield unread.finding("; ".join(parts) + ".", nodes=[*unknown, *unparsed],
                             fix="Name the operator on the first label line and write shapes as `[8, 128, 4096]`.")


_SHAPE_WORD = re.compile(r"^\s*(?:input|output|in|out)s?\b[^:]*:", re.IGNORECASE)
