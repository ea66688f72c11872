"""The help screen's key table, read from the bindings of the app and its widgets so that it
cannot drift from them: every key, tree and table keys included, one line a key so that it stays
short enough to scroll through on 24 rows."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingsMap

# Keys that belong to widgets without bindings of their own to read (the search box, dialogs).
SEARCH_KEYS = [
    ("enter", "Jump to the first match; then n / N walk the matches"),
    ("escape", "Leave the search (n / N walk the findings again)"),
]
DIALOG_KEYS = [("enter", "Choose, or accept"), ("escape", "Cancel and close")]
# Textual's own bindings that carry no description.
UNDESCRIBED = {"help_quit": "Say how to quit (q or ^q)"}
LEGEND = (
    "Tree rows: C compute, X communication, R routing, I input, O output, N note; "
    "✖ error, ▲ warning, ℹ info at or beneath the row; in sync mode (S) + a node only the second "
    "deployment draws (added), − one only the first draws (removed)."
)


def binding_rows(bindings: BindingsMap, key_display: Callable[[Binding], str]) -> list[tuple[str, str]]:
    """(keys, description) per action, keys of one action together: `up / k`, `Cursor up`. The
    tooltip, where a binding has one, is the long form of its footer description; a binding with
    neither is named by its action."""
    rows: dict[str, tuple[list[str], str]] = {}
    for key_bindings in bindings.key_to_bindings.values():
        for binding in key_bindings:
            description = (binding.tooltip or binding.description or UNDESCRIBED.get(binding.action)
                           or binding.action.replace("_", " ").capitalize())
            keys, _ = rows.setdefault(binding.action, ([], description))
            shown = key_display(binding)
            if shown not in keys:
                keys.append(shown)
    return [(" / ".join(keys), description) for keys, description in rows.values()]


def help_renderable(sections: list[tuple[str, list[tuple[str, str]]]]) -> RenderableType:
    """The help text: a heading and a two-column table per section, then the tree legend."""
    parts: list[RenderableType] = [
        Text("dagtui keys", style="bold"),
        Text("↑ ↓ pgup pgdn scroll this help; escape, ? or q close it.\n", style="italic"),
    ]
    for title, rows in sections:
        table = Table(title=title, title_justify="left", title_style="bold underline", show_header=False,
                      box=None, padding=(0, 2, 0, 0), expand=True)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action", ratio=1)
        for keys, description in rows:
            table.add_row(keys, description)
        parts += [table, Text("")]
    parts.append(Text(LEGEND))
    return Group(*parts)
