"""The issue panel: all findings of both deployments, filterable by deployment, severity and category."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select

from dagtui.tui.file_text import content
from dagtui.tui.keys import VIM_CURSOR_KEYS
from dagtui.tui.messages import IssueChosen
from dagtui.tui.outline import SEVERITY_MARK, IssueRow
from dagtui.tui.tree import SEVERITY_STYLE
from dagtui.validate import CATEGORIES, Severity

ALL = "all"


class IssueTable(DataTable):
    """Findings as rows; `j`/`k` move like the arrows."""

    BINDINGS = [*VIM_CURSOR_KEYS]


class IssuePanel(Vertical):
    """Filters over a table of issue rows; `enter` on a row posts `IssueChosen`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: list[IssueRow] = []
        self.names: list[str] = []
        self.visible_rows: list[IssueRow] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="filters"):
            yield Select([("all deployments", ALL)], value=ALL, allow_blank=False, id="filter-deployment")
            yield Select([("all severities", ALL)] + [(s.value, s.value) for s in Severity], value=ALL,
                         allow_blank=False, id="filter-severity")
            yield Select([("all categories", ALL)] + [(c, c) for c in CATEGORIES], value=ALL,
                         allow_blank=False, id="filter-category")
        table = IssueTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("sev", "code", "deployment", "title")
        yield table

    @property
    def table(self) -> IssueTable:
        return self.query_one(IssueTable)

    def load(self, rows: list[IssueRow], names: list[str]) -> None:
        """Show new rows; the deployment filter offers each deployment by name, and "both"."""
        self.rows, self.names = rows, names
        options = [("all deployments", ALL)] + [(content(name), str(index)) for index, name in enumerate(names)]
        if len(names) == 2:
            options.append(("in both", "both"))
        select = self.query_one("#filter-deployment", Select)
        select.set_options(options)
        select.value = ALL
        self.refilter()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.refilter()

    def _matches(self, row: IssueRow) -> bool:
        deployment = self.query_one("#filter-deployment", Select).value
        severity = self.query_one("#filter-severity", Select).value
        category = self.query_one("#filter-category", Select).value
        panes = {pane for pane, _ in row.sides}
        if deployment == "both" and len(panes) < 2:
            return False
        if deployment not in (ALL, "both") and int(str(deployment)) not in panes:
            return False
        if severity != ALL and row.severity.value != severity:
            return False
        return category == ALL or row.finding.category == category

    def refilter(self) -> None:
        table = self.table
        table.clear()
        self.visible_rows = [row for row in self.rows if self._matches(row)]
        for row in self.visible_rows:
            sides = {pane for pane, _ in row.sides}
            where = "both" if len(sides) == 2 else (self.names[row.sides[0][0]] if self.names else "")
            mark = Text(f"{SEVERITY_MARK[row.severity]} {row.severity.value}", style=SEVERITY_STYLE[row.severity])
            title = f"Same: {row.finding.title}" if len(sides) == 2 else row.finding.title
            table.add_row(mark, row.finding.rule, content(where), content(title), key=row.key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.row_by_key(str(event.row_key.value))
        if row is not None:
            self.post_message(IssueChosen(row))

    def row_by_key(self, key: str) -> IssueRow | None:
        return next((row for row in self.rows if row.key == key), None)

    def move_to(self, row: IssueRow) -> None:
        """Put the table cursor on a row (when `n`/`N` walk the findings)."""
        if row in self.visible_rows:
            self.table.move_cursor(row=self.visible_rows.index(row))
