"""Turn a DOT label value into the text lines Graphviz would draw; dagtui reads the first
`MAX_LABEL_CHARS` of a label (real labels hold a few hundred), so that a 10 MB label costs no more
than a long one (finding SYN003 names the labels cut)."""

from __future__ import annotations

import html
import re

MAX_LABEL_CHARS = 16_384
# A number is read from its first digits: Python refuses to convert 4,300 digits or more, and no
# count in a deployment needs 19.
MAX_DIGITS = 18
_LONG_NUMBER = re.compile(rf"\d{{{MAX_DIGITS + 1},}}")


_ASCII_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")


def has_long_numbers(text: str) -> bool:
    """Whether `text` holds a run of more than MAX_DIGITS digits (see `shorten_numbers`)."""
    if text.isascii():  # the usual file: a translation and a substring search, 20x faster than the regex
        return "0" * (MAX_DIGITS + 1) in text.translate(_ASCII_DIGITS_AS_ZERO)
    return _LONG_NUMBER.search(text) is not None


def shorten_numbers(text: str) -> str:
    """`text` with every run of more than MAX_DIGITS digits cut to that many and marked `…`."""
    return _LONG_NUMBER.sub(lambda match: match.group()[:MAX_DIGITS] + "…", text)

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_HTML_BLOCK_END = re.compile(r"</\s*(tr|p|div|table)\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^<>]*>")
_HTML_CELL_BREAK = re.compile(r"</\s*td\s*>\s*<\s*td\b[^<>]*>", re.IGNORECASE)
_LOOKS_LIKE_HTML = re.compile(r"<\s*(br|b|i|u|font|table|tr|td|sub|sup|s|o|hr|vr|img)\b[^<>]*/?\s*>", re.IGNORECASE)


def is_html_label(value: str) -> bool:
    """Whether a label value is an HTML-like label (cgraph hands these over without the outer <>)."""
    return bool(_LOOKS_LIKE_HTML.search(value))


def label_lines(value: str, node_id: str = "") -> list[str]:
    """Split a label into its lines: DOT escapes (\\n, \\l, \\r, \\", \\N) or HTML <br/> breaks."""
    value = shorten_numbers(value[:MAX_LABEL_CHARS])
    if "<" in value and is_html_label(value):
        text = _HTML_BREAK.sub("\n", value)
        text = _HTML_BLOCK_END.sub("\n", text)
        text = _HTML_CELL_BREAK.sub("\t", text)  # `<TR><TD>Device</TD><TD>cuda:0</TD></TR>`: a key and its value
        text = "\n".join(line.replace("\t", ": ", 1).replace("\t", " ") for line in text.split("\n"))
        text = html.unescape(_HTML_TAG.sub("", text))
    elif "\\" in value:
        parts = value.split("\\n")
        if value.count("\\") == len(parts) - 1 and "\n" not in value and "\r" not in value:
            # The usual label, `\n` its only escape (every backslash went in the split): one split
            # instead of eight passes (1 in 7 of a 19k-node model's time).
            return [stripped for part in parts if (stripped := part.strip())]
        text = value.replace("\\N", node_id).replace("\\G", "").replace('\\"', '"')
        # Three replaces, not one regex substitution: this runs once per node and is twice as fast.
        text = text.replace("\\n", "\n").replace("\\l", "\n").replace("\\r", "\n")
        text = text.replace("\\\\", "\\")
    else:
        text = value  # no escapes and no markup: nothing to undo
    return [stripped for line in text.replace("\r\n", "\n").split("\n") if (stripped := line.strip())]


RECORD_SHAPES = frozenset({"record", "mrecord"})
_RECORD_PORT = re.compile(r"(?<!\\)<[^<>|{}]*>")
_RECORD_SEPARATOR = re.compile(r"(?<!\\)[|{}]")


def record_label_lines(value: str, node_id: str = "") -> list[str]:
    """The fields of a record label (`{ QProj | in: 4 1024 2048 | gpu 0 }`), one line each, as
    Graphviz draws them: `|` separates fields, braces turn the layout, `<port>` names a field."""
    if "<" in value and is_html_label(value):
        return label_lines(value, node_id)  # an HTML label on a record node is drawn as HTML
    text = _RECORD_SEPARATOR.sub("\\n", _RECORD_PORT.sub("", value[:MAX_LABEL_CHARS]))
    for escaped in "|{}<>":
        text = text.replace("\\" + escaped, escaped)
    return label_lines(text, node_id)
