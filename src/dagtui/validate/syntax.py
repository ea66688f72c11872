"""Syntax rules: the file parses as DOT (a parse error is a finding with line and column), holds
one graph, and keeps its numbers and labels within what dagtui reads."""

from __future__ import annotations

import re

from dagtui.dot.labels import MAX_LABEL_CHARS
from dagtui.errors import DotSyntaxError
from dagtui.model.gpus import MAX_GPU_ID, MAX_GPU_RANGE, ranges_beyond_bounds
from dagtui.model.roles import MAX_INDEX, layer_claim_beyond_bounds
from dagtui.validate.finding import Finding, Severity, rule


@rule("SYN001", "syntax", Severity.ERROR, "File is not valid DOT")
def syntax_error(ctx):
    """The file parses as DOT under Graphviz's grammar (pydot is laxer; Graphviz is the reference).

    Why: a file Graphviz rejects cannot be rendered, and what the writer meant is guesswork.
    Example: `[label=routed tokens]` (a value with a space, unquoted), a stray token, a truncated tail.
    Fix: Fix the DOT syntax at the line given (Graphviz's own parser decides); then the file can be checked.
    """
    return []  # raised while reading, turned into a finding by `finding_from_syntax_error`


def finding_from_syntax_error(error: DotSyntaxError) -> Finding:
    """The SYN001 finding for a file that does not parse."""
    where = f"line {error.line}" + (f", column {error.column}" if error.column else "") if error.line else "an unknown line"
    finding = syntax_error.finding(
        f"Syntax error at {where}: {error.reason}.",
        fix="Fix the DOT syntax at that line (quote values with spaces, remove stray tokens) and check with `dot -Tsvg`.",
    )
    finding.line, finding.column = error.line, error.column
    return finding


@rule("SYN002", "syntax", Severity.ERROR, "More than one graph in the file")
def several_graphs(ctx):
    """The file holds one graph: nothing but comments follows its closing brace.

    Why: Graphviz reads the first graph of a file and drops the rest without a word, so a second
    deployment, or the second half of one, would never be checked.
    Example: `digraph baseline { ... }` then `digraph proposed { ... }` in one file.
    Fix: Put each deployment in a file of its own (and compare them with `dagtui check a.dot b.dot`).
    """
    line = ctx.deployment.raw.after_first_graph
    if line is None:
        return
    finding = several_graphs.finding(
        f"The first graph ends before line {line}, where more follows (another graph): only the first graph was "
        "reviewed.",
        fix="Put each deployment in a file of its own, or remove what follows the first graph.",
    )
    finding.line = line
    yield finding


@rule("SYN003", "syntax", Severity.WARNING, "Beyond dagtui's limits")
def beyond_limits(ctx):
    """Numbers and labels stay within what dagtui reads: layers below 1,000,000, GPU ids below
    10,000,000 in ranges of at most 65,536, labels of at most 16,384 characters.

    Why: no deployment comes near these bounds; a number past them is a typo or an attack, and
    dagtui does not read it (a range written in a few bytes would take gigabytes as a list), so
    the checks that need it see nothing there.
    Example: "Pipeline Stage 0: Layers 0-999999999999", "GPU: 0-99999999999", a label of 10 MB.
    Fix: Write the numbers the deployment has; keep notes out of labels.
    """
    problems: list[str] = []
    nodes: list[str] = []
    for stage in ctx.deployment.stages:
        claim = layer_claim_beyond_bounds(stage.label)
        if claim:
            problems.append(f"PP Stage {stage.index} claims `{claim}`, past layer {MAX_INDEX:,}: the claim is not read")
            nodes.extend(stage.members[:1])
    for node in ctx.nodes.values():
        size = len(node.attrs.get("label", ""))
        if size > MAX_LABEL_CHARS:
            problems.append(f"the label of `{node.id}` has {size:,} characters: the first {MAX_LABEL_CHARS:,} are read")
            nodes.append(node.id)
        # Only lines that place a node: "Tokens: 0-124999" is a slice of the sequence, not GPU ids.
        placing = " ".join(line for line in node.label if _PLACES.search(line))
        for text in ranges_beyond_bounds(placing):
            problems.append(f"`{node.id}` names `{text}`, past GPU {MAX_GPU_ID:,} or more than {MAX_GPU_RANGE:,} ids: "
                            "not read")
            nodes.append(node.id)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        yield beyond_limits.finding(f"{shown}.", nodes=nodes,
                                    fix="Write the layer range, GPU ids or label the deployment really has.")


_PLACES = re.compile(r"\b(?:gpus?|devices?|ranks?|cuda|[etpdcs]p)(?:\b|\d)", re.IGNORECASE)
