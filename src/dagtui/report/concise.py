"""The concise report, one finding a line as ruff and compilers print them, for editors, grep and
CI logs: `path:line:col: CODE [severity] message`, then one summary line. Lines are never wrapped;
the path and the message go through `visible`, so a line is always one line."""

from __future__ import annotations

from dagtui.review import Review
from dagtui.safe_text import visible
from dagtui.validate import Finding, Severity


def finding_line(review: Review, finding: Finding) -> str:
    """`current.dot:19:1: ATT002 [error] In layer(s) 0: ...`; a finding on the whole file is at 1:1."""
    return (f"{visible(review.file)}:{finding.line or 1}:{finding.column or 1}: "
            f"{finding.rule} [{finding.severity.value}] {visible(finding.message)}")


def summary_line(reviews: list[Review]) -> str:
    """`Found 24 findings in 2 files: 9 errors, 12 warnings, 3 info.`"""
    findings = [finding for review in reviews for finding in review.findings]
    files = f"{len(reviews)} file{'s' if len(reviews) != 1 else ''}"
    unreadable = sum(1 for review in reviews if review.error)
    tail = f"; {unreadable} could not be read" if unreadable else ""
    if not findings:
        return f"No findings in {files}{tail}."
    counts = [(sum(1 for f in findings if f.severity is severity), severity.value) for severity in Severity]
    shown = ", ".join(f"{count} {name}{'s' if count != 1 and name != 'info' else ''}" for count, name in counts if count)
    return f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} in {files}: {shown}{tail}."


def render_concise(reviews: list[Review]) -> str:
    lines = [
        finding_line(review, finding)
        for review in reviews
        for finding in sorted(review.findings, key=lambda finding: (finding.line or 0, finding.column or 0))
    ]
    return "\n".join([*lines, summary_line(reviews)]) + "\n"
