"""Write exports atomically (temporary file + rename in the same folder), never over a file the run
read (DOT inputs, the model spec, dagtui.yaml, themes), over an existing file only when told to
(`--force`, or a confirmation in the explorer), and only where a regular file is or may be: a FIFO or
a device (`-o /dev/full`) is refused rather than replaced, and so is a path that names a folder
(`-o out/missing/`).

The temporary file is named after its target and the writing process (`.report.md.dagtui-PID-XXXX.tmp`):
a write killed half-way (kill -9) leaves it behind, and the next write of the same target removes
it once that process has gone."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dagtui.errors import DagtuiError
from dagtui.input_files import file_kind


class OutputError(DagtuiError):
    """An export could not be written; nothing partial is left behind."""


class TargetExists(OutputError):
    """The target is a file already there, and the caller did not say to replace it."""


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


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.dagtui-"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    return False


def remove_stale_temporaries(target: Path, folder: Path) -> None:
    """Delete the temporary files earlier writes of `target` left behind (their process is gone)."""
    prefix = _temp_prefix(target)
    try:
        names = [name for name in os.listdir(folder) if name.startswith(prefix) and name.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid_text = name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and _process_gone(int(pid_text)):
            try:
                os.unlink(folder / name)
            except OSError:
                pass


def _refuse_unless_writable(path: str | os.PathLike[str], target: Path, inputs: Iterable[str | os.PathLike[str]],
                            force: bool) -> None:
    if os.fspath(path).endswith(("/", os.sep)):
        raise OutputError(f"{os.fspath(path)}: names a folder; give a file name")
    for input_path in inputs:
        if _same_file(target, Path(input_path)) or target.resolve() == Path(input_path).resolve():
            raise OutputError(f"{target}: refusing to overwrite an input file")
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return  # nothing there yet
    if stat.S_ISDIR(mode):
        raise OutputError(f"{target}: is a directory")
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise OutputError(f"{target}: is {file_kind(mode)}; dagtui replaces only regular files")
    if not force:
        raise TargetExists(f"{target}: already exists; --force replaces it")


def write_atomic(path: str | os.PathLike[str], text: str, inputs: Iterable[str | os.PathLike[str] | None] = (),
                 force: bool = False) -> Path:
    """Write `text` to `path` via a temporary file in the same folder. Refused: a file the run read
    (`inputs`, even with `force`), anything but a regular file (or a symlink, which is replaced by
    the file), and without `force` a file already there (`TargetExists`)."""
    target = Path(path)
    _refuse_unless_writable(path, target, [name for name in inputs if name], force)
    folder = target.parent if str(target.parent) else Path(".")
    remove_stale_temporaries(target, folder)
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open past this block: written, synced, then renamed)
            "w", encoding="utf-8", dir=folder, prefix=f"{_temp_prefix(target)}{os.getpid()}-", suffix=".tmp", delete=False
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
    except BaseException:  # Ctrl-C mid-write: nothing partial stays either
        Path(handle.name).unlink(missing_ok=True)
        raise
    return target
