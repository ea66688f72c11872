"""The markdown report, in the shape of a reviewer's: issues per deployment, "Same ..." for
paired findings, corrective actions, and the comparison table. Everything a file wrote goes
through `markdown_text` (code spans for ids, escaped prose): a report pasted into a pull request
renders no markup, HTML or link from the file."""

from __future__ import annotations

from dagtui.compare import Comparison
from dagtui.report.comparison import markdown_comparison
from dagtui.report.markdown_text import code, plain, prose
from dagtui.review import Review
from dagtui.validate import Finding, Severity


def _heading(review: Review) -> str:
    strategy = review.strategy_text
    return f"## {plain(review.name)} ({plain(strategy)})" if strategy else f"## {plain(review.name)}"


def _finding_block(number: int, finding: Finding, paired_with: str | None) -> list[str]:
    title = f"Same {prose(finding.title)} as the {plain(paired_with)}" if paired_with else prose(finding.title)
    lines = [f"{number}. **{title}** (`{finding.rule}`, {finding.severity.value}):", f"   - {prose(finding.message)}"]
    lines.extend(f"   - {prose(detail)}" for detail in finding.details)
    if finding.nodes:
        shown = ", ".join(code(node) for node in finding.nodes[:12])
        more = f" and {len(finding.nodes) - 12} more" if len(finding.nodes) > 12 else ""
        lines.append(f"   - Nodes: {shown}{more}")
    if finding.line:
        lines.append(f"   - Line: {finding.line}")
    return lines


def render_markdown(reviews: list[Review], comparison: Comparison | None = None) -> str:
    """The whole report as markdown text."""
    out = ["# DAG Analysis Report", ""]
    first_name = reviews[0].name.lower() if reviews else ""
    for index, review in enumerate(reviews):
        out += [_heading(review), "", f"File: {code(review.file)}", ""]
        if review.deployment is not None:
            strategy = review.deployment.strategy
            if not strategy.declared and strategy.compact():
                out += [f"Strategy inferred from what is drawn: {strategy.label()} (`~` = inferred, `?` = unknown).", ""]
        if review.error:
            out += [f"**Could not be read:** {prose(review.error)}", ""]
            continue
        issues = [f for f in review.findings if f.severity is not Severity.INFO]
        notes = [f for f in review.findings if f.severity is Severity.INFO]
        out += ["### Issues Found:", ""]
        if not issues:
            out += ["No errors or warnings.", ""]
        for number, finding in enumerate(issues, 1):
            paired = first_name if index > 0 and finding.pair else None
            out += [*_finding_block(number, finding, paired), ""]
        if notes:
            out += ["### Notes:", ""]
            for number, finding in enumerate(notes, 1):
                out += [*_finding_block(number, finding, None), ""]
    out += _corrective_actions(reviews)
    if comparison is not None:
        out += markdown_comparison(comparison, reviews)
    return "\n".join(out).rstrip() + "\n"


def _corrective_actions(reviews: list[Review]) -> list[str]:
    actions: dict[str, tuple[list[str], list[str]]] = {}
    for review in reviews:
        for finding in review.findings:
            if finding.severity is Severity.INFO or not finding.fix:
                continue
            rules, names = actions.setdefault(finding.fix, ([], []))
            if finding.rule not in rules:
                rules.append(finding.rule)
            if review.name not in names:
                names.append(review.name)
    if not actions:
        return []
    lines = ["## Corrective Actions Needed:", ""]
    for number, (fix, (rules, names)) in enumerate(actions.items(), 1):
        where = " and ".join(plain(name) for name in names) if len(reviews) > 1 else ""
        suffix = f" ({', '.join(rules)}{'; ' + where if where else ''})"
        lines.append(f"{number}. {prose(fix)}{suffix}")
    return [*lines, ""]
