"""Text from a file, made inert in markdown: it renders as the characters it holds, never as
markup, HTML, a link or a line of its own.

Ids and labels go into code spans fenced with more backticks than any run they hold. Messages are
dagtui's prose with ids in single-backtick code spans; they are split the way CommonMark reads
them (a backtick run opens a span that the next run of the same length closes), each span is
fenced again and everything between is escaped, so that an id holding backticks can end no span
early. Control characters and newlines are made visible first (`visible`); `<`, `>` and `|` are
replaced by look-alikes inside code spans too, for renderers that would read them there.
"""

from __future__ import annotations

import re
from collections import defaultdict

from dagtui.safe_text import visible

_LOOK_ALIKES = str.maketrans({"<": "‹", ">": "›", "|": "¦"})
_BACKTICKS = re.compile(r"`+")
# Markdown punctuation that could start markup, HTML or an entity, backslash-escaped in prose.
_SPECIAL = re.compile(r"([\\`*_\[\]<>!&|~#{}])")
# What GitHub would turn into a link on its own (URLs, www., e-mail addresses): put in a code span.
_LINK_LIKE = re.compile(r"\S*(?:://|www\.|@)\S*", re.IGNORECASE)


def code(text: str) -> str:
    """`text` as one inline code span, whatever backticks, brackets or control characters it holds."""
    body = visible(text).translate(_LOOK_ALIKES)
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith("`") or body.endswith("`") or (body.startswith(" ") and body.endswith(" ") and body.strip()):
        body = f" {body} "  # CommonMark strips one space on each side of such a body
    return f"{fence}{body}{fence}" if body else "` `"


def prose(text: str) -> str:
    """dagtui's text with ids in backtick spans (`1 node(s): `a`, `b``): the spans fenced anew,
    the rest escaped."""
    text = visible(text)
    pieces = []
    for is_code, piece in _segments(text):
        pieces.append(code(piece) if is_code else _escaped(piece))
    return "".join(pieces)


def plain(text: str) -> str:
    """Text without code spans (a deployment name, a table cell): escaped as a whole."""
    return _escaped(visible(text))


def _escaped(text: str) -> str:
    out, last = [], 0
    for match in _LINK_LIKE.finditer(text):
        out.append(_SPECIAL.sub(r"\\\1", text[last:match.start()]))
        out.append(code(match.group()))
        last = match.end()
    out.append(_SPECIAL.sub(r"\\\1", text[last:]))
    return "".join(out)


def _segments(text: str) -> list[tuple[bool, str]]:
    """(is code span, text) pieces of `text` as CommonMark reads its backtick runs; linear: the
    runs of each length are walked once."""
    runs = [(match.start(), match.end()) for match in _BACKTICKS.finditer(text)]
    by_length: dict[int, list[int]] = defaultdict(list)  # run length -> indexes into runs, in order
    for index, (start, end) in enumerate(runs):
        by_length[end - start].append(index)
    cursor = {length: 0 for length in by_length}  # next candidate closer per length
    pieces: list[tuple[bool, str]] = []
    position, index = 0, 0
    while index < len(runs):
        start, end = runs[index]
        if start < position:
            index += 1
            continue
        length = end - start
        candidates = by_length[length]
        while cursor[length] < len(candidates) and candidates[cursor[length]] <= index:
            cursor[length] += 1
        if cursor[length] == len(candidates):
            index += 1  # no closer: the run is literal text
            continue
        closer = runs[candidates[cursor[length]]]
        if start > position:
            pieces.append((False, text[position:start]))
        body = text[end:closer[0]]
        pieces.append((True, body[1:-1] if len(body) > 2 and body[0] == body[-1] == " " and body.strip() else body))
        position = closer[1]
        index = candidates[cursor[length]] + 1
    if position < len(text):
        pieces.append((False, text[position:]))
    return pieces
