"""``Dataset``: a labelled collection of images, loaded lazily from a folder, a CSV manifest or a MedMNIST npz.

``Dataset.load`` reads the layout and labels only; pixels are read on demand with :meth:`Dataset.read`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import SPLITS, Case
from medimg.errors import DatasetError
from medimg.io.image import ImageData

logger = logging.getLogger(__name__)


@dataclass
class Dataset:
    """A labelled image dataset.

    Attributes:
        name: short name used in reports (the folder or file stem).
        root: where it was loaded from.
        source: ``"folder"``, ``"csv"`` or ``"medmnist"``.
        class_names: label names; ``Case.label`` indexes into this list.
        cases: every image, in a stable order.
        window: DICOM/CT window applied when reading (preset name, ``"file"`` or ``(center, width)``).
        spatial_dims: 2 or 3 when known from the layout (npz), otherwise ``None`` until pixels are read.
        arrays: for array-backed datasets, ``{split: (N, *spatial[, C]) uint8}`` as stored in the file.
        options: the loading options (include/exclude patterns...), saved with a run to reload it the same way.
    """

    name: str
    root: Path
    source: str
    class_names: list[str]
    cases: list[Case]
    window: str | tuple[float, float] | None = None
    spatial_dims: int | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: str | tuple[float, float] | None = None,
    ) -> Dataset:
        """Load a dataset's layout and labels (no pixels are read).

        Args:
            path: a folder with one sub-folder per class (optionally inside ``train``/``val``/``test``
                folders), a CSV manifest with columns ``path,label[,patient_id,split]`` (paths relative to
                the CSV's folder), or a MedMNIST ``.npz`` file.
            include: shell patterns (``"*.png"``) a file name must match to count as an image (folders
                only; case-insensitive). Default: every file with an image suffix.
            exclude: shell patterns of file names to skip, e.g. ``"*-d.bmp"`` for the Herlev masks that sit
                beside each cell image (folders only; case-insensitive).
            window: CT/DICOM window applied on read: a preset (``"lung"``, ``"soft-tissue"``, ``"brain"``,
                ``"bone"``...), ``"file"`` for the file's own WindowCenter/Width, or ``(center, width)``.

        Raises:
            DatasetError: the path does not exist, holds no images, has a single class, or a manifest row
                points to a missing file. The message names the path and the fix.
        """
        from medimg.data.sources import load_csv_manifest, load_folder, load_medmnist_npz

        root = Path(path).expanduser()
        if not root.exists():
            raise DatasetError(f"dataset path {root} does not exist: check the path (relative to {Path.cwd()})")
        includes = _patterns(include)
        excludes = _patterns(exclude)
        if root.is_dir():
            dataset = load_folder(root, include=includes, exclude=excludes)
        elif root.suffix.lower() == ".npz":
            dataset = load_medmnist_npz(root)
        elif root.suffix.lower() in {".csv", ".tsv"}:
            dataset = load_csv_manifest(root, include=includes, exclude=excludes)
        else:
            raise DatasetError(
                f"{root} is not a dataset: pass a folder with one sub-folder per class, a CSV manifest "
                "(path,label[,patient_id,split]) or a MedMNIST .npz file"
            )
        dataset.window = window
        dataset.options = {"include": includes, "exclude": excludes, "window": window}
        dataset.validate()
        return dataset

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def has_own_split(self) -> bool:
        """True when every case carries a split from the data itself (npz, nested folders, CSV column)."""
        return bool(self.cases) and all(c.split is not None for c in self.cases)

    def class_counts(self, split: str | None = None) -> dict[str, int]:
        """Images per class, optionally within one of the dataset's own splits."""
        counts = Counter(c.label for c in self.cases if split is None or c.split == split)
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}

    def split_counts(self) -> dict[str, int]:
        """Images per own split (``"none"`` for cases without one)."""
        counts = Counter(c.split or "none" for c in self.cases)
        return {s: counts[s] for s in (*SPLITS, "none") if counts.get(s)}

    def validate(self) -> None:
        """Raise :class:`DatasetError` when the dataset cannot train a classifier."""
        if not self.cases:
            raise DatasetError(
                f"no images found in {self.root}: expected one sub-folder per class holding image files "
                "(PNG, JPEG, BMP, TIFF, DICOM, NIfTI); check --include/--exclude patterns"
            )
        present = {c.label for c in self.cases if c.label is not None}
        if len(present) < 2:
            only = self.class_names[next(iter(present))] if present else "none"
            raise DatasetError(
                f"{self.root} has a single class ({only!r}): a classifier needs at least two classes, "
                "e.g. one sub-folder per class"
            )

    # ------------------------------------------------------------------ pixels
    def read(self, case: Case) -> ImageData:
        """Read one case's pixels as :class:`ImageData` (channel-first float32).

        Raises:
            ImageReadError: the file is unreadable or corrupt (the error names it).
        """
        if case.index is not None and case.split is not None and self.arrays:
            return _medmnist_image(self.arrays[case.split][case.index], self.spatial_dims or 2, case.case_id)
        if case.path is None:
            raise DatasetError(f"case {case.case_id} has neither a file nor an array row")
        from medimg.io import read_image

        return read_image(case.path, window=self.window)

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary (saved in a run folder)."""
        return {
            "name": self.name,
            "root": str(self.root),
            "source": self.source,
            "class_names": self.class_names,
            "num_cases": len(self.cases),
            "class_counts": self.class_counts(),
            "split_counts": self.split_counts(),
            "has_own_split": self.has_own_split,
            "spatial_dims": self.spatial_dims,
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()},
        }


def _patterns(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(value)


def _medmnist_image(row: np.ndarray, spatial_dims: int, source: str) -> ImageData:
    """One MedMNIST row -> channel-first float32 (gray (H,W) / RGB (H,W,3) / volume (D,H,W))."""
    array = np.asarray(row, dtype=np.float32)
    array = np.moveaxis(array, -1, 0) if spatial_dims == 2 and array.ndim == 3 else array[None]
    return ImageData(array=np.ascontiguousarray(array), source=source, meta={"format": "medmnist"})
