"""Pause Python's cyclic garbage collector while a large graph is built, then freeze what was built.

Loading a 19k-node DAG allocates half a million dicts, lists and dataclasses that all live on;
each allocation burst triggers collections that re-walk everything built so far, which cost as
much as the work itself (measured in benchmarks/bench_load.py). Nothing cyclic is thrown away while
loading, so the collector is paused. When the pause ends, the objects are moved to the permanent
generation (`gc.freeze`): otherwise the first collection afterwards walks all of them again
(0.14 s on that DAG), and so does every full collection while the explorer runs. Frozen objects
that become unreachable are still freed by reference counting; only cycles among them (networkx
graphs hold some) wait for `collect_frozen`, which the explorer calls once a reload has replaced them.

Threads may load files at the same time, so pauses nest: the collector comes back when the last
one ends.
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
            if _depth == 0:
                gc.freeze()
                if _was_enabled:
                    gc.enable()


def collect_frozen() -> None:
    """Collect the garbage among frozen objects and freeze the survivors again: for a caller that
    has just dropped what it loaded before (a reload), so cycles among the old objects are freed."""
    with _lock:
        if _depth == 0:
            gc.unfreeze()
            gc.collect()
            gc.freeze()


def without_collection(function: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of `collector_paused`."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with collector_paused():
            return function(*args, **kwargs)

    return wrapper
