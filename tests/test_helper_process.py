"""The helper process reads files and validates the last one in a forked child: what it sends is
what this process would have computed, it steps aside where it would not pay or not be safe, and
the explorer uses it on the first load and falls back to its own work when it fails."""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
import threading

import pytest
from helpers import SAMPLES, loaded

from dagtui import helper_process, loader
from dagtui.dot import read_dot
from dagtui.helper_process import HelperProcess
from dagtui.review import read_file, review_file, review_raw_graph, validate_review
from dagtui.tui.app import DagtuiApp
from dagtui.tui.issues import IssuePanel

CURRENT, NEW = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper forks on Linux only")


def contents(raw) -> tuple:
    return (
        raw.file, raw.name, raw.attrs, raw.backend,
        [(node.id, node.attrs, node.line) for node in raw.nodes.values()],
        [(edge.source, edge.target, edge.attrs) for edge in raw.edges],
        [(cluster.name, cluster.attrs, cluster.nodes) for cluster in raw.clusters()],
    )


def summary(findings) -> list[tuple]:
    return [(f.id, f.rule, f.severity, f.nodes, f.message, f.line) for f in findings]


def test_raw_graphs_pickle_whole():
    raw = read_dot(SAMPLES / "current.dot")
    assert contents(pickle.loads(pickle.dumps(raw))) == contents(raw)


def test_helper_reads_and_validates_both_files_as_this_process_would():
    helper = HelperProcess.start([CURRENT, NEW], min_bytes=0)
    assert helper is not None
    try:
        for index, file in enumerate((CURRENT, NEW)):
            raw = helper.raw_graph(index)
            assert raw is not None and contents(raw) == contents(read_dot(file))
            findings = helper.findings(index)
            assert findings and summary(findings) == summary(review_file(file).findings)
            assert summary(validate_review(review_raw_graph(raw)).findings) == summary(findings)
    finally:
        helper.close()
    assert not multiprocessing.active_children()


def test_one_file_is_read_and_validated_by_the_helper():
    helper = HelperProcess.start([CURRENT], min_bytes=0)
    assert helper is not None
    try:
        assert contents(helper.raw_graph(0)) == contents(read_dot(CURRENT))
        assert summary(helper.findings(0)) == summary(review_file(CURRENT).findings)
    finally:
        helper.close()


def test_files_that_cannot_be_read_are_left_to_the_caller(write_dot):
    broken = str(write_dot("digraph G {\n  a -> b\n  c [label=]\n}\n"))
    helper = HelperProcess.start([broken, CURRENT], min_bytes=0)
    assert helper is not None
    try:
        assert helper.raw_graph(0) is None and helper.findings(0) is None
        assert contents(helper.raw_graph(1)) == contents(read_dot(CURRENT))
    finally:
        helper.close()
    review = read_file(broken)  # what the caller does instead: the syntax error, with its line
    assert review.findings[0].rule == "SYN001" and review.findings[0].line == 3


def test_a_file_skipped_is_left_alone_and_one_started_is_delivered():
    helper = HelperProcess.start([CURRENT, NEW], min_bytes=0)
    assert helper is not None
    try:
        assert not helper.started(1)  # the helper validates in file order: not the last one yet
        helper.skip(1)
        assert summary(helper.findings(0)) == summary(review_file(CURRENT).findings)
        assert helper.started(0)
        assert helper.findings(1, stop=lambda: not multiprocessing.active_children()) is None  # skipped
        assert not helper.started(1)
    finally:
        helper.close()


def test_a_stopped_wait_returns_nothing_and_close_cleans_up():
    helper = HelperProcess.start([CURRENT, NEW], min_bytes=0)
    assert helper is not None
    folder = helper.folder
    assert helper.findings(0, stop=lambda: True) is None  # the caller stopped waiting: nothing taken
    helper.close()
    assert not multiprocessing.active_children() and not os.path.exists(folder)
    # Whether the helper had started file 0 before it was stopped depends on how fast it ran; after
    # close nothing more comes in, and skipping a helper that has gone is not an error.
    taken = helper.started(0)
    helper.skip(0)
    assert helper.started(0) is taken


def test_helper_steps_aside_for_small_files_running_threads_and_when_disabled(monkeypatch):
    assert HelperProcess.start([CURRENT, NEW]) is None  # the samples load faster than a fork pays
    assert HelperProcess.start([]) is None
    monkeypatch.setenv("DAGTUI_HELPER_PROCESS", "0")
    assert HelperProcess.start([CURRENT, NEW], min_bytes=0) is None
    monkeypatch.delenv("DAGTUI_HELPER_PROCESS")
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert HelperProcess.start([CURRENT, NEW], min_bytes=0) is None  # forking now would not be safe
    finally:
        release.set()
        thread.join()


async def test_the_explorer_takes_what_the_helper_read_and_validated(monkeypatch):
    monkeypatch.setattr(helper_process, "MIN_BYTES", 0)
    built_here, validated_here = [], []
    real_read, real_validate = loader.read_raw, loader.validate_review
    monkeypatch.setattr(loader, "read_raw", lambda file, checkpoint: built_here.append(file) or real_read(file, checkpoint))
    monkeypatch.setattr(loader, "validate_review",
                        lambda review, *args: validated_here.append(review.file) or real_validate(review, *args))
    from_helper = []  # which files the helper validates depends on the two processes' speed
    real_findings = HelperProcess.findings

    def findings(helper, index, stop):
        found = real_findings(helper, index, stop)
        if found is not None:
            from_helper.append(files[index])
        return found

    monkeypatch.setattr(HelperProcess, "findings", findings)
    files = [CURRENT, NEW]
    app = DagtuiApp(files, helper=HelperProcess.start(files))  # as the command line forks it
    assert app._helper is not None
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        assert built_here == []  # both files were read by the helper
        assert sorted(validated_here + from_helper) == sorted(files)  # each validated once, here or there
        for index, review in enumerate(app.reviews):
            assert summary(review.findings) == summary(review_file(files[index]).findings)
        assert len(app.query_one(IssuePanel).visible_rows) == len(app.rows) > 0
        await app.workers.wait_for_complete()
        validated_here.clear()
        await pilot.press("r")  # a reload is done in this process: the helper served the first load only
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert validated_here == [CURRENT, NEW]
    assert not multiprocessing.active_children()


async def test_the_explorer_falls_back_when_the_helper_dies(monkeypatch):
    monkeypatch.setattr(helper_process, "MIN_BYTES", 0)
    monkeypatch.setattr(helper_process, "_child", lambda *args: None)  # exits at once, sending nothing
    app = DagtuiApp([CURRENT, NEW], helper=HelperProcess.start([CURRENT, NEW]))
    assert app._helper is not None  # forked, and dies at once
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        assert summary(app.reviews[1].findings) == summary(review_file(NEW).findings)


def test_a_helper_never_closed_is_cleaned_up_when_dropped():
    helper = HelperProcess.start([CURRENT, NEW], min_bytes=0)
    assert helper is not None
    folder = helper.folder
    del helper  # the app quit before its loader took the helper
    gc.collect()
    assert not multiprocessing.active_children() and not os.path.exists(folder)


def test_a_raw_graph_lost_from_the_exchange_folder_is_read_by_the_caller():
    helper = HelperProcess.start([CURRENT, NEW], min_bytes=0)
    assert helper is not None
    try:
        assert helper.findings(1) is not None  # both raw graphs have been written by now
        for path in os.listdir(helper.folder):
            os.unlink(os.path.join(helper.folder, path))  # a temp cleaner got there first
        assert helper.raw_graph(0) is None  # the caller then reads the file itself
    finally:
        helper.close()
