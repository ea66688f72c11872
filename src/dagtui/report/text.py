"""Terminal output with rich: findings grouped by deployment and severity.

Every line starts with dagtui's own words or indentation followed by them (a heading marker, a
finding id and rule code, `fix:`, `- `), never with text from a file, and long lines are not wrapped into new
lines (soft wrap): a CI log that runs GitHub Actions commands (`::error ...`) must not find one
that a file wrote.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.text import Text

from dagtui.compare import Comparison
from dagtui.report.comparison import text_comparison
from dagtui.review import Review
from dagtui.safe_text import visible
from dagtui.validate import Severity

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def text_renderables(reviews: list[Review], comparison: Comparison | None = None) -> list:
    """Rich renderables for the report, to print on a console or render to plain text."""
    parts: list = []
    for review in reviews:
        heading = visible(review.name) + (f" ({visible(review.strategy_text)})" if review.strategy_text else "")
        parts.append(Text.assemble("== ", (heading, "bold underline")))
        parts.append(Text(f"  file: {visible(review.file)}", style="dim"))
        if review.error:
            parts.append(Text(f"  cannot read: {visible(review.error)}", style="bold red"))
            continue
        for severity in Severity:
            findings = [f for f in review.findings if f.severity is severity]
            if not findings:
                continue
            parts.append(Text(f"  {severity.value}s ({len(findings)})", style=SEVERITY_STYLE[severity]))
            for finding in findings:
                # The id names the finding: another deployment's "same as new.dot#F1" points at it.
                title = Text.assemble(f"    {finding.id} " if finding.id else "    ", (finding.rule, SEVERITY_STYLE[severity]),
                                      f" {visible(finding.title)}")
                if finding.pair:
                    title.append(f" (same as {visible(finding.pair)})", style="dim")
                if finding.line:
                    title.append(f" line {finding.line}", style="dim")
                parts.append(title)
                parts.append(Text(f"      - {visible(finding.message)}"))
                if finding.fix:
                    parts.append(Text(f"      fix: {visible(finding.fix)}", style="green"))
        if not review.findings:
            parts.append(Text("  no findings", style="green"))
        counts = ", ".join(f"{review.count(s)} {s.value}(s)" for s in Severity)
        parts.append(Text(f"  {counts}", style="dim"))
        parts.append(Text(""))
    if comparison is not None:
        parts += text_comparison(comparison, reviews)
    return parts


def print_text(reviews: list[Review], comparison: Comparison | None, console: Console) -> None:
    console.print(Group(*text_renderables(reviews, comparison)), soft_wrap=True)


def render_text(reviews: list[Review], comparison: Comparison | None = None, width: int = 100) -> str:
    """Plain text (no colour), for --output."""
    console = Console(width=width, no_color=True, color_system=None, file=io.StringIO())
    print_text(reviews, comparison, console)
    return console.file.getvalue()  # type: ignore[attr-defined]
