"""One deployment's pane: a header (name, file, strategy, GPU count, issue counts) over its tree,
or the error that kept it from loading."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from dagtui.review import Review
from dagtui.tui.file_text import markup
from dagtui.tui.outline import Outline
from dagtui.tui.tree import DeploymentTree
from dagtui.validate import Severity


def header_text(review: Review, validated: bool = True) -> str:
    """`Current Deployment · EP64-TP8-PP2-DP2 · 2048 GPUs · ✖ 6 ▲ 2 ℹ 1` over the file path
    (narrow terminals show the first line only)."""
    strategy = "—"
    gpus = ""
    if review.deployment is not None:
        strategy = review.deployment.strategy.label()
        count = review.deployment.strategy.gpu_count
        gpus = f" · {count} GPUs" if count else " · GPUs unknown"
    counts = (
        f"[red]✖ {review.count(Severity.ERROR)}[/] [yellow]▲ {review.count(Severity.WARNING)}[/] "
        f"[cyan]ℹ {review.count(Severity.INFO)}[/]"
    ) if validated else "[dim]validating…[/]"
    return f"[b]{markup(review.name)}[/b] · {strategy}{gpus} · {counts}\n[dim]{markup(review.file)}[/]"


class DeploymentPane(Vertical):
    """Pane `index` (0 = current, 1 = new)."""

    ALLOW_MAXIMIZE = True  # `z` zooms the whole pane (header and tree), not only the focused tree

    def __init__(self, index: int, file: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.file = file
        self.review: Review | None = None
        self.outline: Outline | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"[b]{markup(self.file)}[/b]", classes="pane-header")
        # Progress as text, phase by phase: an animated indicator would repaint 16 times a second
        # and take the GIL from the loading thread, slowing large files down by a second or more.
        yield Static("waiting…", classes="pane-progress")
        yield Static("", classes="pane-error")
        yield DeploymentTree(self.index, classes="pane-tree")

    @property
    def deployment_tree(self) -> DeploymentTree:
        return self.query_one(DeploymentTree)

    def show_loading(self) -> None:
        self.set_class(True, "-loading")
        self.set_class(False, "-error")
        self.show_progress("waiting…")

    def show_progress(self, phase: str) -> None:
        self.query_one(".pane-progress", Static).update(f"⏳ {phase}…")

    def show(self, review: Review, outline: Outline, validated: bool = True) -> None:
        """Render a review: the tree (markers come with validation), or the error in place of it."""
        self.review, self.outline = review, outline
        self.set_class(False, "-loading")
        self.query_one(".pane-header", Static).update(header_text(review, validated))
        problem = self._problem(review)
        self.set_class(problem is not None, "-error")
        if problem is not None:
            self.query_one(".pane-error", Static).update(problem)
            return
        self.deployment_tree.load(outline)

    def show_findings(self, review: Review, outline: Outline) -> None:
        """The same deployment, now validated: header counts and tree markers, expansion kept."""
        self.review, self.outline = review, outline
        self.query_one(".pane-header", Static).update(header_text(review))
        if review.deployment is not None:
            self.deployment_tree.refresh_markers(outline)

    @staticmethod
    def _problem(review: Review) -> str | None:
        if review.error:
            return f"[b red]Cannot read this file[/]\n{markup(review.error)}"
        if review.deployment is None:
            finding = review.findings[0] if review.findings else None
            where = f" (line {finding.line})" if finding and finding.line else ""
            return f"[b red]Not valid DOT{where}[/]\n{markup(finding.message) if finding else ''}"
        return None
