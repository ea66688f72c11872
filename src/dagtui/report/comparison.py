"""The comparison of two deployments in every format: as data (JSON), markdown and rich text.
`dagtui compare` prints nothing else; `dagtui check` on two files appends it to its report.

File text (names, ids, placements read from labels, the estimate's notes, which quote node ids)
goes through `visible` (text) or `markdown_text` (markdown), as in the other reports.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from dagtui.compare import Comparison
from dagtui.cost import CostEstimate
from dagtui.report.markdown_text import code, plain, prose
from dagtui.review import Review
from dagtui.safe_text import visible
from dagtui.structural_diff import KeyedNodes, StructuralDiff
from dagtui.validate import Finding

SHOWN = 12  # ids listed per line of text or markdown before "and N more"; JSON lists them all


# -- data ------------------------------------------------------------------------------------------
def comparison_data(comparison: Comparison, reviews: list[Review]) -> dict:
    """The comparison as plain data: tables, cost table, structural diff, findings."""
    return {
        "names": list(comparison.names),
        "pairs": [list(pair) for pair in comparison.pairs],
        "table": [{"metric": metric, "values": [a, b]} for metric, a, b in comparison.table],
        "cost_table": [{"metric": row.metric, "values": list(row.values), "numbers": list(row.numbers), "ratio": row.ratio}
                       for row in comparison.cost_table],
        "diff": diff_data(comparison.diff),
        "findings": findings_data(comparison, reviews),
    }


def diff_data(diff: StructuralDiff | None) -> dict | None:
    if diff is None:
        return None
    return {
        "matched": diff.matched,
        "removed": [_keyed(entry) for entry in diff.removed],
        "added": [_keyed(entry) for entry in diff.added],
        "placement": [{"current": c.first, "new": c.second, "before": c.before, "after": c.after} for c in diff.moved],
    }


def _keyed(entry: KeyedNodes) -> dict:
    key = entry.key
    fields = {name: (None if value == -1 else value) for name, value in
              (("layer", key.layer), ("expert", key.expert), ("tp", key.tp), ("ep", key.ep), ("pp", key.pp))}
    return {"op": key.op, **fields, "nodes": entry.nodes}


def finding_data(finding: Finding) -> dict:
    return {
        "id": finding.id, "rule": finding.rule, "category": finding.category, "severity": finding.severity.value,
        "title": finding.title, "message": finding.message, "nodes": finding.nodes, "fix": finding.fix,
        "pair": finding.pair, "line": finding.line, "details": finding.details,
    }


def findings_data(comparison: Comparison, reviews: list[Review]) -> dict:
    """`fixed` (the current's findings the new does not have), `introduced`, `shared` (pairs)."""
    first, second = (_by_id(review) for review in reviews[:2])
    return {
        "fixed": [finding_data(first[i]) for i in comparison.fixed],
        "introduced": [finding_data(second[i]) for i in comparison.introduced],
        "shared": [{"current": a, "new": b, "rule": first[a].rule, "title": first[a].title,
                    "severity": [first[a].severity.value, second[b].severity.value]} for a, b in comparison.pairs],
    }


def _by_id(review: Review) -> dict[str, Finding]:
    return {finding.id: finding for finding in review.findings}


def _more(ids: list[str], shown: int = SHOWN) -> tuple[list[str], str]:
    return ids[:shown], f" and {len(ids) - shown:,} more" if len(ids) > shown else ""


def _diff_summary(diff: StructuralDiff) -> str:
    return (f"{diff.matched:,} operator(s) drawn in both ({len(diff.moved):,} placed differently); "
            f"{diff.removed_count:,} only in the current, {diff.added_count:,} only in the new.")


def _cost_notes(comparison: Comparison) -> list[tuple[str, str]]:
    """(deployment name, note) for every note of an estimate."""
    return [(name, note) for name, cost in zip(comparison.names, comparison.costs)
            if isinstance(cost, CostEstimate) for note in cost.notes]


def _hardware(comparison: Comparison) -> str:
    profiles = {cost.hardware.description for cost in comparison.costs if isinstance(cost, CostEstimate) and cost.hardware}
    return ", ".join(sorted(profiles)) or "none (--hardware gives times and HBM use)"


# -- markdown --------------------------------------------------------------------------------------
def markdown_comparison(comparison: Comparison, reviews: list[Review]) -> list[str]:
    first, second = comparison.names
    lines = ["## Comparison", "", f"| | {plain(first)} | {plain(second)} |", "|---|---|---|"]
    lines += [f"| {plain(metric)} | {plain(a)} | {plain(b)} |" for metric, a, b in comparison.table]
    lines += ["", f"{len(comparison.pairs)} finding(s) are the same fault in both deployments.", ""]
    if comparison.cost_table:
        lines += ["### Cost per GPU", "", f"Hardware: {plain(_hardware(comparison))}. Figures of the most loaded GPU "
                  "(docs/cost-model.md).", "",
                  f"| | {plain(first)} | {plain(second)} | new / current |", "|---|---|---|---|"]
        lines += [f"| {plain(row.metric)} | {plain(row.values[0])} | {plain(row.values[1])} | {row.ratio} |"
                  for row in comparison.cost_table]
        notes = _cost_notes(comparison)
        if notes:
            lines += ["", "Notes:", ""] + [f"- {plain(name)}: {prose(note)}" for name, note in notes]
        lines.append("")
    if comparison.diff is not None:
        lines += ["### What changed in the drawing", "", _diff_summary(comparison.diff), ""]
        lines += _markdown_keyed("Only in the current", comparison.diff.removed)
        lines += _markdown_keyed("Only in the new", comparison.diff.added)
        for before, after, changes in comparison.diff.moves_by_change()[:SHOWN]:
            shown, more = _more([change.second for change in changes])
            lines.append(f"- Placed differently, {len(changes)} operator(s): {code(before)} → {code(after)}: "
                         f"{', '.join(code(n) for n in shown)}{more}")
        lines.append("")
    lines += ["### Findings", "", *_markdown_findings(comparison, reviews), ""]
    return lines


def _markdown_keyed(title: str, entries: list[KeyedNodes]) -> list[str]:
    if not entries:
        return []
    items = [f"{code(node)} ({plain(entry.key.describe())})" for entry in entries for node in entry.nodes]
    shown, more = _more(items)
    return [f"- {title}: {', '.join(shown)}{more}"]


def _markdown_findings(comparison: Comparison, reviews: list[Review]) -> list[str]:
    data = findings_data(comparison, reviews)
    lines = []
    for key, title in (("fixed", "Fixed (in the current only)"), ("introduced", "Introduced (in the new only)")):
        lines.append(f"- {title}: {len(data[key])}")
        lines += [f"  - `{f['rule']}` {prose(f['title'])}: {prose(f['message'])}" for f in data[key]]
    lines.append(f"- Shared: {len(data['shared'])}"
                 + (": " + ", ".join(f"`{s['rule']}`" for s in data["shared"]) if data["shared"] else ""))
    return lines


# -- rich text -------------------------------------------------------------------------------------
def text_comparison(comparison: Comparison, reviews: list[Review]) -> list:
    first, second = (visible(name) for name in comparison.names)
    table = Table(title="Comparison", show_lines=False)
    for column in ("", first, second):
        table.add_column(column)
    for cells in comparison.table:
        table.add_row(*(visible(cell) for cell in cells))
    parts: list = [table]
    if comparison.cost_table:
        costs = Table(title=f"Cost per GPU (hardware: {visible(_hardware(comparison))})", show_lines=False)
        costs.add_column("")
        for column in (first, second, "new / current"):
            costs.add_column(column, justify="right")
        for row in comparison.cost_table:
            costs.add_row(row.metric, visible(row.values[0]), visible(row.values[1]), row.ratio)
        parts.append(costs)
        parts += [Text(f"  note ({visible(name)}): {visible(note)}", style="dim") for name, note in _cost_notes(comparison)]
    if comparison.diff is not None:
        parts.append(Text("What changed in the drawing", style="bold"))
        parts.append(Text(f"  {_diff_summary(comparison.diff)}"))
        parts += _text_keyed("only in the current", comparison.diff.removed, "red")
        parts += _text_keyed("only in the new", comparison.diff.added, "green")
        for before, after, changes in comparison.diff.moves_by_change()[:SHOWN]:
            shown, more = _more([change.second for change in changes], 4)
            parts.append(Text(f"  ~ {len(changes)} placed differently: {visible(before)} -> {visible(after)} "
                              f"({', '.join(visible(n) for n in shown)}{more})", style="yellow"))
    data = findings_data(comparison, reviews)
    parts.append(Text("Findings", style="bold"))
    for key, title, style in (("fixed", "fixed (in the current only)", "green"), ("introduced", "introduced (in the new only)", "red")):
        parts.append(Text(f"  {title}: {len(data[key])}", style=style))
        parts += [Text(f"    {f['rule']} {visible(f['title'])}: {visible(f['message'])}") for f in data[key]]
    parts.append(Text(f"  shared: {len(data['shared'])}" + (" (" + ", ".join(s["rule"] for s in data["shared"]) + ")"
                                                             if data["shared"] else ""), style="dim"))
    return parts


def _text_keyed(title: str, entries: list[KeyedNodes], style: str) -> list:
    if not entries:
        return []
    items = [f"{visible(node)} ({visible(entry.key.describe())})" for entry in entries for node in entry.nodes]
    shown, more = _more(items)
    return [Text(f"  {'-' if style == 'red' else '+'} {title}: {', '.join(shown)}{more}", style=style)]

