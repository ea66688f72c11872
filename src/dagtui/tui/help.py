"""The help screen's key table, read from the bindings of the app and its widgets so that it
cannot drift from them: every key, tree and table keys included."""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding, BindingsMap

# Keys that belong to widgets without bindings of their own to read (the search box, dialogs).
SEARCH_KEYS = [
    ("enter", "Jump to the first match; then `n` / `N` walk the matches"),
    ("escape", "Leave the search (`n` / `N` walk the findings again)"),
]
DIALOG_KEYS = [("enter", "Choose, or accept"), ("escape", "Cancel and close")]
LEGEND = (
    "Tree rows: `C` compute, `X` communication, `R` routing, `I` input, `O` output, `N` note; "
    "`✖` error, `▲` warning, `ℹ` info at or beneath the row; in sync mode (`S`) `+` a node the first "
    "deployment has no counterpart for (added), `−` one the second has none for (removed)."
)


def binding_rows(bindings: BindingsMap, key_display: Callable[[Binding], str]) -> list[tuple[str, str]]:
    """(keys, description) per action, keys of one action together: `up / k`, `Cursor up`. The
    tooltip, where a binding has one, is the long form of its footer description."""
    rows: dict[str, tuple[list[str], str]] = {}
    for key_bindings in bindings.key_to_bindings.values():
        for binding in key_bindings:
            keys, _ = rows.setdefault(binding.action, ([], binding.tooltip or binding.description))
            shown = key_display(binding)
            if shown not in keys:
                keys.append(shown)
    return [(" / ".join(keys), description) for keys, description in rows.values()]


def help_markdown(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """The help text: a table of keys per section, then the tree legend."""
    parts = ["# dagtui keys", "`↑` `↓` `pgup` `pgdn` scroll this help; `escape`, `?` or `q` close it."]
    for title, rows in sections:
        table = "\n".join(f"| `{keys}` | {description} |" for keys, description in rows)
        parts.append(f"## {title}\n\n| key | action |\n|---|---|\n{table}")
    return "\n\n".join([*parts, LEGEND])
