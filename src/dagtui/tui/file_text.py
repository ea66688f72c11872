"""How the explorer shows text that came from a file: control characters made visible (`visible`)
and, where a widget reads Textual markup, escaped, so that `[b]` or `[@click=...]` in an id is
shown as written and never styles the screen or runs an action."""

from __future__ import annotations

from textual.content import Content
from textual.markup import escape

from dagtui.safe_text import visible


def markup(text: object) -> str:
    """File text to put inside a markup string (a Static, a border title, a toast)."""
    return escape(visible(str(text)))


def content(text: object) -> Content:
    """File text as a widget's content, never parsed as markup (options, table cells)."""
    return Content(visible(str(text)))
