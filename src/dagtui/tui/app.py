"""The explorer: two deployments side by side, an issue panel, a detail panel, and keys that jump
from a finding to its node. It renders what `review` and `compare` give it."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Header, Input
from textual.worker import get_current_worker

from dagtui.compare import Comparison, compare
from dagtui.errors import DagtuiError
from dagtui.gc_pause import collect_frozen
from dagtui.helper_process import HelperProcess
from dagtui.model import ModelSpec, Strategy, load_model_spec, parse_strategy
from dagtui.report import render, write_atomic
from dagtui.review import Review, read_file, review_raw_graph, validate_review
from dagtui.tui.commands import DagtuiCommands
from dagtui.tui.detail import DetailPanel
from dagtui.safe_text import visible
from dagtui.tui.file_text import markup
from dagtui.tui.issues import IssuePanel
from dagtui.tui.messages import IssueChosen, JumpRequested, NodeFocused
from dagtui.tui.outline import History, IssueRow, Outline, issue_rows
from dagtui.tui.pane import DeploymentPane
from dagtui.tui.screens import ChooserScreen, ExportScreen, HelpScreen
from dagtui.tui.themes import (
    ANSI_THEMES,
    DEFAULT_THEME,
    load_themes,
    remember_theme,
    remembered_theme,
)


class _LoaderThread(threading.Thread):
    """The explorer's loading thread: a daemon (the process never waits for it to exit) with an
    event that tells it to stop at its next check."""

    def __init__(self, load, finished) -> None:
        super().__init__(name="dagtui-load", daemon=True)
        self.stop = threading.Event()
        self.error: BaseException | None = None  # raised again in the app, as a worker's would be
        self._load, self._finished = load, finished

    def run(self) -> None:
        try:
            self._load()
        except BaseException as error:  # noqa: BLE001 - handed to the app
            self.error = error
        finally:
            try:
                self._finished()
            except RuntimeError:
                pass  # the app's loop has closed: nobody is waiting


class DagtuiApp(App[int]):
    """`dagtui current.dot new.dot` (or one file)."""

    CSS_PATH = "app.tcss"
    TITLE = "dagtui"
    COMMANDS = App.COMMANDS | {DagtuiCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("n", "next", "Next finding"),
        Binding("N", "previous", "Prev finding", key_display="N"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("left_square_bracket", "predecessor", "Pred", key_display="["),
        Binding("right_square_bracket", "successor", "Succ", key_display="]"),
        Binding("backspace", "history_back", "Back", show=False),
        Binding("ctrl+f,alt+right", "history_forward", "Forward", show=False),
        Binding("s", "counterpart", "Counterpart"),
        Binding("e", "export", "Export"),
        Binding("r", "reload", "Reload", show=False),
        Binding("z", "maximize_pane", "Zoom", show=False),
        Binding("t", "next_theme", "Theme", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("escape", "leave_search", "Leave search", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, files: list[str], model: str | None = None, strategy: str | None = None,
                 theme_name: str | None = None, helper: HelperProcess | None = None) -> None:
        """`helper`: a helper process already started for these files (the command line starts
        it before importing Textual); without one, the app starts its own where it pays."""
        super().__init__()
        self.files = [str(file) for file in files]
        self.model_path = model
        self.strategy_text = strategy
        self.requested_theme = theme_name
        self.reviews: list[Review] = []
        self.outlines: list[Outline] = []
        self.comparison: Comparison | None = None
        self.rows: list[IssueRow] = []
        self.history = History()
        self.current: tuple[int, str] | None = None
        self._row_position = -1
        self._cycle: tuple[str, int] | None = None
        self._search_matches: list[tuple[int, str]] = []
        self._search_position = -1
        self.search_active = False
        self.loaded = False
        self._restore: tuple[int, str] | None = None
        # On a second core, a helper process takes half of the first load; forked before Textual
        # starts any thread (see helper_process).
        self._helper = helper or HelperProcess.start(self.files, model, strategy)

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for index, file in enumerate(self.files):
                yield DeploymentPane(index, file, id=f"pane-{index}")
        with Horizontal(id="bottom"):
            yield IssuePanel(id="issues")
            yield DetailPanel(id="detail")
        yield Input(placeholder="search: regex over id and label, or key=value (op=expert, layer=3, gpu=5)",
                    id="search")
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
        if os.environ.get("NO_COLOR") and ansi:
            wanted = ansi[0]
        if wanted not in self.available_themes:
            if self.requested_theme:
                self.notify(f"unknown theme {markup(repr(self.requested_theme))}", severity="warning")
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else self.theme
        self.theme = wanted
        self.load_reviews()

    # -- loading ---------------------------------------------------------------------------------
    def load_reviews(self) -> None:
        self._restore = self.current  # trees are rebuilt; the selection comes back where it still exists
        for pane in self.query(DeploymentPane):
            pane.show_loading()
        self._load()

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        """Read, model and validate in a thread so the screen is up at once.

        The thread is a daemon of our own, not a Textual thread worker: those run in asyncio's
        default executor, which the app waits for when it exits, so `q` during a phase of a large
        load (modelling 20 MB takes seconds, without a point to stop at) would wait for the phase.
        This worker waits for the thread instead; cancelled (quit, reload), it tells the thread to
        stop at its next check and nobody waits for it."""
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        thread = _LoaderThread(self._load_in_thread, lambda: loop.call_soon_threadsafe(done.set))
        thread.start()
        try:
            await done.wait()
        finally:
            thread.stop.set()
        if thread.error is not None:
            raise thread.error

    def _load_in_thread(self) -> None:
        # The loading thread is CPU-bound Python and shares the GIL with the screen. Longer GIL
        # slices while it runs cut the handovers between the two (two 19k-node files load ~10%
        # faster, benchmarks/bench_tui.py); keys still get the GIL within 50 ms.
        previous = sys.getswitchinterval()
        sys.setswitchinterval(max(previous, 0.05))
        try:
            self._load_reviews()
        finally:
            sys.setswitchinterval(previous)

    def _load_reviews(self) -> None:
        try:
            spec = load_model_spec(self.model_path) if self.model_path else None
            strategy = parse_strategy(self.strategy_text) if self.strategy_text else None
        except DagtuiError as error:
            self._post(self.notify, markup(error), severity="error", timeout=10)
            spec, strategy = None, None
        helper, self._helper = self._helper, None  # the first load only: a reload is done here
        try:
            loaded = self._read_and_show(strategy, helper)
            if loaded and self._validate_and_show(*loaded, spec, helper):
                reviews, outlines = loaded
                comparison = compare(reviews[0], reviews[1]) if len(reviews) == 2 else None
                self._post(self._show, reviews, outlines, comparison)
        finally:
            if helper:
                helper.close()

    # Trees first, findings after: each pane shows its deployment as soon as it is read and
    # modelled, so the first is usable while the second loads and both are validated (the
    # headers say "validating…" meanwhile). Between phases the thread stops if the worker was
    # cancelled (quit, or a reload), so quitting a large load waits for one phase, not all.
    def _read_and_show(self, strategy: Strategy | None, helper: HelperProcess | None
                       ) -> tuple[list[Review], list[Outline]] | None:
        """Reviews and outlines of the files: read here, or by the helper process."""
        reviews, outlines = [], []
        for index, file in enumerate(self.files):
            if not self._progress(index, "reading and modelling"):
                return None
            raw = helper.raw_graph(index, stop=self._stopped) if helper else None
            if raw is None and self._stopped():
                return None
            review = review_raw_graph(raw, strategy) if raw is not None else read_file(file, strategy)
            reviews.append(review)
            outlines.append(Outline(review))
            if not self._post(self._show_pane, index, review, outlines[-1], False):
                return None
        return reviews, outlines

    def _validate_and_show(self, reviews: list[Review], outlines: list[Outline], spec: ModelSpec | None,
                           helper: HelperProcess | None) -> bool:
        """Findings from the helper process where they have come, else validated here. Once the
        trees are built this thread is free and has the models (the helper must build its own),
        so it validates every file the helper has not delivered yet: first those the helper has
        not started on, which the helper is told to skip, then those it has, unless their
        findings come in meanwhile."""
        started = [helper is not None and helper.started(index) for index in range(len(reviews))]
        if helper:
            for index, begun in enumerate(started):
                if not begun:
                    helper.skip(index)
        for index in sorted(range(len(reviews)), key=started.__getitem__):  # the not started first
            review, outline = reviews[index], outlines[index]
            findings = helper.findings(index, stop=lambda: True) if helper else None  # only if come already
            if findings is None:
                validate_review(review, spec)
            else:
                review.findings = findings
            outline.apply_findings()
            if not self._post(self._show_pane, index, review, outline, True):
                return False
        return True

    def _stopped(self) -> bool:
        """From the loading thread: whether loading should stop (the load was cancelled, or the
        app stopped while this thread was busy)."""
        thread = threading.current_thread()
        cancelled = thread.stop.is_set() if isinstance(thread, _LoaderThread) else get_current_worker().is_cancelled
        return cancelled or not self.is_running

    def _post(self, callback, *args, **kwargs) -> bool:
        """Run `callback` in the app's thread; False when loading should stop instead."""
        if self._stopped():
            return False
        try:
            self.call_from_thread(callback, *args, **kwargs)
        except RuntimeError:
            if self.is_running:
                raise
            return False  # the app closed between the check and the call: nothing left to update
        return True

    def _progress(self, index: int, phase: str) -> bool:
        """From the loading thread: the DOM is only touched in the app's own thread."""
        return self._post(lambda: self.query_one(f"#pane-{index}", DeploymentPane).show_progress(phase))

    def _show_pane(self, index: int, review: Review, outline: Outline, validated: bool) -> None:
        if not self.is_running:  # the user quit while the files were loading
            return
        while len(self.outlines) <= index:
            self.outlines.append(outline)
        self.outlines[index] = outline
        pane = self.query_one(f"#pane-{index}", DeploymentPane)
        if validated and pane.outline is not None and pane.outline.review is review:
            pane.show_findings(review, outline)
        else:
            pane.show(review, outline, validated)

    def _show(self, reviews: list[Review], outlines: list[Outline], comparison: Comparison | None) -> None:
        if not self.is_running:
            return
        keep = self._restore
        reloaded = bool(self.reviews)
        self.reviews, self.outlines, self.comparison = reviews, outlines, comparison
        self.rows = issue_rows(reviews)
        self.query_one(IssuePanel).load(self.rows, [review.name for review in reviews])
        if reloaded:
            collect_frozen()  # the previous load is unreachable now; free its cycles (networkx graphs)
        self.sub_title = markup(" vs ".join(review.name for review in reviews))
        self.loaded = True
        if keep and self._node(*keep) is not None:
            self.jump_to(*keep, record=False)
        else:
            self.query_one(IssuePanel).table.focus()

    # -- jumping ---------------------------------------------------------------------------------
    def _node(self, pane: int, node_id: str):
        if pane >= len(self.outlines) or self.outlines[pane].deployment is None:
            return None
        return self.outlines[pane].deployment.nodes.get(node_id)

    def jump_to(self, pane: int, node_id: str, record: bool = True, focus: bool = True) -> bool:
        """Focus the pane, expand the tree to the node, select it and show it in the detail panel."""
        node = self._node(pane, node_id)
        if node is None:
            return False
        deployment_pane = self.query_one(f"#pane-{pane}", DeploymentPane)
        deployment_pane.tree.reveal(node_id)
        if focus:
            deployment_pane.tree.focus()
        self._select(pane, node_id)
        if record:
            self.history.record((pane, node_id))
        return True

    def _select(self, pane: int, node_id: str) -> None:
        node = self._node(pane, node_id)
        if node is None:
            return
        self.current = (pane, node_id)
        self.query_one(DetailPanel).show(pane, node, self.outlines[pane])

    def on_node_focused(self, message: NodeFocused) -> None:
        if self.current != (message.pane, message.node_id):
            self._select(message.pane, message.node_id)

    def on_jump_requested(self, message: JumpRequested) -> None:
        self.jump_to(message.pane, message.node_id)

    def on_issue_chosen(self, message: IssueChosen) -> None:
        """First `enter` jumps to the finding's first node; each further `enter` to the next one."""
        targets = message.row.targets()
        if not targets:
            self.notify(f"{message.row.finding.rule}: {markup(message.row.finding.message)}", timeout=8)
            return
        index = 0
        if self._cycle and self._cycle[0] == message.row.key:
            index = (self._cycle[1] + 1) % len(targets)
        self._cycle = (message.row.key, index)
        self._row_position = self.rows.index(message.row)
        pane, node_id = targets[index]
        self.jump_to(pane, node_id, focus=False)
        self.notify(f"{message.row.finding.rule} · node {index + 1} of {len(targets)}: {markup(node_id)}", timeout=3)

    # -- actions ---------------------------------------------------------------------------------
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
        self._cycle = (row.key, 0)
        panel.move_to(row)
        pane, node_id = row.targets()[0]
        self.jump_to(pane, node_id)
        self.notify(f"{row.finding.rule} {markup(row.finding.title)}", timeout=3)

    def _step_match(self, step: int) -> None:
        if not self._search_matches:
            self.notify("no matches")
            return
        self._search_position = (self._search_position + step) % len(self._search_matches)
        pane, node_id = self._search_matches[self._search_position]
        self.jump_to(pane, node_id)
        self.notify(f"match {self._search_position + 1} of {len(self._search_matches)}", timeout=2)

    def action_next(self) -> None:
        self._step_match(1) if self.search_active else self._step_finding(1)

    def action_previous(self) -> None:
        self._step_match(-1) if self.search_active else self._step_finding(-1)

    def action_next_finding(self) -> None:
        self._step_finding(1)

    def action_previous_finding(self) -> None:
        self._step_finding(-1)

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
        pane = getattr(self, "_search_pane", 0)
        matches = self.outlines[pane].search(event.value)
        self._search_matches = [(pane, node_id) for node_id in matches]
        self._search_position = -1
        event.input.border_title = f"{len(matches)} match(es) in {markup(self.outlines[pane].review.name)}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        self.search_active = True
        if self._search_matches:
            self._search_position = -1
            self._step_match(1)
        else:
            self.notify("no matches")

    def action_leave_search(self) -> None:
        search = self.query_one("#search", Input)
        if self.search_active or search.has_class("-active"):
            self.search_active = False
            search.remove_class("-active")
            self._search_matches = []
            if self.current:
                self.query_one(f"#pane-{self.current[0]}", DeploymentPane).tree.focus()

    def _neighbours(self, predecessors: bool) -> None:
        if self.current is None:
            self.notify("select a node first")
            return
        pane, node_id = self.current
        deployment = self.outlines[pane].deployment
        neighbours = deployment.predecessors(node_id) if predecessors else deployment.successors(node_id)
        if not neighbours:
            self.notify(f"`{markup(node_id)}` has no {'predecessor' if predecessors else 'successor'}")
        elif len(neighbours) == 1:
            self.jump_to(pane, neighbours[0])
        else:
            title = f"{'Predecessors' if predecessors else 'Successors'} of {node_id}"  # made safe by the chooser
            self.push_screen(ChooserScreen(title, neighbours), lambda chosen: chosen and self.jump_to(pane, chosen))

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

    def action_counterpart(self) -> None:
        if self.current is None or len(self.outlines) < 2:
            self.notify("select a node of one of two deployments first")
            return
        pane, node_id = self.current
        other = 1 - pane
        counterpart = self.outlines[other].counterpart(self._node(pane, node_id))
        if counterpart is None:
            self.notify(f"no {self._node(pane, node_id).op.value} in {markup(self.outlines[other].review.name)}")
            return
        self.jump_to(other, counterpart)

    def default_export_path(self) -> str:
        """Next to the first file; in the current folder when its path would not show as typed."""
        first = Path(self.files[0])
        path = str(first.with_name(f"{first.stem}-dagtui-report.md"))
        return path if visible(path) == path else "dagtui-report.md"

    def action_export(self) -> None:
        if not self.loaded:
            return
        self.push_screen(ExportScreen(self.default_export_path()), self._export)

    def _export(self, path: str | None) -> None:
        if not path:
            return
        try:
            target = write_atomic(path, render("markdown", self.reviews, self.comparison), inputs=self.files)
        except DagtuiError as error:
            self.notify(markup(error), severity="error", timeout=10)
            return
        self.notify(f"wrote {markup(target)}", timeout=6)

    def action_reload(self) -> None:
        self.notify("reloading…", timeout=2)
        self.load_reviews()

    def action_maximize_pane(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        pane = self.query_one(f"#pane-{self._focused_pane()}", DeploymentPane)
        self.screen.maximize(pane, container=False)

    def action_next_theme(self) -> None:
        names = [name for name in self.theme_names if name in self.available_themes]
        position = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(position + 1) % len(names)]
        remember_theme(self.theme)
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_help(self) -> None:
        keys = [(binding.key_display or binding.key, binding.description) for binding in self.BINDINGS]  # type: ignore[union-attr]
        keys += [("tab / shift+tab", "Move focus between panes and panels"), ("j / k, arrows", "Move in a tree or table"),
                 ("enter", "On a finding: jump to its node; again: its next node"), ("ctrl+p", "Command palette")]
        self.push_screen(HelpScreen(keys))
