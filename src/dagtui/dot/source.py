"""Read a DOT file's bytes safely: clear errors for missing, unreadable, binary, empty or huge files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dagtui.errors import InputError

# Real deployment DAGs are a few MB; past this, loading would take minutes and gigabytes.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


def max_bytes() -> int:
    """The size limit, overridable with DAGTUI_MAX_BYTES for files larger than any real DAG."""
    try:
        return int(os.environ.get("DAGTUI_MAX_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


@dataclass
class DotSource:
    """A DOT file's path, its raw bytes and the text decoded from them."""

    path: str
    data: bytes
    text: str


def read_source(path: str | os.PathLike[str]) -> DotSource:
    """Read and sanity-check a file before any parser sees it."""
    file = Path(path)
    name = str(path)
    if not file.exists():
        raise InputError(f"{name}: no such file")
    if file.is_dir():
        raise InputError(f"{name}: is a directory, not a DOT file")
    size = file.stat().st_size
    limit = max_bytes()
    if size > limit:
        raise InputError(
            f"{name}: {size / 2**20:.1f} MiB is larger than the {limit / 2**20:.0f} MiB limit "
            "(set DAGTUI_MAX_BYTES to raise it)"
        )
    try:
        data = file.read_bytes()
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as error:
        raise InputError(f"{name}: cannot read: {error.strerror or error}") from None
    if not data.strip():
        raise InputError(f"{name}: empty file")
    if b"\x00" in data[:65536]:
        raise InputError(f"{name}: binary file (contains NUL bytes), not DOT text")
    text = data.decode("utf-8", errors="replace")
    return DotSource(path=name, data=data, text=text)
