"""Read an input file (a DOT file, a model spec, dagtui.yaml) without trusting it: regular files
only (a FIFO would block the read forever, a device such as /dev/zero never end), never more
bytes than a limit, counted while reading (a file may grow, and /proc files say they are empty),
YAML as UTF-8 text nested no deeper than the parser follows. Each way it can fail is one clear
error (exit 2), never a traceback."""

from __future__ import annotations

import os
import stat

from dagtui.errors import ConfigError, DagtuiError, InputError

_CHUNK = 1 << 20
MAX_YAML_BYTES = 1 << 20  # a model spec or dagtui.yaml is a dozen lines
_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory",
}


def file_kind(mode: int) -> str:
    """`a named pipe (FIFO)`, `a character device`, ... for a non-regular file's mode."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _open(path: str) -> int:
    # Non-blocking: opening a FIFO for reading would otherwise wait for a writer, before any check.
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))


def _open_regular(name: str, limit: int, error: type[DagtuiError], what: str) -> int:
    """A descriptor of `name`, opened for reading once it proved a regular file of at most `limit` bytes."""
    try:
        descriptor = _open(name)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except PermissionError:
        raise error(f"{name}: permission denied") from None
    except OSError as failure:
        raise error(f"{name}: cannot read: {failure.strerror or failure}") from None
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{name}: is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{name}: is {file_kind(info.st_mode)}, not a regular file; dagtui reads only regular files")
        if info.st_size > limit:
            raise error(_too_large(name, info.st_size, limit))
    except OSError as failure:
        os.close(descriptor)
        raise error(f"{name}: cannot read: {failure.strerror or failure}") from None
    except DagtuiError:
        os.close(descriptor)
        raise
    return descriptor


def check_regular_file(path: str | os.PathLike[str], limit: int, error: type[DagtuiError] = InputError,
                       what: str = "file") -> None:
    """Raise what `read_regular_file` would before reading a byte (missing, a folder, a FIFO, too
    large): the explorer says so before it takes over the screen."""
    os.close(_open_regular(os.fspath(path), limit, error, what))


def read_regular_file(path: str | os.PathLike[str], limit: int, error: type[DagtuiError] = InputError,
                      what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; `error` (with the path) otherwise."""
    name = os.fspath(path)
    descriptor = _open_regular(name, limit, error, what)
    try:
        return _read_at_most(descriptor, name, limit, error)
    except OSError as failure:
        raise error(f"{name}: cannot read: {failure.strerror or failure}") from None
    finally:
        os.close(descriptor)


def _read_at_most(descriptor: int, name: str, limit: int, error: type[DagtuiError]) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(descriptor, min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise error(_too_large(name, None, limit))


def _too_large(name: str, size: int | None, limit: int) -> str:
    stated = f"{size / 2**20:.1f} MiB is larger" if size is not None else "larger"
    amount = f"{limit / 2**20:.0f} MiB" if limit >= 2**20 else f"{limit:,}-byte"
    return f"{name}: {stated} than the {amount} limit (set DAGTUI_MAX_BYTES to raise it)"


def _decode_utf8(data: bytes, name: str, error: type[DagtuiError]) -> str:
    """Text of a YAML file: UTF-8, a byte-order mark allowed; anything else is a clear error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as failure:
        raise error(f"{name}: not UTF-8 text (byte 0x{data[failure.start]:02x} at offset {failure.start})") from None


def load_yaml(path: str | os.PathLike[str], what: str) -> object:
    """A small YAML file (a model spec, dagtui.yaml) read as untrusted input: a regular file of at
    most 1 MiB, UTF-8, nested no deeper than the parser can follow; a clear ConfigError otherwise."""
    import yaml  # imported when needed: reading DOT files does without it

    name = str(path)
    text = _decode_utf8(read_regular_file(name, MAX_YAML_BYTES, ConfigError, what=what), name, ConfigError)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{name}: not valid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(f"{name}: not valid YAML: nested too deeply") from None
