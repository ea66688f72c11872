"""The explorer's loading: `dagtui.loader.load_reviews` in a thread, its events posted to the app
as messages. The thread also builds what the panes show (outlines, the comparison), so that the
app's thread only renders.

The thread is a daemon of our own, not a Textual thread worker: those run in asyncio's default
executor, which the app waits for when it exits, so `q` would wait for whatever the loader does
between two checkpoints. A daemon is never waited for; told to stop (quit, reload), it ends at the
loader's next checkpoint and posts nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.message import Message
from textual.message_pump import MessagePump

from dagtui.compare import Comparison, compare
from dagtui.helper_process import HelperProcess
from dagtui.loader import Finished, Modelled, Progress, Validated, load_reviews
from dagtui.review import Review
from dagtui.settings import Settings
from dagtui.tui.outline import Outline


class LoadProgress(Message):
    """A phase of file `index` begins: "reading", "modelling 19,000 nodes", "validating …"."""

    def __init__(self, generation: int, index: int, phase: str) -> None:
        super().__init__()
        self.generation = generation
        self.index = index
        self.phase = phase


class PaneLoaded(Message):
    """File `index` is modelled (`validated` False: its tree can be shown) or validated (its markers)."""

    def __init__(self, generation: int, index: int, review: Review, outline: Outline, validated: bool) -> None:
        super().__init__()
        self.generation = generation
        self.index = index
        self.review = review
        self.outline = outline
        self.validated = validated


class AllLoaded(Message):
    """Every file is loaded: the reviews, their outlines and, for two files, their comparison."""

    def __init__(self, generation: int, reviews: list[Review], outlines: list[Outline],
                 comparison: Comparison | None) -> None:
        super().__init__()
        self.generation = generation
        self.reviews = reviews
        self.outlines = outlines
        self.comparison = comparison


@dataclass
class Load:
    """One load of `files` with `settings`; `generation` tells its messages from an older load's."""

    files: Sequence[str]
    settings: Settings
    generation: int
    helper: HelperProcess | None = None  # for this load only: closed when it ends


class LoaderThread(threading.Thread):
    """Runs `load` and posts its messages to `target` until it ends or `stop` is set; then calls
    `finished` (the worker waiting for it). An error is kept in `error`, for the worker to raise."""

    def __init__(self, load: Load, target: MessagePump, finished: Callable[[], object]) -> None:
        super().__init__(name="dagtui-load", daemon=True)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._load, self._target, self._finished = load, target, finished

    def cancelled(self) -> bool:
        return self.stop.is_set()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # handed to the worker, which raises it in the app
            self.error = error
        finally:
            if self._load.helper is not None:
                self._load.helper.close()
            try:
                self._finished()
            except RuntimeError:
                pass  # the app's loop has closed: nobody is waiting

    def _run(self) -> None:
        load = self._load
        outlines: list[Outline] = []
        events = load_reviews(load.files, load.settings, cancelled=self.cancelled, helper=load.helper)
        for event in events:
            message: Message
            if isinstance(event, Progress):
                phase = f"{event.phase} {event.detail}".strip()
                message = LoadProgress(load.generation, event.index, phase)
            elif isinstance(event, Modelled):
                outlines.append(Outline(event.review))
                message = PaneLoaded(load.generation, event.index, event.review, outlines[-1], False)
            elif isinstance(event, Validated):
                outlines[event.index].apply_findings()
                message = PaneLoaded(load.generation, event.index, event.review, outlines[event.index], True)
            else:
                assert isinstance(event, Finished)
                reviews = event.reviews
                comparison = compare(reviews[0], reviews[1]) if len(reviews) == 2 else None
                message = AllLoaded(load.generation, reviews, outlines, comparison)
            if not self._post(message):
                return

    def _post(self, message: Message) -> bool:
        """Post to the app unless this load was stopped; False when loading should stop."""
        if self.cancelled():
            return False
        try:
            return self._target.post_message(message)  # False once the app is closing
        except RuntimeError:  # its loop has closed between the check and the call
            return False
