"""Reports of reviewed deployments: markdown, JSON, SARIF, GitHub annotations, terminal text and
the concise one-line-a-finding format."""

from __future__ import annotations

from dagtui.compare import Comparison
from dagtui.report.atomic import OutputError, TargetExists, write_atomic
from dagtui.report.concise import render_concise
from dagtui.report.github import render_github
from dagtui.report.json_report import render_json, report_data
from dagtui.report.markdown import render_markdown
from dagtui.report.sarif import render_sarif, sarif_data
from dagtui.report_formats import FORMATS, format_for_path
from dagtui.review import Review

__all__ = [
    "FORMATS", "OutputError", "TargetExists", "format_for_path", "print_text_to_console", "render", "report_data",
    "sarif_data", "write_atomic",
]


def print_text_to_console(reviews: list[Review], comparison: Comparison | None = None) -> None:
    """Rich text on stdout: colour only on a terminal, NO_COLOR respected (rich reads it)."""
    from rich.console import Console

    from dagtui.report.text import print_text  # rich, for text reports only

    print_text(reviews, comparison, Console())


def render(fmt: str, reviews: list[Review], comparison: Comparison | None = None) -> str:
    """The report in one of FORMATS, as text."""
    if fmt == "concise":
        return render_concise(reviews)
    if fmt == "markdown":
        return render_markdown(reviews, comparison)
    if fmt == "json":
        return render_json(reviews, comparison)
    if fmt == "sarif":
        return render_sarif(reviews)
    if fmt == "github":
        return render_github(reviews)
    from dagtui.report.text import render_text

    return render_text(reviews, comparison)
