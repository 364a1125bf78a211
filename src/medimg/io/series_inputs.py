"""Prediction inputs with their DICOM series found: what a folder handed to ``predict`` holds, file by file or
series by series.

A folder of DICOM slices is a study, not a pile of pictures: slices sharing a SeriesInstanceUID in one folder are
one :class:`SeriesInput` (grouped by :func:`medimg.io.dicom_survey.group_series`, the grouping ``medimg check``
prints). A 3D model predicts the series as one volume, a 2D model slice by slice in slice order plus a series
summary (:mod:`medimg.tasks.series_prediction`). Files named one by one, single DICOM files and multi-frame files
stay plain files; several series in one folder stay separate.

Example:
    >>> inputs = expand_prediction_inputs(["study/"])                    # doctest: +SKIP
    >>> [s.slices for s in inputs.series]                                # doctest: +SKIP
    [120, 34]
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.errors import ImageReadError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from medimg.io.image import ImageData

__all__ = [
    "PredictionInputs", "SeriesInput", "expand_prediction_inputs", "find_series", "frame_of", "frame_series",
    "read_frame", "read_series",
]  # fmt: skip


@dataclass(frozen=True)
class SeriesInput:
    """One DICOM series of single-frame slices in one folder.

    Attributes:
        folder: the folder holding its files.
        series_uid: its SeriesInstanceUID (``""`` when the files have none).
        files: its slices in slice order (position along the slice normal, else InstanceNumber, else name).
        key: the path the readers are handed for the whole series: ``folder`` when it is the folder's only
            series, else ``folder/series_<number>`` (a name, not a file), so masks and overlays never collide.
        modality: DICOM Modality (``"?"`` when absent).
        number: SeriesNumber, when present.
        description: SeriesDescription (at most 64 characters).
        spacing_mm: ``(dz, dy, dx)``: slice distance (positions, else SpacingBetweenSlices/SliceThickness) and
            PixelSpacing; ``None`` when either is unknown.
        frames_of: for the frames of one multi-frame file (an ultrasound cine, an X-ray angiography run, an
            enhanced CT/MR) handed to a 2D model (:func:`frame_series`): that file; ``files`` are then names for its
            frames (``<stem>_frame0001<suffix>``, no files of their own) and ``key`` is the file.
        evenly_spaced: the slice positions step evenly.
        uneven: what is uneven about them otherwise (the gaps of missing slices, see
            :func:`medimg.io.dicom.uneven_spacing`); ``""`` when even or without positions.
    """

    folder: Path
    series_uid: str
    files: tuple[Path, ...]
    key: Path
    modality: str = "?"
    number: int | None = None
    description: str = ""
    spacing_mm: tuple[float, float, float] | None = None
    frames_of: Path | None = None
    evenly_spaced: bool = False
    uneven: str = ""

    @property
    def slices(self) -> int:
        return len(self.files)

    @property
    def source(self) -> Path:
        """What the series came from: the multi-frame file, else its folder."""
        return self.frames_of or self.folder

    def to_dict(self) -> dict[str, Any]:
        """JSON form: folder, series_uid (``None`` when absent), number, modality, description, slices, spacing."""
        return {
            "folder": str(self.folder),
            "series_uid": self.series_uid or None,
            "series_number": self.number,
            "modality": self.modality,
            "description": self.description,
            "slices": self.slices,
            "spacing_mm": list(self.spacing_mm) if self.spacing_mm else None,
            **({"file": str(self.frames_of)} if self.frames_of is not None else {}),
        }


@dataclass
class PredictionInputs:
    """Inputs in the order given: plain files and series (see :func:`expand_prediction_inputs`).

    Attributes:
        frame_counts: ``NumberOfFrames`` of the DICOM files whose header was read to find the series (a file not
            listed has not been looked into).
    """

    items: list[Path | SeriesInput] = field(default_factory=list)
    frame_counts: dict[Path, int] = field(default_factory=dict)

    @property
    def series(self) -> list[SeriesInput]:
        return [item for item in self.items if isinstance(item, SeriesInput)]

    @property
    def files(self) -> list[Path]:
        """The plain files (not in a series)."""
        return [item for item in self.items if isinstance(item, Path)]


def expand_prediction_inputs(
    inputs: Iterable[str | Path],
    *,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    leave_out: Callable[[Sequence[Path], Path], Sequence[Path]] | None = None,
) -> PredictionInputs:
    """Files as given, and the files inside given folders (see :func:`medimg.io.inputs.expand_inputs`) with the
    DICOM series among them grouped (:func:`find_series`). Files named explicitly always stay files.

    Args:
        leave_out: ``(files found in a folder, the folder) -> files that are not inputs`` (the annotations beside
            the images: :func:`medimg.data.layouts.image_mask_pairs.annotation_files`); logged with an example.

    Raises:
        DatasetError: a path does not exist, or a folder holds no (selected) image files.
    """
    from medimg.io.inputs import expand_inputs

    found = PredictionInputs()
    for item in inputs:
        files = expand_inputs([item], include=include, exclude=exclude)
        folder = Path(item).expanduser()
        if not folder.is_dir():
            found.items += list(files)
            continue
        left = set(leave_out(files, folder)) if leave_out is not None else set()
        if left:
            logger.info(
                "%s: %d file(s) are annotations or further channel files of the images beside them and are not "
                "predicted on their own (e.g. %s); name a file to predict it anyway",
                folder,
                len(left),
                sorted(left)[0].relative_to(folder),
            )
        found.items += find_series([f for f in files if f not in left], frame_counts=found.frame_counts)
    return found


def find_series(files: Sequence[Path], *, frame_counts: dict[Path, int] | None = None) -> list[Path | SeriesInput]:
    """``files`` with every DICOM series among them (two or more single-frame image files of one SeriesInstanceUID
    in one folder) replaced by one :class:`SeriesInput`, placed where its first file was.

    Files whose header cannot be read stay plain files (their reader then says why); without pydicom nothing is
    grouped. DICOM annotation objects (an RT structure set beside its CT, a SEG, a structured report: modalities
    :data:`~medimg.io.dicom.ANNOTATION_MODALITIES`) are no input and are left out, with one line saying
    how many. ``frame_counts`` receives the ``NumberOfFrames`` of every file whose header was read.
    """
    from medimg.io.dicom import ANNOTATION_MODALITIES, main_geometry, unique_instances
    from medimg.io.dicom_survey import group_series, looks_like_dicom

    candidates = [path for path in files if looks_like_dicom(path)]
    if not candidates:
        return list(files)
    try:
        headers = group_series(candidates, max_files=None)
    except ImportError:  # no pydicom: the DICOM reader reports the missing package per file
        return list(files)
    annotations = {
        path
        for members in headers.groups.values()
        for path, ds in members
        if str(ds.get("Modality") or "").upper() in ANNOTATION_MODALITIES
    }
    if annotations:
        logger.info(
            "%d DICOM annotation object(s) (RT structure sets, SEG, reports; e.g. %s) are not predicted",
            len(annotations),
            sorted(annotations)[0],
        )
        files = [path for path in files if path not in annotations]
    series: list[SeriesInput] = []
    copies: list[Path] = []
    left_out: list[Path] = []
    for members in headers.groups.values():
        if frame_counts is not None:
            frame_counts.update({path: int(_number(ds.get("NumberOfFrames")) or 1) for path, ds in members})
        uid = str(members[0][1].get("SeriesInstanceUID") or "")
        by_folder: dict[Path, list[tuple[Path, Any]]] = {}
        for path, ds in members:
            by_folder.setdefault(path.parent, []).append((path, ds))
        for folder, items in by_folder.items():
            images = [(p, ds) for p, ds in items if "Rows" in ds and int(_number(ds.get("NumberOfFrames")) or 1) == 1]
            unique = [images[i] for i in unique_instances([ds for _, ds in images])]
            if len(unique) >= 2:  # a copy of a slice is no input of its own either
                copies += [p for p, _ in images if all(p != q for q, _ in unique)]
                images = unique
            slices = [images[i] for i in main_geometry([ds for _, ds in images])]
            if len(slices) >= 2:
                if len(slices) < len(images):  # a localizer filed in the series: no slice, and no input of its own
                    others = [p for p, _ in images if all(p != q for q, _ in slices)]
                    left_out += others
                    logger.info(
                        "%s: %d file(s) of series %s differ in orientation or size from its other %d slices (a "
                        "localizer?) and are left out (e.g. %s); name a file to predict it on its own",
                        folder,
                        len(others),
                        uid or "(no SeriesInstanceUID)",
                        len(slices),
                        others[0].name,
                    )
                series.append(_series_input(folder, uid, slices))
    if left_out:
        localizers = set(left_out)
        files = [path for path in files if path not in localizers]
    if copies:
        logger.warning(
            "%d DICOM file(s) repeat the SOPInstanceUID of another file of their series (copies of one slice, e.g. "
            "%s): left out",
            len(copies),
            sorted(copies)[0],
        )
        repeated = set(copies)
        files = [path for path in files if path not in repeated]
    if not series:
        return list(files)
    owner = {path: item for item in _with_keys(series) for path in item.files}
    result: list[Path | SeriesInput] = []
    placed: set[Path] = set()
    for path in files:
        item = owner.get(path)
        if item is None:
            result.append(path)
        elif item.key not in placed:
            placed.add(item.key)
            result.append(item)
    return result


MAX_FRAME_FILE_VALUES = 1 << 28
"""A multi-frame file is decoded whole for its frames (float32: at most 1 GiB)."""


def frame_series(path: Path) -> SeriesInput | None:
    """A multi-frame DICOM image file as a series of its frames (for a 2D model, which predicts each frame), or
    ``None`` for any other file (or an unreadable header: its reader then says why). Reads the header only."""
    from medimg.io.dicom_survey import looks_like_dicom

    if not looks_like_dicom(path) or not path.is_file():
        return None
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # any header pydicom cannot parse is the reader's to explain
        return None
    frames = int(_number(ds.get("NumberOfFrames")) or 1)
    if frames < 2 or "Rows" not in ds:
        return None
    values = frames * int(ds.get("Rows") or 0) * int(ds.get("Columns") or 0) * int(ds.get("SamplesPerPixel") or 1)
    if values > MAX_FRAME_FILE_VALUES:
        logger.warning(
            "%s: %d frames of %sx%s are more than medimg decodes at once (%d values; limit %d): not predicted frame "
            "by frame; split it into single-frame files",
            path,
            frames,
            ds.get("Rows"),
            ds.get("Columns"),
            values,
            MAX_FRAME_FILE_VALUES,
        )
        return None
    suffix = path.suffix if len(path.suffix) <= 6 else ""
    stem = path.name[: -len(suffix)] if suffix else path.name
    number = _number(ds.get("SeriesNumber"))
    return SeriesInput(
        folder=path.parent,
        series_uid=str(ds.get("SeriesInstanceUID") or ""),
        files=tuple(path.parent / f"{stem}_frame{n:04d}{suffix}" for n in range(1, frames + 1)),
        key=path,
        modality=str(ds.get("Modality") or "?"),
        number=int(number) if number is not None else None,
        description=str(ds.get("SeriesDescription") or "")[:64],
        frames_of=path,
    )


def read_frame(series: SeriesInput, index: int, volume: ImageData) -> ImageData:
    """Frame ``index`` (0-based) of ``volume``, the multi-frame file of ``series`` read whole, as a 2D image named
    by its frame name (``series.files[index]``)."""
    return frame_of(volume, index, str(series.files[index]))


def frame_of(volume: ImageData, index: int, source: str) -> ImageData:
    """Frame ``index`` (0-based) of a multi-frame image ``volume`` (``(C, frames, H, W)``) as a 2D image: its pixels,
    the in-plane spacing, ``meta["frame"]`` (1-based) and ``meta["frames"]``, named ``source``."""
    from medimg.io.image import ImageData

    spacing = volume.spacing_mm[-2:] if volume.spacing_mm is not None and len(volume.spacing_mm) == 3 else None
    return ImageData(
        array=np.ascontiguousarray(volume.array[:, index]),
        spacing_mm=tuple(spacing) if spacing is not None else None,
        meta={**volume.meta, "frame": index + 1, "frames": volume.array.shape[1]},
        source=source,
    )


def read_series(series: SeriesInput, **options: Any) -> ImageData:
    """The series as one volume (:func:`medimg.io.read_image` on its folder and SeriesInstanceUID; ``options`` as
    for it), its ``source`` the series' :attr:`~SeriesInput.key`.

    Raises:
        ImageReadError: under the series' key; a slice that cannot be read is named in the reason.
    """
    from medimg.io import read_image

    try:
        image = read_image(series.folder, series_uid=series.series_uid, **options)
    except ImageReadError as error:
        if error.path in (str(series.folder), str(series.key)):
            raise
        raise ImageReadError(series.key, f"slice {error.path}: {error.reason}") from error
    image.source = str(series.key)
    return image


def _number(value: Any) -> float | None:
    try:
        return float(value[0] if isinstance(value, (list, tuple)) else value) if value not in (None, "") else None
    except (TypeError, ValueError, IndexError):
        return None


def _series_input(folder: Path, uid: str, items: list[tuple[Path, Any]]) -> SeriesInput:
    """Order the slices and read the series' facts from the headers."""
    from medimg.io.dicom import UNEVEN_ATOL_MM, UNEVEN_RTOL, uneven_spacing
    from medimg.io.dicom_survey import slice_positions

    headers = [ds for _, ds in items]
    positions = slice_positions(headers)
    if positions is not None:
        order = sorted(range(len(items)), key=lambda i: (positions[i], items[i][0].name))
    else:
        order = sorted(
            range(len(items)),
            key=lambda i: (_number(headers[i].get("InstanceNumber")) or math.inf, items[i][0].name),
        )
    first = headers[order[0]]
    dz: float | None = None
    even = False
    uneven = ""
    if positions is not None:
        steps = np.diff(np.sort(positions))
        dz = float(np.median(steps)) if steps.size and float(np.median(steps)) > 0 else None
        even = dz is not None and bool(np.allclose(steps, dz, rtol=UNEVEN_RTOL, atol=UNEVEN_ATOL_MM))
        uneven = "" if even or np.any(steps < 1e-3) else uneven_spacing(positions) or ""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        dz = dz or _number(first.get(keyword))
    pixel = first.get("PixelSpacing") or first.get("ImagerPixelSpacing")
    spacing = None
    if dz and pixel is not None and len(pixel) == 2:
        spacing = (round(dz, 4), float(pixel[0]), float(pixel[1]))
    number = _number(first.get("SeriesNumber"))
    return SeriesInput(
        folder=folder,
        series_uid=uid,
        files=tuple(items[i][0] for i in order),
        key=folder,
        modality=str(first.get("Modality") or "?"),
        number=int(number) if number is not None else None,
        description=str(first.get("SeriesDescription") or "")[:64],
        spacing_mm=spacing,
        evenly_spaced=even,
        uneven=uneven,
    )


def _with_keys(series: list[SeriesInput]) -> list[SeriesInput]:
    """Each series' key: its folder when alone there, else ``folder/series_<number or n>`` (unique)."""
    from dataclasses import replace

    per_folder: dict[Path, list[SeriesInput]] = {}
    for item in series:
        per_folder.setdefault(item.folder, []).append(item)
    keyed: dict[int, SeriesInput] = {}
    for folder, items in per_folder.items():
        if len(items) == 1:
            continue
        used: set[str] = set()
        for n, item in enumerate(items, start=1):
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"series_{item.number if item.number is not None else n}")
            while name in used:
                name += f"_{n}"
            used.add(name)
            keyed[id(item)] = replace(item, key=folder / name)
    return [keyed.get(id(item), item) for item in series]
