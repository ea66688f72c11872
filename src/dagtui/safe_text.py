"""Make text that came from a file safe to print or render: every control character shown visibly.

DOT files, model specs and configs are untrusted. An id or label holding ESC, CSI or OSC bytes
would drive the user's terminal (clear it, retitle it, hide text); a newline would start a line
of output the file chose (`::error ...` is a GitHub Actions command when CI prints it); a
bidirectional override would show text in another order than it is read. `visible` is the one
function every output and widget passes file-derived strings through before showing them.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; line and paragraph separators, bidirectional and invisible
# format characters; lone surrogates (from undecodable file names), which no terminal can print.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_NEWLINE = "⏎"


def _shown(character: str) -> str:
    code = ord(character)
    if character == "\n":
        return _NEWLINE
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ESC is ␛, TAB is ␉
    if code == 0x7F:
        return "␡"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with control and invisible format characters replaced by visible stand-ins: `\\x1b`
    becomes `␛`, a newline `⏎`, C1 `\\x9b` the text `\\x9b`, U+202E the text `\\u202e`."""
    if not _UNSAFE.search(text):
        return text  # the usual case: one scan, no copy
    return _UNSAFE.sub(lambda match: _shown(match.group()), text)
