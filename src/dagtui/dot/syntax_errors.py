"""Turn the error text of cgraph and pydot into one `DotSyntaxError` wording."""

from __future__ import annotations

import re

from dagtui.errors import DotSyntaxError

_CGRAPH = re.compile(r"syntax error in line (\d+)(?: near '(.*)')?")
# pyparsing quotes what it found with ' (or with " when that is a ').
_PYDOT = re.compile(r"found (?:'(.*?)'|\"(.*?)\"|end of text).*?\(line:(\d+), col:(\d+)\)", re.DOTALL)


def from_cgraph(path: str, message: str, text: str) -> DotSyntaxError:
    """Build the error from cgraph's `Error: syntax error in line 15 near 'style'` (stderr)."""
    match = _CGRAPH.search(message)
    if not match:
        reason = message.strip().splitlines()[-1] if message.strip() else "not a valid DOT graph"
        return DotSyntaxError(path, None, None, reason.removeprefix("Error: "))
    line = int(match.group(1))
    near = match.group(2)
    column = _column_of(text, line, near)
    return DotSyntaxError(path, line, column, _reason(near))


def from_pydot(path: str, message: str) -> DotSyntaxError:
    """Build the error from pydot's `Expected rbrace, found '-' (at char 36), (line:4, col:4)` (stdout)."""
    match = _PYDOT.search(message)
    if not match:
        return DotSyntaxError(path, None, None, "not a valid DOT graph")
    near = match.group(1) if match.group(1) is not None else match.group(2)
    return DotSyntaxError(path, int(match.group(3)), int(match.group(4)), _reason(near))


def _reason(near: str | None) -> str:
    if near is None or near == "":
        return "unexpected end of file"
    return f"unexpected '{near}'"


def _column_of(text: str, line: int, near: str | None) -> int | None:
    """Where on `line` the token cgraph names stands: its first place outside a quoted string (a
    `\\` inside `"QKV\\n(Column Parallel)"` is an escape, not the stray one), else its first place."""
    lines = text.splitlines()
    if not near or not 1 <= line <= len(lines):
        return None
    row = lines[line - 1]
    outside = _first_outside_strings(row, near)
    column = outside if outside is not None else row.find(near)
    return column + 1 if column >= 0 else None


def _first_outside_strings(row: str, near: str) -> int | None:
    """The first offset of `near` in `row` that is not inside a double-quoted string, or None."""
    quoted, escaped = False, False
    for offset, char in enumerate(row):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif row.startswith(near, offset):
            return offset
    return None
