"""How the explorer shows text that came from a file: control characters made visible (`visible`)
and, where a widget reads Textual markup, escaped, so that `[b]` or `[@click=...]` in an id is
shown as written and never styles the screen or runs an action."""

from __future__ import annotations

from textual.content import Content

from dagtui.safe_text import visible


def markup(text: object) -> str:
    """File text to put inside a markup string (a Static, a border title, a toast).

    Every `[` is escaped, not only those `textual.markup.escape` takes for a tag: Textual's parser
    opens a tag at any `[` (`␛[8m` from a file opened one that swallowed the `[b]` after it). A
    backslash at the end would escape the markup that follows it, so a space separates them."""
    shown = visible(str(text)).replace("[", "\\[")
    return f"{shown} " if shown.endswith("\\") else shown


def content(text: object) -> Content:
    """File text as a widget's content, never parsed as markup (options, table cells)."""
    return Content(visible(str(text)))
