"""Find the line where each node is first declared, with one cheap scan of the DOT text.

Neither cgraph nor pydot keeps line numbers, yet SARIF output and the TUI need them.
"""

from __future__ import annotations

import re

_ID = r'(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_\x80-\uffff][\w\x80-\uffff.]*|-?\d+(?:\.\d*)?))'
# A node's own statement, starting a line: `id [...]`, `"id" [`, `id;` or `id` alone.
_NODE_STATEMENT = re.compile(r"^[ \t]*" + _ID + r"[ \t]*(?=\[|;|$)", re.MULTILINE)
# Any statement that starts a line with a node id, edges included: `id ->`, `id --`.
_LINE_START_ID = re.compile(r"^[ \t]*" + _ID + r"[ \t]*(?=\[|;|->|--|$|\s)", re.MULTILINE)
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}


def declaration_lines(text: str, node_ids: set[str]) -> dict[str, int]:
    """Map each node id to the 1-based line of its own statement (where its label is), else of the
    first edge statement it starts, else of its first mention."""
    found = _first_lines(text, node_ids, _NODE_STATEMENT)
    if len(found) < len(node_ids):
        missing = node_ids - found.keys()
        found.update(_first_lines(text, missing, _LINE_START_ID))
    for node_id in node_ids - found.keys():
        # Declared mid-line (`a -> b -> c`, `{a b}`): fall back to the first textual occurrence.
        position = _first_token_position(text, node_id)
        if position is not None:
            found[node_id] = text.count("\n", 0, position) + 1
    return found


def _first_lines(text: str, node_ids: set[str], statement: re.Pattern[str]) -> dict[str, int]:
    """The first line where each of `node_ids` starts a `statement`."""
    found: dict[str, int] = {}
    line = 1
    last = 0
    for match in statement.finditer(text):
        quoted, bare = match.groups()
        node_id = bare if quoted is None else quoted
        if node_id in found or node_id not in node_ids or node_id in _KEYWORDS:
            continue
        line += text.count("\n", last, match.start())
        last = match.start()
        found[node_id] = line
    return found


def _first_token_position(text: str, node_id: str) -> int | None:
    pattern = re.compile(r'(?<![\w"])"?' + re.escape(node_id) + r'"?(?![\w"])')
    match = pattern.search(text)
    return match.start() if match else None
