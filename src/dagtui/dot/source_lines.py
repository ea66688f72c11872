"""Find the line where each node is first declared, with one cheap scan of the DOT text.

Neither cgraph nor pydot keeps line numbers, yet SARIF output and the TUI need them.
"""

from __future__ import annotations

import re

# A statement that starts a line with a node id: `id [`, `id;`, `id ->`, `"id" [`, or `id` alone.
_LINE_START_ID = re.compile(
    r'^[ \t]*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_\x80-\uffff][\w\x80-\uffff.]*|-?\d+(?:\.\d*)?))[ \t]*(?=\[|;|->|--|$|\s)',
    re.MULTILINE,
)
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}


def declaration_lines(text: str, node_ids: set[str]) -> dict[str, int]:
    """Map each node id to the 1-based line of its first appearance as a statement or in an edge."""
    found: dict[str, int] = {}
    line = 1
    last = 0
    for match in _LINE_START_ID.finditer(text):
        node_id = match.group(1) if match.group(1) is not None else match.group(2)
        if node_id in _KEYWORDS or node_id not in node_ids or node_id in found:
            continue
        line += text.count("\n", last, match.start())
        last = match.start()
        found[node_id] = line
    for node_id in node_ids - found.keys():
        # Declared mid-line (`a -> b -> c`, `{a b}`): fall back to the first textual occurrence.
        position = _first_token_position(text, node_id)
        if position is not None:
            found[node_id] = text.count("\n", 0, position) + 1
    return found


def _first_token_position(text: str, node_id: str) -> int | None:
    pattern = re.compile(r'(?<![\w"])"?' + re.escape(node_id) + r'"?(?![\w"])')
    match = pattern.search(text)
    return match.start() if match else None
