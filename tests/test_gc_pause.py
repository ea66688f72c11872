"""The collector pause around loading: nests, survives exceptions, leaves a disabled collector off."""

from __future__ import annotations

import gc
import threading

import pytest

from dagtui.gc_pause import collect_frozen, collector_paused, without_collection


@pytest.fixture(autouse=True)
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_pauses_nest_and_restore():
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_restores_after_an_exception():
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled():
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads_restore_once_both_end():
    inside, release = threading.Event(), threading.Event()

    def other_load():
        with collector_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_load)
    with collector_paused():
        thread.start()
        inside.wait(5)
    assert not gc.isenabled()  # the other thread's load is still running
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_decorator_returns_the_result():
    @without_collection
    def build(x: int) -> int:
        assert not gc.isenabled()
        return x * 2

    assert build(21) == 42 and gc.isenabled()


def test_what_a_pause_builds_is_frozen_and_collect_frozen_frees_its_cycles():
    import weakref

    import networkx as nx

    collect_frozen()
    with collector_paused():
        graph = nx.DiGraph([("a", "b")])
        _ = graph.edges, graph.in_degree  # networkx caches these views on the graph: a cycle
    assert gc.get_freeze_count() > 0  # built while paused: out of the collector's way
    alive = weakref.ref(graph)
    del graph, _
    assert alive() is not None  # a frozen cycle waits...
    collect_frozen()
    assert alive() is None  # ...until the explorer hands it back after a reload
