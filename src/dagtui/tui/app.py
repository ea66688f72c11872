"""The explorer: two deployments side by side, an issue panel, a detail panel, and keys that jump
from a finding to its node. It renders what `review` and `compare` give it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal
from textual.notifications import Notify
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from dagtui.compare import Comparison, NodePairing, add_costs
from dagtui.errors import DagtuiError
from dagtui.helper_process import HelperProcess
from dagtui.model import ModelSpec
from dagtui.report import TargetExists, render, write_atomic
from dagtui.review import Review
from dagtui.safe_text import visible
from dagtui.settings import Settings, load_settings
from dagtui.tui.commands import DagtuiCommands, FilterCommands
from dagtui.tui.compare_view import CompareRow, CompareScreen, compare_rows
from dagtui.tui.detail import DetailPanel
from dagtui.tui.file_text import markup
from dagtui.tui.help import DIALOG_KEYS, SEARCH_KEYS, binding_rows, help_renderable
from dagtui.tui.issues import IssuePanel, IssueTable
from dagtui.tui.loading import AllLoaded, Load, LoaderThread, LoadProgress, PaneLoaded
from dagtui.tui.messages import IssueChosen, IssueHighlighted, JumpRequested, NodeChosen, NodeFocused
from dagtui.tui.outline import History, IssueRow, Outline, issue_rows, query_problem
from dagtui.tui.pane import DeploymentPane
from dagtui.tui.screens import ChooserScreen, ConfirmScreen, ExportScreen, HelpScreen
from dagtui.tui.themes import (
    ANSI_THEMES,
    DEFAULT_THEME,
    load_themes,
    remember_theme,
    remembered_theme,
    theme_files,
)
from dagtui.tui.tree import DeploymentTree

SEARCH_EXAMPLES = "op=expert, layer=15, tp=5, shape=ellipse"  # each matches nodes of the samples (tested)


class DagtuiApp(App[int]):
    """`dagtui current.dot new.dot` (or one file)."""

    CSS_PATH = "app.tcss"
    TITLE = "dagtui"
    COMMANDS = App.COMMANDS | {DagtuiCommands, FilterCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    # The footer shows these in order and cuts what does not fit: `?` and `q` come first, and the
    # labels are short (80 columns show up to `]`). Tooltips are the help screen's longer words.
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Every key, in a table that scrolls"),
        Binding("q", "quit", "Quit"),
        Binding("n", "next_finding", "Next", tooltip="The next finding's node, from anywhere"),
        Binding("n", "next_match", "Next match", tooltip="While a search is active: the next match"),
        Binding("N", "previous_finding", "Prev", key_display="N", tooltip="The previous finding's node"),
        Binding("N", "previous_match", "Prev match", key_display="N", tooltip="While a search is active: the previous match"),
        Binding("slash", "search", "Search", key_display="/",
                tooltip=f"Search the focused deployment: a regex over id and label, or key=value ({SEARCH_EXAMPLES})"),
        Binding("f", "filter", "Filter", tooltip="Filter the findings: severity error, category expert, deployment new, ... all"),
        Binding("left_square_bracket", "predecessor", "Pred", key_display="[",
                tooltip="The predecessor of the selected node (a chooser when there are several)"),
        Binding("right_square_bracket", "successor", "Succ", key_display="]",
                tooltip="The successor of the selected node (a chooser when there are several)"),
        Binding("s", "counterpart", "Other", tooltip="The counterpart of the selected node in the other deployment"),
        Binding("S", "sync", "Sync", key_display="S",
                tooltip="Sync mode: moving in one deployment moves the other to the counterpart; + added, − removed"),
        Binding("c", "compare", "Compare",
                tooltip="The comparison (strategies, cost per GPU, what changed, findings); enter on a row: its nodes"),
        Binding("e", "export", "Export", tooltip="Export the findings to markdown (asks before replacing a file)"),
        Binding("backspace", "history_back", "Back", show=False, tooltip="Back through the jump history"),
        Binding("ctrl+f,alt+right", "history_forward", "Forward", show=False, tooltip="Forward through the jump history"),
        Binding("r", "reload", "Reload", show=False, tooltip="Reload both files, keeping the selection"),
        Binding("z", "maximize_pane", "Zoom", show=False, tooltip="Maximise the focused panel, and back"),
        Binding("t", "next_theme", "Theme", show=False, tooltip="The next theme, remembered"),
        Binding("escape", "leave_search", "Leave search", show=False, tooltip="Leave the search"),
    ]

    def __init__(self, files: list[str], model: str | None = None, strategy: str | None = None,
                 theme_name: str | None = None, helper: HelperProcess | None = None,
                 settings: Settings | None = None) -> None:
        """`settings`: what the files are modelled and validated with, as the command line resolved
        them (dagtui.yaml, then --model, --strategy, --hardware, --select, --ignore); without them,
        the current folder's dagtui.yaml with `model` and `strategy` over it, resolved when the app
        starts. `helper`: a helper process the command line forked for these files with these
        settings (opt-in, see `helper_process`), for the first load; the app never starts one."""
        # NO_COLOR: Textual then drops every colour (native ANSI mode picks that filter; otherwise
        # it would make the colours grey, which draws an ANSI theme black on black). The cursor,
        # the focus and the severities are told apart by attributes instead (app.tcss).
        no_color = "NO_COLOR" in os.environ
        super().__init__(ansi_color=True if no_color else None)
        self.files = [str(file) for file in files]
        self._options = (model, strategy)  # for `settings` when none are given
        self.settings = settings or Settings()
        self._given_settings = settings is not None
        self.requested_theme = theme_name
        self.reviews: list[Review] = []
        self.outlines: list[Outline] = []
        self.comparison: Comparison | None = None
        self._pairing: NodePairing | None = None
        self.rows: list[IssueRow] = []
        self.history = History()
        self.current: tuple[int, str] | None = None
        self._row_position = -1
        # What `enter` on the node a jump led to walks: (what the nodes are, the nodes, index visited).
        self._cycle: tuple[str, list[tuple[int, str]], int] | None = None
        self._compare_view: tuple[Comparison, list[CompareRow]] | None = None
        self._compare_cursor = 1
        self._search_matches: list[tuple[int, str]] = []
        self._search_position = -1
        self._search_pane = 0
        self.search_active = False
        self.sync = False
        self.loaded = False
        self._restore: tuple[int, str] | None = None
        self._generation = 0  # of the current load: messages of a replaced one are dropped
        self._helper = helper

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for index, file in enumerate(self.files):
                yield DeploymentPane(index, file, id=f"pane-{index}")
        with Horizontal(id="bottom"):
            yield IssuePanel(id="issues")
            yield DetailPanel(id="detail")
        yield Input(placeholder=f"search: regex over id and label, or key=value ({SEARCH_EXAMPLES})", id="search")
        yield Footer()

    def on_mount(self) -> None:
        # The issue table has the keys from the start. Textual would focus the first focusable
        # widget, the hidden search input, which swallows `q` and every other key while files load.
        self.query_one(IssuePanel).table.focus()
        themes = load_themes()
        for theme in themes:
            self.register_theme(theme)
        ansi = [name for name in ANSI_THEMES if name in self.available_themes]
        self.theme_names = [theme.name for theme in themes] + ansi
        wanted = self.requested_theme or remembered_theme()
        if self.no_color and ansi:
            wanted = ansi[0]  # the terminal's own colours; never remembered as the user's choice
        if wanted not in self.available_themes:
            if self.requested_theme:
                self.notify(f"unknown theme {markup(repr(self.requested_theme))}", severity="warning")
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else self.theme
        self.theme = wanted
        if not self._given_settings:
            self.settings = self._resolve_settings()
        self.load_reviews()

    def _resolve_settings(self) -> Settings:
        """dagtui.yaml of the current folder, `model` and `strategy` over it; a malformed one is
        said, and the files load without it."""
        model, strategy = self._options
        try:
            return load_settings(model=model, strategy=strategy)
        except DagtuiError as error:
            self.notify(markup(error), severity="error", timeout=10)
            return Settings()

    def on_notify(self, event: Notify) -> None:
        """One toast at a time: a new one replaces those before it (Textual has added it already),
        so that a key pressed ten times does not stack ten over the panes; the detail panel says
        what matters, and stays. An error (a bad --model, a failed export) stays its time. Textual
        has no public call to remove one notification, hence its private collection."""
        for shown in list(self._notifications):
            if shown is not event.notification and shown.severity != "error":
                self._unnotify(shown, refresh=False)
        self._refresh_notifications()

    @property
    def files_read(self) -> list[str]:
        """Every file this run reads: an export never replaces one of them."""
        settings = self.settings
        named = [settings.model_path, settings.config_file, settings.hardware_source]
        return [*self.files, *(path for path in named if path and Path(path).is_file()), *map(str, theme_files())]

    # -- loading ---------------------------------------------------------------------------------
    def load_reviews(self) -> None:
        """Load the files (again) with the explorer's settings: each pane shows its tree as soon as
        its file is read and modelled, its markers once validated, the issue table at the end."""
        self._restore = self.current  # trees are rebuilt; the selection comes back where it still exists
        for pane in self.query(DeploymentPane):
            pane.show_loading()
        self._generation += 1
        helper, self._helper = self._helper, None  # the first load only: a reload is done here
        self._load(Load(self.files, self.settings, self._generation, helper))

    @work(exclusive=True, group="load")
    async def _load(self, load: Load) -> None:
        """Wait for the loading thread (see `tui.loading`); cancelled (quit, reload), tell it to
        stop at its next checkpoint, without waiting for it."""
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        thread = LoaderThread(load, self, lambda: loop.call_soon_threadsafe(done.set))
        thread.start()
        try:
            await done.wait()
        finally:
            thread.stop.set()
        if thread.error is not None:
            raise thread.error

    def _is_current(self, message: LoadProgress | PaneLoaded | AllLoaded) -> bool:
        """Whether a loading message is for the screen: not from a load a reload has replaced,
        nor come after the user quit."""
        return message.generation == self._generation and self.is_running

    def on_load_progress(self, message: LoadProgress) -> None:
        if self._is_current(message):
            self.query_one(f"#pane-{message.index}", DeploymentPane).show_progress(message.phase)

    def on_pane_loaded(self, message: PaneLoaded) -> None:
        if not self._is_current(message):
            return
        index, review, outline = message.index, message.review, message.outline
        while len(self.outlines) <= index:
            self.outlines.append(outline)
        self.outlines[index] = outline
        pane = self.query_one(f"#pane-{index}", DeploymentPane)
        if message.validated and pane.outline is outline:
            pane.show_findings(review, outline)
        else:
            pane.show(review, outline, message.validated)

    def on_all_loaded(self, message: AllLoaded) -> None:
        if not self._is_current(message):
            return
        keep = self._restore
        self.reviews, self.outlines, self.comparison, self._pairing = (
            message.reviews, message.outlines, message.comparison, None)
        self.rows = issue_rows(self.reviews)
        self.query_one(IssuePanel).load(self.rows, [review.name for review in self.reviews])
        self.loaded = True
        self._show_sync()
        if keep and self._node(*keep) is not None:
            self.jump_to(*keep, record=False)
        else:
            self.query_one(IssuePanel).table.focus()

    # -- selecting and jumping -------------------------------------------------------------------
    def _node(self, pane: int, node_id: str):
        deployment = self.outlines[pane].deployment if pane < len(self.outlines) else None
        return deployment.nodes.get(node_id) if deployment is not None else None

    def _tree(self, pane: int) -> DeploymentTree:
        return self.query_one(f"#pane-{pane}", DeploymentPane).deployment_tree

    def jump_to(self, pane: int, node_id: str, record: bool = True, note: str = "") -> bool:
        """Focus the pane, expand the tree to the node, select it and show it in the detail panel."""
        if self._node(pane, node_id) is None:
            return False
        tree = self._tree(pane)
        tree.reveal(node_id)
        tree.focus()
        self._select(pane, node_id, note)
        if record:
            self.history.record((pane, node_id))
        return True

    def _select(self, pane: int, node_id: str, note: str = "") -> None:
        """Show a node in the detail panel; in sync mode, move the other pane to its counterpart."""
        node = self._node(pane, node_id)
        if node is None:
            return
        self.current = (pane, node_id)
        notes = [note] if note else []
        if self.sync and self.pairing is not None:
            notes.append(self._sync_other(pane, node))
        self.query_one(DetailPanel).show(pane, node, self.outlines[pane], "\n".join(notes), self.model_spec)

    def _sync_other(self, pane: int, node) -> str:
        """Move the other pane's cursor to the node's counterpart; what the detail panel says of it."""
        assert self.pairing is not None
        other = 1 - pane
        name = markup(self.outlines[other].review.name)
        counterpart = self.pairing.counterpart(pane, node.id)
        if counterpart is None:
            change = self.pairing.change(pane, node.id)
            return f"[b]sync:[/b] no counterpart in {name}" + (f" ({change})" if change else "")
        self._tree(other).reveal(counterpart)
        return f"[b]sync:[/b] counterpart {markup(counterpart)} in {name}"

    def on_node_focused(self, message: NodeFocused) -> None:
        # Only the user's moves select: the other pane's cursor, moved by sync mode, does not.
        # (Not once quitting: a load that ends as the user quits moves cursors as the panels go.)
        if self.is_running and message.by_user and self.current != (message.pane, message.node_id):
            self._select(message.pane, message.node_id)

    def on_jump_requested(self, message: JumpRequested) -> None:
        self.jump_to(message.pane, message.node_id)

    def on_issue_highlighted(self, message: IssueHighlighted) -> None:
        """The finding under the table's cursor, in full, before any jump (not when `n` moved the
        cursor: the node it jumped to stays in the panel)."""
        if self.is_running and self.query_one(IssuePanel).table.has_focus:
            self.query_one(DetailPanel).show_issue(message.row, [review.name for review in self.reviews])

    def on_issue_chosen(self, message: IssueChosen) -> None:
        """`enter` on a finding: its first node, in its pane, focused."""
        row = message.row
        if not row.targets():
            self.notify(f"{row.finding.rule} is about the whole file: there is no node to jump to")
            return
        self._row_position = self.rows.index(row)
        self._visit(row, 0)

    def on_node_chosen(self, message: NodeChosen) -> None:
        """`enter` on the node a finding (or a row of the compare view) led to: its next node (in
        either deployment)."""
        if self._cycle is None:
            return
        title, targets, index = self._cycle
        if index < len(targets) and targets[index] == (message.pane, message.node_id):
            self._walk(title, targets, (index + 1) % len(targets))

    def _visit(self, row: IssueRow, index: int) -> None:
        """Jump to a finding's `index`th node."""
        self._walk(f"[b]{row.finding.rule}[/b]", row.targets(), index)

    def _walk(self, title: str, targets: list[tuple[int, str]], index: int) -> None:
        """Jump to the `index`th of `targets`, saying what they are (`title`, markup) and which one it is."""
        self._cycle = (title, targets, index)
        pane, node_id = targets[index]
        following = "enter: its next node" if len(targets) > 1 else "its only node"
        self.jump_to(pane, node_id, note=f"{title} node {index + 1} of {len(targets)} ({following})")

    # -- walking findings and matches ------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`n` and `N` walk the matches while a search is active, else the findings; the footer
        shows which."""
        if isinstance(self.screen, CompareScreen):  # its own keys, help and quit; not those of the panes
            return action in ("help", "quit", "command_palette")
        if action in ("next_match", "previous_match"):
            return self.search_active
        if action in ("next_finding", "previous_finding"):
            return not self.search_active
        return True

    def _step_finding(self, step: int) -> None:
        panel = self.query_one(IssuePanel)
        rows = [row for row in panel.visible_rows if row.targets()]
        if not rows:
            self.notify("no findings with nodes to visit")
            return
        current = self.rows[self._row_position] if 0 <= self._row_position < len(self.rows) else None
        position = rows.index(current) if current in rows else (-1 if step > 0 else 0)
        row = rows[(position + step) % len(rows)]
        self._row_position = self.rows.index(row)
        panel.move_to(row)
        self._visit(row, 0)

    def _step_match(self, step: int) -> None:
        if not self._search_matches:
            self.notify("no matches")
            return
        self._search_position = (self._search_position + step) % len(self._search_matches)
        pane, node_id = self._search_matches[self._search_position]
        self.jump_to(pane, node_id, note=f"match {self._search_position + 1} of {len(self._search_matches)}")

    def action_next_finding(self) -> None:
        self._step_finding(1)

    def action_previous_finding(self) -> None:
        self._step_finding(-1)

    def action_next_match(self) -> None:
        self._step_match(1)

    def action_previous_match(self) -> None:
        self._step_match(-1)

    # -- search and filters ----------------------------------------------------------------------
    def _focused_pane(self) -> int:
        focused = self.focused
        for pane in self.query(DeploymentPane):
            if focused is not None and (focused is pane or pane in focused.ancestors):
                return pane.index
        return self.current[0] if self.current else 0

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        self._search_pane = self._focused_pane()
        search.add_class("-active")
        search.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "search" or not self.outlines:
            return
        outline = self.outlines[self._search_pane]
        self._search_matches = [(self._search_pane, node_id) for node_id in outline.search(event.value)]
        self._search_position = -1
        title = f"{len(self._search_matches)} match(es) in {markup(outline.review.name)}"
        problem = query_problem(event.value)
        event.input.border_title = f"{problem} · {title}" if problem else title

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        self._set_search_active(True)
        self._search_position = -1
        self._step_match(1)

    def action_leave_search(self) -> None:
        search = self.query_one("#search", Input)
        if self.search_active or search.has_class("-active"):
            self._set_search_active(False)
            search.remove_class("-active")
            self._search_matches = []
            if self.current:
                self._tree(self.current[0]).focus()

    def _set_search_active(self, active: bool) -> None:
        self.search_active = active
        self.refresh_bindings()  # the footer's `n` says "Next match" while searching

    def action_filter(self) -> None:
        """A palette of the issue filters alone: works at any width (the dropdowns need 100 columns)."""
        if not CommandPalette.is_open(self):  # type: ignore[arg-type]  # Textual types the app as App[object]
            self.push_screen(CommandPalette(
                providers=[FilterCommands], placeholder="filter: severity error, category expert, deployment new, ... all",
            ))

    def set_filter(self, name: str, value: str) -> None:
        """Filter the issue table (from the palette); the table takes the focus to show the result."""
        panel = self.query_one(IssuePanel)
        if panel.set_filter(name, value):
            panel.table.focus()

    # -- neighbours, history, counterparts -------------------------------------------------------
    def _neighbours(self, predecessors: bool) -> None:
        if self.current is None:
            self.notify("select a node first")
            return
        pane, node_id = self.current
        deployment = self.outlines[pane].deployment
        if deployment is None:
            return
        neighbours = deployment.predecessors(node_id) if predecessors else deployment.successors(node_id)
        if not neighbours:
            self.notify(f"`{markup(node_id)}` has no {'predecessor' if predecessors else 'successor'}")
        elif len(neighbours) == 1:
            self.jump_to(pane, neighbours[0])
        else:
            title = f"{'Predecessors' if predecessors else 'Successors'} of {node_id}"  # made safe by the chooser
            self.push_screen(ChooserScreen(title, neighbours), lambda chosen: self._jump_if_chosen(pane, chosen))

    def _jump_if_chosen(self, pane: int, chosen: str | None) -> None:
        if chosen:
            self.jump_to(pane, chosen)

    def action_predecessor(self) -> None:
        self._neighbours(True)

    def action_successor(self) -> None:
        self._neighbours(False)

    def action_history_back(self) -> None:
        item = self.history.back()
        if item:
            self.jump_to(*item, record=False)

    def action_history_forward(self) -> None:
        item = self.history.forward()
        if item:
            self.jump_to(*item, record=False)

    @property
    def pairing(self) -> NodePairing | None:
        """Each node's counterpart, from the comparison's structural diff (the nodes `dagtui compare`
        calls added and removed have none); computed when `s` or `S` first asks for it, so that
        loading does not pay for it. None until both deployments have loaded."""
        if self._pairing is None and self.comparison is not None and self.comparison.diff is not None:
            self._pairing = NodePairing(self.comparison.diff)
        return self._pairing

    def _second_deployment_missing(self) -> str | None:
        """Why counterparts cannot be shown, or None."""
        if len(self.files) < 2:
            return "one deployment is open: there is no second deployment to compare it with"
        if self.pairing is None:
            return "both deployments must load to compare them" if self.loaded else "still loading"
        return None

    def action_counterpart(self) -> None:
        problem = self._second_deployment_missing() or (None if self.current else "select a node first")
        if problem:
            self.notify(problem)
            return
        assert self.pairing is not None and self.current is not None
        pane, node_id = self.current
        counterpart = self.pairing.counterpart(pane, node_id)
        if counterpart is None:
            change = self.pairing.change(pane, node_id)
            self.notify(f"`{markup(node_id)}` has no counterpart in {markup(self.outlines[1 - pane].review.name)}"
                        + (f": it is {change} (`dagtui compare` lists it)" if change else ""))
            return
        self.jump_to(1 - pane, counterpart)

    def action_sync(self) -> None:
        """Sync mode: moving in one deployment moves the other to the counterpart; rows of nodes
        without one are marked `+` (added) and `−` (removed)."""
        problem = self._second_deployment_missing()
        if problem:
            self.notify(f"sync: {problem}")
            return
        self.sync = not self.sync
        self._show_sync()
        if self.sync and self.current:
            self._select(*self.current)
        self.notify("sync on: + added, − removed" if self.sync else "sync off")

    def _show_sync(self) -> None:
        """Marks and the title after sync mode or the deployments changed."""
        names = " vs ".join(review.name for review in self.reviews)
        self.sub_title = markup(names) + (" · sync" if self.sync else "")
        pairing = self.pairing if self.sync else None
        for pane in self.query(DeploymentPane):
            pane.deployment_tree.mark_changes(pairing.changes(pane.index) if pairing else {})

    # -- the compare view ------------------------------------------------------------------------
    @property
    def model_spec(self) -> ModelSpec | None:
        """The model spec of the settings the files were loaded with (--model or dagtui.yaml)."""
        return self.settings.spec

    def action_compare(self) -> None:
        """The compare view; its cost table and structural diff are computed when it first opens."""
        problem = self._second_deployment_missing()
        if problem:
            self.notify(f"compare: {problem}")
            return
        assert self.comparison is not None
        if self._compare_view is None or self._compare_view[0] is not self.comparison:
            spec = self.model_spec
            if spec is not None and not self.comparison.cost_table:
                current, new = self.reviews[:2]
                add_costs(self.comparison, current, new, spec, self.settings.hardware)
            hardware = self.settings.hardware
            self._compare_view = (self.comparison, compare_rows(self.comparison, self.reviews, spec is not None,
                                                                hardware.name if hardware else None))
            self._compare_cursor = 1
        names = " vs ".join(markup(review.name) for review in self.reviews)
        title = (f"[b]Compare[/b] {names}"
                 + (f" · model {markup(self.model_spec.name)}" if self.model_spec and self.model_spec.name else ""))
        screen = CompareScreen(title, self._compare_view[1], self._compare_cursor)

        def chosen(row: CompareRow | None) -> None:
            self._compare_cursor = screen.cursor
            if row is not None:
                self._walk(f"[b]compare:[/b] {markup(row.what)}", row.targets, 0)

        self.push_screen(screen, chosen)

    # -- export, reload, zoom, theme, help -------------------------------------------------------
    def default_export_path(self) -> str:
        """Next to the first file; in the current folder when its path would not show as typed."""
        first = Path(self.files[0])
        path = str(first.with_name(f"{first.stem}-dagtui-report.md"))
        return path if visible(path) == path else "dagtui-report.md"

    def action_export(self) -> None:
        if not self.loaded:
            return
        self.push_screen(ExportScreen(self.default_export_path()), self._export)

    def _export(self, path: str | None, replace: bool = False) -> None:
        """Write the markdown report; a file already there is replaced once the user says so, a
        file this run reads never."""
        if not path:
            return
        try:
            target = write_atomic(path, render("markdown", self.reviews, self.comparison), inputs=self.files_read,
                                  force=replace)
        except TargetExists:
            question = f"{markup(path)} exists. Replace it?"
            self.push_screen(ConfirmScreen(question), lambda yes: self._export(path, replace=True) if yes else None)
            return
        except DagtuiError as error:
            self.notify(markup(error), severity="error", timeout=10)
            return
        self.notify(f"wrote {markup(target)}", timeout=6)

    def action_reload(self) -> None:
        self.notify("reloading…", timeout=2)
        self.load_reviews()

    def action_maximize_pane(self) -> None:
        """Zoom the focused panel (a deployment, the issues, the details) to the whole screen, and back."""
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        focused = self.focused
        chain = [focused, *focused.ancestors] if focused is not None else []
        panel = next((node for node in chain if isinstance(node, (DeploymentPane, IssuePanel, DetailPanel))), None)
        self.screen.maximize(panel or self.query_one(f"#pane-{self._focused_pane()}", DeploymentPane), container=False)

    def action_next_theme(self) -> None:
        if self.no_color:
            self.notify("NO_COLOR is set: no colours, so no themes (unset it to use them)")
            return
        names = [name for name in self.theme_names if name in self.available_themes]
        position = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(position + 1) % len(names)]
        remember_theme(self.theme)
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_help(self) -> None:
        everywhere = binding_rows(self._bindings, self.get_key_display)
        everywhere += binding_rows(Screen._merge_bindings(), self.get_key_display)  # tab, shift+tab
        sections = [
            ("Everywhere", everywhere),
            ("In a deployment tree", binding_rows(DeploymentTree._merge_bindings(), self.get_key_display)),
            ("In the issue table", binding_rows(IssueTable._merge_bindings(), self.get_key_display)),
            ("In the compare view (c)", binding_rows(CompareScreen._merge_bindings(), self.get_key_display)),
            ("In the search box", SEARCH_KEYS),
            ("In a dialog or chooser", DIALOG_KEYS),
        ]
        self.push_screen(HelpScreen(help_renderable(sections)))
