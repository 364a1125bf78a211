"""What the user named on the command line: files as given, and the image files inside folders; and where the
outputs for them go (mirroring the input tree, so two inputs of the same name never share an output)."""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from medimg.errors import DatasetError


def parse_patterns(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"*.png, *.bmp"``, ``["*.png"]`` or ``["*.png,*.bmp", "*.dcm"]`` (a CLI option given twice) -> a tuple of
    shell patterns (empty for ``None``)."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    return tuple(p.strip() for item in items for p in item.split(",") if p.strip())


def name_selected(
    name: str, include: tuple[str, ...], exclude: tuple[str, ...], *, relative: str | None = None
) -> bool:
    """True when ``name`` matches an ``include`` pattern (or there are none) and no ``exclude`` pattern.

    Matching is case-insensitive. With ``relative`` (the file's path inside the data folder, ``/``-separated), a
    pattern holding a ``/`` is matched against that path instead of the name (``--exclude 'Lung_Mask/*'``).
    """
    lower, path = name.lower(), (relative or name).lower()

    def matches(pattern: str) -> bool:
        return fnmatch.fnmatch(path if "/" in pattern else lower, pattern.lower())

    if include and not any(matches(p) for p in include):
        return False
    return not any(matches(p) for p in exclude)


def expand_inputs(
    inputs: Iterable[str | Path],
    *,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
) -> list[Path]:
    """Files as given, every image file inside given folders (recursively, sorted), and what a shell pattern
    names (``"scans/*.dcm"``, ``"**/*.png"``: quoted, or from Python) when no such file exists.

    Args:
        include, exclude: file-name patterns (``"*.png,*.dcm"``) selecting the files found inside folders
            (files named explicitly are always kept).

    Raises:
        DatasetError: a path does not exist, or a folder holds no (selected) image files.
    """
    from medimg.io.formats import ARRAY_SUFFIXES, file_suffix, in_system_folder, is_image_file

    includes, excludes = parse_patterns(include), parse_patterns(exclude)
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if not path.exists() and any(c in str(path) for c in "*?["):  # a quoted pattern ('scans/*.dcm', '**/*.png')
            matches = [m for m in sorted(glob.glob(str(path), recursive=True)) if Path(m).is_dir() or is_image_file(m)]
            if not matches:
                raise DatasetError(f"{path} matches no file: check the pattern (relative to {Path.cwd()})")
            files.extend(expand_inputs(matches, include=include, exclude=exclude))
            continue
        if path.is_dir():
            visible = [p for p in sorted(path.rglob("*")) if p.is_file() and not in_system_folder(p, path)]
            # a folder of images saved as arrays (TransUNet's test_vol_h5/): read when it holds no other images
            found = [p for p in visible if is_image_file(p)] or [p for p in visible if file_suffix(p) in ARRAY_SUFFIXES]
            if not found:
                raise DatasetError(
                    f"{path} holds no image files (PNG, JPEG, BMP, TIFF, DICOM, NIfTI, MetaImage, NRRD, .npy, or "
                    ".npz / .h5 arrays)"
                )
            selected = [p for p in found if name_selected(p.name, includes, excludes)]
            if not selected:
                raise DatasetError(
                    f"{path}: none of its {len(found)} image files matches --include {include or '-'} / "
                    f"--exclude {exclude or '-'}"
                )
            files.extend(selected)
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(f"{path} does not exist")
    return files


def common_root(files: Sequence[str | Path]) -> Path:
    """The deepest folder holding every file (its own folder for a single file)."""
    if not files:
        return Path(".")
    parents = [str(Path(f).resolve().parent) for f in files]
    try:
        return Path(os.path.commonpath(parents))
    except ValueError:  # different drives (Windows): no common folder
        return Path(parents[0])


def mirrored_folder(source: str | Path, root: Path, folder: Path) -> Path:
    """The folder under ``folder`` for the outputs of ``source``: its path relative to ``root`` (see
    :func:`common_root`), so that ``a/x.png`` and ``b/x.png`` get ``folder/a/`` and ``folder/b/``."""
    parent = Path(source).resolve().parent
    try:
        return folder / parent.relative_to(root)
    except ValueError:
        return folder
