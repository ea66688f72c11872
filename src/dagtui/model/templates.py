"""Digit templates: a text with its digits masked, so that what a pattern finds in thousands of
ids and label lines that differ only in their numbers (`l17_tp3_q_proj`, `MHA TP3`) is found once.

A pattern that treats every digit alike (`\\d`, never a digit written in it, but the kept ones)
matches a text and its template at the same places; the parsers find their matches in the
template, once per template, and read the numbers from the text itself at those places
(tests/test_templates.py checks the patterns and compares both ways on real files).
"""

from __future__ import annotations

# The operator table names `all2all` and `a2a`: the 2 is kept, every other ASCII digit is made 0.
KEPT_DIGITS = "2"
_MASK = str.maketrans({digit: "0" for digit in "0123456789" if digit not in KEPT_DIGITS})


def template(text: str) -> str:
    """`text` with its ASCII digits made `0` (but the KEPT_DIGITS): the same length, the same
    words and word boundaries."""
    return text.translate(_MASK)
