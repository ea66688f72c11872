"""GitHub Actions workflow-command annotations: `::error file=...,line=...::message`; file text is
made visible, then escaped as the runner requires, so each annotation is one line."""

from __future__ import annotations

from dagtui.review import Review
from dagtui.safe_text import visible
from dagtui.validate import Severity

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    return visible(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(reviews: list[Review]) -> str:
    lines = []
    for review in reviews:
        if review.error:
            lines.append(f"::error file={_escape_property(review.file)}::{_escape_data(review.error)}")
        for finding in review.findings:
            properties = [f"file={_escape_property(review.file)}"]
            if finding.line:
                properties.append(f"line={finding.line}")
            properties.append(f"title={_escape_property(f'{finding.rule} {finding.title}')}")
            message = f"{finding.message} Fix: {finding.fix}" if finding.fix else finding.message
            lines.append(f"::{_COMMAND[finding.severity]} {','.join(properties)}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")
