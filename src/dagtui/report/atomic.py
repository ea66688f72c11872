"""Write exports atomically (temporary file + rename in the same folder), never over an input DOT."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dagtui.errors import DagtuiError


class OutputError(DagtuiError):
    """An export could not be written; nothing partial is left behind."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _mode_for(target: Path) -> int:
    """The replaced file's mode, or what a plain `open(..., "w")` would give (temp files are 0600)."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike[str], text: str, inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write `text` to `path` via a temporary file in the same folder; refuse to replace an input."""
    target = Path(path)
    for input_path in inputs:
        if _same_file(target, Path(input_path)) or target.resolve() == Path(input_path).resolve():
            raise OutputError(f"{target}: refusing to overwrite an input file")
    if target.is_dir():
        raise OutputError(f"{target}: is a directory")
    folder = target.parent if str(target.parent) else Path(".")
    try:
        handle = tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=folder, prefix=f".{target.name}.", suffix=".tmp", delete=False
        )
    except OSError as error:
        raise OutputError(f"{target}: cannot write in {folder}: {error.strerror or error}") from None
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, _mode_for(target))
        os.replace(handle.name, target)
    except OSError as error:
        Path(handle.name).unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write: {error.strerror or error}") from None
    return target
