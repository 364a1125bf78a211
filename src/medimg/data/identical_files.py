"""Image files that are byte-for-byte copies of each other (an archive's nested copy of the download: Kaggle's LGG
set unpacks as ``kaggle_3m/`` beside ``lgg-mri-segmentation/kaggle_3m/``; a case saved twice under two names):
:func:`mark_identical_files` gives each set of copies one ``same_image`` key, so a split medimg makes keeps them on
one side, as it keeps a patient's images. Split at random, a test image's copy sat in training and the test score
measured images already trained on.

Only files of the same size are compared, first by their first and last 64 KiB, then whole, so data without
copies costs one ``stat`` per file."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from medimg.data.case import Case

logger = logging.getLogger(__name__)

__all__ = ["copies_among", "identical_file_groups", "mark_identical_files"]

#: bytes read from each end of a file for the first comparison
_END_BYTES = 64 * 1024


def identical_file_groups(paths: Iterable[Path]) -> list[list[Path]]:
    """The groups of two or more of ``paths`` (each taken once) whose files hold the same bytes, in the order the
    paths come; a file that cannot be read is in no group (reading it for training reports it)."""
    by_size: dict[tuple[int, ...], list[Path]] = defaultdict(list)
    parts_of: dict[Path, tuple[Path, ...]] = {}  # each image's files, found once (a detached header is read)
    for path in dict.fromkeys(paths):
        parts_of[path] = _parts(path)
        try:
            by_size[tuple(os.stat(part).st_size for part in parts_of[path])].append(path)
        except OSError:
            continue
    groups: list[list[Path]] = []
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        for same_ends in _grouped(same_size, lambda path: _ends_digest(parts_of[path])):
            groups.extend(_grouped(same_ends, lambda path: _whole_digest(parts_of[path])))
    return groups


#: headers of MetaImage and NRRD that may name a data file of their pixels
_DETACHED_HEADERS = (".mhd", ".nhdr")


def _parts(path: Path) -> tuple[Path, ...]:
    """The files an image is stored in: an Analyze 7.5 header with its ``.img`` pixels beside it (OASIS's headers of
    one scanner protocol are byte for byte the same, their pixels not), a MetaImage or NRRD header with the data
    file it names (RETOUCH's ``oct.mhd`` + ``oct.raw``: one vendor's headers are the same text), else the file
    alone."""
    suffix = path.suffix.lower()
    if suffix == ".hdr":
        pixels = [p for p in (path.with_suffix(".img"), path.with_suffix(".IMG")) if p.is_file()]
        return (path, pixels[0]) if pixels else (path,)
    if suffix in _DETACHED_HEADERS:
        from medimg.io.itk import detached_data_file

        try:
            with path.open("rb") as handle:
                named = detached_data_file(handle.read(4096))
        except OSError:
            return (path,)
        data = path.parent / named if named else None
        return (path, data) if data is not None and data.is_file() else (path,)
    return (path,)


def _whole_digest(parts: tuple[Path, ...]) -> str | None:
    """:func:`medimg.data.pool.file_digest` of each of the image's files, ``None`` for one that cannot be read."""
    from medimg.data.pool import file_digest

    digests = [file_digest(part) for part in parts]
    return None if any(d.startswith("unreadable:") for d in digests) else "+".join(digests)


def _grouped(paths: Sequence[Path], digest: Callable[[Path], str | None]) -> list[list[Path]]:
    """``paths`` grouped by ``digest`` (groups of two or more; unreadable files left out)."""
    by_digest: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        key = digest(path)
        if key is not None:
            by_digest[key].append(path)
    return [group for group in by_digest.values() if len(group) > 1]


def _ends_digest(parts: tuple[Path, ...]) -> str | None:
    digest = hashlib.sha1()
    try:
        for part in parts:
            with part.open("rb") as handle:
                digest.update(handle.read(_END_BYTES))
                handle.seek(max(0, os.fstat(handle.fileno()).st_size - _END_BYTES))
                digest.update(handle.read(_END_BYTES))
    except OSError:
        return None
    return digest.hexdigest()


def mark_identical_files(cases: Sequence[Case], root: Path | None = None) -> list[Case]:
    """``cases`` with one ``same_image`` key on the cases whose image files are copies of each other (two cases of
    one file, the sections of a stack, are not copies); a warning names an example and the count. The data's own
    split is left as it is (``check`` reports copies across it)."""
    groups = identical_file_groups(c.path for c in cases if c.path is not None)
    if not groups:
        return list(cases)
    key_of = {path: f"file-copy:{group[0]}" for group in groups for path in group}
    first = groups[0]
    where = f"{root}: " if root is not None else ""
    logger.warning(
        "%s%d image file(s) are byte-for-byte copies of another (%d set(s), e.g. %s and %s): each set kept on one "
        "side of the split medimg makes; if the data holds a second copy of itself (an archive's nested folder), "
        "point medimg at one copy or leave the other out with --exclude",
        where,
        sum(len(g) for g in groups) - len(groups),
        len(groups),
        shown_under(first[0], root),
        shown_under(first[1], root),
    )
    return [
        dataclasses.replace(c, same_image=c.same_image or key_of[c.path])
        if c.path is not None and c.path in key_of
        else c
        for c in cases
    ]


def shown_under(path: Path, root: Path | None) -> str:
    """``path`` as messages name it: relative to the data's ``root`` when inside it, else as it is."""
    return str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)


def copies_among(candidates: Sequence[Path], reference: Sequence[Path]) -> list[tuple[Path, Path]]:
    """``(candidate, reference file)`` for each of ``candidates`` that is one of ``reference`` (the same file under
    another name for its folder: a sub-folder of the training data) or holds the same bytes as one (a copy of the
    training images): what an evaluation set shares with a run's training data."""
    known = {path.resolve(): path for path in reference}
    pairs = [(path, known[path.resolve()]) for path in candidates if path.resolve() in known]
    taken = {path for path, _ in pairs}
    others = [path for path in candidates if path not in taken]
    referenced = set(reference)
    for group in identical_file_groups([*others, *reference]):
        originals = [path for path in group if path in referenced]
        if originals:
            pairs.extend((path, originals[0]) for path in group if path not in referenced)
    return pairs
