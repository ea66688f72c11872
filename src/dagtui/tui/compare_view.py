"""The compare view (`c`): what `dagtui compare` prints, as a table whose rows lead to the nodes
behind them. The rows are built here from what `compare` gives (the strategy table, the cost
table, the structural diff, the paired findings); nothing is recomputed. `enter` on a row hands
its nodes back to the app, which jumps to the first; `enter` on that node goes to the next, as
for a finding.

Long cells are cut in the table so that it fits 80 columns; the row under the cursor is shown in
full, wrapped, below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from dagtui.compare import Comparison
from dagtui.cost import CostEstimate
from dagtui.cost.nodes import stage_nodes
from dagtui.cost.summary import CostRow
from dagtui.model.deployment import Deployment
from dagtui.review import Review
from dagtui.safe_text import visible
from dagtui.structural_diff import StructuralDiff
from dagtui.tui.file_text import markup
from dagtui.tui.keys import VIM_CURSOR_KEYS

Target = tuple[int, str]  # (pane, node id)
MOST_ROWS = 200  # rows per list of the diff before one "and N more" row holding the rest


@dataclass
class CompareRow:
    """One row of the compare view: what it is, the current's and the new's figure, new / current,
    and the nodes behind it (file text already made visible)."""

    what: str
    current: str = ""
    new: str = ""
    ratio: str = ""
    targets: list[Target] = field(default_factory=list)
    heading: bool = False

    @property
    def cells(self) -> tuple[str, str, str, str]:
        return self.what, self.current, self.new, self.ratio


def compare_rows(comparison: Comparison, reviews: list[Review], has_model: bool,
                 hardware: str | None = None) -> list[CompareRow]:
    """Every row of the view, section by section, as `dagtui compare` prints them."""
    first, second = (visible(name) for name in comparison.names)
    rows = [CompareRow("Comparison", first, second, "new/cur", heading=True)]
    rows += [CompareRow(visible(metric), visible(a), visible(b)) for metric, a, b in comparison.table]
    gpu = f"hardware: {visible(hardware)}" if hardware else "no --hardware: no times or HBM use"
    rows.append(CompareRow("Cost per GPU", gpu, heading=True))
    if comparison.cost_table:
        rows += [_cost_row(row, comparison.deployments) for row in comparison.cost_table]
        for pane, cost in enumerate(comparison.costs):
            notes = cost.notes if isinstance(cost, CostEstimate) else ()
            rows += [CompareRow("note", *((visible(note), "") if pane == 0 else ("", visible(note)))) for note in notes]
    else:
        rows.append(CompareRow("Cost estimate", "the cost model could not read --model" if has_model
                               else "give --model M.yaml for the cost table"))
    if comparison.diff is not None:
        rows += diff_rows(comparison.diff)
    rows += finding_rows(comparison, reviews)
    return rows


def _cost_row(row: CostRow, deployments: tuple[Deployment | None, Deployment | None]) -> CompareRow:
    """A cost figure, leading to the nodes of the stage whose GPU gives it, in each deployment."""
    targets: list[Target] = []
    for pane, (stage, deployment) in enumerate(zip(row.stages, deployments)):
        if stage is not None and deployment is not None:
            targets += [(pane, node) for node in stage_nodes(deployment, stage.index, stage.layers)]
    return CompareRow(row.metric, visible(row.values[0]), visible(row.values[1]), row.ratio, targets)


def diff_rows(diff: StructuralDiff) -> list[CompareRow]:
    """The structural diff: a summary, one row per operator drawn in one deployment only (`−` the
    current only, `+` the new only), one per kind of placement change (leading to the new's nodes)."""
    rows = [CompareRow("What changed in the drawing", heading=True),
            CompareRow("Drawn in both", f"{diff.matched:,} matched", f"{len(diff.moved):,} placed differently")]
    removed = [CompareRow(f"− {visible(entry.key.describe())}", _ids(entry.nodes), "",
                          targets=[(0, node) for node in entry.nodes]) for entry in diff.removed]
    added = [CompareRow(f"+ {visible(entry.key.describe())}", "", _ids(entry.nodes),
                        targets=[(1, node) for node in entry.nodes]) for entry in diff.added]
    moved = [CompareRow(f"~ {len(changes)} placed differently", visible(before), visible(after),
                        targets=[(1, change.second) for change in changes])
             for before, after, changes in diff.moves_by_change()]
    for title, part in (("only in the current", removed), ("only in the new", added), ("placed differently", moved)):
        rows += _capped(part, title)
    return rows


def _capped(rows: list[CompareRow], title: str) -> list[CompareRow]:
    """At most MOST_ROWS rows; one more leads to the nodes of the rest."""
    if len(rows) <= MOST_ROWS:
        return rows
    rest = rows[MOST_ROWS:]
    return [*rows[:MOST_ROWS], CompareRow(f"… {len(rest):,} more {title}", targets=[target for row in rest for target in row.targets])]


def finding_rows(comparison: Comparison, reviews: list[Review]) -> list[CompareRow]:
    """Findings fixed (the current's only), introduced (the new's only) and shared, each leading to its nodes."""
    first, second = ({finding.id: finding for finding in review.findings} for review in reviews[:2])
    rows = [CompareRow("Findings", f"{len(comparison.fixed)} fixed", f"{len(comparison.introduced)} introduced",
                       heading=True)]
    for finding_id in comparison.fixed:
        finding = first[finding_id]
        rows.append(CompareRow(f"fixed {finding.rule}", visible(finding.title), "", targets=[(0, n) for n in finding.nodes]))
    for finding_id in comparison.introduced:
        finding = second[finding_id]
        rows.append(CompareRow(f"introduced {finding.rule}", "", visible(finding.title),
                               targets=[(1, n) for n in finding.nodes]))
    for a, b in comparison.pairs:
        ours, theirs = first[a], second[b]
        rows.append(CompareRow(f"shared {ours.rule}", f"{a} {visible(ours.title)}", f"{b} {visible(theirs.title)}",
                               targets=[(0, n) for n in ours.nodes] + [(1, n) for n in theirs.nodes]))
    return rows


def _ids(nodes: list[str]) -> str:
    return ", ".join(visible(node) for node in nodes)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class CompareTable(DataTable):
    """The rows of the compare view; `enter` posts RowSelected (the screen answers it)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Jump", tooltip="Jump to the nodes behind the row (enter on the node: the next one)"),
        *VIM_CURSOR_KEYS,
    ]


class CompareScreen(Screen[CompareRow | None]):
    """The comparison on the whole screen; dismissed with the row `enter` chose, or None."""

    BINDINGS = [Binding("escape,c", "back", "Back", tooltip="Back to the deployments")]
    AUTO_FOCUS = "CompareTable"

    def __init__(self, title: str, rows: list[CompareRow], cursor: int = 0) -> None:
        super().__init__()
        self.heading = title  # markup, file text escaped by the caller
        self.rows = rows
        self.start = cursor

    def compose(self) -> ComposeResult:
        yield Static(self.heading, id="compare-title")
        yield CompareTable(id="compare-table", cursor_type="row", zebra_stripes=False)
        yield Static("", id="compare-row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(CompareTable)
        # Widths that fit the screen: the metric a third, each figure a quarter of the rest, the ratio 7.
        room = max(self.app.size.width - 12, 40)
        what = room * 3 // 10
        figure = (room - what - 7) // 2
        widths = (what, figure, figure, 7)
        first = self.rows[0]
        for label, width in zip(first.cells, widths):
            table.add_column(Text(_cut(label, width), style="bold"), width=width)
        for row in self.rows[1:]:
            cells = [Text(_cut(cell, width), style="bold" if row.heading else "") for cell, width in zip(row.cells, widths)]
            table.add_row(*cells)
        table.move_cursor(row=min(max(self.start - 1, 0), len(self.rows) - 2), animate=False)

    @property
    def cursor_row(self) -> CompareRow:
        return self.rows[self.query_one(CompareTable).cursor_row + 1]

    @property
    def cursor(self) -> int:
        """The row under the cursor, counted as `rows` are (the header is row 0)."""
        return self.query_one(CompareTable).cursor_row + 1

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = self.rows[event.cursor_row + 1]
        cells = [f"[b]{markup(row.what)}[/b]"]
        names = self.rows[0]
        cells += [f"{markup(name)}: {markup(value)}" for name, value in ((names.current, row.current), (names.new, row.new))
                  if value]
        if row.ratio:
            cells.append(f"new / current: {markup(row.ratio)}")
        count = len(row.targets)
        cells.append(f"[b]enter[/b]: jump to its {count:,} node(s)" if count else "no node behind this row")
        self.query_one("#compare-row", Static).update(" · ".join(cells))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.cursor_row
        if not row.targets:
            self.notify("no node behind this row")
            return
        self.dismiss(row)

    def action_back(self) -> None:
        self.dismiss(None)
