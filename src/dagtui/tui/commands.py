"""Command palette (`ctrl+p`): the app's actions and a search over the nodes of both deployments."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from dagtui.safe_text import visible

ACTIONS = [
    ("Next finding", "next_finding"), ("Previous finding", "previous_finding"), ("Search nodes", "search"),
    ("Export findings to markdown", "export"), ("Reload both files", "reload"), ("Maximise pane", "maximize_pane"),
    ("Switch theme", "next_theme"), ("Counterpart in the other deployment", "counterpart"),
    ("Back", "history_back"), ("Forward", "history_forward"), ("Help", "help"),
]


class DagtuiCommands(Provider):
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
                    yield Hit(score, _highlighted(matcher, text), partial(self.app.jump_to, pane, node_id))


def _highlighted(matcher: Matcher, text: str) -> Content:
    """`matcher.highlight` for file text: the same highlight, with the text never read as markup."""
    content = Content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets if score else ():
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
