"""Command palette (`ctrl+p`): the app's actions, the issue filters (`severity error`, `category
expert`, `deployment new`; `f` opens a palette of these alone) and `node <id>` over both deployments."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from dagtui.safe_text import visible
from dagtui.tui.issues import ALL, BOTH
from dagtui.validate import CATEGORIES, Severity

if TYPE_CHECKING:
    from dagtui.tui.app import DagtuiApp

ACTIONS = [
    ("Next finding", "next_finding"), ("Previous finding", "previous_finding"), ("Search nodes", "search"),
    ("Filter findings", "filter"), ("Export findings to markdown", "export"), ("Reload both files", "reload"),
    ("Maximise the focused panel", "maximize_pane"), ("Switch theme", "next_theme"),
    ("Counterpart in the other deployment", "counterpart"), ("Sync the two deployments", "sync"),
    ("Back", "history_back"), ("Forward", "history_forward"), ("Help", "help"),
]
DEPLOYMENT_WORDS = ("current", "new")  # the first and second file, as `compare` reads them


def filter_commands(names: list[str]) -> list[tuple[str, str, str]]:
    """(palette text, filter, value): `severity error`, `category expert`, `deployment new (...)`."""
    commands = [(f"severity {severity.value}", "severity", severity.value) for severity in Severity]
    commands += [(f"category {category}", "category", category) for category in CATEGORIES]
    if len(names) == 2:
        commands += [(f"deployment {word} ({visible(name)})", "deployment", str(index))
                     for index, (word, name) in enumerate(zip(DEPLOYMENT_WORDS, names))]
        commands.append(("deployment both (findings in both)", "deployment", BOTH))
    return commands + [(f"{name} all", name, ALL) for name in ("severity", "category", "deployment")]


class _ExplorerProvider(Provider):
    """A command provider of the explorer: its app is the DagtuiApp (Textual types it as any App)."""

    @property
    def _app(self) -> DagtuiApp:
        return cast("DagtuiApp", self.app)


class FilterCommands(_ExplorerProvider):
    """The issue panel's filters by name, for terminals too narrow to show the dropdowns."""

    def _commands(self) -> list[tuple[str, str, str]]:
        return filter_commands([review.name for review in getattr(self.app, "reviews", [])])

    async def discover(self) -> Hits:
        for text, name, value in self._commands():
            yield DiscoveryHit(Content(text), partial(self._app.set_filter, name, value))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, name, value in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, _highlighted(matcher, text), partial(self._app.set_filter, name, value))


class DagtuiCommands(_ExplorerProvider):
    """Actions by name, and `node <id>` to jump to any node."""

    async def discover(self) -> Hits:
        for title, action in ACTIONS:
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=f"action: {action}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action))
        for pane, outline in enumerate(getattr(self.app, "outlines", [])):
            if outline.deployment is None:
                continue
            for node_id in outline.deployment.nodes:
                text = visible(f"node {node_id} ({outline.review.name})")
                score = matcher.match(text)
                if score > 0:
                    yield Hit(score, _highlighted(matcher, text), partial(self._app.jump_to, pane, node_id))


def _highlighted(matcher: Matcher, text: str) -> Content:
    """`matcher.highlight` for file text: the same highlight, with the text never read as markup."""
    content = Content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets if score else ():
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
