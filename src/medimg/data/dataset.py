"""Datasets that know their task: :class:`Dataset` (classification) and :class:`SegmentationDataset` (image/mask pairs).

``Dataset.load`` reads the layout and labels only, through the layout readers of :mod:`medimg.data.layouts`
(chosen by ``task`` or by detection); pixels are read on demand with ``read``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

import numpy as np

from medimg.data.case import SPLITS, Case, SegCase, TaskName
from medimg.errors import ConfigError, DatasetError
from medimg.io.image import ImageData
from medimg.io.inputs import shell_quoted
from medimg.io.limits import CLASSIFY_READ_SIZE

if TYPE_CHECKING:
    from medimg.data.colour_tables import ColourTable
    from medimg.data.mask_grid import BoxPlacement

logger = logging.getLogger(__name__)

Window = str | tuple[float, float]


@dataclass
class Dataset:
    """A labelled image dataset (classification).

    Attributes:
        task: ``"classify"`` (a class attribute; :class:`SegmentationDataset` has ``"segment"``).
        name: short name used in reports (the folder or file stem).
        root: where it was loaded from.
        source: ``"folder"``, ``"csv"``, ``"medmnist"`` or ``"npz"`` (another .npz of images and labels).
        class_names: label names; ``Case.label`` indexes into this list.
        cases: every labelled image, in a stable order.
        window: DICOM/CT window applied when reading (preset name, ``"file"`` or ``(center, width)``).
        spatial_dims: 2 or 3 when known from the layout (npz), otherwise ``None`` until pixels are read.
        arrays: for array-backed datasets, ``{split: (N, *spatial[, C]) uint8}`` as stored in the file.
        options: the loading options (include/exclude patterns...), saved with a run to reload it the same way.
        unlabelled: images without a label (``Case.label is None``): empty CSV label cells, or the loose images
            of a folder loaded with ``unlabelled=True``. Never a class, never in a split, not in ``cases``.
        excluded: images left out of ``cases`` after loading, each ``{"case_id", "path", "label", "reason"}``
            (identical images with conflicting labels: :func:`medimg.data.quality.drop_label_conflicts`).
        multi_label: each image shows any number of ``class_names`` (findings; ``Case.findings``) instead of
            one class: ChestMNIST, NIH ChestX-ray14's ``Finding Labels``, one-hot columns with several set.
        canonical_orientation: classification volumes are read in the closest RAS+ axis order
            (:func:`medimg.io.orientation.canonical`), so volumes stored in different axis orders train and are
            predicted alike; off for a run trained before medimg did so (its plan says which). Detection reads
            volumes as stored (its boxes are given in the stored axes).
    """

    task: ClassVar[TaskName] = "classify"

    name: str
    root: Path
    source: str
    class_names: list[str]
    cases: list[Case]
    window: str | tuple[float, float] | None = None
    spatial_dims: int | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    unlabelled: list[Case] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)
    multi_label: bool = False
    canonical_orientation: bool = True

    @overload
    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        task: Literal["classify"],
        layout: str | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: Window | None = None,
        min_classes: int = 2,
        **layout_options: Any,
    ) -> Dataset: ...

    @overload
    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        task: Literal["segment"],
        layout: str | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: Window | None = None,
        min_classes: int = 2,
        **layout_options: Any,
    ) -> SegmentationDataset: ...

    @overload
    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        task: None = None,
        layout: str | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: Window | None = None,
        min_classes: int = 2,
        **layout_options: Any,
    ) -> Dataset | SegmentationDataset: ...

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        task: TaskName | None = None,
        layout: str | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: Window | None = None,
        min_classes: int = 2,
        **layout_options: Any,
    ) -> Dataset | SegmentationDataset:
        """Load a dataset's layout and labels (no pixels are read), for ``task`` or for the task its layout says.

        The layout is picked from :mod:`medimg.data.layouts`: with ``task``, among that task's layouts; without,
        by detection (an ``images/`` + ``masks/`` or ``labels/`` folder is segmentation data, never two classes).

        Args:
            path: a folder with one sub-folder per class (optionally inside ``train``/``val``/``test``
                folders), a folder of images with masks, a CSV manifest ``path,label[,patient_id,split]`` or
                ``image,mask[,roi,patient_id,split]`` (paths relative to the CSV's folder), or a MedMNIST ``.npz``
                (or its bare name, ``"pneumoniamnist_64"``, once ``medimg download`` has fetched it).
            task: ``"classify"`` (returns a :class:`Dataset`) or ``"segment"`` (a :class:`SegmentationDataset`);
                ``None`` to follow the layout found.
            layout: force a registered layout by name (``"class_folders"``...), skipping detection.
            include: shell patterns (``"*.png"``) a file name must match to count as an image (folders
                only; case-insensitive). Default: every file with an image suffix.
            exclude: shell patterns of file names to skip, e.g. ``"*-d.bmp"`` for the Herlev masks that sit
                beside each cell image (folders only; case-insensitive).
            window: CT/DICOM window applied on read: a preset (``"lung"``, ``"soft-tissue"``, ``"brain"``,
                ``"bone"``...), ``"file"`` for the file's own WindowCenter/Width, or ``(center, width)``.
            min_classes: classification: classes that must be present (2 to train; 1 for an external
                evaluation set, evaluated with the metrics defined on one class).
            **layout_options: options of the chosen layout's reader: ``unlabelled=True`` (class folders, CSV
                manifests: keep an unlabelled pool, allow a dataset that is only a pool), ``colour_table=``
                and ``strict=`` (image/mask pairs, see :meth:`SegmentationDataset.load`).

        Raises:
            DatasetError: the path does not exist, holds no images, has a single class, a manifest row points
                to a missing file, or the data looks like another task's than ``task``. The message names the
                path and the fix.
            ConfigError: an unknown task, layout or layout option.

        Example:
            >>> ds = Dataset.load("data/msd_hippocampus")              # doctest: +SKIP
            >>> ds.task, type(ds).__name__                             # doctest: +SKIP
            ('segment', 'SegmentationDataset')
        """
        from medimg.data.dicom_patients import group_by_dicom_patient
        from medimg.data.layouts import data_root, get_layout, select_layout
        from medimg.data.layouts.common import parse_patterns, table_labels_note
        from medimg.data.layouts.csv_manifest import patients_from_a_table_beside
        from medimg.data.medmnist import resolve_medmnist_name
        from medimg.data.name_patients import group_by_name_patient
        from medimg.data.synthetic_sets import refuse_synthetic_images
        from medimg.io.inputs import refuse_undecodable_dataset

        root = Path(path).expanduser()
        root = resolve_medmnist_name(root) or root  # a bare MedMNIST name: its downloaded file
        if not root.exists():
            raise DatasetError(f"dataset path {root} does not exist: check the path (relative to {Path.cwd()})")
        _refuse_run_folder(root)
        _refuse_several_described_sets(root)
        root = root.absolute()  # its cases' paths too: they stay right after os.chdir (a notebook's %cd)
        if not layout:
            root = data_root(root, task)  # Kaggle's archive/<set>/ holding a label table the wrapper hid
        if layout_options.get("label_column") is None:
            layout_options.pop("label_column", None)
        elif not layout:  # a label table's column: the table layout, whatever else the folder holds
            layout = _label_table_layout(root, str(layout_options["label_column"]), task)
        chosen = get_layout(layout) if layout else select_layout(root, task)
        if task is not None and chosen.task != task:
            raise DatasetError(f"layout {chosen.name!r} reads {chosen.task} data, not {task} data; drop task or layout")
        chosen.check_options(layout_options)
        includes, excludes = parse_patterns(include), parse_patterns(exclude)
        patterns = {"include": includes, "exclude": excludes}
        dataset = chosen.load(root, **{k: v for k, v in patterns.items() if k in chosen.options}, **layout_options)
        refuse_undecodable_dataset(dataset)  # names no JSON or CSV file could record (Latin-1 bytes)
        dataset.window = window
        if isinstance(dataset, SegmentationDataset):
            dataset.cases = group_by_dicom_patient(dataset.cases, root)  # CHAOS's slices listed with their masks
            dataset.cases = patients_from_a_table_beside(dataset.cases, None, root)  # a table of facts at the top
            dataset.cases = group_by_name_patient(dataset.cases, root)  # patient001_frame01_slice5.png, sub-S03044_...
            window_json = list(window) if isinstance(window, tuple) else window
            dataset.options = {
                "include": list(includes),
                "exclude": list(excludes),
                "window": window_json,
                **dataset.options,
            }
            return dataset
        dataset.options = {"include": includes, "exclude": excludes, "window": window, **dataset.options}
        refuse_synthetic_images(dataset)  # generated images in the data would be split into validation and test
        folder = Path(root)
        dataset.cases = group_by_dicom_patient(  # slices of one patient stay on one side
            dataset.cases, root, lambda: table_labels_note(folder) if folder.is_dir() else ""
        )
        dataset.cases = patients_from_a_table_beside(dataset.cases, None, root)  # GRAZPEDWRI-DX's dataset.csv
        dataset.cases = group_by_name_patient(dataset.cases, root)  # person1_bacteria_1.jpeg, CNV-1016042-1.jpeg
        dataset.validate(min_classes=min_classes)
        return dataset

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __getitem__(self, index: int) -> Case:
        """The ``index``-th case (``dataset.read(dataset[0])`` reads its pixels)."""
        return self.cases[index]

    def __repr__(self) -> str:
        names = ", ".join(self.class_names[:6]) + (", ..." if len(self.class_names) > 6 else "")
        kind = "findings" if self.multi_label else "classes"
        return _summary(self, f"{len(self.class_names)} {kind} ({names})", len(self.unlabelled))

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def has_own_split(self) -> bool:
        """True when every case carries a split from the data itself (npz, nested folders, CSV column)."""
        return bool(self.cases) and all(c.split is not None for c in self.cases)

    def class_counts(self, split: str | None = None) -> dict[str, int]:
        """Images per class (multi-label: images showing each finding), optionally within one of the dataset's own
        splits."""
        chosen = [c for c in self.cases if split is None or c.split == split]
        if self.multi_label:
            counts: Counter[int | None] = Counter(i for c in chosen for i in c.findings or ())
        else:
            counts = Counter(c.label for c in chosen)
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}

    def split_counts(self) -> dict[str, int]:
        """Images per own split (``"none"`` for cases without one)."""
        counts = Counter(c.split or "none" for c in self.cases)
        return {s: counts[s] for s in (*SPLITS, "none") if counts.get(s)}

    def validate(self, min_classes: int = 2) -> None:
        """Raise :class:`DatasetError` when the dataset cannot train a classifier (fewer than ``min_classes``
        classes present; 1 for an external evaluation set).

        A dataset that is only an unlabelled pool (no labelled case) is valid when it was loaded with
        ``unlabelled=True``.
        """
        if not self.cases:
            if self.unlabelled and self.options.get("unlabelled"):
                return
            if self.unlabelled:
                raise DatasetError(
                    f"all {len(self.unlabelled)} images in {self.root} are unlabelled: fill in their labels, or use "
                    "them as a pool (`medimg fit DATA --unlabelled POOL`; Python: unlabelled=True) or predict them "
                    "(`medimg predict RUN POOL`)"
                )
            from medimg.io.formats import unread_files_note

            if Path(self.root).is_file():  # a table given as the data: "one sub-folder per class" was no fix for it
                raise DatasetError(
                    f"no images listed in {self.root}: the table has no row naming an image (a header alone?), or "
                    "--include/--exclude left none; add one row per image (path,label)"
                )
            raise DatasetError(
                f"no images found in {self.root}: expected one sub-folder per class holding image files "
                "(PNG, JPEG, BMP, TIFF, DICOM, NIfTI, MHA/NRRD, NumPy .npy); check --include/--exclude patterns"
                + unread_files_note(Path(self.root))
                + _tables_note(Path(self.root))
            )
        if self.multi_label:  # an external evaluation set (min_classes=1) may show no finding at all
            if min_classes > 1 and not any(c.findings for c in self.cases):
                raise DatasetError(f"{self.root}: no image shows any of the findings {', '.join(self.class_names)}")
            return
        present = {c.label for c in self.cases if c.label is not None}
        if len(present) < min_classes:
            only = self.class_names[next(iter(present))] if present else "none"
            from medimg.data.layouts.common import json_labels_note, table_labels_note

            raise DatasetError(
                f"{self.root} has a single class ({only!r}): a classifier needs at least two classes, "
                "e.g. one sub-folder per class, or a CSV manifest with path,label columns naming each image's class "
                "(labels in file names, such as Shenzhen's _0/_1, are not read)"
                + (table_labels_note(Path(self.root)) or json_labels_note(Path(self.root)))
            )

    # ------------------------------------------------------------------ pixels
    def read(self, case: Case) -> ImageData:
        """Read one case's pixels as :class:`ImageData` (channel-first float32).

        A classification image far larger than any network input (over 8192 px per side) is read reduced, so a
        huge file costs its reduced size (see :data:`medimg.io.limits.CLASSIFY_READ_SIZE`; prediction reads so
        too); boxes and masks (the other tasks) need every pixel.

        A case whose path is a folder (a CSV row naming a DICOM series folder, a series in a class folder) is read
        as one volume, with the same intensity rules as a file (:func:`medimg.io.read_image`; prediction reads it
        so too).

        Raises:
            ImageReadError: the file is unreadable or corrupt (the error names it), or too large to read.
        """
        row = self.array_row(case)
        if row is not None:
            return _medmnist_image(row, self.spatial_dims or 2, case.case_id)
        if case.path is None:
            raise DatasetError(f"case {case.case_id} has neither a file nor an array row")
        from medimg.io import read_image

        if self.task != "classify":
            return read_image(case.path, window=self.window, series_uid=case.series_uid)
        image = read_image(case.path, window=self.window, target_size=CLASSIFY_READ_SIZE, series_uid=case.series_uid)
        from medimg.io.orientation import canonical, picture_order

        image = picture_order(image)  # a 2D .mha/.nrrd as the picture a PNG of it is
        if self.canonical_orientation:
            image = canonical(image)[0]
        return image

    def array_row(self, case: Case) -> Any:
        """The case's row of an array-backed dataset (an ``.npz``; its split's array, or the one array of data
        without a split), ``None`` for a case read from a file."""
        if case.index is None or not self.arrays:
            return None
        rows = self.arrays[case.split] if case.split in self.arrays else self.arrays["all"]
        return rows[case.index]

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary (saved in a run folder)."""
        return {
            "name": self.name,
            "root": str(self.root),
            "source": self.source,
            "task": self.task,
            "class_names": self.class_names,
            "num_cases": len(self.cases),
            "class_counts": self.class_counts(),
            **(
                {"multi_label": True, "images_without_findings": sum(not c.findings for c in self.cases)}
                if self.multi_label
                else {}
            ),
            "split_counts": self.split_counts(),
            "has_own_split": self.has_own_split,
            "spatial_dims": self.spatial_dims,
            "unlabelled_images": len(self.unlabelled),
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()},
            **({"excluded": self.excluded} if self.excluded else {}),
        }


def _tables_note(root: Path, most: int = 2_000) -> str:
    """``"; its sub-folders hold 130 CSV tables ..."`` when a folder without images holds tables in its sub-folders
    (OpenKBP's ``pt_1/ct.csv``, ``dose.csv``, ``Brainstem.csv``: volumes stored as sparse tables), else ``""``."""
    import itertools

    from medimg.io.folder_walk import walk_tree

    if not root.is_dir():
        return ""
    tables = [p for p in itertools.islice(walk_tree(root), most) if p.suffix.lower() in (".csv", ".tsv")]
    below = [p for p in tables if p.parent != root]
    if not below:
        return ""
    return (
        f"; its sub-folders hold {len(below)} CSV/TSV table(s) (e.g. {below[0].relative_to(root)}), which are not "
        "images: volumes stored as tables (OpenKBP's sparse CSV) need converting to NIfTI first, and a label table "
        "is given as the data itself (medimg fit TABLE.csv)"
    )


def label_column_task_problem(task: str | None) -> str | None:
    """Why ``--label-column`` does not go with ``task`` (a column of classes is classification's), or ``None``."""
    if task in (None, "auto", "classify"):
        return None
    return (
        f"--label-column names the column of classes of a label table, for classification; the {task} task reads no "
        "such column: leave it out"
    )


def _label_table_layout(root: Path, label_column: str, task: TaskName | None) -> str:
    """The layout that reads ``label_column`` of ``root``'s label table (``label_column=``, ``--label-column``).

    Raises:
        DatasetError: the task is not classification, or ``root`` is no label table nor a folder holding one with
            that column."""
    from medimg.data.layouts import csv_manifest

    problem = label_column_task_problem(task)
    if problem:
        raise DatasetError(problem)
    if not csv_manifest.reads_label_column(root, label_column):
        several = csv_manifest.tables_with_column(root, label_column) if root.is_dir() else []
        if len(several) > 1:
            raise DatasetError(
                f"--label-column {label_column!r}: {root} holds {len(several)} tables with that column "
                f"({', '.join(p.name for p in several)}): give the one that labels the images, e.g. medimg fit "
                f"{shell_quoted(several[0])} --label-column {shell_quoted(label_column)}"
            )
        below = _tables_below_with_column(root, label_column)
        column = shell_quoted(label_column)  # GlaS's "grade (GlaS)": unquoted, a shell syntax error
        where = (
            f"; a table below it has that column: medimg fit {shell_quoted(below[0])} --label-column {column}"
            if below
            else f"; give the table's path, e.g. medimg fit TABLE.csv --label-column {column}"
        )
        raise DatasetError(
            f"--label-column {label_column!r}: {root} is no label table (CSV, TSV or Excel) and holds none at its top "
            f"with a column {label_column!r}{where}"
        )
    return "csv_manifest"


def _tables_below_with_column(root: Path, label_column: str, limit: int = 2000) -> list[Path]:
    """The tables in the folders below ``root`` (among its first ``limit`` files) whose header has ``label_column``
    (CRIC's ``base/classifications.csv`` of ``bethesda_system`` under the folder given: the refusal said the folder
    held no table with the column)."""
    from medimg.data.layouts.common import column_key, is_manifest, manifest_header, walk_files

    if not root.is_dir():
        return []
    key = column_key(label_column)
    return [f for f in walk_files(root, limit) if f.parent != root and is_manifest(f) and key in manifest_header(f)]


def _refuse_several_described_sets(root: Path) -> None:
    """A folder of several data sets each described by its own ``dataset.json`` (the Medical Segmentation
    Decathlon's ``Task02_Heart/``, ``Task03_Liver/``..., nnU-Net's ``Dataset001_*/``...): read as one, their label
    1 (left atrium, liver, vessel) was one class, MRI and CT one input.

    Raises:
        DatasetError: naming the sets and how to give one.
    """
    from medimg.data.layouts.common import sub_folders
    from medimg.data.layouts.dataset_json import DATASET_JSON

    if not root.is_dir() or (root / DATASET_JSON).is_file():
        return
    described = [folder for folder in sub_folders(root, 200) if _describes_a_set(folder / DATASET_JSON)]
    if len(described) < 2:
        return
    names = ", ".join(f"{folder.name}/" for folder in described[:6]) + (", ..." if len(described) > 6 else "")
    raise DatasetError(
        f"{root} holds {len(described)} data sets, each with its own {DATASET_JSON} ({names}): their labels and "
        f"images differ, one model cannot learn them together; give one (medimg fit {shell_quoted(described[0])})"
    )


#: keys of an MSD or nnU-Net ``dataset.json`` (a run folder's own ``dataset.json`` has none of them)
DESCRIPTION_KEYS = frozenset({"labels", "training", "numTraining", "modality", "channel_names"})


def _describes_a_set(path: Path) -> bool:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and bool(DESCRIPTION_KEYS & content.keys())


def _refuse_run_folder(root: Path) -> None:
    """A training run's folder given as data (its reports read as a class "report").

    Raises:
        DatasetError: ``root`` is a run folder; the message names the data it was trained on when it says.
    """
    if not root.is_dir():
        return
    records = {}
    for name, keys in (("config.json", {"task", "data", "options"}), ("metadata.json", {"medimg_version", "task"})):
        try:
            record = json.loads((root / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and keys <= set(record):  # what fit writes: not a data set's own config.json
            records[name] = record
    if not records:
        return
    trained_on = records.get("config.json", {}).get("data")
    source = f" (it was trained on {trained_on})" if trained_on else ""
    raise DatasetError(
        f"{root} is a medimg run folder, not data{source}: give the images (a folder of class folders, images with "
        "masks, a CSV manifest...); the run goes to medimg predict/evaluate RUN"
    )


def _summary(dataset: Dataset | SegmentationDataset, what: str, unlabelled: int) -> str:
    """A dataset's one-line ``repr``: name, size, what it holds and its own split (never every case: a notebook
    showed hundreds of KB for one ``ds``)."""
    from medimg.run_folder import shown_path

    counts = dataset.split_counts()
    split = "no split of its own" if set(counts) <= {"none"} else " / ".join(f"{k} {v}" for k, v in counts.items())
    extra = f", {unlabelled} unlabelled" if unlabelled else ""
    return (
        f"{type(dataset).__name__}({dataset.name!r}, {len(dataset)} images, {what}, {split}{extra}, "
        f"source={dataset.source!r}, root={shown_path(dataset.root)!r})"
    )


def _medmnist_image(row: np.ndarray, spatial_dims: int, source: str) -> ImageData:
    """One MedMNIST row -> channel-first float32 (gray (H,W) / RGB (H,W,3) / volume (D,H,W))."""
    array = np.asarray(row, dtype=np.float32)
    array = np.moveaxis(array, -1, 0) if spatial_dims == 2 and array.ndim == 3 else array[None]
    return ImageData(array=np.ascontiguousarray(array), source=source, meta={"format": "medmnist"})


@dataclass
class SegSample:
    """Pixels of one case: the image, its raw mask values and the region of interest.

    Attributes:
        image: the image as read (``array`` ``(C, *spatial)`` float32 with geometry).
        mask: raw mask values ``(C, *spatial)`` float32 (``None`` if unlabelled); decode with
            :func:`~medimg.tasks.segment.labels.encode_mask`.
        roi: ``(*spatial)`` bool, True inside the region of interest, or ``None``.
    """

    image: ImageData
    mask: np.ndarray | None
    roi: np.ndarray | None


@dataclass
class SegmentationDataset:
    """Image/mask pairs, loaded lazily (segmentation).

    Attributes:
        task: ``"segment"`` (a class attribute).
        name: short name used in reports.
        root: where it was loaded from.
        source: ``"folder"`` or ``"csv"``.
        cases: the labelled cases, in a stable order.
        colour_table: colour -> class table for colour-coded masks (``None`` for gray masks).
        unlabelled: images without a mask, as paths relative to the root (not used for training or evaluation).
        unpaired: masks without an image.
        window: CT window applied to images on read.
        options: loading options, saved with a run.
        value_names: ``{mask value: class name}`` the annotations give (COCO categories drawn into masks); empty
            when the masks' names come from a ``dataset.json`` or nowhere.
        canonical_orientation: volumes (with their masks) are read in the closest RAS+ axis order
            (:func:`medimg.io.orientation.canonical`), so cases stored in different axis orders train and are scored
            alike; off for a run trained before medimg did so (its plan says which).
        channel_names: each image channel's name, first to last: its ``dataset.json``'s ``channel_names`` (or
            MSD's ``modality``), else the names in the cases' channel file endings (BraTS's ``flair``, ``t1``...);
            ``None`` when unknown. Recorded by a run and compared with the data it is given.
        channel_order: read the image channels in this order (``array[channel_order]``): another set's channels put
            in a run's order by their names (:func:`medimg.planning.domain.order_of_channels`); ``None`` as stored.
    """

    task: ClassVar[TaskName] = "segment"

    name: str
    root: Path
    source: str
    cases: list[SegCase]
    colour_table: ColourTable | None = None
    unlabelled: list[str] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)
    window: str | tuple[float, float] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    value_names: dict[int, str] = field(default_factory=dict)
    canonical_orientation: bool = True
    channel_names: list[str] | None = None
    channel_order: tuple[int, ...] | None = None

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        colour_table: str | Path | dict[str, Any] | ColourTable | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: Window | None = None,
        strict: bool = False,
        rle_order: str | None = None,
    ) -> SegmentationDataset:
        """Find the image/mask pairs under ``path`` (a folder or a CSV manifest); reads no pixels.

        The ``image_mask_pairs`` layout without detection (see :mod:`medimg.data.layouts.image_mask_pairs` for
        the folder layouts it recognises); ``Dataset.load(path, task="segment")`` is the same with detection. A
        path that holds no image/mask pairs but COCO or YOLO segmentation (outlines) gets its masks drawn
        (:mod:`medimg.data.layouts.coco_masks`, :mod:`~medimg.data.layouts.yolo_masks`), and a path another
        segmentation layout detects is read by it (structure masks, structure folders, ImageScope outlines:
        :mod:`medimg.data.layouts`); ``colour_table`` and ``strict`` do not apply to these.

        Args:
            path: a folder of images and masks or a CSV manifest ``image,mask[,roi,patient_id,split]``.
            colour_table: for colour-coded masks: a built-in name (``"herlev"``), a JSON file or a mapping.
                Herlev-style ``*-d.bmp`` masks select ``"herlev"`` automatically.
            include: file-name patterns an image or mask must match (comma-separated or a list).
            exclude: file-name patterns to skip.
            window: CT window applied to the images on read (see :func:`medimg.io.read_image`).
            strict: raise on masks without an image instead of warning.
            rle_order: a run-length table's pixel numbering (``"F"``, ``"C"``; default: read from the data), see
                :mod:`medimg.data.layouts.rle_masks`.

        Raises:
            DatasetError: missing path, no images, no pairs, a manifest row pointing to a missing file, or
                (``strict``) unpaired masks. The message names the files and the fix.
            ConfigError: ``rle_order`` for data that is no run-length table.
        """
        from medimg.data.layouts import data_root, deriving_layout, detect_layout

        root = Path(path).expanduser()
        root = data_root(root, "segment") if root.is_dir() else root
        other = None  # another segmentation layout (structure masks...), or masks drawn from COCO / YOLO outlines
        detected = detect_layout(root) if root.exists() else None
        if detected is not None and detected.task == "segment":
            other = None if detected.name == "image_mask_pairs" else detected
        elif detected is not None:
            other = deriving_layout(root, "segment")
        if rle_order is not None and (other is None or other.name != "rle_masks"):
            raise ConfigError(
                f"rle_order applies to a table of run-length masks; {root} is read as "
                f"{other.description if other is not None else 'image/mask pairs'}: leave rle_order out"
            )
        if other is not None:
            order: dict[str, Any] = {"rle_order": rle_order} if rle_order is not None else {}
            return Dataset.load(
                root, task="segment", layout=other.name, include=include, exclude=exclude, window=window, **order
            )
        return Dataset.load(
            root,  # inside a wrapper folder (AMOS' amos22/ with its dataset.json): as Dataset.load reads it
            task="segment",
            layout="image_mask_pairs",
            include=include,
            exclude=exclude,
            window=window,
            colour_table=colour_table,
            strict=strict,
        )

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index: int) -> SegCase:
        """The ``index``-th case (``dataset.read(dataset[0])`` reads its image and mask)."""
        return self.cases[index]

    def __repr__(self) -> str:
        return _summary(self, "image/mask pairs", len(self.unlabelled))

    @property
    def has_own_split(self) -> bool:
        """True when every case carries a split from the data itself."""
        return bool(self.cases) and all(c.split is not None for c in self.cases)

    def split_counts(self) -> dict[str, int]:
        """Cases per own split (``"none"`` for cases without one)."""
        counts: dict[str, int] = defaultdict(int)
        for c in self.cases:
            counts[c.split or "none"] += 1
        return dict(counts)

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary (saved in a run folder)."""
        return {
            "name": self.name,
            "root": str(self.root),
            "source": self.source,
            "task": self.task,
            "num_cases": len(self.cases),
            "with_roi": sum(c.roi is not None for c in self.cases),
            "split_counts": self.split_counts(),
            "has_own_split": self.has_own_split,
            "unlabelled_images": len(self.unlabelled),
            "unpaired_masks": self.unpaired,
            "options": self.options,
            **({"channel_names": self.channel_names} if self.channel_names else {}),
        }

    # ------------------------------------------------------------------ pixels
    def read(self, case: SegCase) -> SegSample:
        """Read one case's image, raw mask and ROI, checking that their sizes agree.

        A 2D mask (or ROI) at another resolution over the image's field of view is resized onto the image's grid
        (:mod:`medimg.data.mask_grid`, one warning per folder; ``image.meta["mask_resized_from"]`` keeps its size).

        Raises:
            ImageReadError: a file is unreadable.
            DatasetError: the mask (or ROI) does not have the image's size, nor its aspect ratio in 2D.
        """
        from medimg.io import read_image
        from medimg.io.channels import channel_suffixes, stack_channels

        if case.page is not None:  # a section of a stack
            from medimg.data.tiff_stacks import stack_page

            image = stack_page(case.image, case.page, window=self.window)
        else:
            image = read_image(case.image, window=self.window)
        if case.channels:  # nnU-Net's channel files of one case, BraTS's modalities
            image = stack_channels([image, *(read_image(path, window=self.window) for path in case.channels)])
            image.meta["channel_suffixes"] = channel_suffixes([case.image, *case.channels])
        image = self._named_channels(case, image)
        geometries: list[tuple[Path, np.ndarray]] = []
        placed: list[Path] = []
        mask = read_case_mask(  # a colour table maps colours; a mask stored otherwise is put on the image's grid
            case,
            palette_indices=self.colour_table is None,
            image_affine=image.affine,
            image_shape=image.spatial_shape,
            geometries=geometries,
            placed=placed,
        )
        if placed:
            image.meta["mask_placed"] = [str(path) for path in placed]
        if mask is not None and case.mask is not None:
            mask = _on_image_axes(case, image, mask, case.mask)
            mask = _on_image_grid(case, image, mask, case.mask, "mask")
            if "mask_resized_from" not in image.meta:  # a mask on another grid on purpose: said so already
                _note_other_geometry(case, image, geometries)
        roi = None
        if case.roi is not None:
            roi_array = read_image(case.roi).array
            swapped = _in_image_axis_order(roi_array, case.roi, case.image)
            roi_array = _on_image_axes(case, image, roi_array if swapped is None else swapped, case.roi)
            roi_array = _on_image_grid(case, image, roi_array, case.roi, "region-of-interest mask")
            roi = roi_array.max(axis=0) > (0.5 if roi_array.max() <= 1 else 127)
        if self.canonical_orientation:
            from medimg.io.orientation import canonical

            image, orientation = canonical(image)
            if orientation is not None:
                mask = orientation.apply(mask) if mask is not None else None
                roi = orientation.apply(roi) if roi is not None else None
        return SegSample(image=image, mask=mask, roi=roi)

    def _named_channels(self, case: SegCase, image: ImageData) -> ImageData:
        """``image`` with its channels in :attr:`channel_order` and their :attr:`channel_names` in its meta.

        Raises:
            ImageReadError: the image has another number of channels than the names say (a 4D file whose 4th axis is
                not its channels: a cine's time frames against a dataset.json naming one channel).
        """
        from dataclasses import replace

        from medimg.errors import ImageReadError

        names = self.channel_names
        time = image.meta.get("time_axis")
        if time and not names:
            _warn_once_per_folder(
                case.image.parent,
                "%s: its header says the 4th axis is time (%s), not channels, yet a 4D file's 4th axis is read as its "
                "channels: the model will take the frames as %d modalities and expect every input to have exactly "
                "%d frames. To segment frames, save each frame (or the one annotated) as its own 3D file; if the "
                "volumes are channels, set the header's time unit to unknown, or name them in a dataset.json "
                "(channel_names). Other such files in %s are read the same way",
                case.image,
                time,
                image.channels,
                image.channels,
                case.image.parent,
            )
        if not names:
            return image
        counted = bool(case.channels) or image.meta.get("format") == "nifti"  # a raster's colour channels go unnamed
        if counted and image.channels != len(names):
            what = (
                f"{image.channels} volumes along its 4th axis, which its header says is time ({time})"
                if time
                else f"{image.channels} channels"
            )
            raise ImageReadError(
                case.image,
                f"this case has {what}, but the dataset names {len(names)} channel(s) ({', '.join(names)}"
                f"{', in its dataset.json' if not case.channels else ''}): give each case one file per named channel "
                "(nnU-Net's <case>_0000, _0001...), or fix the channel names"
                + ("; to segment one frame of a time series, save that frame as its own 3D file" if time else ""),
            )
        if image.channels != len(names):
            return image
        if self.channel_order is not None:
            order = list(self.channel_order)
            image = replace(image, array=image.array[order], meta=dict(image.meta))
            if image.meta.get("channel_suffixes"):
                image.meta["channel_suffixes"] = [image.meta["channel_suffixes"][i] for i in order]
            names = [names[i] for i in order]
        image.meta["channel_names"] = list(names)
        return image


def read_case_mask(
    case: SegCase,
    *,
    palette_indices: bool = True,
    image_affine: np.ndarray | None = None,
    image_shape: Sequence[int] | None = None,
    geometries: list[tuple[Path, np.ndarray]] | None = None,
    placed: list[Path] | None = None,
) -> np.ndarray | None:
    """The raw mask of ``case`` (``(C, *spatial)``, as the file stores it; a colour palette PNG as its indices unless
    ``palette_indices`` is false, see :func:`medimg.io.read_mask`), with its :attr:`SegCase.extra_masks` merged in
    (the larger value where they overlap: the union of binary masks), except those that mostly cover the first (a
    second observer's annotation of the same structure, left out with one warning per folder); ``None`` without a
    mask. With ``image_affine`` (the image's geometry), a mask file stored in another voxel orientation is brought
    onto the image's grid (:func:`medimg.io.orientation.reorient_like`, one warning per folder); with
    ``image_shape`` too, a mask volume of another size whose header places it on a box of the image's voxel grid (3D
    Slicer's segmentation cropped to its segments) is put there (:func:`medimg.data.mask_grid.box_on_image_grid`,
    one warning per folder; its file appended to ``placed``). ``geometries``, when given, receives ``(file,
    affine)`` of each mask file with a geometry, the affine as the array is returned (after any reorientation or
    placement), for comparing with the image's (:func:`_note_other_geometry`).

    Raises:
        ImageReadError: a mask file is unreadable.
        DatasetError: an extra mask does not have the first one's size.
    """
    from medimg.io import read_image, read_mask

    if case.mask is None:
        return None
    read = read_mask if palette_indices else read_image

    def read_aligned(path: Path) -> np.ndarray:
        from medimg.data.mask_grid import aligned_to_image

        if case.page is not None:  # a section of a stack
            from medimg.data.tiff_stacks import stack_page

            return stack_page(path, case.page, mask="indices" if palette_indices else "colours").array
        if case.segments and path == case.mask:  # a Slicer segmentation: its segments painted as their classes
            from dataclasses import replace

            from medimg.data.slicer_classes import painted

            data = read_image(path)
            data = replace(data, array=painted(data.array, case.segments, path))
        else:
            data = read(path)
        swapped = _in_image_axis_order(data.array, path, case.image)
        if swapped is not None:  # a 2D (x, y) mask of a picture: no geometry of the image to align it with
            return swapped
        aligned = aligned_to_image(data.array, data.affine, image_affine, image_shape)
        if aligned.reoriented:
            _note_reoriented(path, case.image)
        if aligned.box is not None:
            _note_placed(path, case.image, aligned.box)
            if placed is not None:
                placed.append(path)
        if geometries is not None and aligned.affine is not None:
            geometries.append((path, aligned.affine))
        return aligned.array

    if case.structures:
        return _composed_structures(case, read_aligned)
    first = read_aligned(case.mask)
    mask = first
    for extra in case.extra_masks:
        other = read_aligned(extra)
        if other.shape != first.shape:
            raise DatasetError(
                f"mask {extra} has size {tuple(other.shape)} but the first mask of its image, {case.mask}, has size "
                f"{tuple(first.shape)}: every mask of one image must have its size (re-export it, or remove it)"
            )
        if extra.parent != case.mask.parent and not np.any(first):  # no structure to merge a part of another into
            _note_left_out(EMPTY_FIRST_NOTE, extra, case.mask, case.extra_masks)
            continue
        overlap = _overlap_kind(first, other)
        if overlap == "observer":  # a second observer's annotation: the first one is the reference
            _note_left_out(OBSERVER_NOTE, extra, case.mask, case.extra_masks)
            continue
        if overlap == "nested":  # a lesion inside its organ: merged, the lesion would vanish into the organ
            _note_left_out(NESTED_NOTE, extra, case.mask, case.extra_masks)
            continue
        if extra.parent.parent != case.mask.parent.parent:  # not sibling folders (leftMask/, rightMask/)
            _note_left_out(OTHER_SET_NOTE, extra, case.mask, case.extra_masks)
            continue
        mask = np.maximum(mask, other)
    return mask


def _composed_structures(case: SegCase, read: Callable[[Path], np.ndarray]) -> np.ndarray:
    """One ``(1, *spatial)`` label map from ``case.structures``: each file's foreground (any channel above 0; above
    127 in a JPEG, whose compression leaves faint values around a mask's edges) takes its structure's value; where
    two overlap, the later one (by name) wins, and a warning (once per folder) says which lost how many pixels."""
    labels: np.ndarray | None = None
    source: dict[int, Path] = {}
    for value, path in case.structures:
        foreground = read(path).max(axis=0) > (127 if path.suffix.lower() in (".jpg", ".jpeg") else 0)
        if labels is None:
            labels = np.zeros(foreground.shape, np.uint8 if len(case.structures) < 256 else np.uint16)
        elif foreground.shape != labels.shape:
            raise DatasetError(
                f"structure mask {path} has size {foreground.shape} but {case.structures[0][1].name} beside it has "
                f"{labels.shape}: every structure mask of {case.image.name} must have the image's size"
            )
        covered = labels[foreground]
        if covered.any():
            _note_structures_overlap(path, source, covered, _structure_naming(case, path))
        labels[foreground] = value
        source[value] = path
    assert labels is not None
    return labels[None]


def _structure_naming(case: SegCase, path: Path) -> tuple[str, Path, str]:
    """How the structure of ``case``'s mask ``path`` is named: ``(name, what its overlap warning is given once for,
    the --exclude pattern leaving it out)``. Each structure a folder of masks (IDRiD's ``5. Optic Disc/``): the
    folder; a file named ``<image>_<structure>`` in a folder of masks (EDD2020's ``masks/EDD2020_ACB0001_BE.tif``):
    the name after the image's, once over the folder; else a file name in each case's folder (TotalSegmentator's
    ``s0000/segmentations/liver.nii.gz``), once per name over the set."""
    from medimg.data.layouts.named_structure_masks import structure_of
    from medimg.io.formats import file_stem

    if len({p.parent for _, p in case.structures}) > 1:
        return path.parent.name, path.parent, f"{path.parent.name}/*"
    stem = file_stem(path)
    named = structure_of(stem, {file_stem(case.image)})
    if named is not None:
        return named[1], path.parent / named[1], named[1]
    return stem, path.parents[min(2, len(path.parents) - 1)] / path.name, path.name


def _note_structures_overlap(
    path: Path, source: dict[int, Path], covered: np.ndarray, naming: tuple[str, Path, str]
) -> None:
    """Warn once that ``path``'s structure covers pixels of earlier structures of its image (IDRiD's optic disc over
    its haemorrhages and exudates): one label map keeps one class a pixel, the later's. ``naming``: the structure's
    name, what the warning is given once for and the pattern that leaves it out (:func:`_structure_naming`)."""
    lost = {int(v): int(n) for v, n in zip(*np.unique(covered[covered > 0], return_counts=True), strict=True)}
    shown = ", ".join(f"{n} of {source[v].parent.name}/{source[v].name}" for v, n in lost.items() if v in source)
    structure, once_for, pattern = naming
    _warn_once_per_folder(
        once_for,
        "%s overlaps other structure masks of its image (%s pixels): a label map holds one class a pixel, so "
        "%s is trained there and the others lose those pixels; the other images' %s masks are read the same "
        "way. To train an overlapped structure whole, train it alone (--exclude '%s' leaves this one out)",
        path,
        shown,
        structure,
        structure,
        pattern,
    )


#: two masks of one image whose foregrounds overlap by more than this share of the smaller one annotate the same
#: structure (two observers) or one inside the other (a lesion in its organ); less: different parts of one ground
#: truth (two lesions, two lungs), merged
SAME_STRUCTURE_OVERLAP = 0.5
#: overlapping masks whose intersection over union is at most this are one structure inside another, not two
#: observers' outlines of one
NESTED_IOU = 0.5


def _overlap_kind(first: np.ndarray, other: np.ndarray) -> str | None:
    """``"observer"`` (two outlines of one structure), ``"nested"`` (one structure inside the other: COVID-19 CT's
    infection inside its lung mask) or ``None`` (separate parts of one ground truth, to be merged)."""
    a, b = first.max(axis=0) > 0, other.max(axis=0) > 0
    smaller = min(int(a.sum()), int(b.sum()))
    shared = int((a & b).sum())
    if smaller == 0 or shared <= SAME_STRUCTURE_OVERLAP * smaller:
        return None
    return "observer" if shared > NESTED_IOU * int((a | b).sum()) else "nested"


#: why a further mask is left out (formatted with the mask, the first mask, its folder, the mask's folder, and the
#: two folders' names)
NESTED_NOTE = (
    "%s and %s are one structure inside another (most of the smaller lies in the larger, which is more than twice its "
    "size: a lesion in its organ), so merging them would erase the smaller one: the first, %s, is trained; the other "
    "masks in %s are left out the same way. To train on %s's masks instead: --exclude '%s/*'; to train both as "
    "classes, give each image one label map (0 background, 1 and 2 the structures)"
)
EMPTY_FIRST_NOTE = (
    "%s is not merged into %s, which is empty: a mask of another folder is merged only as a part of a structure the "
    "first mask shows (Montgomery's two lungs); over an empty first mask it is another structure (COVID-QU-Ex's lung "
    "mask where the infection mask is empty), so %s's masks are trained; the other masks in %s are left out the same "
    "way where the first is empty. To train on %s's masks instead: --exclude '%s/*'"
)
#: Tufts Dental's Segmentation/teeth_mask/ beside Expert/mask/: merged where they overlapped little, left out where
#: one lay inside the other, so half the images trained teeth and abnormalities as one class, half abnormalities
OTHER_SET_NOTE = (
    "%s is not merged into %s: their folders are no siblings (as leftMask/ and rightMask/ are), so they are two sets "
    "of annotations, not parts of one: the first, %s, is trained; the other masks in %s are left out the same way. "
    "To train on %s's masks instead: --exclude '%s/*'"
)
OBSERVER_NOTE = (
    "%s overlaps %s mostly: read as another annotation of the same structure (a second observer's), not used (the "
    "first, %s, is the reference); the other masks in %s are read the same way. To train on %s's masks instead, "
    "leave the reference's out: --exclude '%s/*'"
)


def _note_left_out(note: str, extra: Path, reference: Path, further: Sequence[Path] = ()) -> None:
    """Warn once per folder that ``extra`` (a further mask of ``reference``'s image) is left out, and why; masks of
    one folder told apart by the last word of their names (LNDb's ``LNDb-0001_rad1.mhd``, ``_rad2``) are chosen by
    that word (``--exclude '*_rad1*'``), not by their folder. The way to train ``extra``'s masks instead leaves out the
    reference's folder and those of the image's other ``further`` masks (Tufts Dental's ``Expert/mask/``,
    ``Student/mask/`` and ``Segmentation/maxillomandibular/`` to train ``Segmentation/teeth_mask/``: leaving out the
    reference alone made the next folder's masks the reference)."""
    import re

    from medimg.io.formats import file_stem

    # the reference's folder by as much of its path as tells it from the other's, at any depth: '*infection masks/*'
    # (COVID-QU-Ex's, below the set's folders), '*Annotator 1/label masks modify/*' (CryoNuSeg's two annotators'
    # folders of one name); its name alone matched only a folder at the top of the data
    def shown(folder: Path) -> str:
        return f"*{folder.relative_to(Path(os.path.commonpath([extra.parent, folder]))).as_posix()}"

    others = dict.fromkeys(p.parent for p in further if p.parent not in (extra.parent, reference.parent))
    names = (extra.parent.name, "/*,".join(shown(folder) for folder in (reference.parent, *others)))
    first = reference.parent
    tags = [re.search(r"([-_. ])([^-_. ]+)$", file_stem(p)) for p in (extra, reference)]
    if extra.parent == reference.parent and tags[0] and tags[1] and tags[0].group(2) != tags[1].group(2):
        note = note.replace("'%s/*'", "'%s'")
        names, first = (tags[0].group(2), f"*{tags[1].group(1)}{tags[1].group(2)}*"), reference
    _warn_once_per_folder(extra.parent, note, extra, reference, first, extra.parent, *names)


def _note_reoriented(mask: Path, image: Path) -> None:
    _warn_once_per_folder(
        mask.parent,
        "%s is stored in another voxel orientation than its image %s (their headers' axes differ): its axes are "
        "flipped/permuted onto the image's grid; the other masks in %s are read the same way",
        mask,
        image,
        mask.parent,
    )


def _note_placed(mask: Path, image: Path, box: BoxPlacement) -> None:
    """Say (once per folder) that ``mask`` was put on a box of its ``image``'s grid, and (each time) how many of its
    labelled voxels lay beyond the image (:func:`medimg.data.mask_grid.note_left_out`)."""
    from medimg.data.mask_grid import note_left_out

    end = tuple(s + n - 1 for s, n in zip(box.start, box.stored_shape, strict=True))
    _warn_once_per_folder(
        mask.parent,
        "%s has size %s but its image %s has %s: its header places it on voxels %s to %s of the image's grid (the "
        "same spacing and axes; 3D Slicer saves a segmentation cropped to its segments so): put there, background "
        "elsewhere; the other masks in %s are read the same way",
        mask,
        box.stored_shape,
        image,
        tuple(box.array.shape[1:]),
        box.start,
        end,
        mask.parent,
    )
    note_left_out(mask, box, image)


#: a label's voxel spacing may differ from its image's by this share (header rounding) before it is said
SPACING_TOLERANCE = 1e-3
#: a label's origin may lie this many of its image's voxels away from the image's before it is said
ORIGIN_TOLERANCE_VOXELS = 0.5


def _note_other_geometry(case: SegCase, image: ImageData, geometries: Sequence[tuple[Path, np.ndarray]]) -> None:
    """Warn once per case when a mask file of the image's size has another voxel spacing (by more than
    :data:`SPACING_TOLERANCE`, relative) or origin (by more than :data:`ORIGIN_TOLERANCE_VOXELS`) than its image, and
    record it in ``image.meta["mask_geometry"]`` for ``medimg check``. The mask is used voxel for voxel all the same
    (nnU-Net refuses such a pair; many public sets differ only by their headers' rounding)."""
    from medimg.io.orientation import has_geometry

    own = image.affine
    if own is None or own.shape != (4, 4) or not has_geometry(own):
        return
    for path, affine in geometries:
        if affine.shape != (4, 4) or not has_geometry(affine):
            continue
        spacing, own_spacing = np.linalg.norm(affine[:3, :3], axis=0), np.linalg.norm(own[:3, :3], axis=0)
        shift = np.linalg.lstsq(own[:3, :3], affine[:3, 3] - own[:3, 3], rcond=None)[0]  # in the image's voxels
        if np.all(np.abs(spacing - own_spacing) <= SPACING_TOLERANCE * own_spacing) and np.all(
            np.abs(shift) <= ORIGIN_TOLERANCE_VOXELS
        ):
            continue
        image.meta["mask_geometry"] = str(path)
        _warn_once_per_folder(  # once per case: its image is the key
            case.image,
            "%s has voxel spacing %s mm and origin %s but its image %s has %s mm and %s: their headers disagree; "
            "the label is used voxel for voxel on the image's grid, right when only its header is wrong (give it "
            "the image's), wrong when it was drawn on another grid (resample it onto the image's)",
            path,
            "x".join(f"{v:.4g}" for v in spacing),
            tuple(round(float(v), 2) for v in affine[:3, 3]),
            case.image,
            "x".join(f"{v:.4g}" for v in own_spacing),
            tuple(round(float(v), 2) for v in own[:3, 3]),
        )
        return


#: (message, folder) pairs already logged by :func:`_warn_once_per_folder`
_warned_folders: set[tuple[str, Path]] = set()


def _warn_once_per_folder(folder: Path, message: str, *args: object) -> None:
    """Log ``message`` for the first mask of ``folder`` that needs it (its siblings are read the same way); a file
    as ``folder`` logs it once for that file."""
    if (message, folder) not in _warned_folders:
        _warned_folders.add((message, folder))
        logger.warning(message, *args)


#: NIfTI: (x, y) as well when written by ITK tools, but (rows, columns) when nibabel saved a picture's array as it is
EITHER_ORDER_SUFFIXES = (".nii", ".nii.gz")
AXES_SWAPPED_NOTE = (
    "%s is stored columns first (x, y) and its image %s rows first, or the reverse (a MetaImage/NRRD/NIfTI file "
    "beside a PNG, JPEG or DICOM picture): its two axes are swapped so it lies on the image as drawn; the other "
    "files in %s are read the same way"
)


def _axis_order(file: Path) -> str:
    """``xy`` (columns first), ``rows`` (a picture's rows first) or ``either`` (2D NIfTI), by ``file``'s suffix."""
    from medimg.io.formats import file_suffix
    from medimg.io.orientation import COLUMNS_FIRST_SUFFIXES

    suffix = file_suffix(file)
    return "xy" if suffix in COLUMNS_FIRST_SUFFIXES else "either" if suffix in EITHER_ORDER_SUFFIXES else "rows"


def _in_image_axis_order(array: np.ndarray, path: Path, image: Path) -> np.ndarray | None:
    """A 2D ``array`` of the mask file ``path`` with its two axes swapped when it is stored columns first and its
    ``image`` rows first or the reverse (a Slicer-drawn ``.nrrd`` mask of a PNG lay transposed on it, silently for
    a square image; one warning per folder); ``None`` when nothing is to be done (a 2D NIfTI beside either order is
    left to :func:`_on_image_axes`, which compares sizes)."""
    if array.ndim != 3 or {_axis_order(image), _axis_order(path)} != {"xy", "rows"}:
        return None
    _warn_once_per_folder(path.parent, AXES_SWAPPED_NOTE, path, image, path.parent)
    return np.ascontiguousarray(array.swapaxes(1, 2))


def _on_image_axes(case: SegCase, image: ImageData, array: np.ndarray, path: Path) -> np.ndarray:
    """A 2D ``array`` (a mask or ROI of ``case``, already in :func:`_in_image_axis_order`) with its axes swapped
    when it is a 2D NIfTI beside a picture or a MetaImage/NRRD image and only the swap makes the sizes agree
    (nibabel writes a picture's rows first, ITK tools columns first: a square image's sizes cannot tell)."""
    stored = tuple(array.shape[1:])
    orders = {_axis_order(case.image), _axis_order(path)}
    if len(orders) != 2 or "either" not in orders or array.ndim != 3:
        return array  # one order (two NIfTIs: a transposed size is a wrong pairing, refused as such)
    if stored == image.spatial_shape or stored[::-1] != image.spatial_shape:
        return array  # the sizes agree already (a square image cannot tell), or no swap makes them agree
    _warn_once_per_folder(path.parent, AXES_SWAPPED_NOTE, path, case.image, path.parent)
    return np.ascontiguousarray(array.swapaxes(1, 2))


def _on_image_grid(case: SegCase, image: ImageData, array: np.ndarray, path: Path, what: str) -> np.ndarray:
    """``array`` (a mask or ROI of ``case``) on ``image``'s grid: as read, or resized when it is the image's field of
    view at another resolution; any other size is a :class:`DatasetError` naming both files."""
    from medimg.data.mask_grid import nearest_resize, same_field_of_view
    from medimg.io.read_notes import describe_orientation, sides_swapped

    stored = tuple(array.shape[1:])
    if stored == image.spatial_shape:
        return array
    orientation = int(image.meta.get("exif_orientation") or 1)
    if sides_swapped(orientation) and stored == image.spatial_shape[::-1]:  # drawn on the upright view of a photo
        height, width = stored
        raise DatasetError(
            f"{what} {path} has size {stored} but its image {case.image} has size {image.spatial_shape}: the image is "
            f"stored rotated ({describe_orientation(orientation)}, {width}x{height} px like its {what}), and "
            "medimg reads the pixels as stored; re-save the image upright (e.g. with Pillow: "
            "ImageOps.exif_transpose(im).save(...)), then the mask fits it as drawn"
        )
    if not same_field_of_view(stored, image.spatial_shape):
        from medimg.io.orientation import has_geometry

        volume = len(stored) == 3 and len(image.spatial_shape) == 3
        why = (  # an image saved without a geometry (np.eye(4)): no header can place a mask on it
            "its image's header holds no geometry (an identity affine, as a file saved without one), so none can"
            if not has_geometry(image.affine)
            else "this one's does not"
        )
        raise DatasetError(
            f"{what} {path} has size {stored} but its image {case.image} has size {image.spatial_shape}: a mask must "
            "have its image's size (in 2D at least its aspect ratio: a mask at another resolution is resized onto its "
            "image"
            + (
                "; a volume whose header places it on a box of its image's voxel grid, with the same spacing and "
                f"axes, is put there, but {why}); re-export the mask on its image's grid (3D Slicer: "
                "export it with the image as its reference volume), or fix the pairing"
                if volume
                else "); re-export the mask, or fix the pairing"
            )
        )
    _warn_once_per_folder(
        path.parent,
        "%s has size %s but its image %s has size %s: read as the image's field of view at another resolution and "
        "resized onto the image's grid (nearest neighbour); the other masks in %s are read the same way",
        path,
        stored,
        case.image,
        image.spatial_shape,
        path.parent,
    )
    image.meta["mask_resized_from"] = list(stored)
    return nearest_resize(array, image.spatial_shape)
