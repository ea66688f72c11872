"""Compact ranges for messages: [1, 2, 3, 5, 8, 9] -> "1-3, 5, 8-9"."""

from __future__ import annotations

import functools
from collections.abc import Iterable


def compact_ranges(values: Iterable[int]) -> str:
    """Sorted, merged runs of integers as text."""
    if isinstance(values, frozenset):
        return _compact_frozen(values)  # GPU and rank sets: shared between nodes, so cached
    return _compact(values)


@functools.lru_cache(maxsize=4096)
def _compact_frozen(values: frozenset[int]) -> str:
    return _compact(values)


def _compact(values: Iterable[int]) -> str:
    ordered = sorted(set(values))
    if not ordered:
        return ""
    runs: list[str] = []
    start = previous = ordered[0]
    for value in ordered[1:]:
        if value == previous + 1:
            previous = value
            continue
        runs.append(_run(start, previous))
        start = previous = value
    runs.append(_run(start, previous))
    return ", ".join(runs)


def _run(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


def node_list(nodes: list[str], limit: int = 6) -> str:
    """`a`, `b`, `c` and 12 more: node ids in backticks, cut to `limit`."""
    shown = ", ".join(f"`{node}`" for node in nodes[:limit])
    rest = len(nodes) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown
