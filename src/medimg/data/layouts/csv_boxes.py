"""CSV manifest of boxes: ``path,x1,y1,x2,y2,label[,split,patient_id]``, one row per box.

Given a folder, the table is the one at its top (VinDr-CXR's ``train.csv`` beside ``train/``) or one in each split
folder (Roboflow's). Paths are relative to the CSV's folder, or a bare name or identifier found under it
(:class:`~medimg.data.layouts.common.ManifestFiles`); an image has as many rows as it has boxes. A row whose box
cells are all empty (or all zero: NODE21's ``0,0,0,0``) lists an image without objects (a negative), whatever its
label says, and an image without a row in a folder of images the table names is one too
(:func:`_images_without_rows`). Column names are matched
case-insensitively, with synonyms (``xmin``/``ymin``/``xmax``/``ymax``, ``image``/``file``/``filename``,
``class``); corners may also be given as ``x,y,width,height`` (COCO's order; the RSNA Pneumonia Detection
Challenge's ``patientId,x,y,width,height,Target``, whose ids name ``<patientId>.dcm`` files). Object-CXR's
``image_name,annotation`` gives an image's shapes in one cell, ``<type> <x1> <y1> <x2> <y2>...`` joined by ``;``
(0 a rectangle, 1 an ellipse by its box, 2 a polygon by its points: each read as its box, class ``object``; an
empty cell a negative), and its ``train.csv`` and ``dev.csv`` at the top of the set are its splits. Boxes are
clipped to the image (its size read from the file header), degenerate and duplicate ones dropped and reported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from medimg.data.case import Box, Case, normalise_split
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import BoxIssue, DetectionDataset, clean_boxes, image_size, log_issues
from medimg.data.layouts.columns import READER_COLUMNS
from medimg.data.layouts.common import (
    ManifestFiles,
    image_files_in,
    is_manifest,
    manifest_header,
    named_split,
    path_selected,
    problems_error,
    read_manifest,
    refuse_video_rows,
    split_lists,
)
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

PATH_COLUMNS = (
    "path",
    "image",
    "file",
    "filename",
    "file_name",  # DeepLesion's DL_info.csv
    "image_path",
    "image_id",
    "image_index",
    "image_name",
    "img_name",  # NODE21's metadata.csv
    "patientid",
    "id",  # SIIM-FISABIO-RSNA COVID-19's <image>_image
)
CORNER_COLUMNS = (("x1", "xmin", "x_min"), ("y1", "ymin", "y_min"), ("x2", "xmax", "x_max"), ("y2", "ymax", "y_max"))
#: the other way to give a box: its top-left corner and its size (NIH ChestX-ray14's ``BBox_List_2017.csv`` header
#: ``Bbox [x,y,w,h]`` splits into the columns ``Bbox [x``, ``y``, ``w``, ``h]``)
#: ``x_min,y_min,width,height`` is that order too. The box's own ``w``/``h`` come before ``width``/``height``: a
#: table with both (``filename,width,height,x,y,w,h,class``) gives the image's size as ``width``/``height``.
BOX_WIDTH = ("w", "bbox_w", "box_width", "width")
BOX_HEIGHT = ("h", "h]", "bbox_h", "box_height", "height")
SIZE_COLUMNS = (("x", "bbox_[x", "bbox_x", "x_min", "xmin"), ("y", "bbox_y", "y_min", "ymin"), BOX_WIDTH, BOX_HEIGHT)
#: a third way: the box's centre and size (YOLO's order, as Label Studio and Roboflow tables export it)
CENTRE_COLUMNS = (
    ("x_center", "x_centre", "center_x", "centre_x", "cx", "xc", "x_c"),
    ("y_center", "y_centre", "center_y", "centre_y", "cy", "yc", "y_c"),
    BOX_WIDTH,
    BOX_HEIGHT,
)
#: the conventions of the box columns, in the order they are looked for
CONVENTIONS = {"corners": CORNER_COLUMNS, "size": SIZE_COLUMNS, "centre": CENTRE_COLUMNS}
#: a box in one cell, ``"x1, y1, x2, y2"`` (DeepLesion's ``Bounding_boxes``) or ``"[x, y, width, height]"`` (COCO's
#: ``bbox`` order; told apart by the data, :func:`_one_cell_order`)
BOX_COLUMNS = ("bounding_boxes", "bounding_box", "bbox", "box", "boxes")
#: a cell of shapes, Object-CXR's ``annotation``: ``<type> <x1> <y1> <x2> <y2>[ <x3> <y3>...]`` joined by ``;``
SHAPE_COLUMNS = ("annotation", "annotations")
_SHAPE = r"\d+(?:\s+-?\d+(?:\.\d+)?){4,}"
SHAPES = re.compile(rf"\s*{_SHAPE}(?:\s*;\s*{_SHAPE})*\s*;?\s*")
#: the class of shapes without a label (Object-CXR's foreign objects)
SHAPE_CLASS = "object"
LABEL_COLUMNS = (
    "label", "class", "class_name", "category", "target", "finding_label",
    "finding_class",  # Kvasir-Capsule's metadata.csv (beside finding_category: Vascular, Inflammatory...)
    "lesion_type",  # VinDr-SpineXR's annotations
)  # fmt: skip
#: the third and fourth corners of a box given as a quadrilateral (Kvasir-Capsule's ``x1;y1;...;x4;y4``)
QUAD_COLUMNS = ("x3", "y3", "x4", "y4")
#: the class of every box of a table without a label column (DeepLesion's lesions, of a type only in its test part)
UNLABELLED_CLASS = "lesion"
SPLIT_COLUMNS = ("split", "subset", "fold", "train_val_test")
#: split columns of numbers: DeepLesion's ``Train_Val_Test`` (1 training, 2 validation, 3 test)
NUMBERED_SPLITS = {"1": "train", "2": "val", "3": "test"}
PATIENT_COLUMNS = ("patient_id", "patient", "subject", "subject_id", "patient_index")
#: boxes of one class by different readers overlapping at least this much (IoU) mark one object: fused
READERS_IOU = 0.4
#: DeepLesion names a slice ``000001_01_01_109.png`` for ``Images_png/000001_01_01/109.png``
SLICE_IN_FOLDER = re.compile(r"^(.+)_(\d+)(\.[A-Za-z0-9]+)$")


def _slice_in_folder(raw_path: str, files: ManifestFiles) -> Path | None:
    """DeepLesion's ``000001_01_01_109.png``: ``109.png`` in the folder ``000001_01_01`` under the table's folder."""
    match = SLICE_IN_FOLDER.match(Path(raw_path.replace("\\", "/")).name)
    if match is None:
        return None
    folder, _ = files.by_name.find(match.group(1))
    candidate = folder / f"{match.group(2)}{match.group(3)}" if folder is not None else None
    return candidate if candidate is not None and candidate.is_file() else None


def _series_folder_name(raw_path: str) -> str | None:
    """The series folder a DeepLesion-style name gives (``000007_01_01`` for ``000007_01_01_082.png``), else
    ``None``."""
    match = SLICE_IN_FOLDER.match(Path(raw_path.replace("\\", "/")).name)
    return match.group(1) if match is not None else None


def _leave_out_absent_series(
    path: Path, absent: dict[str, tuple[int, Path]], problems: list[str], *, found: bool
) -> None:
    """Rows naming slices of series folders that are not there: left out with a warning when other rows' series
    were found (DeepLesion ships its PNG series in 56 zip files; a partial download stopped the whole read), else
    the rows' files are problems, as any table's missing files."""
    if not absent:
        return
    folders = sorted({str(_series_folder_name(raw)) for raw in absent})
    if found:
        logger.warning(
            "%s: %d row(s) name slices of %d series folder(s) that are not unpacked here (a partial download?), "
            "e.g. %s/ for %s: left out",
            path,
            len(absent),
            len(folders),
            folders[0],
            next(iter(absent)),
        )
        return
    problems.extend(f"line {line}: {file} does not exist" for line, file in absent.values())


def _split_manifests(path: Path) -> list[tuple[str, Path]]:
    """``(split, box CSV)`` of each split folder holding one (Roboflow's TensorFlow CSV export:
    ``train/_annotations.csv`` beside the split's images), when ``path`` is a folder."""
    if not path.is_dir():
        return []
    found = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        split = normalise_split(folder.name)
        manifests = [f for f in sorted(folder.glob("*.csv")) if _is_box_manifest(f)] if split else []
        if split and len(manifests) == 1:
            found.append((split, manifests[0]))
    if found:
        return found
    named: dict[str, list[Path]] = {}  # tables at the top named for their splits: Object-CXR's train.csv, dev.csv
    for table in sorted(path.iterdir()):
        split = named_split(table.stem) if is_manifest(table) else None
        if split is not None and _is_box_manifest(table):
            named.setdefault(split, []).append(table)
    if len(named) < 2 or any(len(tables) > 1 for tables in named.values()):
        return []
    return [(split, tables[0]) for split, tables in named.items()]


def _top_manifest(path: Path, *, beside_labels: bool = False) -> Path | None:
    """The one box manifest at the top of a folder (VinDr-CXR's ``train.csv`` beside ``train/``), Kaggle submission
    tables left out; ``None`` when there is none, several, or, unless ``beside_labels`` (boxes are asked for), the
    folder's labels are another table (NIH ChestX-ray14's ``Data_Entry_2017.csv`` beside its ``BBox_List_2017.csv``,
    SIIM-FISABIO-RSNA's ``train_study_level.csv`` beside ``train_image_level.csv``: the folder is read as classes
    unless ``--task detect``)."""
    from medimg.data.layouts.csv_manifest import folder_manifest

    if not path.is_dir():
        return None
    try:
        found = [p for p in sorted(path.iterdir()) if "submission" not in p.name.lower() and _is_box_manifest(p)]
    except OSError:
        return None
    if len(found) != 1:
        return None
    labels = None if beside_labels else folder_manifest(path)
    return found[0] if labels is None or labels == found[0] else None


def top_manifest(path: Path) -> Path | None:
    """The one box table at the top of a folder, whatever label table lies beside it (:func:`_top_manifest`)."""
    return _top_manifest(path, beside_labels=True)


def detect(path: Path) -> bool:
    """A CSV/TSV whose header has a path column and the four corner columns (``x1..y2`` or ``xmin..ymax``), a folder
    with one such table at its top, or a folder of split folders holding one each."""
    return _is_box_manifest(path) or _top_manifest(path) is not None or bool(_split_manifests(path))


def detect_asked(path: Path) -> bool:
    """With detection asked for: also a folder whose one box table lies beside another label table."""
    return _top_manifest(path, beside_labels=True) is not None


CONVENTION_WORDS = {
    "corners": "corners x1, y1, x2, y2",
    "size": "top-left corner, width, height",
    "centre": "centre x, centre y, width, height",
}


def _convention(header: set[str]) -> str | None:
    """How the header's columns give a box: ``corners``, ``size`` (top-left corner and size) or ``centre`` (centre
    and size), the first whose four columns are all there; ``None`` when none is."""
    for name, options in CONVENTIONS.items():
        if all(header & set(o) for o in options):
            return name
    return None


def _no_box_columns(path: Path, found: Sequence[str]) -> DatasetError:
    """The error of a box table whose header gives no box in a way medimg reads, naming its columns and the ones
    accepted."""
    return DatasetError(no_box_columns_message(path, found))


def no_box_columns_message(path: Path, found: Sequence[str] | None = None) -> str:
    """Why a table read as boxes gives none: its columns (``found``, default its header) and the accepted ones."""
    columns = list(found) if found is not None else manifest_header(path)

    def readable(names: Sequence[str]) -> str:  # a column's first names, not the bracketed oddities read too
        return "/".join([n for n in names if not set(n) & set("[]")][:3])

    accepted = "; ".join(
        f"{CONVENTION_WORDS[name]}: {', '.join(readable(o) for o in options)}" for name, options in CONVENTIONS.items()
    )
    return (
        f"{path}: no box columns found among {', '.join(columns)}; a box is read from one of these column sets "
        f'({accepted}), or from one cell ({"/".join(BOX_COLUMNS)}: "x1, y1, x2, y2"), beside a path column '
        f"({'/'.join(PATH_COLUMNS[:4])}) and a label column ({'/'.join(LABEL_COLUMNS[:3])}); rename the columns"
    )


def is_table_without_box_columns(path: Path) -> bool:
    """A CSV/TSV with a path column whose header gives no box (asked for detection: say which columns are missing
    rather than call it classification data)."""
    if not is_manifest(path):
        return False
    header = set(manifest_header(path))
    known = {*PATH_COLUMNS, *LABEL_COLUMNS, *SPLIT_COLUMNS, *PATIENT_COLUMNS}
    others = header - known  # a plain path,label table asked for as boxes: the "classification data" advice stands
    return bool(header & set(PATH_COLUMNS) and others) and _convention(header) is None and not header & set(BOX_COLUMNS)


def _is_box_manifest(path: Path) -> bool:
    if not is_manifest(path):
        return False
    header = set(manifest_header(path))
    corners = _convention(header) is not None
    if not header & set(PATH_COLUMNS):
        return False
    return corners or bool(header & set(BOX_COLUMNS)) or _holds_shapes(path, header)


def _holds_shapes(path: Path, header: set[str]) -> bool:
    """Whether a table with a shape column (:data:`SHAPE_COLUMNS`) holds shapes in it (:func:`_shape_column`)."""
    return bool(header & set(SHAPE_COLUMNS)) and _shape_column(*read_manifest(path)) is not None


def _shape_column(columns: dict[str, str], rows: list[dict[str, str]]) -> str | None:
    """The table's shape column (:data:`SHAPE_COLUMNS`) when every filled cell of its first rows, one at least, holds
    shapes (:data:`SHAPES`); else ``None``."""
    name = next((columns[c] for c in SHAPE_COLUMNS if c in columns), None)
    if name is None:
        return None
    filled = [cell for row in rows[:200] if (cell := str(row.get(name) or "").strip())]
    return name if filled and all(SHAPES.fullmatch(cell) for cell in filled) else None


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    class_names: Sequence[str] | None = None,
) -> DetectionDataset:
    """Read a box manifest (paths and boxes; image headers for the sizes).

    Args:
        path: the CSV (or TSV) file, or a folder with one at its top or in each split folder.
        include: file-name patterns an image must match to be kept.
        exclude: file-name patterns of images to skip.
        class_names: the expected classes, in this order; a row of another class is an error. Default: every
            class found, alphabetically.

    Raises:
        DatasetError: a required column is missing, rows point to missing files, a corner is not a number, a box
            has no label, a label is outside ``class_names``, or split values disagree; the message names lines.
    """
    if path.is_dir():
        top = _top_manifest(path, beside_labels=True)  # reading boxes: the box table, whatever lies beside it
        if top is None:
            return _load_split_folders(path, include, exclude, class_names)
        path = top
    if not path.is_file():
        raise DatasetError(f"{path} is not a file: a box manifest is a CSV path,x1,y1,x2,y2,label")
    columns, rows = read_manifest(path)

    def column(options: Sequence[str], required: bool) -> str | None:
        for option in options:
            if option in columns:
                return columns[option]
        if required:
            raise DatasetError(f"{path} has no {options[0]!r} column; the header needs path,x1,y1,x2,y2,label")
        return None

    path_col = column(PATH_COLUMNS, True) or ""
    refuse_video_rows(path, [str(row.get(path_col) or "") for row in rows])
    convention = _convention(set(columns))
    box_col = column(BOX_COLUMNS, False) if convention is None else None
    shape_col = _shape_column(columns, rows) if convention is None and box_col is None else None
    if shape_col is not None:
        box_col = shape_col
        logger.info("%s: boxes read from the shapes of its column %r (Object-CXR's)", path, box_col)
    unlabelled_class = UNLABELLED_CLASS if shape_col is None else SHAPE_CLASS  # of boxes without a label column
    if convention is None and box_col is None:
        raise _no_box_columns(path, list(columns.values()))
    corner_cols = [] if box_col else [column(o, True) or "" for o in CONVENTIONS[convention or "corners"]]
    if convention != "corners" and corner_cols:
        logger.info(
            "%s: boxes read from the columns %s (%s)", path, ", ".join(corner_cols), CONVENTION_WORDS[convention or ""]
        )
    label_col = column(LABEL_COLUMNS, box_col is None)
    # four corners of a quadrilateral (Kvasir-Capsule's x1,y1..x4,y4, clockwise from the top left): its bounds
    quad_cols = (
        [columns[k] for k in QUAD_COLUMNS] if convention == "corners" and set(QUAD_COLUMNS) <= set(columns) else []
    )
    # a table in an annotations/ folder names images beside that folder (VinDr's annotations/train.csv beside
    # train_images/<image_id>.dicom)
    files = ManifestFiles(path.parent.parent if path.parent.name.lower() == "annotations" else path.parent)
    split_col, patient_col = column(SPLIT_COLUMNS, False), column(PATIENT_COLUMNS, False)
    reader_col = column(READER_COLUMNS, False)
    readers: dict[int, str] = {}  # line -> the reader who drew its box
    problems: list[str] = []
    order: list[str] = []
    info: dict[str, tuple[Path, str | None, str | None]] = {}
    raw: dict[str, list[tuple[float, float, float, float, str, int]]] = {}
    sliced = False  # a row found as DeepLesion's slice in a series folder: its neighbours are context, not negatives
    absent: dict[str, tuple[int, Path]] = {}  # rows naming a slice of a series folder not there: first line, file
    for line, row in enumerate(rows, start=2):
        raw_path = str(row.get(path_col) or "").strip()
        if not raw_path:
            problems.append(f"line {line}: empty path")
            continue
        file, why = files.locate(raw_path)
        if not file.exists() and (slice_file := _slice_in_folder(raw_path, files)) is not None:
            file, sliced = slice_file, True
        if not path_selected(file, include, exclude, path.parent):
            continue
        if raw_path not in info:
            if not file.is_file() and _series_folder_name(raw_path) is not None and not why:
                absent.setdefault(raw_path, (line, file))  # a DeepLesion series not unpacked (56 zip files)
                continue
            if not file.is_file():
                problems.append(f"line {line}: {file} does not exist{why}")
                continue
            split_raw = str(row.get(split_col) or "").strip() if split_col else ""
            split = NUMBERED_SPLITS.get(split_raw) if split_raw.isdigit() else normalise_split(split_raw)
            if split_raw and split is None:
                problems.append(f"line {line}: unknown split {split_raw!r} (use train, val or test)")
            patient = str(row.get(patient_col) or "").strip() if patient_col else ""
            info[raw_path] = (file, split, patient or None)
            order.append(raw_path)
            raw[raw_path] = []
        label = str(row.get(label_col) or "").strip() if label_col else unlabelled_class
        box_cell = str(row.get(box_col) or "").strip() if box_col else None
        cells = _quad_bounds([str(row.get(c) or "").strip() for c in (*corner_cols, *quad_cols)])
        row_boxes, problem = _row_boxes(cells, box_cell, label, convention or "corners")
        if problem:
            problems.append(f"line {line}: {problem}")
            continue
        for x1, y1, x2, y2, name in row_boxes:
            if class_names is not None and name not in class_names:
                problems.append(f"line {line}: label {name!r} is not in class_names {list(class_names)}")
                continue
            raw[raw_path].append((x1, y1, x2, y2, name, line))
        if reader_col and row_boxes:
            readers[line] = str(row.get(reader_col) or "").strip()
    _leave_out_absent_series(path, absent, problems, found=sliced)
    if problems:
        raise problems_error(path, problems)
    if box_col and shape_col is None:
        raw = _one_cell_order(raw, path, box_col)
    if len(set(readers.values())) > 1:
        raw = fuse_readers(raw, readers, path)
    if class_names is None:
        raw = _one_spelling_per_class(raw, path)
    raw = _pixels_of_normalised(raw, info, path)
    names = list(class_names) if class_names is not None else sorted({b[4] for boxes in raw.values() for b in boxes})
    if not sliced:
        for case_id, entry in _images_without_rows(path, info, include, exclude).items():
            info[case_id], raw[case_id] = entry, []
            order.append(case_id)
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    swapped: list[tuple[str, Entry]] = []
    sizes: dict[str, tuple[int, int]] = {}
    for raw_path in order:
        file, own_split, own_patient = info[raw_path]
        size = image_size(file)
        entries = raw[raw_path]
        boxes, found = _clean_entries(entries, size, names, path, raw_path)
        issues += found
        swapped += [(raw_path, e) for e in entries if e[0] > e[2] or e[1] > e[3]]
        if size is not None:
            sizes[raw_path] = size
        cases.append(
            Case(case_id=raw_path, label=None, split=own_split, patient_id=own_patient, path=file, boxes=boxes)
        )
    if split_col is None:  # NIH ChestX-ray14's BBox_List_2017.csv beside train_val_list.txt and test_list.txt
        cases = _listed_splits(cases, path)
    if cases and any(c.split for c in cases) and not all(c.split for c in cases):
        raise DatasetError(
            f"{path}: some images have a split and others do not; fill the split column for every row or for none"
        )
    log_issues(issues, path)
    _warn_class_folders_without_boxes(cases, names, path)
    outside = sum(1 for issue in issues if issue.kind == "out_of_bounds")
    total = sum(len(entries) for entries in raw.values())
    if total >= MISREAD_MIN_BOXES and outside >= MISREAD_SHARE * total:
        logger.warning(
            "%s: %d of %d boxes run outside their image: the box columns (%s) are likely misread (corners x1, y1, "
            "x2, y2 against x, y, width, height, the image's width/height read as the box's) or the boxes belong to "
            "images of another size; look at a few rows against their images",
            path,
            outside,
            total,
            ", ".join(corner_cols) or box_col,
        )
    if swapped:
        x1, y1, x2, y2, label, line = swapped[0][1]
        logger.warning(
            "%s: %d box(es) had their corners in reverse order (x1 > x2 or y1 > y2): swapped, e.g. %s %s in %s:%d; "
            "check that the columns are x1,y1,x2,y2 (left, top, right, bottom)",
            path,
            len(swapped),
            label,
            (x1, y1, x2, y2),
            path,
            line,
        )
    files.report(path)
    return DetectionDataset(
        name=dataset_name(path),
        root=path,
        source="csv",
        class_names=names,
        cases=cases,
        box_issues=issues,
        image_sizes=sizes,
    )


def _warn_class_folders_without_boxes(cases: Sequence[Case], names: Sequence[str], path: Path) -> None:
    """Images in folders named like the boxes' classes, some folders without a box (Kvasir-Capsule's
    ``labelled_images/<class>/`` beside its ``metadata.csv``, boxes drawn for three of its 14 findings): read for
    detection, the other folders' images are negatives, their classes gone without a word; a warning names them and
    ``--task classify``, which reads the folders as the classes."""
    from medimg.data.labels import class_key

    boxed: dict[str, bool] = {}
    for case in cases:
        if case.path is None or normalise_split(case.path.parent.name) is not None:
            continue
        folder = case.path.parent.name
        boxed[folder] = boxed.get(folder, False) or bool(case.boxes)
    classes = {class_key(name) for name in names}
    empty = sorted(folder for folder, has in boxed.items() if not has)
    if len(boxed) < 2 or not empty or not any(class_key(folder) in classes for folder in boxed):
        return
    logger.warning(
        "%s: its images lie in %d folders named like classes (%s), %d of them without a box (%s): read for detection, "
        "their images are negatives and their classes are not learnt; `--task classify` reads the folders as the "
        "classes",
        path,
        len(boxed),
        ", ".join(sorted(boxed)[:6]) + (", ..." if len(boxed) > 6 else ""),
        len(empty),
        ", ".join(empty[:6]) + (", ..." if len(empty) > 6 else ""),
    )


def _listed_splits(cases: list[Case], table: Path) -> list[Case]:
    """``cases`` with the splits the split lists beside ``table`` give their images (:func:`~medimg.data.layouts.
    common.split_lists`: NIH ChestX-ray14's ``train_val_list.txt``, ``test_list.txt``), when they name every image;
    else unchanged, with a warning when lists are there. Its box table was read without them: the official test
    images were trained on."""
    listed = split_lists(table.parent)
    if not listed or not cases:
        return cases
    missing = [c.case_id for c in cases if c.path is None or c.path.name not in listed]
    if missing:
        logger.warning(
            "%s: the split lists beside it do not name %d of its %d images (e.g. %s): not used; give a split column",
            table,
            len(missing),
            len(cases),
            missing[0],
        )
        return cases
    return [replace(c, split=listed[c.path.name]) if c.path is not None else c for c in cases]


Entry = tuple[float, float, float, float, str, int]
#: a warning that the box columns may be misread when at least this share of at least this many boxes is clipped
MISREAD_SHARE = 0.5
MISREAD_MIN_BOXES = 5
#: coordinates are read as fractions of the image (normalised, YOLO / Label Studio style) when every one lies in
#: 0..1 give or take this (a centre box's corners may round a little outside); as pixels such boxes are < 2 px
NORMALISED_SLACK = 0.01


def _one_spelling_per_class(raw: dict[str, list[Entry]], path: Path) -> dict[str, list[Entry]]:
    """Class names that differ only in case or Unicode form (``nodule``, ``Nodule``) as one class, spelt as most of
    its boxes are (the first spelling on a tie), as classification tables merge them (they were two classes,
    without a word); a warning names them."""
    from medimg.data.labels import class_key

    counts: dict[str, dict[str, int]] = {}
    for entries in raw.values():
        for entry in entries:
            spellings = counts.setdefault(class_key(entry[4]), {})
            spellings[entry[4]] = spellings.get(entry[4], 0) + 1
    merged = {key: spellings for key, spellings in counts.items() if len(spellings) > 1}
    if not merged:
        return raw
    spelling = {key: max(spellings, key=lambda n: spellings[n]) for key, spellings in merged.items()}
    logger.warning(
        "%s: class names that differ only in case or Unicode form are one class: %s",
        path,
        "; ".join(
            f"{', '.join(f'{n!r} ({_count_boxes(k)})' for n, k in sorted(merged[key].items()))} -> {spelling[key]!r}"
            for key in merged
        ),
    )
    return {
        image: [(*e[:4], spelling.get(class_key(e[4]), e[4]), e[5]) for e in entries] for image, entries in raw.items()
    }


def _count_boxes(n: int) -> str:
    return f"{n} box" if n == 1 else f"{n} boxes"


def _pixels_of_normalised(
    raw: dict[str, list[Entry]], info: dict[str, tuple[Path, str | None, str | None]], path: Path
) -> dict[str, list[Entry]]:
    """Boxes whose coordinates all lie in 0..1 (fractions of the image's width and height: YOLO, Label Studio and
    some Roboflow exports) scaled to pixels by each image's size, with a warning; read as pixels every one was a
    box under 2 px, dropped as degenerate. Refused when an image's size cannot be read from its header."""
    entries = [e for boxes in raw.values() for e in boxes]
    low, high = -NORMALISED_SLACK, 1.0 + NORMALISED_SLACK
    if not entries or not all(low <= v <= high for e in entries for v in e[:4]):
        return raw
    scaled: dict[str, list[Entry]] = {}
    for image, boxes in raw.items():
        size = image_size(info[image][0]) if boxes else None
        if boxes and size is None:
            raise DatasetError(
                f"{path}: every box coordinate lies in 0..1, so they look normalised (fractions of the image), but "
                f"the size of {info[image][0]} cannot be read from its header to turn them into pixels: write the "
                "boxes in pixels (x * image width, y * image height)"
            )
        height, width = size or (1, 1)
        scaled[image] = [
            (x1 * width, y1 * height, x2 * width, y2 * height, n, line) for x1, y1, x2, y2, n, line in boxes
        ]
    logger.warning(
        "%s: every box coordinate lies in 0..1: read as normalised (fractions of each image's width and height) and "
        "scaled to pixels; if they are pixels, these boxes are under 2 px and the table is wrong",
        path,
    )
    return scaled


#: a box as a row gives it: corners and class name
RowBox = tuple[float, float, float, float, str]


def _clean_entries(
    entries: list[Entry], size: tuple[int, int] | None, names: list[str], path: Path, image: str
) -> tuple[tuple[Box, ...], list[BoxIssue]]:
    """One image's boxes clipped, degenerate and duplicate ones dropped (:func:`clean_boxes`), each issue citing
    the CSV line of its own row (``boxes.csv:4``: the file's line, the header being line 1)."""
    return clean_boxes(
        [(x1, y1, x2, y2, names.index(label)) for x1, y1, x2, y2, label, _ in entries],
        size,
        names,
        file=str(path),
        image=image,
        places=[f"{path}:{line}" for *_, line in entries],
    )


#: files beside a box table that may be another table of the same images (another split's, the labels')
OTHER_TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xls")


def _why_images_without_rows_stay_out(path: Path) -> str | None:
    """Why the images beside a box table's images that it does not name are not its negatives, or ``None``:
    another table beside it may list them (``train_labels.csv`` beside ``test_labels.csv`` over one ``images/``
    folder: they are the other split's), or the folder's label table is another (their labels are findings)."""
    from medimg.data.layouts.csv_manifest import folder_manifest

    others = sorted(
        p.name for p in path.parent.iterdir() if p.is_file() and p != path and p.suffix.lower() in OTHER_TABLE_SUFFIXES
    )
    if others:
        return f"other tables beside it ({', '.join(others[:3])}) may list them"
    labels = folder_manifest(path.parent)
    if labels is not None and labels != path:
        return f"their labels are in {labels}, not boxes"
    return None


def _images_without_rows(
    path: Path, info: dict[str, tuple[Path, str | None, str | None]], include: tuple[str, ...], exclude: tuple[str, ...]
) -> dict[str, tuple[Path, str | None, str | None]]:
    """The images in the folders of the images the table names that no row names, as negatives (images without
    objects, as the README promises): ``case id -> (file, split, None)``, an INFO line counting them.

    Left out, with a line saying why and how to include them (a row with empty box cells, ``path,,,,,``): all of
    them when the table lies beside another label table (NIH ChestX-ray14's ``BBox_List_2017.csv`` beside
    ``Data_Entry_2017.csv``: its other images have findings without boxes, not no findings), and those of a folder
    whose named images have different splits (the split of an image without a row is unknown)."""
    listed = {file.resolve() for file, _, _ in info.values()}
    splits: dict[Path, set[str | None]] = {}
    for file, split, _ in info.values():
        splits.setdefault(file.parent, set()).add(split)
    found: dict[str, tuple[Path, str | None, str | None]] = {}
    unplaced: list[Path] = []
    for folder in sorted(splits):
        folder_splits = splits[folder]
        for image in image_files_in(folder):
            if image.resolve() in listed or not path_selected(image, include, exclude, path.parent):
                continue
            if len(folder_splits) > 1:
                unplaced.append(image)
                continue
            try:
                case_id = image.relative_to(path.parent).as_posix()
            except ValueError:
                case_id = str(image)
            if case_id not in info:
                found[case_id] = (image, next(iter(folder_splits)), None)
    why = _why_images_without_rows_stay_out(path) if found or unplaced else None
    if why is not None:
        logger.info(
            "%s: %d image(s) beside the ones it names have no row (e.g. %s) and are left out: %s; to train on some "
            "as negatives (no objects), give each a row with empty box cells (path,,,,,)",
            path,
            len(found) + len(unplaced),
            next(iter(found.values()))[0] if found else unplaced[0],
            why,
        )
        return {}
    if unplaced:
        logger.warning(
            "%s: %d image(s) beside the ones it names have no row (e.g. %s) and are left out: their folder holds "
            "images of several splits, so theirs is unknown; to use them as negatives (no objects), give each a row "
            "with empty box cells and its split (path,,,,,,split)",
            path,
            len(unplaced),
            unplaced[0],
        )
    if found:
        logger.info(
            "%s: %d image(s) beside the ones it names have no row (e.g. %s): read as negatives (no objects); to "
            "leave them out, move them elsewhere or skip them with --exclude",
            path,
            len(found),
            next(iter(found.values()))[0],
        )
    return found


def _quad_bounds(cells: list[str]) -> list[str]:
    """The corner cells of a row: four as given, or eight (a quadrilateral's ``x1, y1 .. x4, y4``) as the box around
    them; cells that are not all numbers as given (the row's reader says why)."""
    if len(cells) != 8:
        return cells
    try:
        xs, ys = [float(c) for c in cells[0::2]], [float(c) for c in cells[1::2]]
    except ValueError:
        return cells[:4]
    return [f"{min(xs):g}", f"{min(ys):g}", f"{max(xs):g}", f"{max(ys):g}"]


def _row_boxes(cells: list[str], box_cell: str | None, label: str, convention: str) -> tuple[list[RowBox], str | None]:
    """The boxes one row gives, or why it gives none that can be read. A row gives its box as corner (or
    x, y, width, height) cells, as a box cell (``"x1, y1, x2, y2"``, or a list of ``{'x': .., 'y': .., 'width': ..,
    'height': ..}`` as the SIIM-FISABIO-RSNA COVID-19 table's ``boxes``), or in its label cell as a prediction string
    (``"opacity 1 x1 y1 x2 y2 ..."``: class, score, corners per box; ``none`` boxes mean no object)."""
    predicted = prediction_string(label)
    if predicted is not None:
        return [b for b in predicted if b[4].lower() not in NO_OBJECT_CLASSES], None
    if box_cell and SHAPES.fullmatch(box_cell):
        return shape_boxes(box_cell, label or SHAPE_CLASS), None
    if box_cell is not None and "{" in box_cell:
        boxes = []
        for record in re.findall(r"\{([^}]*)\}", box_cell):
            values = {k.lower(): v for k, v in re.findall(r"['\"]?(\w+)['\"]?\s*:\s*([-+\d.eE]+)", record)}
            try:
                if {"x", "y", "width", "height"} <= set(values):
                    x, y = float(values["x"]), float(values["y"])
                    boxes.append((x, y, x + float(values["width"]), y + float(values["height"]), label))
                else:
                    x1, y1, x2, y2 = (float(values[k]) for k in ("x1", "y1", "x2", "y2"))
                    boxes.append((x1, y1, x2, y2, label))
            except (KeyError, ValueError):
                return [], f"box {{{record}}} has no x, y, width, height (or x1, y1, x2, y2) numbers"
        return (boxes, None) if not boxes or label else ([], "the box has no label")
    if box_cell is not None:
        cells = [c.strip() for c in box_cell.strip("[]() ").split(",") if c.strip()]
    if not any(cells):
        return [], None  # an image without objects (RSNA: Target 0 with empty box cells)
    try:
        x1, y1, x2, y2 = (float(c) for c in cells)
    except ValueError:  # also a box cell without four numbers
        return [], f"box corners {cells} are not all numbers"
    if x1 == y1 == x2 == y2 == 0:
        return [], None  # a zero box at the origin: an image without objects too (NODE21's 0,0,0,0 with label 0)
    if convention == "size" and box_cell is None:  # x, y, width, height
        x2, y2 = x1 + x2, y1 + y2
    elif convention == "centre" and box_cell is None:  # centre x, centre y, width, height
        x1, y1, x2, y2 = x1 - x2 / 2, y1 - y2 / 2, x1 + x2 / 2, y1 + y2 / 2
    return ([(x1, y1, x2, y2, label)], None) if label else ([], "the box has no label")


def shape_boxes(cell: str, label: str) -> list[RowBox]:
    """The boxes of Object-CXR's shapes (:data:`SHAPES`): a rectangle's or an ellipse's corners as given, a
    polygon's (type 2) the box around its points."""
    boxes: list[RowBox] = []
    for shape in (part.split() for part in cell.split(";") if part.strip()):
        xs, ys = [float(v) for v in shape[1::2]], [float(v) for v in shape[2::2]]
        boxes.append((min(xs), min(ys), max(xs), max(ys), label))
    return boxes


#: the class a prediction string gives an image without objects (SIIM-FISABIO-RSNA's ``none 1 0 0 1 1``)
NO_OBJECT_CLASSES = frozenset({"none", "no_finding", "negative"})


def prediction_string(text: str) -> list[RowBox] | None:
    """The boxes of a Kaggle prediction string, ``"<class> <score> <x1> <y1> <x2> <y2>"`` repeated; ``None`` when
    ``text`` is not one."""
    tokens = text.split()
    if not tokens or len(tokens) % 6:
        return None
    boxes = []
    for start in range(0, len(tokens), 6):
        name, *numbers = tokens[start : start + 6]
        try:
            float(name)
            return None  # a class is a word (a number first: a plain label or a box cell)
        except ValueError:
            pass
        try:
            _, x1, y1, x2, y2 = (float(n) for n in numbers)
        except ValueError:
            return None
        boxes.append((x1, y1, x2, y2, name))
    return boxes


def _one_cell_order(raw: dict[str, list[Entry]], path: Path, column: str) -> dict[str, list[Entry]]:
    """Boxes given in one cell as corners ``x1, y1, x2, y2`` (DeepLesion's ``Bounding_boxes``), or as COCO's
    ``x, y, width, height`` (a ``bbox`` column as COCO and Kaggle exports write it), told apart by the data: when
    some boxes would end before they start as corners and every one is a box as ``x, y, width, height``, all are
    read so (an INFO line says it); read as corners they were wrong boxes, the degenerate ones dropped."""
    entries = [e for boxes in raw.values() for e in boxes]
    inverted = sum(1 for e in entries if e[2] <= e[0] or e[3] <= e[1])
    if not inverted or not all(e[2] > 0 and e[3] > 0 for e in entries):
        return raw
    logger.info(
        "%s: %d of %d boxes in %r end before they start as x1, y1, x2, y2: the column is read as x, y, width, height",
        path,
        inverted,
        len(entries),
        column,
    )
    return {
        image: [(x, y, x + w, y + h, label, line) for x, y, w, h, label, line in boxes] for image, boxes in raw.items()
    }


def _iou(a: Entry, b: Entry) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _mean_box(group: list[Entry]) -> Entry:
    """The mean corners of ``group``, its class and its first line."""
    n = len(group)
    x1, y1 = sum(e[0] for e in group) / n, sum(e[1] for e in group) / n
    x2, y2 = sum(e[2] for e in group) / n, sum(e[3] for e in group) / n
    return x1, y1, x2, y2, group[0][4], min(e[5] for e in group)


def fuse_readers(raw: dict[str, list[Entry]], readers: dict[int, str], path: Path) -> dict[str, list[Entry]]:
    """Each image's boxes with those of one object by several readers fused into their mean box.

    Boxes of one class by different readers that overlap (IoU >= :data:`READERS_IOU` with the first box of a
    group, at most one box per reader in a group, larger boxes first) are one object, as weighted box fusion reads
    VinDr-CXR's three radiologists; a box only one reader drew stays as drawn. Without this every object counted
    once per reader: training saw copies, and evaluation scored a detection against three near-identical boxes.
    """
    fused: dict[str, list[Entry]] = {}
    before = after = 0
    for image, entries in raw.items():
        groups: list[list[Entry]] = []
        for entry in sorted(entries, key=lambda e: -(e[2] - e[0]) * (e[3] - e[1])):
            group = next(
                (g for g in groups if g[0][4] == entry[4] and _iou(g[0], entry) >= READERS_IOU
                 and readers.get(entry[5]) not in {readers.get(e[5]) for e in g}),
                None,
            )  # fmt: skip
            if group is None:
                groups.append([entry])
            else:
                group.append(entry)
        fused[image] = [_mean_box(g) for g in groups]
        before, after = before + len(entries), after + len(groups)
    if after < before:
        logger.info(
            "%s: %d boxes of %d readers fused into %d objects (one class, IoU >= %.1f, different readers: their mean "
            "box)",
            path,
            before,
            len(set(readers.values())),
            after,
            READERS_IOU,
        )
    return fused


def _load_split_folders(
    path: Path, include: tuple[str, ...], exclude: tuple[str, ...], class_names: Sequence[str] | None
) -> DetectionDataset:
    """One dataset from the box CSV of each split folder (:func:`_split_manifests`): case ids prefixed with the
    folder, the split from the folder where the rows give none, one class list for all (alphabetical)."""
    manifests = _split_manifests(path)
    if not manifests:
        raise DatasetError(f"{path}: no split folder holds a box CSV (path,x1,y1,x2,y2,label)")
    parts = [(split, manifest, load(manifest, include=include, exclude=exclude, class_names=class_names))
             for split, manifest in manifests]  # fmt: skip
    names = list(class_names) if class_names is not None else sorted({n for *_, p in parts for n in p.class_names})
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, ...]] = {}
    for split, manifest, part in parts:
        prefix = manifest.parent.name if manifest.parent != path else manifest.stem  # Object-CXR's dev.csv: dev/
        index = [names.index(name) for name in part.class_names]  # each part's labels -> the shared list
        for case in part.cases:
            case_id = f"{prefix}/{case.case_id}"
            boxes = tuple(box._replace(label=index[box.label]) for box in case.boxes or ())
            cases.append(replace(case, case_id=case_id, split=case.split or split, boxes=boxes))
            if case.case_id in part.image_sizes:
                sizes[case_id] = part.image_sizes[case.case_id]
        issues += part.box_issues
    return DetectionDataset(
        name=dataset_name(path),
        root=path,
        source="csv",
        class_names=names,
        cases=cases,
        box_issues=issues,
        image_sizes=sizes,
    )
