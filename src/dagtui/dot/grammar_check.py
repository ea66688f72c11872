"""A check of DOT attribute lists, for the pydot path only.

pydot accepts attribute-list items without a value (`[label=routed tokens]`, `ebpf style=x`)
that Graphviz's grammar rejects. Graphviz is the reference, so on the pydot path we scan
attribute lists ourselves and report the same line cgraph would (the token after the stray id).
pyparsing gives us no hook for this, hence the small hand-written scanner.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<comment>//[^\n]*|/\*.*?\*/|^[ \t]*\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<id>[A-Za-z_\x80-\uffff][\w\x80-\uffff]*|-?(?:\.\d+|\d+(?:\.\d*)?))
  | (?P<html><)
  | (?P<punct>->|--|[\[\]{}=;,:])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)


def _skip_html(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "<":
            depth += 1
        elif text[index] == ">":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _tokens(text: str):
    """Yield (kind, value, offset) for the tokens of a DOT text, HTML strings as one token."""
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            return
        kind = match.lastgroup or "other"
        if kind == "html":
            end = _skip_html(text, position)
            yield "id", text[position:end], position
            position = end
            continue
        position = match.end()
        if kind not in ("space", "comment"):
            yield kind, match.group(), match.start()


def first_attribute_list_error(text: str) -> tuple[int, str] | None:
    """Return (line, near-token) of the first attribute-list item lacking `= value`, or None."""
    tokens = list(_tokens(text))
    inside = False
    index = 0
    while index < len(tokens):
        kind, value, _ = tokens[index]
        if value == "[":
            inside = True
        elif value == "]":
            inside = False
        elif inside and kind in ("id", "string"):
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None or following[1] != "=":
                offset = following[2] if following else len(text)
                near = following[1] if following else ""
                return text.count("\n", 0, offset) + 1, near
            index += 2  # skip '=' and the value
        index += 1
    return None
