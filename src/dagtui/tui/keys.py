"""Key bindings several widgets share."""

from __future__ import annotations

from textual.binding import Binding

# `j`/`k` move like the arrows in every list-like widget (trees, tables, option lists); hidden from
# the footer, listed on the help screen.
VIM_CURSOR_KEYS = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
]
