"""Declaration lines and comments from the plain reader's own tokens, newlines included.

The plain reader's tokenizer returns a "\\n" token for every line break outside strings and
comments, so the line of a token is known from the tokens alone and the text is not searched
again. The rules are those of `source_lines`, which the Graphviz readers use (they keep no lines),
so that every reader gives a node the same line: a node's line is that of its own statement
(its id starting a line, then `[`, `;` or the end of the line); when it has several, the last one
that sets its label, else the first; a node without one gets the first line it starts (an edge
statement), else the line where it is first mentioned.

Where the tokens alone cannot say what the text scan would find (a line break inside a string or
comment, carriage returns, characters past U+FFFF, a comment inside a repeated declaration's
attribute list), `read_lines` returns None and the caller scans the text instead.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from itertools import compress

from dagtui.dot.comments import MAX_COMMENTS, Comment, comment_at
from dagtui.dot.raw import Declarations
from dagtui.dot.source import DotSource

# Written as ids, these are statements' keywords (matched case-sensitively, as the text scan does).
KEYWORDS = frozenset({"node", "edge", "graph", "digraph", "subgraph", "strict"})
# UTF-8 lead bytes of characters past U+FFFF, which the text scan's id pattern does not take.
_ASTRAL_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")


class _Undecided(Exception):
    """The tokens cannot tell what the text scan would find."""


def read_lines(tokens: list[str], source: DotSource, node_ids: Mapping[str, object]) -> tuple[Declarations, list[Comment]] | None:
    """The declaration lines of `node_ids` and the comments, from the reader's `tokens` of
    `source`; None where only a scan of the text can tell (see the module doc)."""
    if "\r" in source.text or any(lead in source.data for lead in _ASTRAL_LEADS):
        return None
    newlines = list(compress(range(len(tokens)), map("\n".__eq__, tokens)))
    if len(newlines) != source.text.count("\n"):
        return None  # a string or a comment runs over several lines
    try:
        declarations = _declarations(tokens, newlines, source.text, node_ids)
    except _Undecided:
        return None
    has_comments = "//" in source.text or "/*" in source.text
    return declarations, _comments(tokens, newlines) if has_comments else []


def _name(token: str) -> str | None:
    """The id a token names where the text scan reads one (`-?digits`, a bare word, a string)."""
    first = token[0]
    if first == '"':
        return token[1:-1].replace('\\"', '"') if '\\"' in token else token[1:-1]
    if first.isalnum() or first == "_" or first >= "\x80" or (first == "-" and token[1:2].isdigit()):
        return token
    return None


def _declarations(tokens: list[str], newlines: list[int], text: str, node_ids: Mapping[str, object]) -> Declarations:
    end = len(tokens)
    own: dict[str, list[tuple[int, int]]] = {}  # id -> (line, token index) of each own statement
    # For the ids without an own statement: the first line each starts, where that is certain.
    starts_line: dict[str, int] = {}
    unsure: list[tuple[str, int, int]] = []  # an id starting a line before a token: a space between?
    starts = [0]
    starts.extend(map((1).__add__, newlines))
    for line, start in enumerate(starts, 1):
        if start >= end:
            continue
        token = tokens[start]
        if token == "\n":
            continue
        name = _name(token)
        if name is None or name not in node_ids or name in KEYWORDS:
            continue
        following = tokens[start + 1] if start + 1 < end else "\n"
        if following == "[" or following == ";" or following == "\n":
            own.setdefault(name, []).append((line, start))
        elif following == "->" or following == "--":
            starts_line.setdefault(name, line)
        elif name not in starts_line:
            unsure.append((name, line, start))
    found = Declarations()
    for name, places in own.items():
        found.line[name] = places[0][0]
        if len(places) > 1:
            found.repeated[name] = [place_line for place_line, _ in places]
            labelled = [place_line for place_line, index in places if _sets_label(tokens, index + 1)]
            if labelled:
                found.line[name] = labelled[-1]
    missing = node_ids.keys() - found.line.keys()
    if missing:
        _settle_unsure(unsure, starts_line, missing, text, tokens)
        for name in missing & starts_line.keys():
            found.line[name] = starts_line[name]
        missing -= found.line.keys()
    if missing:
        found.line.update(_first_mentions(tokens, missing))
    return found


def _settle_unsure(unsure: list[tuple[str, int, int]], starts_line: dict[str, int], missing: set[str], text: str,
                   tokens: list[str]) -> None:
    """An id that starts a line and is followed by anything but `[`, `;`, `->`, `--` or the end of
    the line starts a statement for the text scan only with a space after it (`a }`, not `a}`)."""
    lines: list[str] | None = None
    for name, line, start in unsure:
        if name not in missing or (name in starts_line and starts_line[name] <= line):
            continue
        if lines is None:
            lines = text.split("\n")
        rest = lines[line - 1].lstrip(" \t")
        if not rest.startswith(tokens[start]):
            raise _Undecided
        rest = rest[len(tokens[start]):]
        if not rest or rest[0].isspace():
            starts_line[name] = line


def _sets_label(tokens: list[str], position: int) -> bool:
    """Whether the attribute lists from `position` (just after a node id, on its line) set `label`."""
    end = len(tokens)
    while position < end and tokens[position] == "[":
        position += 1
        while position < end:
            token = tokens[position]
            position += 1
            if token == "]":
                break
            if token.startswith(("//", "/*")):
                raise _Undecided  # the text scan reads keys inside comments too
            if token.lower() == "label" and _next_is_equals(tokens, position):
                return True
    return False


def _next_is_equals(tokens: list[str], position: int) -> bool:
    while position < len(tokens) and tokens[position] == "\n":
        position += 1
    return position < len(tokens) and tokens[position] == "="


def _first_mentions(tokens: list[str], node_ids: set[str]) -> dict[str, int]:
    """The line of each id's first appearance as a token (a quoted or bare id), comments aside."""
    found: dict[str, int] = {}
    line = 1
    for token in tokens:
        if token == "\n":
            line += 1
            continue
        if token.startswith(("//", "/*")):
            continue
        # In `.5` and `-.5` the text scan finds the numeral `5`.
        name = token.lstrip("-")[1:] or None if token.startswith((".", "-.")) else _name(token)
        if name is not None and name in node_ids and name not in found:
            found[name] = line
            if len(found) == len(node_ids):
                break
    return found


def _comments(tokens: list[str], newlines: list[int]) -> list[Comment]:
    """The comment tokens, each with its line, and whether it comes before the first statement
    (the first `[` or `->` anywhere, as `comments.comments` has it)."""
    header_end = next((index for index, token in enumerate(tokens) if "[" in token or "->" in token), len(tokens))
    found: list[Comment] = []
    for index, token in enumerate(tokens):
        if token[0] == "/" and token.startswith(("//", "/*")):
            comment = comment_at(token, bisect_left(newlines, index) + 1, index <= header_end)
            if comment is not None:
                found.append(comment)
                if len(found) >= MAX_COMMENTS:
                    break
    return found
