"""Read a DOT file's bytes safely: clear errors for missing, unreadable, binary, empty or huge files,
and for anything but a regular file (see `input_files`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagtui.errors import InputError
from dagtui.input_files import check_regular_file, read_regular_file

# Real deployment DAGs are a few MB; past this, loading would take minutes and gigabytes.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


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


def check_source(path: str | os.PathLike[str]) -> None:
    """Raise the InputError `read_source` would for a file it cannot open (missing, a folder, a
    FIFO, too large), without reading it."""
    check_regular_file(path, max_bytes(), InputError, what="DOT file")


def read_source(path: str | os.PathLike[str]) -> DotSource:
    """Read and sanity-check a file before any parser sees it; a UTF-8 byte-order mark is dropped
    (Graphviz accepts one)."""
    name = str(path)
    data = read_regular_file(name, max_bytes(), InputError, what="DOT file")
    data = data.removeprefix(_BOM)
    if not data.strip():
        raise InputError(f"{name}: empty file")
    if b"\x00" in data[:65536]:
        raise InputError(f"{name}: binary file (contains NUL bytes), not DOT text")
    text = data.decode("utf-8", errors="replace")
    return DotSource(path=name, data=data, text=text)
