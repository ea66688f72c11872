"""One linear pass over a DOT text for what Graphviz's parsers report badly or not at all: where an
unterminated string, comment, HTML label or brace opens (they report the end of the file), a
subgraph nested deeper than dagtui reads, and text after the first graph (cgraph reads the first
graph of a file and silently drops the rest).

Only files the fast plain reader leaves to Graphviz are scanned: the plain reader accepts none of
these faults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dagtui.errors import DotSyntaxError

# Deployment DAGs nest clusters a few levels deep; past this, the readers' recursive walks would
# exhaust Python's stack.
MAX_NESTING = 256

# Strings and block comments may run to the end of the text: then they are unterminated.
_TOKEN = re.compile(
    r'(?P<string>"[^"\\]*(?:\\[\s\S][^"\\]*)*)(?P<closed>")?'
    r"|(?P<comment>/\*[\s\S]*?(?:\*/|\Z))"
    r"|//[^\n]*|(?:(?<=\n)|\A)[ \t]*#[^\n]*"
    r"|(?P<html><)|(?P<open>\{)|(?P<close>\})|(?P<list>\[)|(?P<end_list>\])"
)
_ANGLE = re.compile(r"[<>]")
_SPACE_OR_COMMENT = re.compile(r"\s+|//[^\n]*|/\*[\s\S]*?\*/|#[^\n]*")


@dataclass(frozen=True)
class Opening:
    """Where something opens: what it is, its 1-based line and column."""

    what: str
    line: int
    column: int


@dataclass
class Structure:
    """What the scan found: the first unterminated construct, the first subgraph nested too deep,
    and the line where text after the first graph begins."""

    unterminated: Opening | None = None
    too_deep: Opening | None = None
    after_first_graph: int | None = None
    # An HTML label closed by the `>` of an edge operator: its own `>` is missing (`label=<<b>x</b>]`).
    html_closed_by_edge: tuple[Opening, int] | None = None  # (where it opens, the line of that `->`)

    def explain(self, error: DotSyntaxError) -> DotSyntaxError:
        """The parser's error, or where the construct it stumbled over opens."""
        if self.unterminated is not None and (error.line is None or error.line >= self.unterminated.line):
            opening = self.unterminated
            return DotSyntaxError(error.file, opening.line, opening.column, f"the {opening.what} opened here is never closed")
        if self.html_closed_by_edge is not None:
            opening, edge_line = self.html_closed_by_edge
            if error.line is None or error.line >= opening.line:
                return DotSyntaxError(error.file, opening.line, opening.column,
                                      f"the HTML label opened here has no closing `>` before the `->` at line {edge_line}")
        return error


class _Lines:
    """1-based line and column of increasing offsets, counting newlines once overall."""

    def __init__(self, text: str) -> None:
        self.text, self.offset, self.line, self.line_start = text, 0, 1, 0

    def at(self, offset: int) -> tuple[int, int]:
        if offset < self.offset:  # asked about an earlier place (seldom): count from the start
            self.offset, self.line, self.line_start = 0, 1, 0
        newlines = self.text.count("\n", self.offset, offset)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rindex("\n", self.offset, offset) + 1
        self.offset = offset
        return self.line, offset - self.line_start + 1


def scan(text: str) -> Structure:
    """Scan `text` once (linear in its length)."""
    found = Structure()
    lines = _Lines(text)
    depth = 0
    braces: list[int] = []  # offsets of the open braces
    attribute_list: int | None = None  # offset of the `[` whose list is still open
    first_graph_end: int | None = None
    position = 0
    while True:
        match = _TOKEN.search(text, position)
        if match is None:
            break
        position = match.end()
        if match.group("string") is not None:
            if match.group("closed") is None:
                found.unterminated = Opening("string", *lines.at(match.start()))
                return found
        elif match.group("comment") is not None:
            if not (len(match.group()) >= 4 and match.group().endswith("*/")):
                found.unterminated = Opening("comment", *lines.at(match.start()))
                return found
        elif match.group("html") is not None:
            position = _html_end(text, match.start())
            if position < 0:
                found.unterminated = Opening("HTML label", *lines.at(match.start()))
                return found
            if text[position - 2:position] == "->" and found.html_closed_by_edge is None:
                opening = Opening("HTML label", *lines.at(match.start()))
                found.html_closed_by_edge = (opening, lines.at(position - 2)[0])
                attribute_list = None  # its `]` was read as part of the label: the lists that follow are out of step
        elif match.group("open") is not None:
            if depth == 0 and first_graph_end is not None and found.after_first_graph is None:
                found.after_first_graph = lines.at(_next_text(text, first_graph_end))[0]
            depth += 1
            braces.append(match.start())
            if depth > MAX_NESTING + 1 and found.too_deep is None:  # the graph's own brace is depth 1
                found.too_deep = Opening("subgraph", *lines.at(match.start()))
        elif match.group("list") is not None:
            attribute_list = match.start()
        elif match.group("end_list") is not None:
            attribute_list = None
        elif match.group("close") is not None and depth > 0:
            depth -= 1
            braces.pop()
            if depth == 0 and first_graph_end is None:
                first_graph_end = match.end()
    if attribute_list is not None and found.html_closed_by_edge is None:
        # The file ends inside `l2_attn [label=`: there, not at a brace, it breaks off.
        found.unterminated = Opening("attribute list `[`", *lines.at(attribute_list))
    elif braces:
        found.unterminated = Opening("`{`", *lines.at(braces[-1]))
    elif first_graph_end is not None and found.after_first_graph is None:
        rest = _next_text(text, first_graph_end)
        if rest < len(text):
            found.after_first_graph = lines.at(rest)[0]
    return found


def _html_end(text: str, start: int) -> int:
    """The offset after the `>` that closes the HTML label opening at `start`, or -1."""
    depth = 0
    for match in _ANGLE.finditer(text, start):
        depth += 1 if match.group() == "<" else -1
        if depth == 0:
            return match.end()
    return -1


def _next_text(text: str, position: int) -> int:
    """The offset of the first character from `position` that is neither space nor a comment."""
    while True:
        match = _SPACE_OR_COMMENT.match(text, position)
        if match is None or match.end() == position:
            return position
        position = match.end()
