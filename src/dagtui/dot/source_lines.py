"""Find the lines where each node is declared, with a few linear scans of the DOT text.

Neither cgraph nor pydot keeps line numbers, yet SARIF output and the TUI need them (the plain
reader finds the same lines from its own tokens: `token_lines`). A node's line
is that of its own statement (`id [label=...]`); when it has several, the last one that sets its
label (the label every rule reads: the later statement wins, as in Graphviz), else its first. A
node without a statement of its own gets the first edge statement it starts, else its first
mention. Every scan is one pass over the text, whatever the number of nodes or edges.
"""

from __future__ import annotations

import re

from dagtui.dot.comments import comments
from dagtui.dot.raw import Declarations, RawGraph
from dagtui.dot.token_lines import KEYWORDS as _KEYWORDS

_ID = r'(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_\x80-\uffff][\w\x80-\uffff.]*|-?\d+(?:\.\d*)?))'
# A node's own statement, starting a line: `id [...]`, `"id" [`, `id;` or `id` alone.
_NODE_STATEMENT = re.compile(r"^[ \t]*" + _ID + r"[ \t]*(?=\[|;|$)", re.MULTILINE)
# Any statement that starts a line with a node id, edges included: `id ->`, `id --`.
_LINE_START_ID = re.compile(r"^[ \t]*" + _ID + r"[ \t]*(?=\[|;|->|--|$|\s)", re.MULTILINE)
# Every token that may name a node, and what must be skipped whole (strings, comments).
_MENTION = re.compile(
    r'"([^"\\]*(?:\\[\s\S][^"\\]*)*)(?:"|\Z)|//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)'
    r"|([A-Za-z_\x80-\uffff][\w\x80-\uffff.]*|-?\d+(?:\.\d*)?)"
)
# Inside an attribute list: its items' keys, strings (skipped whole) and the closing bracket.
_ATTRIBUTE = re.compile(r'"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\Z)|<|(\])|([A-Za-z_][\w]*)\s*=')


def lines_from_text(graph: RawGraph, text: str) -> None:
    """Give the graph's nodes their lines, and the graph its comments, from its DOT text."""
    graph.comments = comments(text)
    declaration_lines(text, set(graph.nodes)).apply(graph.nodes)


def declaration_lines(text: str, node_ids: set[str]) -> Declarations:
    """Where each of `node_ids` is declared (see the module doc)."""
    found = Declarations()
    statements = _statements(text, node_ids)
    for node_id, places in statements.items():
        found.line[node_id] = places[0][0]
        if len(places) > 1:
            found.repeated[node_id] = [line for line, _, _ in places]
            labelled = [line for line, end, limit in places if _sets_label(text, end, limit)]
            if labelled:
                found.line[node_id] = labelled[-1]
    missing = node_ids - found.line.keys()
    if missing:
        found.line.update(_first_lines(text, missing, _LINE_START_ID))
        missing -= found.line.keys()
    if missing:
        # Declared mid-line (`a -> b -> c`, `{a b}`): the first mention outside strings and comments.
        found.line.update(_first_mentions(text, missing))
    return found


def _name(match: re.Match[str]) -> str:
    quoted, bare = match.group(1), match.group(2)
    return bare if quoted is None else quoted.replace('\\"', '"')


def _statements(text: str, node_ids: set[str]) -> dict[str, list[tuple[int, int, int]]]:
    """(line, end offset, start of the next statement) of every own statement of each node."""
    places: dict[str, list[list[int]]] = {}
    line, last = 1, 0
    previous: list[int] | None = None
    for match in _NODE_STATEMENT.finditer(text):
        node_id = _name(match)
        if node_id not in node_ids or node_id in _KEYWORDS:
            continue
        line += text.count("\n", last, match.start())
        last = match.start()
        if previous is not None:
            previous[2] = match.start()
        previous = [line, match.end(), len(text)]
        places.setdefault(node_id, []).append(previous)
    return {node_id: [(a, b, c) for a, b, c in found] for node_id, found in places.items()}


def _sets_label(text: str, position: int, limit: int) -> bool:
    """Whether the attribute lists from `position` (just after a node id) set `label`; reads no
    further than `limit`, where the next statement starts, so that all of them read the text once."""
    while position < limit and text[position] in " \t":
        position += 1
    while position < limit and text[position] == "[":
        for match in _ATTRIBUTE.finditer(text, position + 1, limit):
            if match.group() == "<":
                return False  # an HTML value; rare in a repeated declaration: cite the first line
            if match.group(1):
                position = match.end()
                break
            if match.group(2) and match.group(2).lower() == "label":
                return True
        else:
            return False
        while position < limit and text[position] in " \t":
            position += 1
    return False


def _first_lines(text: str, node_ids: set[str], statement: re.Pattern[str]) -> dict[str, int]:
    """The first line where each of `node_ids` starts a `statement`."""
    found: dict[str, int] = {}
    line = 1
    last = 0
    for match in statement.finditer(text):
        node_id = _name(match)
        if node_id in found or node_id not in node_ids or node_id in _KEYWORDS:
            continue
        line += text.count("\n", last, match.start())
        last = match.start()
        found[node_id] = line
    return found


def _first_mentions(text: str, node_ids: set[str]) -> dict[str, int]:
    """The line of each id's first appearance as a token (a quoted or bare id)."""
    found: dict[str, int] = {}
    line, last = 1, 0
    for match in _MENTION.finditer(text):
        quoted, bare = match.group(1), match.group(2)
        node_id = bare if quoted is None else quoted.replace('\\"', '"').replace("\\\n", "")
        if node_id is None or node_id in found or node_id not in node_ids:
            continue
        line += text.count("\n", last, match.start())
        last = match.start()
        found[node_id] = line
        if len(found) == len(node_ids):
            break
    return found
