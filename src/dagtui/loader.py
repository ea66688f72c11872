"""Load files for review, below the command line and the explorer: read, model and validate each
file with one `Settings`, telling the caller what is happening and stopping when it asks.

`load_reviews(files, settings, cancelled)` is a generator of events:

- `Progress(index, file, phase, detail)` before each phase of a file ("reading", "modelling",
  "validating"), for a status line;
- `Modelled(index, review)` once a file is read and modelled: its deployment can be shown (or,
  when it could not be read, `review.error` / its syntax finding);
- `Validated(index, review)` once its findings are in (the same `Review` object);
- `Finished(reviews)` at the end, every file in the order given.

Every file is modelled before any is validated, so that a second file's tree comes before the
first file's findings (with a helper process, `Validated` events come in the order the files are
validated: those the helper has not started on first). `cancelled()` is asked between files and phases and, through a checkpoint,
inside them (between the reader's steps, every 2,048 nodes while modelling, before each rule):
once it answers True the generator ends without another event, within a few tens of
milliseconds on a 19k-node file.

The loader has no process-wide side effects: no thread, process, signal, GC setting or stream is
touched (Graphviz's parser reports its errors through its own hook, see `dot/cgraph_reader.py`);
what it caches (label lines, operators and degrees per template) is the same whoever asks. So it
can run in a worker thread of the explorer. How the explorer calls it (`settings` resolved on the app's
thread, so that a bad `dagtui.yaml`, spec or strategy is reported before loading):

    settings = load_settings(model=..., strategy=...)     # raises DagtuiError: notify and stop
    stop = threading.Event()                               # set on quit or reload
    def load() -> None:                                    # in a daemon thread: quitting never waits
        for event in load_reviews(files, settings, cancelled=stop.is_set):
            app.call_from_thread(app.on_load_event, event)  # the DOM is touched on the app's thread

`Modelled` builds the pane's tree, `Validated` its findings, `Finished` the comparison and the
issue table. `check` and `info` consume the same events (`info` with `validate=False`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagtui.errors import Cancelled, Checkpoint
from dagtui.review import Review, read_raw, review_raw_graph, validate_review
from dagtui.settings import Settings

if TYPE_CHECKING:
    from dagtui.helper_process import HelperProcess


@dataclass(frozen=True)
class Progress:
    """A phase of file `index` begins: reading, modelling or validating (`detail`: its size)."""

    index: int
    file: str
    phase: str
    detail: str = ""


@dataclass(frozen=True)
class Modelled:
    """File `index` is read and modelled (or could not be: see `review.error` and its findings)."""

    index: int
    review: Review


@dataclass(frozen=True)
class Validated:
    """File `index` has its findings."""

    index: int
    review: Review


@dataclass(frozen=True)
class Finished:
    """Every file is loaded; the reviews in the order the files were given."""

    reviews: list[Review]


LoadEvent = Progress | Modelled | Validated | Finished


def load_reviews(files: Sequence[str | os.PathLike[str]], settings: Settings,
                 cancelled: Callable[[], bool] = lambda: False, validate: bool = True,
                 helper: HelperProcess | None = None) -> Iterator[LoadEvent]:
    """Read, model and (unless `validate` is False) validate `files` with `settings`, yielding
    what happens (see the module doc); ends early, quietly, once `cancelled()` is true.

    `helper`: a helper process the caller forked for these files with these settings (opt-in;
    see `helper_process`: it must be forked before any thread starts, so the command line forks
    it before the explorer imports Textual). It reads the files while this process is busy and
    validates those this process has not come to; whatever it cannot do is done here. The caller
    closes it. On two free cores it saves about a third of loading two 19k-node files; on a core
    shared with other work it costs more than it saves (benchmarks/bench_loader.py)."""

    def checkpoint() -> None:
        if cancelled():
            raise Cancelled

    names = [str(file) for file in files]
    reviews: list[Review] = []
    try:
        for index, file in enumerate(names):
            checkpoint()
            yield Progress(index, file, "reading")
            from_helper = helper.raw_graph(index, stop=cancelled) if helper else None
            checkpoint()
            # Without the helper's graph (none, or it could not read the file) it is read here,
            # and an error met here.
            raw = from_helper if from_helper is not None else read_raw(file, checkpoint)
            if isinstance(raw, Review):
                review = raw
            else:
                checkpoint()
                yield Progress(index, file, "modelling", f"{len(raw.nodes):,} nodes")
                review = review_raw_graph(raw, settings.strategy, checkpoint)
            reviews.append(review)
            yield Modelled(index, review)
        if validate:
            yield from _validated(reviews, settings, checkpoint, helper)
        checkpoint()
    except Cancelled:
        return
    yield Finished(reviews)


def _validated(reviews: list[Review], settings: Settings, checkpoint: Checkpoint,
               helper: HelperProcess | None) -> Iterator[LoadEvent]:
    """Validate each review, or take the helper's findings: first the files the helper has not
    started on (it is told to skip them), then those it has, unless their findings have come."""
    started = [helper is not None and helper.started(index) for index in range(len(reviews))]
    if helper is not None:
        for index, begun in enumerate(started):
            if not begun:
                helper.skip(index)
    for index in sorted(range(len(reviews)), key=started.__getitem__):
        review = reviews[index]
        checkpoint()
        findings = helper.findings(index, stop=lambda: True) if helper and review.deployment else None
        if findings is not None:
            review.findings = findings  # validated by the helper with the same settings
        else:
            if review.deployment is not None:
                yield Progress(index, review.file, "validating", f"{len(review.deployment.nodes):,} nodes")
            validate_review(review, settings.spec, settings.selection, settings.hardware, checkpoint)
        yield Validated(index, review)


def reviews_of(files: Sequence[str | os.PathLike[str]], settings: Settings, validate: bool = True) -> list[Review]:
    """Every file's review, for a caller that needs no progress and never cancels."""
    *_, finished = load_reviews(files, settings, validate=validate)
    assert isinstance(finished, Finished)  # nothing cancels this load
    return finished.reviews
