"""Run-length encoded masks in a table, the way Kaggle's segmentation sets ship them: a CSV with an image id and a
run-length column, one row per image, per class of an image or per object (SIIM-ACR pneumothorax's
``ImageId, EncodedPixels``; UW-Madison GI tract's ``id,class,segmentation``; Sartorius' and HuBMAP's ``id,annotation``
or ``id,rle`` with the image's ``width``/``height``).

A run-length string is pairs ``start length`` over the image's pixels numbered from 1 (an empty cell, ``-1`` or
``nan``: nothing of that class in that image, which still makes the image annotated). Sets disagree on two things
the string cannot say, and a wrong guess gives masks that look plausible and are wrong, so both are read from the
data and logged:

- *Numbering order.* Kaggle's documented convention numbers pixels top to bottom, then left to right (column-major:
  SIIM, HuBMAP, Severstal); others number them along rows (UW-Madison's, Sartorius'). For images that are not
  square, the wrong order scatters each object into stripes: the order whose masks have the shorter outline wins.
  For square images the wrong order is the exact transpose, so the images decide: the order whose mask outlines
  lie on stronger image edges in most of a sample of images wins (ISIC 2018's lesions re-encoded either way: 32
  of 40 images agree). When neither is clear, Kaggle's column-major
  order is used with a warning; ``rle_order="C"`` (or ``"F"``: ``medimg fit DATA --set rle_order=C``,
  ``Model.fit(path, rle_order="C")``, ``Dataset.load(path, rle_order="C")``) states it.
- *Absolute or relative starts.* SIIM's ``mask_functions.py`` wrote each start as the gap after the previous run;
  a table where some string's starts do not increase is read that way.

Rows of one image are drawn into one label map (``0`` background, ``k`` the ``k``-th class of a ``class``/
``ClassId``/``category`` column in :func:`~.common.order_classes` order, else one class, ``foreground``; larger
regions first, so a small structure inside a larger one stays visible) by :mod:`.drawn_masks`, cached outside the
data. An id names its image as manifests do (a path, a file name, a name without suffix, anywhere under the table's
folder), or as UW-Madison's ``case123_day20_slice_0001`` names ``case123/case123_day20/scans/slice_0001_266_266_
1.50_1.50.png`` (a folder's name, ``_``, the start of the file name). Images under the folder that no row names are
unlabelled. In a folder, the table is its one CSV with such columns (``train*.csv`` first; ``*submission*`` tables
are never read).
"""

from __future__ import annotations

import csv
import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medimg.data.case import SegCase, is_missing_value
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import (
    ManifestFiles,
    column_key,
    file_stem,
    is_manifest,
    manifest_delimiter,
    order_classes,
    path_selected,
    problems_error,
    read_manifest,
    text_encoding,
    walk_files,
)
from medimg.data.layouts.drawn_masks import cache_folder, label_map_of, mask_file, write_mask
from medimg.errors import ConfigError, DatasetError, MedimgError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

ID_COLUMNS = ("imageid", "image_id", "id", "image", "image_name", "filename", "file_name", "file", "path", "img")
#: columns that hold run-length strings by their name alone (``mask`` needs a run-length value to count)
RLE_COLUMNS = (
    "encodedpixels",
    "encoded_pixels",
    "rle",
    "rle_mask",
    "mask_rle",
    "segmentation",
    "annotation",
    "encoding",
)
WEAK_RLE_COLUMNS = ("mask", "masks", "mask_pixels")
CLASS_COLUMNS = ("class", "classid", "class_id", "class_name", "category", "category_id", "label", "structure")
HEIGHT_COLUMNS = ("height", "img_height", "image_height", "rows")
WIDTH_COLUMNS = ("width", "img_width", "image_width", "columns", "cols")
#: a run-length cell of an image without that structure, besides a missing value: SIIM-ACR pneumothorax's ``-1``
NO_RUNS = "-1"
RLE_PATTERN = re.compile(r"\s*\d+\s+\d+(\s+\d+\s+\d+)*\s*")
#: rows :func:`detect` reads of a table
SNIFF_ROWS = 500
#: masks (non-empty) the numbering order is judged on, and how much better one order must score
ORDER_SAMPLES = 48
ORDER_MARGIN = 1.15
#: square images: how many are read, how many must show an outline, by how much (mean log ratio of the edge
#: strength under the two outlines) and how consistently (share of images leaning the same way) one order must win
EDGE_SAMPLES = 32
EDGE_MIN_IMAGES = 5
EDGE_MIN_LEANING = 0.05
EDGE_AGREEMENT = 0.7
ORDERS = ("auto", "F", "C")
ORDER_WORDS = {"F": "column-major (top to bottom, then left to right)", "C": "row-major (left to right, then down)"}


@dataclass(frozen=True)
class _Columns:
    image: str
    rle: str
    label: str | None
    height: str | None
    width: str | None


def _columns(keys: Sequence[str], sample: Sequence[dict[str, str]] | None = None) -> _Columns | None:
    """The table's id, run-length, class and size columns (by :func:`column_key`), or ``None`` when it has no id
    column or no run-length column (a ``mask`` column counts only when ``sample`` holds run-length values in it)."""

    def first(names: Sequence[str]) -> str | None:
        return next((key for key in names if key in keys), None)

    image, rle = first(ID_COLUMNS), first(RLE_COLUMNS)
    if rle is None and sample is not None:
        weak = first(WEAK_RLE_COLUMNS)
        if weak is not None and any(not _without_runs(_cell(row, weak)) for row in sample):
            rle = weak
    if image is None or rle is None:
        return None
    return _Columns(image, rle, first(CLASS_COLUMNS), first(HEIGHT_COLUMNS), first(WIDTH_COLUMNS))


def _cell(row: dict[str, str], key: str) -> str:
    return str(row.get(key) or "").strip()


def _class_of(row: dict[str, str], columns: _Columns) -> str:
    """The row's class: its class cell, else (no class column, or an empty cell) ``foreground``."""
    return (_cell(row, columns.label) if columns.label else "") or "foreground"


def _sniff(table: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The column keys and first :data:`SNIFF_ROWS` rows (keyed by column key) of a text table; empty when
    unreadable."""
    try:
        with table.open(newline="", encoding=text_encoding(table), errors="replace") as handle:
            reader = csv.reader(handle, delimiter=manifest_delimiter(table))
            header = [column_key(c) for c in next(reader, [])]
            rows = [dict(zip(header, row, strict=False)) for row in itertools.islice(reader, SNIFF_ROWS)]
    except (OSError, csv.Error, UnicodeError):
        return [], []
    return header, rows


def _is_rle_table(table: Path) -> bool:
    if (
        not is_manifest(table)
        or table.suffix.lower() not in (".csv", ".tsv", ".txt")
        or "submission" in table.name.lower()
    ):
        return False
    keys, rows = _sniff(table)
    columns = _columns(keys, rows)
    if columns is None:
        return False
    values = [_cell(row, columns.rle) for row in rows]
    return all(_without_runs(v) or RLE_PATTERN.fullmatch(v) for v in values)


def _tables(folder: Path) -> list[Path]:
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return []
    found = [p for p in files if _is_rle_table(p)]
    return sorted(found, key=lambda p: (not p.name.lower().startswith("train"), p.name))


def detect(path: Path) -> bool:
    """A table (or a folder with one directly in it) with an image id column and a run-length column whose
    values read as run lengths."""
    return _is_rle_table(path) if path.is_file() else bool(path.is_dir() and _tables(path))


# ---------------------------------------------------------------------------------------------- run lengths
def _without_runs(text: str) -> bool:
    """A run-length cell that draws nothing: a missing value (:func:`~medimg.data.case.is_missing_value`) or
    :data:`NO_RUNS`."""
    return text.strip() == NO_RUNS or is_missing_value(text)


def _runs(text: str) -> np.ndarray:
    """``(n, 2)`` pairs ``start length`` of a run-length string (empty for an empty cell)."""
    if _without_runs(text):
        return np.zeros((0, 2), np.int64)
    values = np.asarray(text.split(), dtype=np.int64)
    return values.reshape(-1, 2)


def _relative(runs: np.ndarray) -> bool:
    """Whether ``runs`` cannot be absolute 1-based runs: a start at or before the end of the run before it."""
    return len(runs) > 1 and bool(np.any(runs[1:, 0] < runs[:-1, 0] + runs[:-1, 1]))


def _bounds(runs: np.ndarray, relative: bool) -> tuple[np.ndarray, np.ndarray]:
    """0-based ``(starts, ends)`` of ``runs``."""
    if relative:
        ends = np.cumsum(runs[:, 0] + runs[:, 1])
        return ends - runs[:, 1], ends
    return runs[:, 0] - 1, runs[:, 0] - 1 + runs[:, 1]


def _outside(runs: np.ndarray, pixels: int, relative: bool) -> str:
    """Why ``runs`` do not fit an image of ``pixels`` pixels, ``""`` when they do."""
    if not len(runs):
        return ""
    starts, ends = _bounds(runs, relative)
    if starts.min() < 0 or runs[:, 1].min() < 1:
        return "a start before the first pixel or a run of no length"
    return f"its runs reach pixel {int(ends.max())} of an image of {pixels} pixels" if ends.max() > pixels else ""


def _flat_mask(runs: np.ndarray, pixels: int, relative: bool) -> np.ndarray:
    """The pixels ``runs`` (checked by :func:`_outside`) cover, flat, numbered as the table numbers them."""
    starts, ends = _bounds(runs, relative)
    flat = np.zeros(pixels + 1, np.int8)
    np.add.at(flat, starts, 1)
    np.add.at(flat, ends, -1)
    return np.cumsum(flat[:-1]) > 0


def _as_image(flat: np.ndarray, shape: tuple[int, int], order: str) -> np.ndarray:
    height, width = shape
    return flat.reshape(height, width) if order == "C" else flat.reshape(width, height).T


def _outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` with a 4-neighbour outside it."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


@dataclass
class _Image:
    """One image the table annotates: its file, pixel grid and ``(class value, runs)`` rows."""

    file: Path
    shape: tuple[int, int]
    rows: list[tuple[int, np.ndarray, int]]
    """``(class value, runs, table row number)``"""


def _choose_order(images: Sequence[_Image], relative: bool, table: Path) -> str:
    """The numbering order the table's masks were written in (see the module's documentation)."""
    sample = [image for image in images if any(len(runs) for _, runs, _ in image.rows)]
    step = max(1, len(sample) // ORDER_SAMPLES)
    sample = sample[::step][:ORDER_SAMPLES]
    outline = {"F": 0, "C": 0}
    oblong = [image for image in sample if image.shape[0] != image.shape[1]]
    for image in oblong:
        flat = _union(image, relative)
        for order in outline:
            outline[order] += int(_outline(_as_image(flat, image.shape, order)).sum())
    if oblong and min(outline.values()) * ORDER_MARGIN <= max(outline.values()):
        order = min(outline, key=lambda o: outline[o])
        logger.info(
            "%s: run lengths numbered %s (their masks' outlines are shorter that way)", table, ORDER_WORDS[order]
        )
        return order
    leaning = []  # per image: log of (edge strength under the column-major outline / under the row-major one)
    for image in sample[:EDGE_SAMPLES]:
        pixels = _gray(image.file)
        if pixels is None or pixels.shape != image.shape:
            continue
        gradient = np.hypot(*np.gradient(pixels))
        flat = _union(image, relative)
        strength = [float(gradient[_outline(_as_image(flat, image.shape, order))].mean()) for order in ("F", "C")]
        if min(strength) > 0:
            leaning.append(float(np.log(strength[0] / strength[1])))
    towards_f = float(np.mean(leaning)) if leaning else 0.0
    agreeing = float(np.mean([np.sign(v) == np.sign(towards_f) for v in leaning])) if leaning else 0.0
    if len(leaning) >= EDGE_MIN_IMAGES and abs(towards_f) >= EDGE_MIN_LEANING and agreeing >= EDGE_AGREEMENT:
        order = "F" if towards_f > 0 else "C"
        logger.info(
            "%s: run lengths numbered %s (their masks' outlines lie on the images' edges that way in %d of %d images)",
            table,
            ORDER_WORDS[order],
            round(agreeing * len(leaning)),
            len(leaning),
        )
        return order
    logger.warning(
        "%s: the run lengths' numbering order cannot be told from the data (the masks' outlines follow the images' "
        "edges about as well either way in %d image(s)): read as Kaggle's column-major (top to bottom, then left "
        "to right); if the masks come out transposed, state the order: --set rle_order=C (Python: rle_order='C')",
        table,
        len(leaning),
    )
    return "F"


def _union(image: _Image, relative: bool) -> np.ndarray:
    pixels = image.shape[0] * image.shape[1]
    flat = np.zeros(pixels, bool)
    for _, runs, _ in image.rows:
        flat |= _flat_mask(runs, pixels, relative)
    return flat


def _regions(image: _Image, relative: bool) -> dict[int, np.ndarray]:
    """Each class's rows of the image united, flat."""
    pixels = image.shape[0] * image.shape[1]
    regions: dict[int, np.ndarray] = {}
    for value, runs, _ in image.rows:
        regions[value] = regions.get(value, np.zeros(pixels, bool)) | _flat_mask(runs, pixels, relative)
    return regions


def _label_map(regions: dict[int, np.ndarray], shape: tuple[int, int], order: str) -> np.ndarray:
    """An image's :func:`_regions` as one label map (larger classes drawn first)."""
    return label_map_of(shape, {value: _as_image(flat, shape, order) for value, flat in regions.items()})


def _overlap(regions: dict[int, np.ndarray]) -> int:
    """How many pixels of an image's :func:`_regions` two classes cover (a label map keeps one of them)."""
    return int(np.count_nonzero(np.sum(list(regions.values()), axis=0) > 1)) if len(regions) > 1 else 0


#: the record, in a cache of drawn masks, of how many pixels of each image two classes cover
OVERLAPS_FILE = "overlaps.json"


def _say_overlaps(
    cache: Path, images: dict[str, _Image], relative: bool, root: Path, names: Sequence[str], drawn: dict[str, int]
) -> None:
    """Warn once when classes overlap in any image: a label map holds one class per pixel (UW-Madison's large and
    small bowel share pixels; the smaller region was drawn over the larger, the larger's pixels there lost, unsaid).
    The counts are kept in ``cache``'s :data:`OVERLAPS_FILE`: ``drawn``'s (the masks drawn now, by case id), and
    counted for the other images it does not list (masks drawn before it was kept)."""
    import contextlib
    import json

    record = cache / OVERLAPS_FILE
    try:
        known: dict[str, int] = json.loads(record.read_text()) if record.is_file() else {}
    except (OSError, ValueError):
        known = {}
    ids = {image.file.relative_to(root).as_posix(): image for image in images.values()}
    counted = known.keys() | drawn.keys()
    new = {c: _overlap(_regions(image, relative)) for c, image in ids.items() if c not in counted} | drawn
    if new:
        known.update(new)
        with contextlib.suppress(OSError):  # a read-only cache: counted again next time
            record.write_text(json.dumps(known))
    overlapping = [case_id for case_id in ids if known.get(case_id, 0) > 0]
    if not overlapping:
        return
    pixels = sum(known[case] for case in overlapping)
    logger.warning(
        "%d of %d image(s) have pixels that rows of two classes (of %s) cover, %d pixels in all (e.g. %s): a label "
        "map holds one class per pixel, so there the smaller region (drawn last) is kept and the larger loses them, "
        "in training and scoring; to keep each structure whole, give a table of one class's rows at a time",
        len(overlapping),
        len(ids),
        ", ".join(names[:4]),
        pixels,
        overlapping[0],
    )


def _gray(file: Path) -> np.ndarray | None:
    """The image's pixels as one float plane, ``None`` when unreadable."""
    from medimg.io.read import read_image

    try:
        data = read_image(file).array
    except MedimgError:
        return None
    return np.asarray(data, np.float32).mean(axis=0) if data.ndim == 3 else None


def _shape(file: Path, row: dict[str, str], columns: _Columns) -> tuple[int, int] | None:
    """``(height, width)`` from the row's size columns, else from the image's header."""
    from medimg.io.read import read_header

    if columns.height and columns.width:
        try:
            return int(float(row[columns.height])), int(float(row[columns.width]))
        except (TypeError, ValueError):
            pass
    try:
        spatial = read_header(file).spatial_shape
    except MedimgError:
        return None
    return (int(spatial[0]), int(spatial[1])) if len(spatial) == 2 else None


# ---------------------------------------------------------------------------------------------- finding images
class _FolderPrefixNames:
    """Images by ``<folder>_<start of file name>`` (UW-Madison's ``case123_day20_slice_0001`` for
    ``case123_day20/scans/slice_0001_266_266_1.50_1.50.png``), built on first use; a key of several images is not
    used."""

    FOLDERS_UP = 3

    def __init__(self, base: Path) -> None:
        self.base = base
        self._keys: dict[str, list[Path]] | None = None

    def find(self, image_id: str) -> Path | None:
        if self._keys is None:
            self._keys = {}
            for file in _image_files(self.base):
                parts = file_stem(file).split("_")
                for folder in file.relative_to(self.base).parts[:-1][-self.FOLDERS_UP :]:
                    for n in range(1, len(parts) + 1):
                        self._keys.setdefault(f"{folder}_{'_'.join(parts[:n])}".lower(), []).append(file)
        hits = self._keys.get(image_id.strip().lower(), [])
        return hits[0] if len(hits) == 1 else None


def _image_files(base: Path) -> list[Path]:
    return [p for p in walk_files(base) if file_suffix(p) in IMAGE_SUFFIXES]


# ---------------------------------------------------------------------------------------------- reading
def _table_of(path: Path) -> Path:
    if path.is_file():
        return path
    tables = _tables(path)
    if not tables:
        raise DatasetError(f"{path} holds no table of run-length masks (a CSV with an image id and EncodedPixels)")
    if len(tables) > 1 and not tables[0].name.lower().startswith("train"):
        names = ", ".join(t.name for t in tables)
        raise DatasetError(f"{path} holds several tables of run-length masks ({names}): give the one to read")
    return tables[0]


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    rle_order: str = "auto",
) -> SegmentationDataset:
    """The images a run-length table annotates, their rows drawn into label maps (cached).

    Args:
        include, exclude: file-name patterns an image must match / must not match.
        rle_order: how the table numbers pixels: ``"F"`` column-major (Kaggle's documented convention), ``"C"``
            row-major, ``"auto"`` (default) read from the masks and images.

    Raises:
        DatasetError: no such table, an id that names no image (or several), a string that is not run lengths or
            runs outside its image; the message lists them with their rows.
        ConfigError: an unknown ``rle_order``.
    """
    from medimg.data.layouts.image_mask_pairs import group_by_patient_folder

    if rle_order not in ORDERS:
        raise ConfigError(f"rle_order must be one of {', '.join(ORDERS)}, not {rle_order!r}")
    table = _table_of(path)
    root = table.parent
    _, rows = read_manifest(table)
    keyed = [{column_key(k): v for k, v in row.items() if k is not None} for row in rows]
    columns = _columns(list(keyed[0]) if keyed else [], keyed[:SNIFF_ROWS])
    if columns is None:
        raise DatasetError(f"{table} has no image id column and run-length column (e.g. ImageId,EncodedPixels)")
    names = order_classes({_class_of(r, columns) for r in keyed})
    value_of = {name: k + 1 for k, name in enumerate(names)}
    locate = ManifestFiles(root, lambda p: path_selected(p, include, exclude, root))
    by_prefix = _FolderPrefixNames(root)
    images: dict[str, _Image] = {}
    problems: list[str] = []
    absent: dict[str, str] = {}  # id -> its first row naming no image: a partial download's, when most ids have theirs
    for number, row in enumerate(keyed, start=2):
        image_id = _cell(row, columns.image)
        text = _cell(row, columns.rle)
        if not image_id:
            continue
        if not _without_runs(text) and not RLE_PATTERN.fullmatch(text):
            problems.append(f"row {number} ({image_id}): {columns.rle} is not pairs of start and length: {text[:40]!r}")
            continue
        if image_id not in images:
            file, why = locate.locate(image_id)
            file = file if file.is_file() else (by_prefix.find(image_id) or file)
            if not file.is_file():
                absent.setdefault(image_id, f"row {number}: no image is named {image_id!r} under {root}{why}")
                continue
            if not path_selected(file, include, exclude, root):
                continue
            shape = _shape(file, row, columns)
            if shape is None:
                problems.append(f"row {number}: the size of {file} cannot be read (a 2D image is expected)")
                continue
            images[image_id] = _Image(file, shape, [])
        images[image_id].rows.append((value_of[_class_of(row, columns)], _runs(text), number))
    relative = any(_relative(runs) for image in images.values() for _, runs, _ in image.rows)
    for image_id, image in images.items():
        for _, runs, number in image.rows:
            why = _outside(runs, image.shape[0] * image.shape[1], relative)
            if why:
                height, width = image.shape
                problems.append(f"row {number} ({image_id}): {why} ({image.file.name}, {width}x{height})")
    if absent and 2 * len(absent) < len(images) and not problems:  # SIIM's table, a download lacking a few images
        logger.warning(
            "%s: %d of its image ids name no image under %s (a partial download?): their rows are left out (e.g. %s)",
            table,
            len(absent),
            root,
            next(iter(absent.values())),
        )
    else:
        problems = [*absent.values(), *problems]
    if problems:
        raise problems_error(table, problems, "run-length problem(s)", "check that each row's id names its image")
    if not images:
        raise DatasetError(f"{table} names no image (check --include/--exclude)")
    if relative:
        logger.info("%s: run-length starts are gaps after the previous run (SIIM's relative encoding)", table)
    order = _choose_order(list(images.values()), relative, table) if rle_order == "auto" else rle_order
    cache = cache_folder([table]) / f"{order}{'-relative' if relative else ''}"
    cache.mkdir(exist_ok=True)
    cases: list[SegCase] = []
    drawn: dict[str, int] = {}  # the overlapping pixels of each mask drawn now
    for image in images.values():
        case_id = image.file.relative_to(root).as_posix()
        target = mask_file(cache, case_id)
        if not target.is_file():
            regions = _regions(image, relative)
            write_mask(target, _label_map(regions, image.shape, order))
            drawn[case_id] = _overlap(regions)
        cases.append(SegCase(case_id=case_id, image=image.file, mask=target))
    _say_overlaps(cache, images, relative, root, names, drawn)
    used = {image.file for image in images.values()}
    unlabelled = [
        p.relative_to(root).as_posix()
        for p in _image_files(root)
        if p not in used and path_selected(p, include, exclude, root)
    ]
    locate.report(table)
    logger.info("%s: %d run-length mask(s) drawn or reused in %s", table, len(cases), cache)
    dataset = SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source="rle",
        cases=group_by_patient_folder(cases, root),
        unlabelled=unlabelled,
        value_names={0: "background", **{value: name for name, value in value_of.items()}},
    )
    if rle_order != "auto":
        dataset.options["rle_order"] = rle_order
    return dataset
