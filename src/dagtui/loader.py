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
first file's findings. `cancelled()` is asked between files and phases and, through a checkpoint,
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

from dagtui.errors import Cancelled
from dagtui.review import Review, read_raw, review_raw_graph, validate_review
from dagtui.settings import Settings


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
                 cancelled: Callable[[], bool] = lambda: False, validate: bool = True) -> Iterator[LoadEvent]:
    """Read, model and (unless `validate` is False) validate `files` with `settings`, yielding
    what happens (see the module doc); ends early, quietly, once `cancelled()` is true."""

    def checkpoint() -> None:
        if cancelled():
            raise Cancelled

    names = [str(file) for file in files]
    reviews: list[Review] = []
    try:
        for index, file in enumerate(names):
            checkpoint()
            yield Progress(index, file, "reading")
            raw = read_raw(file, checkpoint)
            if isinstance(raw, Review):
                review = raw
            else:
                checkpoint()
                yield Progress(index, file, "modelling", f"{len(raw.nodes):,} nodes")
                review = review_raw_graph(raw, settings.strategy, checkpoint)
            reviews.append(review)
            yield Modelled(index, review)
        for index, review in enumerate(reviews):
            if not validate:
                break
            checkpoint()
            if review.deployment is not None:
                yield Progress(index, review.file, "validating", f"{len(review.deployment.nodes):,} nodes")
            validate_review(review, settings.spec, settings.selection, settings.hardware, checkpoint)
            yield Validated(index, review)
        checkpoint()
    except Cancelled:
        return
    yield Finished(reviews)


def reviews_of(files: Sequence[str | os.PathLike[str]], settings: Settings, validate: bool = True) -> list[Review]:
    """Every file's review, for a caller that needs no progress and never cancels."""
    *_, finished = load_reviews(files, settings, validate=validate)
    assert isinstance(finished, Finished)  # nothing cancels this load
    return finished.reviews
