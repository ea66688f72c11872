"""Pause Python's cyclic garbage collector while a large graph is built.

Loading a 19k-node DAG allocates a few hundred thousand dicts, lists and dataclasses that all live
on; each allocation burst triggers collections that re-walk everything built so far, which cost as
much as the work itself (measured in benchmarks/bench_load.py). Nothing cyclic is thrown away while
loading, so the collector is paused and restored afterwards. Threads may load files at the same
time, so pauses nest: the collector comes back when the last one ends.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

_lock = threading.Lock()
_depth = 0
_was_enabled = False

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with the cyclic collector off, unless it was off already."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def without_collection(function: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of `collector_paused`."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with collector_paused():
            return function(*args, **kwargs)

    return wrapper
