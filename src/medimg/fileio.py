"""Crash-safe file writing and JSON conversion helpers shared across medimg.

Every writer here is *atomic*: the data goes to a temporary file in the destination folder, is flushed and
fsync'ed, and only then renamed over the destination with :func:`os.replace`. A crash, a full disk or a
serialisation error therefore leaves either the complete old file or the complete new file, never a
half-written one, and no temporary file is left behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np

from medimg.errors import ConfigError, DatasetError

__all__ = [
    "TEMPORARY_SUFFIX",
    "atomic_binary_file",
    "atomic_directory",
    "atomic_text_file",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "dumps_json",
    "to_jsonable",
]

_NEW_FILE_MODE = 0o644
_NEW_FOLDER_MODE = 0o755
TEMPORARY_SUFFIX = ".tmp"
"""Temporary files and folders are named ``.<destination name>.<random>.tmp`` next to their destination; what a
killed process leaves is recognisable by that shape (see :func:`medimg.run_folder.sweep_leftovers`)."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, then ``os.replace``).

    Missing parent folders are created. An existing destination keeps its permission bits; a new one gets
    ``0o644``.

    Args:
        path: Destination file.
        data: The complete new content.

    Returns:
        The destination as a :class:`~pathlib.Path`.

    Raises:
        OSError: The folder cannot be created or written; the destination is then unchanged.
    """
    dest = Path(path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"atomic_write_bytes expects bytes for {dest}, got {type(data).__name__}")
    with _replacing(dest, "wb") as handle:
        handle.write(data)
    return dest


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, encoded with ``encoding`` and without newline translation.

    Args:
        path: Destination file.
        text: The complete new content.
        encoding: Text encoding (UTF-8 by default).

    Returns:
        The destination as a :class:`~pathlib.Path`.
    """
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text expects str for {path}, got {type(text).__name__}")
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError as error:
        named = _unwritable_text(path, error)
        if named is None:
            raise
        raise named from error
    return atomic_write_bytes(path, data)


def _unwritable_text(path: str | os.PathLike[str], error: UnicodeEncodeError) -> DatasetError | None:
    """For text that holds a file name that is not valid UTF-8 (Python's lone surrogates, see
    :mod:`medimg.io.inputs`): a :class:`DatasetError` naming the file written and the rename; else ``None``."""
    if not all(0xDC80 <= ord(c) <= 0xDCFF for c in error.object[error.start : error.end]):
        return None
    from medimg.io.inputs import UTF8_FIX

    text = error.object
    line = text[text.rfind("\n", 0, error.start) + 1 : (text.find("\n", error.end) + 1 or len(text) + 1) - 1]
    shown = line.strip().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return DatasetError(
        f"cannot write {path}: it would record a file name that is not valid UTF-8 ({shown[:200]}); "
        + UTF8_FIX.format(folder="DATA")
    )


@contextmanager
def atomic_text_file(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Open a text file to write in pieces (a stream of records) that appears at ``path`` only when complete.

    The text goes to a temporary file in the destination folder; on a normal exit it is flushed, fsync'ed and
    renamed over ``path`` (as :func:`atomic_write_bytes`); on an exception it is removed and ``path`` is unchanged.

    Example:
        >>> with atomic_text_file("predictions.jsonl") as handle:   # doctest: +SKIP
        ...     for record in records:
        ...         handle.write(json.dumps(record) + "\n")
    """
    with _replacing(Path(path), "w", encoding=encoding) as handle:
        yield handle


@contextmanager
def atomic_binary_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """:func:`atomic_text_file` for bytes: a binary file written in pieces (``np.savez(handle, ...)``) that appears
    at ``path`` only when complete."""
    with _replacing(Path(path), "wb") as handle:
        yield handle


@contextmanager
def _replacing(dest: Path, mode: str, *, encoding: str | None = None) -> Iterator[Any]:
    """A temporary file beside ``dest`` opened with ``mode`` (``"wb"``, or ``"w"`` without newline translation);
    on a normal exit flushed, fsync'ed, given ``dest``'s permission bits (``0o644`` when new) and renamed over it;
    on an exception removed, ``dest`` unchanged. Missing parent folders are created."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        permissions = dest.stat().st_mode & 0o7777
    except FileNotFoundError:
        permissions = _NEW_FILE_MODE
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=TEMPORARY_SUFFIX)
    except OSError as error:
        _name(error, dest)
        raise
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding=encoding if text else None, newline="" if text else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, permissions)
        os.replace(tmp_name, dest)
    except BaseException as error:
        with suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(error, UnicodeEncodeError) and (named := _unwritable_text(dest, error)):
            raise named from error  # text mode: a file name Python holds as lone surrogates
        if isinstance(error, OSError):
            _name(error, dest)
        raise
    _fsync_directory(dest.parent)


def _name(error: OSError, dest: Path) -> None:
    """Make ``error`` name ``dest`` where it named no file (a full disk: ``write``, ``flush`` and ``fsync`` set no
    ``filename``) or only the temporary file (``.last.pt.x1y2.tmp``, a name the user never gave), so that the
    message says which file, on which file system, could not be written."""
    if error.errno is None:  # OSError("message"): no (errno, strerror) to show a file name with
        return
    if error.filename is None or Path(os.fsdecode(error.filename)).name.endswith(TEMPORARY_SUFFIX):
        error.filename = str(dest)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Serialise ``obj`` as indented JSON (``indent=2``) and write it to ``path`` atomically.

    numpy scalars and arrays, paths and datetimes are converted (see :func:`to_jsonable`). Serialisation
    happens *before* anything touches the disk, so if it fails the destination is left untouched.

    Args:
        path: Destination file.
        obj: A JSON-compatible structure (dicts, lists, str, numbers, bool, None, numpy values).

    Returns:
        The destination as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: ``obj`` holds a value that cannot be represented in JSON.
    """
    try:
        text = dumps_json(obj)
    except ConfigError as exc:
        raise ConfigError(f"cannot write {path} as JSON: {exc}") from exc
    return atomic_write_text(path, text + "\n")


@contextmanager
def atomic_directory(path: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Fill a folder that appears at ``path`` complete or not at all.

    The caller writes into a temporary sibling folder (``.<name>.<random>.tmp``); when the block ends without an
    error the folder is renamed into place. An error (or a kill) leaves ``path`` as it was; the temporary folder
    is removed on errors, and a killed process's one is swept by :func:`medimg.run_folder.sweep_leftovers`.

    Args:
        path: the destination folder.
        replace: an existing ``path`` is replaced as a whole (the old one moved aside first, then removed), so
            no file of an older content survives. With ``False`` (a folder the user named, which may hold other
            files) the new files are moved into it one by one, in the order they were written.

    Example:
        >>> with atomic_directory(run / "report") as folder:     # doctest: +SKIP
        ...     write_report(report, folder, ...)
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=TEMPORARY_SUFFIX))
    try:
        os.chmod(staging, _NEW_FOLDER_MODE)
        yield staging
        if not dest.exists():
            os.replace(staging, dest)
        elif replace:
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=TEMPORARY_SUFFIX))
            os.replace(dest, old / dest.name)
            os.replace(staging, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            _merge_into(staging, dest)
        _fsync_directory(dest.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _merge_into(source: Path, dest: Path) -> None:
    """Move every file of ``source`` to the same place under ``dest``, oldest first (the order written)."""
    files = sorted((p for p in source.rglob("*") if not p.is_dir()), key=lambda p: p.stat().st_mtime_ns)
    for file in files:
        target = dest / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(file, target)


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    """Return ``obj`` as a strict JSON string after :func:`to_jsonable` conversion.

    Raises:
        ConfigError: ``obj`` holds a value that cannot be represented in JSON.
    """
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, ensure_ascii=False)


def to_jsonable(obj: Any, *, _where: str = "$") -> Any:
    """Convert ``obj`` into plain JSON types.

    Conversions: numpy scalars -> Python numbers/bools, numpy arrays -> nested lists, tuples/sets -> lists,
    :class:`~pathlib.Path` -> ``str``, :class:`datetime.datetime`/``date`` -> ISO string, non-string dict keys
    -> ``str``. Non-finite floats (NaN, +/-inf), which strict JSON cannot hold, become ``None``.

    Raises:
        ConfigError: A value has a type with no JSON form; the message names its location (e.g. ``$.a[3]``).
    """
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item(), _where=_where)
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), _where=_where)
    if isinstance(obj, Mapping):
        return {_json_key(k, _where): to_jsonable(v, _where=f"{_where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, _where=f"{_where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [to_jsonable(v, _where=f"{_where}[]") for v in sorted(obj, key=repr)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    raise ConfigError(
        f"value at {_where} has type {type(obj).__name__!r}, which has no JSON form; "
        "convert it to a str, number, bool, list or dict first"
    )


def _json_key(key: Any, where: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, np.generic):
        key = key.item()
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)
    if isinstance(key, os.PathLike):
        return os.fspath(key)
    raise ConfigError(f"dict key {key!r} at {where} has type {type(key).__name__!r}; JSON keys must be strings")


def _fsync_directory(folder: Path) -> None:
    """Persist a rename on POSIX file systems; a no-op where directories cannot be opened (Windows)."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
