"""Image files given as bytes (``Model.predict(upload.read())``: what a web framework or an object store hands over),
read as the files they are.

Each bytes object is written to a private temporary folder under a name whose suffix its content says (format
detection never trusts names, :mod:`medimg.io.formats`), so every reader and check applies as to a file on disk;
the folder is removed afterwards. Predictions name their input ``bytes[i]``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from medimg.errors import ImageReadError

__all__ = ["bytes_as_files", "holds_file_bytes", "predict_file_bytes"]

_BYTES = (bytes, bytearray, memoryview)
P = TypeVar("P")


def holds_file_bytes(inputs: Any) -> bool:
    """True for a bytes object, or a non-empty list/tuple of them."""
    if isinstance(inputs, _BYTES):
        return True
    return isinstance(inputs, list | tuple) and bool(inputs) and all(isinstance(x, _BYTES) for x in inputs)


@contextmanager
def bytes_as_files(inputs: Any) -> Iterator[dict[str, str]]:
    """Write ``inputs`` (see :func:`holds_file_bytes`) to temporary files; yields ``file path -> "bytes[i]"`` in
    input order. A content no format recognises keeps no suffix: its reader then says why it cannot be read."""
    from medimg.io.formats import detect_format, suffix_for

    items = [inputs] if isinstance(inputs, _BYTES) else list(inputs)
    with tempfile.TemporaryDirectory(prefix="medimg-bytes-") as folder:
        names: dict[str, str] = {}
        for index, data in enumerate(items):
            path = Path(folder) / f"bytes_{index:05d}"
            path.write_bytes(bytes(data))
            try:
                fmt = detect_format(path)
            except ImageReadError:
                fmt = ""
            suffix = suffix_for(fmt, bytes(data[:2]))
            if suffix:
                path = path.rename(path.with_name(path.name + suffix))
            names[str(path)] = f"bytes[{index}]"
        yield names


class _NamesInputs(logging.Filter):
    """Rewrites the temporary files' paths in medimg's log messages as the inputs' names (``bytes[0]``): a
    warning about an unreadable input named a file that no longer exists once the call returns."""

    def __init__(self, names: Mapping[str, str]) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        named = message
        for path, name in self.names.items():
            named = named.replace(path, name)
        if named != message:
            record.msg, record.args = named, None
        return True


def predict_file_bytes(inputs: Any, predict: Callable[[list[str]], list[P]], owner: Any) -> list[P]:
    """``predict`` (a predictor's own ``predict`` of paths) of ``inputs`` written as files: each prediction's
    ``source``, the ``owner.failed_`` list and medimg's log messages name the inputs ``bytes[i]``, not the
    temporary files."""
    with bytes_as_files(inputs) as names:
        naming = _NamesInputs(names)
        handlers = [*logging.getLogger().handlers, *logging.getLogger("medimg").handlers]
        for handler in handlers:
            handler.addFilter(naming)
        try:
            predictions = predict(list(names))
        finally:
            for handler in handlers:
                handler.removeFilter(naming)
    for prediction in predictions:
        source = getattr(prediction, "source", None)
        if source in names:
            prediction.source = names[source]  # type: ignore[attr-defined]
    owner.failed_ = [(names.get(str(path), str(path)), reason) for path, reason in owner.failed_]
    return predictions
