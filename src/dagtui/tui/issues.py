"""The issue panel: all findings of both deployments, filterable by deployment, severity and category."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select
from textual.widgets.data_table import ColumnKey

from dagtui.safe_text import visible
from dagtui.tui.file_text import markup
from dagtui.tui.keys import VIM_CURSOR_KEYS
from dagtui.tui.messages import IssueChosen, IssueHighlighted
from dagtui.tui.outline import SEVERITY_MARK, IssueRow
from dagtui.tui.tree import SEVERITY_STYLE
from dagtui.validate import CATEGORIES, Severity

ALL = "all"
# The deployment column is a short tag, so that the title gets the width.
TAGS = ("cur", "new")
BOTH = "both"


class IssueTable(DataTable):
    """Findings as rows; `j`/`k` move like the arrows. The title column takes the width the other
    columns leave (DataTable sizes columns to their content only), so a narrow terminal still
    shows most of each title."""

    BINDINGS = [
        *VIM_CURSOR_KEYS,
        Binding("enter", "select_cursor", "Jump to the finding's first node (focus moves to its pane)", show=False),
    ]
    FILL_COLUMN = ColumnKey("title")
    MIN_FILL = 8

    def on_resize(self, event: events.Resize) -> None:
        self.fit_columns()
        # Narrower or shorter (a smaller terminal; the table losing the focus at 80 columns): the
        # cursor's row stays in view.
        if self.row_count:
            self.move_cursor(row=self.cursor_row, scroll=True)

    def fit_columns(self) -> None:
        """Give the title column the table's width minus the other columns'."""
        column = self.columns.get(self.FILL_COLUMN)
        if column is None:
            return
        others = sum(other.get_render_width(self) for key, other in self.columns.items() if key != self.FILL_COLUMN)
        # The vertical scrollbar's room is kept whether it shows or not: rows added later must
        # not push the title past the edge.
        room = self.content_region.width - self.styles.scrollbar_size_vertical
        width = max(self.MIN_FILL, room - others - 2 * self.cell_padding)
        if column.auto_width or column.width != width:
            column.auto_width, column.width = False, width
            self.refresh_column(self.get_column_index(self.FILL_COLUMN))


class Filters(Horizontal):
    """The filter dropdowns. `tab` passes them by, unless the user is already in them (a click, or
    `f` and the command palette's `severity error`, `category expert`, `deployment new`)."""

    def allow_focus_children(self) -> bool:
        return self.has_focus_within


def filter_choices(name: str, names: list[str]) -> list[tuple[str | Text, str]]:
    """(prompt, value) of a filter's dropdown: `all`, then each severity, category, or deployment
    (by name, value `0`, `1`, and `both`)."""
    choices: list[tuple[str | Text, str]]
    if name == "severity":
        choices = [("all severities", ALL), *((severity.value, severity.value) for severity in Severity)]
    elif name == "category":
        choices = [("all categories", ALL), *((category, category) for category in CATEGORIES)]
    else:
        choices = [("all deployments", ALL)]
        choices += [(Text(visible(deployment)), str(index)) for index, deployment in enumerate(names)]  # never markup
        choices += [("in both", BOTH)] if len(names) == 2 else []
    return choices


class IssuePanel(Vertical):
    """Filters over a table of issue rows; the cursor resting on a row posts `IssueHighlighted`,
    `enter` on it `IssueChosen`."""

    ALLOW_MAXIMIZE = True  # `z`
    FILTERS = {"deployment": "#filter-deployment", "severity": "#filter-severity", "category": "#filter-category"}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: list[IssueRow] = []
        self.names: list[str] = []
        self.visible_rows: list[IssueRow] = []

    def compose(self) -> ComposeResult:
        with Filters(classes="filters"):
            for name, selector in self.FILTERS.items():
                yield Select(filter_choices(name, []), value=ALL, allow_blank=False, id=selector[1:])
        yield IssueTable(cursor_type="row", zebra_stripes=True)

    @property
    def table(self) -> IssueTable:
        return self.query_one(IssueTable)

    def load(self, rows: list[IssueRow], names: list[str]) -> None:
        """Show new rows; the deployment filter offers each deployment by name, and "both"."""
        self.rows, self.names = rows, names
        table = self.table
        table.clear(columns=True)
        # Fixed widths (a marker, a rule code, a tag): the title takes the rest (`fit_columns`).
        table.add_column("", key="severity", width=1)
        table.add_column("code", key="code", width=max((len(row.finding.rule) for row in rows), default=4))
        if len(names) == 2:
            table.add_column("in", key="in", width=max(len(tag) for tag in (*TAGS, BOTH)))
        table.add_column("title", key="title")
        select = self.query_one(self.FILTERS["deployment"], Select)
        select.set_options(filter_choices("deployment", names))
        select.value = ALL
        self.refilter()

    def set_filter(self, name: str, value: str) -> bool:
        """Set one filter (`severity`, `error`); False when that filter has no such choice."""
        if value not in {choice for _, choice in filter_choices(name, self.names)}:
            return False
        self.query_one(self.FILTERS[name], Select).value = value
        self.refilter()  # at once, not when the Changed message arrives: the caller may look
        return True

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.refilter()

    def _filter_values(self) -> dict[str, str]:
        return {name: str(self.query_one(selector, Select).value) for name, selector in self.FILTERS.items()}

    def _matches(self, row: IssueRow, filters: dict[str, str]) -> bool:
        deployment, severity, category = filters["deployment"], filters["severity"], filters["category"]
        panes = {pane for pane, _ in row.sides}
        if deployment == BOTH and len(panes) < 2:
            return False
        if deployment not in (ALL, BOTH) and int(deployment) not in panes:
            return False
        if severity != ALL and row.severity.value != severity:
            return False
        return category == ALL or row.finding.category == category

    def refilter(self) -> None:
        table = self.table
        table.clear()
        filters = self._filter_values()
        self.visible_rows = [row for row in self.rows if self._matches(row, filters)]
        for row in self.visible_rows:
            mark = Text(SEVERITY_MARK[row.severity], style=SEVERITY_STYLE[row.severity])
            cells = [mark, row.finding.rule]
            if len(self.names) == 2:
                panes = {pane for pane, _ in row.sides}
                cells.append(BOTH if len(panes) == 2 else TAGS[row.sides[0][0]])
            table.add_row(*cells, Text(visible(row.finding.title), no_wrap=True, overflow="ellipsis"), key=row.key)
        table.fit_columns()
        self.border_title = self._title(filters)

    def _title(self, filters: dict[str, str]) -> str:
        """`findings 21`, or `findings 5 of 21 · error · expert` (narrow terminals hide the dropdowns)."""
        shown = [self._filter_name(name, value) for name, value in filters.items() if value != ALL]
        count = f"{len(self.visible_rows)} of {len(self.rows)}" if shown else str(len(self.rows))
        return " · ".join([f"findings {count}", *shown])

    def _filter_name(self, name: str, value: str) -> str:
        if name == "deployment" and value not in (ALL, BOTH):
            return markup(self.names[int(value)])
        return f"in {BOTH}" if value == BOTH else value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = self.row_by_key(str(event.row_key.value))
        if row is not None:
            self.post_message(IssueHighlighted(row))

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
