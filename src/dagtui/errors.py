"""Errors dagtui raises on its own account; everything a user can cause ends up as one of these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class DagtuiError(Exception):
    """Base of every error dagtui reports to the user as a message rather than a traceback."""


class InputError(DagtuiError):
    """A file cannot be read as a DAG at all: missing, a directory, unreadable, binary, too large."""


@dataclass
class DotSyntaxError(DagtuiError):
    """The file is not valid DOT according to Graphviz's grammar."""

    file: str
    line: int | None
    column: int | None
    reason: str

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: syntax error: {self.reason}"


class ConfigError(DagtuiError):
    """A model spec, strategy string or dagtui.yaml is malformed."""


class Cancelled(Exception):
    """The caller of a load asked it to stop: raised by a checkpoint, caught by `load_reviews`."""


# Called by long passes (reading, modelling, validating) between their steps: returns when the
# work may go on, raises `Cancelled` when its caller has asked it to stop.
Checkpoint = Callable[[], None]


def no_checkpoint() -> None:
    """The checkpoint of work nobody cancels."""
