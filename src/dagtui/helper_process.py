"""A helper process that takes half of the explorer's load: on two cores, reading, modelling and
validating two large files overlap instead of running one after another.

Why a process: a review is CPU-bound Python, and threads share one interpreter lock. The work is
split by cost (4 MB, 19k-node DAG on this 2-core VM: parse ~0.55 s, model ~0.4 s, validate
~0.55 s, outline ~0.15 s):
- The explorer reads the first file itself; the helper reads the others (all of one file) and
  hands their raw graphs over. The explorer builds its own model of every file for the trees.
- The helper validates every file, on its own models, and sends the findings, which are small.
  For a file the explorer read itself, the explorer hands the raw graph to the helper. A file
  the helper has not started on by the time the explorer has built its trees, the explorer
  takes back and validates itself: whichever side is free first does it.
Raw graphs cross as pickles (~0.1 s to write, ~0.05 s to read); a whole deployment would cost
more than building it again (~0.75 s to pickle, ~0.35 s to unpickle). They go through files in
a private temporary folder, with only their names on the pipes, so that neither side blocks on a
4 MB write while the other is busy.

Fork only: the child starts from this process's imports in milliseconds, where a spawned
interpreter spends ~0.5 s importing. Forking is only safe while no other thread runs (a lock
another thread holds would stay locked in the child), so `HelperProcess.start` declines once a
thread runs, where fork does not exist, and for small files, which load faster than a process
starts. Whenever the helper declines or fails on a file, the caller reads or validates that file
itself, as it would without a helper.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from dagtui.dot import RawGraph, read_dot
from dagtui.errors import DagtuiError
from dagtui.gc_pause import without_collection
from dagtui.model import ModelSpec, Strategy, load_model_spec, parse_strategy
from dagtui.review import review_raw_graph, validate_review
from dagtui.validate import Finding

# Below this much DOT in all, a load takes ~0.2 s or less: not worth a process.
MIN_BYTES = 1 << 20
_POLL_SECONDS = 0.05  # how often a wait checks whether the caller still wants the answer


def helper_enabled() -> bool:
    """False when `DAGTUI_HELPER_PROCESS=0`: load in this process (benchmarks compare both)."""
    return os.environ.get("DAGTUI_HELPER_PROCESS", "1").strip() != "0"


def helper_reads(file_count: int) -> range:
    """The files the helper reads: all but the first, which the caller reads meanwhile (all of one)."""
    return range(1, file_count) if file_count > 1 else range(file_count)


class HelperProcess:
    """A forked child that reads the files of `helper_reads` and validates every file."""

    def __init__(self, process: BaseProcess, from_child: Connection, to_child: Connection, folder: str,
                 file_count: int) -> None:
        self._process = process
        self._from_child = from_child
        self._to_child = to_child
        self.folder = folder
        self.reads = helper_reads(file_count)
        self._received: dict[tuple[str, int], object] = {}

    @classmethod
    def start(cls, files: list[str], model_path: str | None = None, strategy_text: str | None = None,
              min_bytes: int | None = None) -> HelperProcess | None:
        """Fork the helper, or None when it would not pay (under `min_bytes` of DOT, by default
        `MIN_BYTES`) or would not be safe (see the module doc)."""
        if not files or not helper_enabled() or "fork" not in multiprocessing.get_all_start_methods():
            return None
        if threading.active_count() > 1:
            return None
        if sum(_size(file) for file in files) < (MIN_BYTES if min_bytes is None else min_bytes):
            return None
        try:
            spec = load_model_spec(model_path) if model_path else None
            strategy = parse_strategy(strategy_text) if strategy_text else None
        except DagtuiError:
            return None  # the caller reports it while loading, and loads in its own process
        context = multiprocessing.get_context("fork")
        from_child, child_writer = context.Pipe(duplex=False)
        child_reader, to_child = context.Pipe(duplex=False)
        folder = tempfile.mkdtemp(prefix="dagtui-helper-")
        process = context.Process(target=_child, args=(files, spec, strategy, child_reader, child_writer, folder),
                                  name="dagtui-helper", daemon=True)
        process.start()
        child_writer.close()  # the child holds its own copies: end-of-file means the child is gone
        child_reader.close()
        return cls(process, from_child, to_child, folder, len(files))

    def raw_graph(self, index: int, stop: Callable[[], bool] = lambda: False) -> RawGraph | None:
        """File `index` as the helper read it, waiting while `stop()` is false; None when the
        helper does not read that file or could not (the caller then reads it, and meets the
        error itself), died, or the caller stopped waiting."""
        if index not in self.reads:
            return None
        return _load(self._wait(("raw", index), stop))  # type: ignore[arg-type]

    def share(self, index: int, raw: RawGraph | None) -> None:
        """Hand the helper a file the caller read itself (None: it could not be read), so that the
        helper validates it; files the helper reads are not taken again."""
        if index in self.reads:
            return
        try:
            self._to_child.send(("raw", index, _store(raw, self.folder, f"shared-{index}")))
        except OSError:
            return  # the helper has gone: `findings` says so, and the caller validates the file

    def findings(self, index: int, stop: Callable[[], bool] = lambda: False) -> list[Finding] | None:
        """The findings of file `index`, for the raw graph the helper read or was handed; None
        when the helper could not validate it, died, or the caller stopped waiting."""
        return self._wait(("findings", index), stop)  # type: ignore[return-value]

    def take_back(self, index: int) -> bool:
        """Whether the caller should validate file `index` itself: true unless the helper has
        started on it. Whichever side is free first validates a file (the two cores seldom run
        at the same speed); the helper is told to skip what the caller takes back."""
        while self._receive(timeout=0):
            pass  # take in what the helper has said so far
        if ("started", index) in self._received or ("findings", index) in self._received:
            return False
        try:
            self._to_child.send(("skip", index, None))
        except OSError:
            pass  # the helper has gone: the caller validates, as it would anyway
        return True

    def _wait(self, key: tuple[str, int], stop: Callable[[], bool]) -> object:
        while key not in self._received:
            if stop() or not self._receive(_POLL_SECONDS) and not self._process.is_alive():
                return None
        return self._received.pop(key)

    def _receive(self, timeout: float) -> bool:
        """Take in the helper's next message if one comes within `timeout` seconds."""
        try:
            if not self._from_child.poll(timeout):
                return False
            kind, index, payload = self._from_child.recv()
        except (EOFError, OSError):
            return False
        self._received[(kind, index)] = payload
        return True

    def close(self) -> None:
        """Stop the helper if it still runs, release the pipes and remove its folder."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=1)
        self._from_child.close()
        self._to_child.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _size(file: str) -> int:
    try:
        return os.stat(file).st_size
    except OSError:
        return 0


@without_collection  # pickling builds a tuple per node and edge: no collections meanwhile
def _store(raw: RawGraph | None, folder: str, name: str) -> str | None:
    """Pickle a raw graph into the exchange folder; its path, or None for no graph."""
    if raw is None:
        return None
    path = os.path.join(folder, f"{name}.pickle")
    with open(path, "wb") as file:
        pickle.dump(raw, file, protocol=pickle.HIGHEST_PROTOCOL)
    return path


@without_collection
def _load(path: str | None) -> RawGraph | None:
    """The raw graph stored at `path`, removing the file; None for no path."""
    if path is None:
        return None
    with open(path, "rb") as file:
        raw = pickle.load(file)
    os.unlink(path)
    return raw


def _child(files: list[str], spec: ModelSpec | None, strategy: Strategy | None, from_parent: Connection,
           to_parent: Connection, folder: str) -> None:
    """Send ("raw", index, path) for each file it reads; then, for every file the parent has not
    taken back ("skip"), the last first, ("started", index) and ("findings", index, findings).
    A file it cannot read or validate is sent as None: the parent does that one itself, and
    meets the same error there, where it is reported."""
    _silence_terminal()
    # Everything the child builds lives until it exits: collections would only re-walk it (and
    # slow pickling the raw graphs twofold).
    gc.disable()
    raws: dict[int, RawGraph | None] = {}
    skipped: set[int] = set()

    def take_message() -> None:
        kind, index, path = from_parent.recv()
        if kind == "skip":
            skipped.add(index)
        else:
            raws[index] = _load(path)

    try:
        for index in helper_reads(len(files)):
            raws[index] = _read(files[index])
            to_parent.send(("raw", index, _store(raws[index], folder, f"helper-{index}")))
        for index in reversed(range(len(files))):  # its own files are ready; the first comes later
            while index not in raws and index not in skipped:
                take_message()
            while from_parent.poll():
                take_message()
            if index in skipped:
                continue
            to_parent.send(("started", index, None))
            to_parent.send(("findings", index, _validate(raws.pop(index), spec, strategy)))
    except (EOFError, OSError):
        return  # the parent has gone: nobody is waiting
    finally:
        to_parent.close()


def _read(file: str) -> RawGraph | None:
    try:
        return read_dot(file)
    except Exception:  # noqa: BLE001 - syntax and input errors included: the parent reads it itself
        return None


def _validate(raw: RawGraph | None, spec: ModelSpec | None, strategy: Strategy | None) -> list[Finding] | None:
    if raw is None:
        return None
    try:
        return validate_review(review_raw_graph(raw, strategy), spec).findings
    except Exception:  # noqa: BLE001 - the parent validates the file itself, and reports what fails
        return None


def _silence_terminal() -> None:
    """The terminal belongs to the parent's full-screen app: the child must not write to it."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (1, 2):
        os.dup2(devnull, descriptor)
    os.close(devnull)
