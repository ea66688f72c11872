"""Syntax rules: the file parses as DOT (a parse error is a finding with line and column), and holds
one graph."""

from __future__ import annotations

from dagtui.errors import DotSyntaxError
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
