"""The comments of a DOT text (`// ...`, `/* ... */`, `# ...` lines), which parsers drop but files
often use to state their strategy (`// EP64-TP8-PP2-DP2 MoE Inference DAG`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dagtui.dot.labels import shorten_numbers

# Quoted strings are matched (and skipped) so that `"http://..."` in a label is no comment.
_PIECE = re.compile(r'"(?:[^"\\]|\\[\s\S])*"|//[^\n]*|/\*[\s\S]*?(?:\*/|$)|(?:^|(?<=\n))[ \t]*#[^\n]*')
MAX_COMMENTS = 10_000  # a file that is mostly comments still yields a bounded list
MAX_COMMENT_CHARS = 16_384  # what is read of one comment (the strategy is stated in a line or two)


@dataclass(frozen=True, slots=True)
class Comment:
    """One comment: the 1-based line it starts on, its text without the comment markers, and
    whether it stands before the graph's first statement (a header, as trusted as a title)."""

    line: int
    text: str
    header: bool


def comments(text: str) -> list[Comment]:
    """Every comment of `text`, in order (one pass; nothing when the text has no comment opener)."""
    if "//" not in text and "/*" not in text and "#" not in text:
        return []
    first_statement = _first_statement(text)
    found: list[Comment] = []
    line, last = 1, 0
    for match in _PIECE.finditer(text):
        piece = match.group(0)
        if piece.startswith('"'):
            continue
        line += text.count("\n", last, match.start())
        last = match.start()
        comment = comment_at(piece, line, match.start() < first_statement)
        if comment is not None:
            found.append(comment)
            if len(found) >= MAX_COMMENTS:
                break
    return found


def comment_at(piece: str, line: int, header: bool) -> Comment | None:
    """The comment `piece` (markers included) as found on `line`; None when it says nothing."""
    body = shorten_numbers(piece.strip()[:MAX_COMMENT_CHARS])
    body = body[2:-2] if body.startswith("/*") and body.endswith("*/") else body.lstrip("/#*")
    body = " ".join(body.split())
    return Comment(line, body, header) if body else None


def _first_statement(text: str) -> int:
    """Where the first node or edge statement may begin: the first `[` or `->` (attribute lists and
    edges); everything before is the file's header and the graph's opening."""
    positions = [position for position in (text.find("["), text.find("->")) if position >= 0]
    return min(positions, default=len(text))
