"""A helper process that takes half of the explorer's load: on two cores, reading, modelling and
validating two large files overlap instead of running one after another.

Why a process: a review is CPU-bound Python, and threads share one interpreter lock. The work is
split by cost (4 MB, 19k-node DAG on this 2-core VM: parse ~0.55 s, model ~0.4 s, validate
~0.55 s, outline ~0.15 s):
- The helper reads every file and hands the raw graphs over, the first while the explorer is
  still starting Textual. The explorer builds its own model of each file for the trees.
- The helper then validates the files, on models of its own, and sends the findings, which are
  small. A file the helper has not started on by the time the explorer has built its trees,
  the explorer takes back and validates itself: whichever side is free first does it (the two
  cores of a shared VM seldom run at the same speed).
Raw graphs cross as pickles (~0.1 s to write, ~0.05 s to read); a whole deployment would cost
more than building it again (~0.75 s to pickle, ~0.35 s to unpickle). They go through files in
a private temporary folder, with only their names on the pipe, so that the helper never blocks
on a 4 MB write while the explorer is busy.

Fork only: the child starts from this process's imports in milliseconds, where a spawned
interpreter spends ~0.5 s importing. Forking is only safe while no other thread runs (a lock
another thread holds would stay locked in the child), so `HelperProcess.start` declines once a
thread runs, off Linux, and for small files, which load faster than a process starts. Whenever
the helper declines or fails on a file, the caller reads or validates that file itself, as it
would without a helper.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from dagtui.dot import RawGraph, read_dot
from dagtui.review import review_raw_graph, validate_review
from dagtui.settings import Settings
from dagtui.validate import Finding

# Below this much DOT in all, a load takes ~0.2 s or less: not worth a process.
MIN_BYTES = 1 << 20
# Linux only: macOS has fork, but its system libraries may break in a forked child (why Python
# defaults to spawn there); Windows has no fork.
_FORK_IS_SAFE = sys.platform.startswith("linux")
_POLL_SECONDS = 0.05  # how often a wait checks whether the caller still wants the answer


def helper_enabled() -> bool:
    """False when `DAGTUI_HELPER_PROCESS=0`: load in this process (benchmarks compare both)."""
    return os.environ.get("DAGTUI_HELPER_PROCESS", "1").strip() != "0"


class HelperProcess:
    """A forked child that reads every file, then validates those the caller has not asked it to skip."""

    def __init__(self, process: BaseProcess, from_child: Connection, to_child: Connection, folder: str) -> None:
        self._process = process
        self._from_child = from_child
        self._to_child = to_child  # for "skip" only: files the caller takes back
        self.folder = folder  # the exchange folder for raw graphs
        self._received: dict[tuple[str, int], object] = {}
        self._ended = False  # the helper has closed its end: nothing more will come
        # `close` does this; the finalizer also does it when the caller never gets to `close`
        # (the app quit before loading began), at the latest when the interpreter exits.
        self._cleanup = weakref.finalize(self, _stop, process, [from_child, to_child], folder)

    @classmethod
    def start(cls, files: list[str], settings: Settings | None = None,
              min_bytes: int | None = None) -> HelperProcess | None:
        """Fork the helper, or None when it would not pay (under `min_bytes` of DOT, by default
        `MIN_BYTES`) or would not be safe (see the module doc). It validates with `settings`
        (the loader's own: the caller resolves them first), else with the defaults."""
        if not files or not helper_enabled() or not _FORK_IS_SAFE:
            return None
        if threading.active_count() > 1:
            return None
        if sum(_size(file) for file in files) < (MIN_BYTES if min_bytes is None else min_bytes):
            return None
        settings = settings or Settings()
        context = multiprocessing.get_context("fork")
        from_child, child_writer = context.Pipe(duplex=False)
        child_reader, to_child = context.Pipe(duplex=False)
        folder = tempfile.mkdtemp(prefix="dagtui-helper-")
        process = context.Process(target=_child, args=(files, settings, child_reader, child_writer, folder),
                                  name="dagtui-helper", daemon=True)
        process.start()
        child_writer.close()  # the child holds its own copies: end-of-file means the child is gone
        child_reader.close()
        return cls(process, from_child, to_child, folder)

    def raw_graph(self, index: int, stop: Callable[[], bool] = lambda: False) -> RawGraph | None:
        """File `index` as the helper read it, waiting while `stop()` is false; None when the
        helper could not read it (the caller then reads it, and meets the error itself), died,
        or the caller stopped waiting."""
        return _load(self._wait(("raw", index), stop))  # type: ignore[arg-type]

    def findings(self, index: int, stop: Callable[[], bool] = lambda: False) -> list[Finding] | None:
        """The findings of file `index`, for the raw graph `raw_graph(index)` gave; None when the
        helper could not validate it, was told to skip it, died, or the caller stopped waiting
        (`stop` is asked before each wait: one that is always true only takes what has come)."""
        return self._wait(("findings", index), stop)  # type: ignore[return-value]

    def started(self, index: int) -> bool:
        """Whether the helper has started validating file `index` (or finished)."""
        self._take_in()
        return ("started", index) in self._received or ("findings", index) in self._received

    def skip(self, index: int) -> None:
        """Tell the helper not to start on file `index`: the caller validates it."""
        try:
            self._to_child.send(("skip", index, None))
        except OSError:
            pass  # the helper has gone: there is nothing to skip

    def _wait(self, key: tuple[str, int], stop: Callable[[], bool]) -> object:
        self._take_in()
        while key not in self._received:
            if stop() or self._ended or (not self._receive(_POLL_SECONDS) and not self._process.is_alive()):
                return None
        return self._received.pop(key)

    def _take_in(self) -> None:
        """Take in what the helper has said so far, without waiting."""
        while self._receive(timeout=0):
            pass

    def _receive(self, timeout: float) -> bool:
        """Take in the helper's next message if one comes within `timeout` seconds."""
        try:
            if not self._from_child.poll(timeout):
                return False
            kind, index, payload = self._from_child.recv()
        except (EOFError, OSError):
            self._ended = True
            return False
        self._received[(kind, index)] = payload
        return True

    def close(self) -> None:
        """Stop the helper if it still runs, release the pipes and remove its folder."""
        self._cleanup()


def _stop(process: BaseProcess, pipes: list[Connection], folder: str) -> None:
    if process.is_alive():
        process.terminate()
    process.join(timeout=1)
    for pipe in pipes:
        pipe.close()
    shutil.rmtree(folder, ignore_errors=True)


def _size(file: str) -> int:
    try:
        return os.stat(file).st_size
    except OSError:
        return 0


def _store(raw: RawGraph | None, folder: str, name: str) -> str | None:
    """Pickle a raw graph into the exchange folder; its path, or None for no graph."""
    if raw is None:
        return None
    path = os.path.join(folder, f"{name}.pickle")
    with open(path, "wb") as file:
        pickle.dump(raw, file, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _load(path: str | None) -> RawGraph | None:
    """The raw graph stored at `path`, removing the file; None for no path, or one that cannot be
    read back (removed from the temporary folder meanwhile, say): the caller reads the DOT file."""
    if path is None:
        return None
    try:
        with open(path, "rb") as file:
            raw = pickle.load(file)
        os.unlink(path)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return raw


def _child(files: list[str], settings: Settings, from_parent: Connection, to_parent: Connection, folder: str) -> None:
    """Send ("raw", index, path) for every file; then, for each file the parent has not asked it
    to skip, ("started", index) and ("findings", index, findings). A file it cannot read or
    validate is sent as None: the parent does that one itself, and meets the same error there,
    where it is reported."""
    _silence_terminal()
    # Everything the child builds lives until it exits: collections would only re-walk it (and
    # slow pickling the raw graphs twofold).
    gc.disable()
    skipped: set[int] = set()
    try:
        raws = []
        for index, file in enumerate(files):
            raws.append(_read(file))
            to_parent.send(("raw", index, _store(raws[-1], folder, f"raw-{index}")))
        for index, raw in enumerate(raws):
            while from_parent.poll():
                skipped.add(from_parent.recv()[1])
            if index in skipped:
                continue
            to_parent.send(("started", index, None))
            to_parent.send(("findings", index, _validate(raw, settings)))
    except (EOFError, OSError):
        return  # the parent has gone: nobody is waiting
    finally:
        to_parent.close()


def _read(file: str) -> RawGraph | None:
    try:
        return read_dot(file)
    except Exception:
        return None  # the parent reads this file itself and reports the error there (see _child)


def _validate(raw: RawGraph | None, settings: Settings) -> list[Finding] | None:
    if raw is None:
        return None
    try:
        review = review_raw_graph(raw, settings.strategy)
        return validate_review(review, settings.spec, settings.selection, settings.hardware).findings
    except Exception:
        return None  # the parent validates this file itself and reports the error there (see _child)


def _silence_terminal() -> None:
    """The terminal belongs to the parent's full-screen app: the child must not write to it."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (1, 2):
        os.dup2(devnull, descriptor)
    os.close(devnull)
