"""What the user named on the command line: files as given, and the image files inside folders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from medimg.errors import DatasetError


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every image file inside given folders (recursively, sorted).

    Raises:
        DatasetError: a path does not exist, or a folder holds no image files.
    """
    from medimg.io.formats import is_image_file

    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file() and is_image_file(p)]
            if not found:
                raise DatasetError(f"{path} holds no image files (PNG, JPEG, BMP, TIFF, DICOM, NIfTI)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(f"{path} does not exist")
    return files
