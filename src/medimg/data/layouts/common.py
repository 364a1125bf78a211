"""Helpers shared by the layout readers: file-name patterns, class order, manifest headers."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from medimg.data.case import SegCase
from medimg.data.layouts.columns import column_key as column_key
from medimg.errors import DatasetError
from medimg.io.folder_walk import walk_folders
from medimg.io.formats import IMAGE_SUFFIXES, UNREAD_SUFFIXES, file_suffix, in_system_folder
from medimg.io.formats import file_stem as file_stem

# file-name patterns are the io layer's (the CLI's --include/--exclude): one implementation
from medimg.io.inputs import name_selected as name_selected
from medimg.io.inputs import parse_patterns as parse_patterns
from medimg.io.inputs import path_selected as path_selected

logger = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".csv", ".tsv", ".tab")  # .tab: Harvard Dataverse's tab-separated export (HAM10000's)
#: at least this many sub-folders holding images are patients (the groups of a split), not batches or classes
MIN_FOLDER_GROUPS = 10
#: a folder named as a numbered category, not a patient: UFBA-UESC's ``Images/cate1/``...``cate10/`` (the kinds of
#: panoramic X-ray: with or without implants, teeth missing...), ``class_3/``, ``grade2/``, ``type4/``
CATEGORY_FOLDER = re.compile(
    r"(?:cat|cate|category|categoria|class|group|grupo|type|tipo|grade|stage|level)[-_ ]?\d{1,2}", re.IGNORECASE
)
NEGATIVE_CLASS_WORDS = (
    "normal", "negative", "benign", "healthy", "control", "no_", "no-", "no ", "none", "absent", "non-", "non_",
    "non ", "not ", "not_", "not-", "without", "uninfected", "no finding", "nevus", "naevus", "notumor",
    "nofinding",
    # other languages' (a class folder named by a hospital abroad): French, German, Spanish, Portuguese, Italian,
    # Dutch; Chinese and Japanese (正常 normal, 阴性/陰性 negative, 良性 benign, 健康 healthy), Korean (정상 normal,
    # 음성 negative)
    "négati", "negativ", "bénin", "benin", "benigno", "benigna", "sain", "gesund", "saudável", "normaal",
    "正常", "阴性", "陰性", "良性", "健康", "정상", "음성",
)  # fmt: skip

#: whole class names (not prefixes: "cn" would take "cnv") of control groups: ADNI's "CN" (cognitively normal),
#: "HC" / "NC" (healthy / normal controls), "NL", "neg"; HAM10000's "nv" (melanocytic nevus, against "mel"); "well"
#: (against "sick" / "ill"; whole, so "well_differentiated" of a tumour grade stays as it sorts); "other(s)", the
#: rest against the finding a set is about (the Monkeypox Skin Lesion Dataset's "Monkey Pox" / "Others")
NEGATIVE_CLASS_NAMES = frozenset(
    {"cn", "hc", "nc", "nl", "neg", "nv", "well", "other", "others", "nein", "nee", "não", "nao", "sano", "sana"}
)

#: prefixes that negate the other class's name: "COVID" / "Non-COVID", "fracture" / "no fracture"
NEGATIONS = ("non", "no", "not", "un", "without")


def image_files_in(folder: Path, limit: int | None = None) -> list[Path]:
    """The image files directly in ``folder`` (among its first ``limit`` entries), sorted; none when unreadable."""
    try:
        entries = itertools.islice(folder.iterdir(), limit) if limit else folder.iterdir()
        return sorted(p for p in entries if p.is_file() and file_suffix(p) in IMAGE_SUFFIXES)
    except OSError:
        return []


def sub_folders(folder: Path, limit: int | None = None) -> list[Path]:
    """The visible sub-folders of ``folder`` (among its first ``limit`` entries), sorted; none when unreadable."""
    try:
        entries = itertools.islice(folder.iterdir(), limit) if limit else folder.iterdir()
        return sorted(p for p in entries if visible_dir(p) and not in_system_folder(p, folder))
    except OSError:
        return []


def walk_files(root: Path, limit: int | None = None) -> list[Path]:
    """The files under ``root`` (the first ``limit`` of them), in name order, hidden and system folders left out:
    what the readers of annotation files beside images (ImageScope XML, LabelMe JSON, MATLAB label files) look
    through."""

    def files() -> Iterator[Path]:
        for folder, folders, names in walk_folders(root):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            for name in sorted(names):
                path = Path(folder) / name
                if not in_system_folder(path, root):
                    yield path

    return list(itertools.islice(files(), limit) if limit else files())


def images_named_like(
    files: Sequence[Path], annotations: Sequence[Path], include: tuple[str, ...], exclude: tuple[str, ...], what: str
) -> tuple[list[tuple[Path, Path]], dict[str, list[Path]]]:
    """``(annotation, image)`` pairs of the ``annotations`` named like an image among ``files`` (``--include``/
    ``--exclude`` chosen), and those images by name without suffix.

    Raises:
        DatasetError: no annotation names an image (``what`` says which files: "an ImageScope XML file").
    """
    images: dict[str, list[Path]] = {}
    for p in sorted(files):
        if file_suffix(p) in IMAGE_SUFFIXES and name_selected(p.name, include, exclude):
            images.setdefault(file_stem(p), []).append(p)
    paired = [(a, nearest_files(images[a.stem], a)[0]) for a in annotations if a.stem in images]
    if not paired:
        example = annotations[0].name if annotations else "-"
        raise DatasetError(
            f"no image is named like {what} (e.g. {example}): each image needs the file of its name; check "
            "--include/--exclude"
        )
    return paired, images


def _shared(a: Path, b: Path) -> tuple[int, int]:
    """How near two files lie: the folders their paths share from the top, then, between equals, from the bottom
    (``masks/site_a/0.png`` pairs with ``images/site_a/0.png``, not ``images/site_b/0.png``: a tree of masks that
    mirrors the tree of images)."""
    return _common_run(a.parent.parts, b.parent.parts), _common_run(a.parent.parts[::-1], b.parent.parts[::-1])


#: what separates the words of a file's name where one name extends another (``001_02`` of ``001``, ``9_HGE_Seg`` of
#: ``9``)
NAME_SEPARATORS = re.compile(r"[-_. ]")


def name_prefixes(name: str) -> Iterator[str]:
    """The parts of ``name`` before each of its separators (:data:`NAME_SEPARATORS`), shortest first: the names it
    extends (``001_02`` -> ``001``; ``9_hge_seg`` -> ``9``, ``9_hge``)."""
    return (name[: match.start()] for match in NAME_SEPARATORS.finditer(name))


#: a folder of pictures drawn for viewing, an image with its annotations painted over it (Lizard's
#: ``Lizard_Labels/Overlay/``, NuCLS' ``visualization/``): never the image an annotation is of while the image
#: itself is found elsewhere
_OVERLAY_FOLDER = re.compile(r"overlays?|overlaid|overlayed|visuali[sz]ations?|previews?")


def is_overlay_folder(name: str) -> bool:
    """Whether a folder's name says it holds images with their annotations drawn over them (:data:`_OVERLAY_FOLDER`)."""
    return _OVERLAY_FOLDER.fullmatch(re.sub(r"[^a-z]", "", name.lower())) is not None


def nearest_files(files: Sequence[Path], anchor: Path) -> list[Path]:
    """Those of ``files`` that lie nearest to ``anchor`` (:func:`_shared`), in their order; none of none. An
    annotation's image among several of its name (CPM-17's ``train/Labels/image_00.mat`` annotates
    ``train/Images/image_00.png``, not ``test/Images/image_00.png``), a mask's among its candidates. Files in an
    overlay folder (:func:`is_overlay_folder`) count only when all are: Lizard's ``Labels/x.mat`` lies nearest to
    ``Overlay/x.png``, the picture with the labels drawn on it, but annotates ``Lizard_Images1/x.png``."""
    drawn = [f for f in files if is_overlay_folder(f.parent.name)]
    files = [f for f in files if f not in drawn] or drawn
    scores = [_shared(f, anchor) for f in files]
    top = max(scores, default=None)
    return [f for f, score in zip(files, scores, strict=True) if score == top]


def _common_run(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def split_of(root: Path, path: Path) -> str | None:
    """The split the nearest folder of ``path`` (inside ``root``) named for one says (``train_masks/``,
    ``a. Training Set/``), or ``None``."""
    from medimg.data.case import normalise_split

    for part in reversed(path.relative_to(root).parts[:-1]):
        split = normalise_split(part)
        if split is not None:
            return split
    return None


def folder_splits(cases: Sequence[SegCase], root: Path) -> list[SegCase]:
    """``cases`` with the splits their folders give: each case's own (:func:`split_of`) when every case has one, else
    those of :func:`split_named_folders`, else none (a split for some only is no split: the others would be no
    split's)."""
    if cases and all(c.split for c in cases):
        return list(cases)
    named = split_named_folders([c.image for c in cases], root)
    return [dataclasses.replace(c, split=named[k] if named else None) for k, c in enumerate(cases)]


#: a split's own word among the camel-case humps of a name (MoNuSeg's ``MoNuSegTestData``), not an abbreviation
#: (nnU-Net's ``imagesTr``)
_CAMEL_SPLIT_WORD = re.compile(r"(?:Train|Training|Test|Testing|Val|Valid|Validation)(?![a-z])")


def named_split(name: str) -> str | None:
    """The split a name gives: the whole name (``valid``), or the one split word among its words
    (``ISIC_2019_Training_GroundTruth``: train, ``ISIC-2017_Test_v2_Data``: test, ``MoNuSegTestData``: test);
    ``None`` for none or several."""
    from medimg.data.case import normalise_split

    whole = normalise_split(name)
    if whole is not None:
        return whole
    words = [*re.split(r"[^a-z]+", name.lower()), *(w.lower() for w in _CAMEL_SPLIT_WORD.findall(name))]
    found = {split for word in words if word and (split := normalise_split(word))}
    return found.pop() if len(found) == 1 else None


def split_named_folders(images: Sequence[Path], root: Path) -> list[str] | None:
    """Each image's split by the one split word in the name of its nearest folder (inside ``root``) that has one
    (``ISIC-2017_Training_Data``: train; RibFrac's ``ribfrac-train-images-1/Part1/`` beside ``ribfrac-val-images/``;
    MoNuSeg's ``MoNuSeg 2018 Training Data/`` beside ``MoNuSegTestData/``), when every image has one and they name
    training and another split; ``None`` otherwise."""

    def split(image: Path) -> str | None:
        folders = image.relative_to(root).parts[:-1] if root in image.parents else (image.parent.name,)
        return next((found for name in reversed(folders) if (found := named_split(name)) is not None), None)

    found = [split(image) for image in images]
    splits = [split for split in found if split is not None]
    if not images or len(splits) != len(found) or "train" not in splits or len(set(splits)) < 2:
        return None
    return splits


#: a file name whose first word names a split: GlaS's ``train_1.bmp``, ``testA_1.bmp`` and ``testB_1.bmp`` (two test
#: sets, A and B); or its second, after a number (the SIIM-ACR PNG release's ``0_train_0_.png``, ``3_test_1_.png``)
NAME_SPLIT = re.compile(
    r"^(?:\d+[\s_\-])?(train|training|val|valid|validation|test|testing)[a-d]?(?=[\s_\-.]|\d)", re.IGNORECASE
)


def splits_from_names(paths: Sequence[Path]) -> list[str] | None:
    """The split each file's name starts with, when every name starts with one and they name a training split and
    another (``train_1.bmp``, ``testA_1.bmp``: ``train``, ``test``); ``None`` otherwise (a file name without one,
    or one split only, says nothing about the others)."""
    from medimg.data.case import normalise_split

    matches = [NAME_SPLIT.match(path.name) for path in paths]
    if not paths or not all(matches):
        return None
    splits = [normalise_split(match.group(1)) or "" for match in matches if match]
    return splits if "train" in splits and len(set(splits)) > 1 else None


def text_head(path: Path, size: int) -> str:
    """The first ``size`` characters of a text file (undecodable bytes replaced), ``""`` when it cannot be read: what
    a layout's ``detect`` sniffs (a COCO JSON's keys, an XML's root element)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return handle.read(size)
    except OSError:
        return ""


def order_classes(names: set[str] | list[str]) -> list[str]:
    """Class names in a stable order; for two classes, a "normal"-like class first.

    Binary metrics treat class index 1 as the positive class (sensitivity = recall of the disease), so a class
    named like normal / negative / benign / healthy / control goes first; the rest stay in numeric order when
    every name is a number, else alphabetical (MedMNIST-style integer labels keep their meaning).
    """
    try:
        return sorted(names, key=float)
    except ValueError:
        ordered = sorted(names)
    if len(ordered) != 2:
        return ordered
    first, second = ordered
    # the words both names share are no part of the classes (COVID-CT's CT_COVID and CT_NonCOVID)
    core = dict(zip(ordered, _without_shared_words(first, second), strict=True))
    words = [n for n in ordered if _negative_word(core[n])]
    # a negation of the other name is the negative class, unless that name is itself the negative word
    # ("Unhealthy" of "Healthy": the healthy class stays negative)
    negating = [
        n
        for n, other in ((first, second), (second, first))
        if _negates(core[n], core[other]) and not _negative_word(core[other])
    ]
    negative = negating or words
    return negative[:1] + [n for n in ordered if n not in negative[:1]]


def _without_shared_words(first: str, second: str) -> tuple[str, str]:
    """``first`` and ``second`` without the whole words (split at ``_``, ``-``, spaces) both begin with (``CT_COVID``,
    ``CT_NonCOVID`` -> ``COVID``, ``NonCOVID``). A shared end stays: ``well_differentiated`` is a grade, not
    ``well``."""
    a, b = re.split(r"([_\-\s]+)", first), re.split(r"([_\-\s]+)", second)  # words with their separators
    start = 0
    while start + 2 < min(len(a), len(b)) and a[start] == b[start] and a[start + 1] == b[start + 1]:
        start += 2
    return "".join(a[start:]), "".join(b[start:])


def _negative_word(name: str) -> bool:
    """``name`` reads as a negative (control) class: it starts with a word of :data:`NEGATIVE_CLASS_WORDS` or is
    one of :data:`NEGATIVE_CLASS_NAMES`."""
    lowered = unicodedata.normalize("NFC", name.strip().lower())  # a macOS folder's "Bénin" is decomposed
    return lowered.startswith(NEGATIVE_CLASS_WORDS) or lowered in NEGATIVE_CLASS_NAMES


#: a negated word and the other class's word sharing this many first letters are one word ("nondemented" of
#: "dementia", "non-malignant" of "malignancy")
SHARED_STEM = 6


def _negates(name: str, other: str) -> bool:
    """True when ``name`` is ``other`` (or its last word, or a word of its stem) with a negation before it
    (``Non-COVID`` of ``COVID``, ``no fracture`` of ``fracture``, ``uninfected`` of ``infected``, ``NonDemented``
    of ``MildDemented``, ``nondemented`` of ``dementia``)."""
    words = re.sub(r"[\s_\-]+", " ", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.strip())).lower()
    target = re.sub(r"[\s_\-]+", " ", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", other.strip())).lower()
    for negation in NEGATIONS:
        if not words.startswith(negation):
            continue
        rest = words[len(negation) :].strip()
        if rest == target or (len(rest) >= 3 and target.split()[-1:] == [rest]):
            return True
        if len(rest) >= SHARED_STEM and " " not in rest and rest[:SHARED_STEM] == target.replace(" ", "")[:SHARED_STEM]:
            return True
    return False


def json_labels_note(path: Path) -> str:
    """A sentence naming a JSON file at ``path`` (the file itself, or one in the folder) that may hold the labels in
    a form medimg does not read (``{"x.png": "pneumonia"}``, Label Studio's choices; a list of flat records is a
    table, :mod:`.json_tables`); ``""`` when there is none."""
    if path.is_file():
        found = [path] if path.suffix.lower() == ".json" else []
    else:
        found = [p for p in sorted(path.glob("*.json"))[:20] if p.name.lower() != "dataset.json"]
    if not found:
        return ""
    return (
        f". {found[0].name} is not read for labels: medimg reads class labels from folder names or from a table "
        "(CSV, TSV, Excel, or JSON as a list of records) with an image path column and a label column, and boxes or "
        "outlines from COCO, LabelMe, CVAT or Label Studio JSON; write the labels as such a table (e.g. labels.csv "
        "with the header path,label) beside the images, or the boxes as a CSV with the header path,x1,y1,x2,y2,label"
    )


#: spreadsheet formats medimg reads no table from (it reads CSV, TSV and Excel's .xlsx/.xls), by suffix
OTHER_SPREADSHEETS = {
    ".ods": "an OpenDocument spreadsheet (LibreOffice Calc)",
    ".numbers": "an Apple Numbers spreadsheet",
    ".xlsb": "an Excel binary workbook",
}


def table_labels_note(path: Path) -> str:
    """A sentence naming a table at the top of the folder ``path`` that may hold its images' labels, which a folder
    is not read with unless the table names them in columns medimg knows (Fitzpatrick17k's ``fitzpatrick17k.csv``
    naming ``images/<md5hash>.jpg``, NODE21's, CMMD's): given itself, the table is searched for the column naming
    the files. ``""`` for a file, or a folder without a table."""
    # a submission template never, and a table named for training or labels first (ISIC 2024's train-metadata.csv,
    # not sample_submission.csv beside it, which was named)
    tables = [t for t in tables_in(path) if "submission" not in t.stem.lower() and not _acquisition_table(t)]
    tables.sort(key=lambda t: (not re.search(r"train|label|truth", t.stem.lower()), "test" in t.stem.lower()))
    if not tables:
        other = sorted(p for p in path.glob("*") if p.suffix.lower() in OTHER_SPREADSHEETS) if path.is_dir() else []
        return (  # labels.ods beside images/: the one class 'images' said, the table not
            f". {other[0].name} beside the images is {OTHER_SPREADSHEETS[other[0].suffix.lower()]}, which medimg "
            "does not read: save it as .xlsx or .csv and give that table"
            if other
            else ""
        )
    return (
        f". {tables[0].name} beside the images may hold their labels: give the table itself, medimg fit "
        f"{tables[0]} (its columns naming the files and the classes are found, or named in the log)"
    )


#: columns saying how or where an image was taken, never what it shows
ACQUISITION_COLUMNS = frozenset({
    "machine", "scanner", "manufacturer", "vendor", "device", "model", "modality", "site", "institution", "hospital",
    "center", "centre", "source", "camera", "resolution", "width", "height", "size", "format",
})  # fmt: skip


def _acquisition_table(table: Path) -> bool:
    """Whether a table's columns beside those naming the images only say how or where each was taken
    (:data:`ACQUISITION_COLUMNS`: Aariz's ``cephalogram_machine_mappings.csv`` of ``cephalogram_id,machine``), so it
    holds no labels (naming it as where the labels may be led to a classifier of X-ray machines)."""
    named = [c for c in manifest_header(table) if not re.search(r"(?:^|_)(?:id|name|file|filename|path|image)s?$", c)]
    return bool(named) and all(c in ACQUISITION_COLUMNS for c in named)


def tables_in(folder: Path) -> list[Path]:
    """The tables (:func:`is_manifest`) directly in ``folder``, by name: where labels may be when the folder is not
    read with them; none for a file or an unreadable folder."""
    try:
        return sorted(p for p in folder.iterdir() if is_manifest(p))
    except OSError:  # a file, or a folder that cannot be listed
        return []


def is_manifest(path: Path) -> bool:
    """True for an existing ``.csv``/``.tsv``/``.tab`` file, Excel workbook (:mod:`.spreadsheets`), table saved
    as ``.txt`` (Excel's "Unicode Text", tab-separated UTF-16: a first line of tab-separated columns) or JSON list of
    records (:mod:`.json_tables`)."""
    from medimg.data.layouts.json_tables import is_json_table
    from medimg.data.layouts.spreadsheets import is_spreadsheet

    if not path.is_file():
        return False
    if path.suffix.lower() == ".txt":
        lines = _first_lines(path, 1)
        return bool(lines) and "\t" in lines[0]
    if path.suffix.lower() == ".json":
        return is_json_table(path)
    return path.suffix.lower() in MANIFEST_SUFFIXES or is_spreadsheet(path)


def text_encoding(path: Path) -> str:
    """The encoding a text table is read in: UTF-16 or UTF-32 when its byte-order mark says so (Excel's "Unicode
    Text", Windows tools' "Unicode"); UTF-16 without a mark when every other byte of its start is zero (ASCII
    letters in UTF-16, as PowerShell's ``Out-File -Encoding Unicode`` pipelines and some exporters write it: read as
    UTF-8 its header was ``p a t h``); else UTF-8 (a BOM allowed)."""
    try:
        with path.open("rb") as handle:
            start = handle.read(64)
    except OSError:
        return "utf-8-sig"
    if start.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    pairs = len(start) // 2
    if pairs >= 2 and not any(start[1 : 2 * pairs : 2]) and all(start[0 : 2 * pairs : 2]):
        return "utf-16-le"
    if pairs >= 2 and not any(start[0 : 2 * pairs : 2]) and all(start[1 : 2 * pairs : 2]):
        return "utf-16-be"
    return "utf-8-sig"


def _first_lines(path: Path, count: int = 6) -> list[str]:
    try:
        with path.open(encoding=text_encoding(path), errors="replace", newline="") as handle:
            lines = [handle.readline(65536) for _ in range(count)]
    except (OSError, UnicodeError):
        return []
    return [line for line in lines if line.strip()]


#: Excel's first line naming a CSV's delimiter (``sep=;``), which it writes and reads itself but is no header
SEPARATOR_LINE = re.compile(r"^sep=(.)\s*$")


def separator_line(path: Path) -> str | None:
    """The delimiter a CSV's Excel ``sep=;`` first line names, or ``None`` when it has none."""
    lines = _first_lines(path, 1)
    match = SEPARATOR_LINE.match(lines[0]) if lines else None
    return match.group(1) if match else None


#: the encoding a manifest that is not UTF-8 is read in: Windows' Western code page, what Excel's plain
#: "CSV (comma delimited)" writes on a European or American Windows
LEGACY_ENCODING = "cp1252"


#: words of a folder that holds images or other folders, not a class: ``images_001``, ``HAM10000_images_part_1``,
#: ``ISIC_2019_Training_Input``, LC25000's ``lung_image_sets``
CONTAINER_WORDS = frozenset({
    "image", "images", "img", "imgs", "input", "inputs", "part", "data", "dataset", "datasets", "set", "sets",
    "folder", "dicom", "dicoms", "jpg", "jpeg", "png",
    "adni", "ppmi",  # LONI IDA's download folder (subject folders) beside its table
})  # fmt: skip


#: what separates a manifest's columns: comma, semicolon (spreadsheets in locales with a decimal comma), tab, bar
DELIMITERS = (",", ";", "\t", "|")


def manifest_delimiter(path: Path) -> str:
    """Tab for ``.tsv`` and ``.tab``; the one an Excel ``sep=;`` first line names; otherwise the delimiter that
    splits the first lines into one number of columns, two or more (the most columns, if several do: a header
    ``Bild;Befund (final, geprüft)`` over ``a.png;normal`` rows is semicolon-separated, though it holds a comma
    too), else the one the header row uses most (comma when it has none: one column)."""
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    named = separator_line(path)
    if named is not None:
        return named
    lines = _first_lines(path)
    if not lines:
        return ","
    columns = {}
    for delimiter in DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1 and min(widths) >= 2:
            columns[delimiter] = widths.pop()
    if columns:
        return max(columns, key=lambda d: columns[d])  # the first of DELIMITERS on a tie
    counts = {d: lines[0].count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def manifest_header(path: Path) -> list[str]:
    """The column names (:func:`column_key`) of a manifest's first row (empty when unreadable); reads one line."""
    from medimg.data.layouts.json_tables import is_json_table, read_json_table
    from medimg.data.layouts.spreadsheets import is_spreadsheet, read_sheet

    if is_spreadsheet(path):
        try:
            return [column_key(c) for c in read_sheet(path, header_only=True)[0]]
        except DatasetError:
            return []
    if path.suffix.lower() == ".json":
        return [column_key(c) for c in read_json_table(path)[0]] if is_json_table(path) else []
    for encoding in (text_encoding(path), LEGACY_ENCODING):
        try:
            with path.open(newline="", encoding=encoding) as handle:
                _skip_separator_line(handle, path)
                first = next(csv.reader(handle, delimiter=manifest_delimiter(path)), [])
            return [column_key(c) for c in first]
        except UnicodeDecodeError:
            continue
        except (OSError, csv.Error):
            return []
    return []


def read_manifest(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A manifest's columns (:func:`column_key` -> column as written) and rows, read as UTF-8 (BOM allowed) or, with
    their byte-order mark, UTF-16/32 (:func:`text_encoding`), else as :data:`LEGACY_ENCODING` with a warning
    (``Röntgen.png`` saved by Excel without 'CSV UTF-8').

    An Excel workbook is read by :func:`.spreadsheets.read_sheet`.

    Raises:
        DatasetError: the file is in neither encoding or not valid CSV (the message names the file and the fix).
    """
    from medimg.data.layouts.json_tables import read_json_table
    from medimg.data.layouts.spreadsheets import is_spreadsheet, read_sheet

    if is_spreadsheet(path):
        header, records = read_sheet(path)
        return {column_key(c): c for c in header}, records
    if path.suffix.lower() == ".json":
        header, records = read_json_table(path)
        return {column_key(c): c for c in header}, records
    try:
        return _read_rows(path, text_encoding(path))
    except UnicodeDecodeError as error:
        utf8_error = error
    except (OSError, csv.Error) as error:
        raise DatasetError(f"cannot read manifest {path}: {error}") from error
    try:
        columns, rows = _read_rows(path, LEGACY_ENCODING)
    except (UnicodeDecodeError, OSError, csv.Error):
        raise DatasetError(
            f"{path} is not UTF-8 text (byte {utf8_error.start} cannot be decoded): save the manifest as UTF-8 "
            "(spreadsheets: 'CSV UTF-8')"
        ) from utf8_error
    logger.warning(
        "%s is not UTF-8 (byte %d): read as Windows-1252, the code page of Excel's plain CSV; if names with accents "
        "or umlauts come out wrong, save it as 'CSV UTF-8'",
        path,
        utf8_error.start,
    )
    return columns, rows


def _read_rows(path: Path, encoding: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    with path.open(newline="", encoding=encoding) as handle:
        _skip_separator_line(handle, path)
        reader = csv.DictReader(handle, delimiter=manifest_delimiter(path))
        columns = {column_key(c): c for c in (reader.fieldnames or [])}
        return columns, [row for row in reader if any(_filled(value) for value in row.values())]


def _skip_separator_line(handle: TextIO, path: Path) -> None:
    """Read past an Excel ``sep=;`` first line (:func:`separator_line`): the header is the line after it."""
    if separator_line(path) is not None:
        handle.readline()


def _filled(value: str | list[str] | None) -> bool:
    """A cell with something in it (rows of separators only, ``,,`` as spreadsheets end a table with, are not
    rows)."""
    if isinstance(value, list):  # the fields past the header's columns
        return any(_filled(v) for v in value)
    return bool(value and value.strip())


def _resolve(raw_path: str, base: Path) -> Path:
    """A row's file: absolute, or relative to the CSV's folder; Windows separators (``imgs\\a.png``) work too."""
    file = Path(raw_path).expanduser()
    file = file if file.is_absolute() else base / file
    if not file.exists() and "\\" in raw_path:
        windows = Path(raw_path.replace("\\", "/")).expanduser()
        file = windows if windows.is_absolute() else base / windows
    return file


def by_name_only(raw_path: str) -> bool:
    """A row that names its file without a usable folder: a bare name, or an absolute path from another machine
    (``/home/alice/xray/a.png``, ``C:\\Users\\...\\a.png``): such files are looked up by name. A relative path
    with folders is taken as written (a wrong one is reported)."""
    return is_absolute_path(raw_path) or not any(sep in raw_path for sep in "/\\")


def is_absolute_path(raw_path: str) -> bool:
    """A path from the root of this machine's or another's file system (``/kaggle/input/...``, ``C:\\...``)."""
    return re.match(r"^([a-zA-Z]:)?[\\/]", raw_path.strip()) is not None


#: an image named by a word and a number (BCCD's ``BloodImage_00000``; stems are case-folded)
NUMBERED_NAME = re.compile(r"([a-z]+[_\- ]?)(\d+)")
#: what an id says it names, after the name (SIIM-FISABIO-RSNA COVID-19's ``<image>_image``, ``<study>_study``)
ROLE_SUFFIX = re.compile(r"_(image|study)$")


#: folder names of masks: a file named by a label table in one of them gives way to its image of that name
MASK_FOLDER_NAMES = frozenset(
    {"mask", "masks", "segmentation", "segmentations", "gt", "ground_truth", "groundtruth", "annotation_masks"}
)


class _FilesByName:
    """The image files under a manifest's folder by name, for rows that give a bare file name (NIH ChestX-ray14's
    ``00000001_000.png`` with the images in ``images_001/images/``) or a bare identifier without suffix
    (HAM10000's ``ISIC_0027419`` in ``HAM10000_images_part_1/``), else the folder of that name (a study's or
    series' DICOM slices: Kaggle RSNA's ``train_images/<StudyInstanceUID>/``). A number matches a name of digits
    with leading zeros (``17`` or ``17.0`` -> ``00017.png``, ``00017/``): spreadsheets drop the zeros of an id
    column, pandas writes a column of ids with gaps as floats. Built on first use. A name found twice is ambiguous
    and not used, unless ``select`` (the ``--include``/``--exclude`` patterns) keeps one of the files, or the files
    are copies of one another (Kaggle's HAM10000 ships ``HAM10000_images_part_1/`` and ``ham10000_images_part_1/``;
    its diabetic retinopathy set a ``sample/`` of training images): the first is used and counted in ``copies``."""

    def __init__(self, base: Path, select: Callable[[Path], bool] | None = None, split: str | None = None) -> None:
        self.base = base
        self.select = select
        self.split = split  # the split the table's name says: among files of one name, the one in that split's folder
        self.copies = 0  # rows whose name several copies of one file have
        self._names: dict[str, list[Path]] | None = None
        self._stems: dict[str, list[Path]] = {}
        self._folders: dict[str, list[Path]] = {}
        self._videos: dict[str, Path] = {}  # videos by name without suffix: EchoNet's FileList.csv names its clips
        self.videos: list[Path] = []  # the videos rows named, found instead of an image
        self._numbers: dict[int, list[Path]] | None = None
        self.unpadded = 0  # rows found only by their number
        self.numbered: list[tuple[str, Path]] = []  # rows found by the number in a word-and-number name (BCCD's)
        self._word_numbers = False  # the numbers are those of word-and-number names

    def _folders_of(self, path: Path) -> tuple[str, ...]:
        """The folders ``path`` lies in under the base (none when it is elsewhere)."""
        return path.relative_to(self.base).parts[:-1] if self.base in path.parents else ()

    def _in_mask_folder(self, path: Path) -> bool:
        """Whether ``path`` lies in a folder of masks under the base (``mask/``, ``GT/``, ``segmentations/``)."""
        return any(folder.lower() in MASK_FOLDER_NAMES for folder in self._folders_of(path))

    def _in_image_folder(self, path: Path) -> bool:
        """Whether ``path`` lies in a folder named for images under the base (``images/``, ``TIFF Images/``)."""
        from medimg.data.layouts.image_mask_pairs import folder_role

        return any(folder_role(folder) == "image" for folder in self._folders_of(path))

    def _shared_folders(self, path: Path, row_folders: Sequence[str]) -> int:
        """How many of the last ``row_folders`` (case-folded) ``path``'s own folders under the base end with."""
        own = [part.casefold() for part in self._folders_of(path)]
        wanted = [folder.casefold() for folder in row_folders if folder]
        shared = 0
        while shared < min(len(own), len(wanted)) and own[-1 - shared] == wanted[-1 - shared]:
            shared += 1
        return shared

    def find(self, raw_path: str, row_folders: Sequence[str] = ()) -> tuple[Path | None, str]:
        """The one file ``raw_path`` names, else ``None`` and why (empty when no file has the name); a file in a
        folder of masks gives way to one elsewhere (the image of that name); among files of that name, those under
        the most of the row's own last ``row_folders`` (``C:\\data\\images\\train\\case1.png``: ``images/train/``)."""
        if self._names is None:
            self._names = {}
            for folder, folders, files in walk_folders(self.base):
                for name in folders:
                    self._folders.setdefault(name.lower(), []).append(Path(folder) / name)
                for name in files:
                    path = Path(folder) / name
                    self._names.setdefault(name.lower(), []).append(path)
                    if file_suffix(path) in IMAGE_SUFFIXES:
                        self._stems.setdefault(name[: -len(file_suffix(path))].lower(), []).append(path)
                    elif UNREAD_SUFFIXES.get(file_suffix(path)) == "video":
                        self._videos.setdefault(name[: -len(file_suffix(path))].lower(), path)
        key = raw_path.strip().lower()
        by_stem, by_folder = self._stems.get(key, []), self._folders.get(key, [])
        if by_stem and by_folder and all(map(self._in_mask_folder, by_stem)):  # the study's folder, not its mask's
            by_stem = [*by_stem, *by_folder]  # (RSNA cervical spine's train_images/<UID>/, segmentations/<UID>.nii)
        hits = self._names.get(key) or by_stem or by_folder
        if not hits and ROLE_SUFFIX.search(key):  # SIIM-FISABIO-RSNA's 000a312787f2_image for 000a312787f2.dcm
            hits = self._stems.get(ROLE_SUFFIX.sub("", key), [])
        number = re.fullmatch(r"(\d+)(\.0+)?", key)
        if not hits and number is not None:
            if self._numbers is None:
                self._numbers = {}
                for name, paths in (*self._stems.items(), *self._folders.items()):
                    if name.isdigit():
                        self._numbers.setdefault(int(name), []).extend(paths)
                if not self._numbers:
                    self._numbers = self._numbered_names()
                    self._word_numbers = bool(self._numbers)
            hits = self._numbers.get(int(number.group(1)), [])
            if len(hits) == 1 and self._word_numbers:
                self.numbered.append((raw_path, hits[0]))
            else:
                self.unpadded += len(hits) == 1
        if len(hits) > 1 and row_folders:  # a Windows path of another machine: train\case1.png, not test\case1.png
            shared = {hit: self._shared_folders(hit, row_folders) for hit in hits}
            hits = [hit for hit in hits if shared[hit] == max(shared.values()) > 0] or hits
        if len(hits) > 1 and self.select is not None:
            hits = [hit for hit in hits if self.select(hit)] or hits
        if len(hits) > 1 and self.split is not None:  # IDRiD's Training Labels.csv: a. Training Set/IDRiD_001.jpg,
            hits = [hit for hit in hits if split_of(self.base, hit) == self.split] or hits  # not b. Testing Set/'s
        if len(hits) > 1:  # TN-SCUI's train.csv (ID,CATE) names 1 of image/1.PNG and mask/1.PNG: the image
            hits = [hit for hit in hits if not self._in_mask_folder(hit)] or hits
        if len(hits) > 1:  # DMID's Metadata.xlsx names IMG001 of TIFF Images/ and Pixel-level annotation/: the image
            hits = [hit for hit in hits if self._in_image_folder(hit)] or hits
        if len(hits) > 1 and _copies(hits):
            self.copies += 1
            hits = sorted(hits)[:1]  # the same copy whatever order the folders are listed in
        if len(hits) == 1:
            return hits[0], ""
        if hits:
            suffixes = sorted({file_suffix(hit) for hit in hits})
            exclusion = self._exclusion(hits)
            choose = (
                "; choose with " + " or ".join(f"--include '*{suffix}'" for suffix in suffixes)
                if len(suffixes) > 1
                else f"; choose the folder with --exclude '{exclusion}', or give the rows their folder"
                if exclusion
                else "; give the rows their folder"
            )
            return None, f" (several files have this name: {hits[0]}, {hits[1]}{choose})"
        if key in self._videos:
            self.videos.append(self._videos[key])
            return None, f" ({self._videos[key]} is a video, which medimg does not read)"
        return None, ""

    def begun_by(self, value: str) -> list[Path]:
        """The image files whose name begins with ``value`` and a separator (``_``, ``-``, ``.``): ABIDE's
        ``FILE_ID`` ``Pitt_0050003`` begins ``Pitt_0050003_func_preproc.nii.gz``."""
        self.find(value)  # builds the index
        key = value.strip().lower()
        return [
            path
            for stem, paths in self._stems.items()
            if len(stem) > len(key) and stem.startswith(key) and stem[len(key)] in "_-."
            for path in paths
        ]

    def _numbered_names(self) -> dict[int, list[Path]]:
        """The images by their number when every image's name is one word and a number (BCCD's ``labels.csv`` gives
        ``0`` for ``JPEGImages/BloodImage_00000.jpg``): ``{}`` when the names differ in more than their number."""
        numbered: dict[int, list[Path]] = {}
        words: set[str] = set()
        for stem, paths in self._stems.items():
            found = NUMBERED_NAME.fullmatch(stem)
            if found is None:
                return {}
            words.add(found.group(1))
            numbered.setdefault(int(found.group(2)), []).extend(paths)
        return numbered if len(words) == 1 else {}

    def _exclusion(self, hits: list[Path]) -> str | None:
        """An ``--exclude`` pattern leaving one of two files of one name: the folder of one (not when the patterns,
        matched regardless of case, cannot tell the folders apart: ``HAM10000_images_part_1/`` beside
        ``ham10000_images_part_1/``)."""
        if len(hits) != 2 or not all(self.base in hit.parents for hit in hits):
            return None
        for hit in reversed(hits):
            pattern = f"{hit.parent.relative_to(self.base).as_posix()}/*"
            if sum(path_selected(h, (), (pattern,), self.base) for h in hits) == 1:
                return pattern
        return None


def _copies(paths: list[Path]) -> bool:
    """Whether ``paths`` are one file's copies (same bytes): HAM10000's ``HAM10000_images_part_1/`` beside
    ``ham10000_images_part_1/``, Kaggle's diabetic retinopathy ``sample/`` of training images beside ``train/``."""
    from medimg.data.identical_files import identical_file_groups

    groups = identical_file_groups(paths)
    return len(groups) == 1 and len(groups[0]) == len(set(paths))


#: the most leading folders dropped from a manifest's relative path to find its file under the manifest's folder
DROPPED_FOLDERS = 2
#: an identifier with its kind appended (SIIM-FISABIO-RSNA's ``<StudyInstanceUID>_study``, ``<id>_image``): the
#: file or folder is named by the identifier alone
KIND_SUFFIX = re.compile(r"(.+)_(study|series|image)", re.IGNORECASE)


class ManifestFiles:
    """Where a manifest's rows point: a path relative to the manifest's folder (or absolute; Windows ``\\``
    separators work), else, for a row naming its file without a usable folder, the one file of that name (or
    identifier without suffix) under the folder (:class:`_FilesByName`). Shared by the label and box manifests."""

    def __init__(self, base: Path, select: Callable[[Path], bool] | None = None, split: str | None = None) -> None:
        self.base = base
        self.by_name = _FilesByName(base, select, split)
        self.found_by_name = 0
        self.found_elsewhere: list[str] = []  # rows of absolute paths of another machine (Kaggle's /kaggle/input/)
        self.found_from_above = 0
        self.found_below = 0
        self._folders: list[Path] | None = None  # the base's sub-folders, for paths given from inside one

    def locate(self, raw_path: str) -> tuple[Path, str]:
        """The file a row names (may not exist) and, when it was looked up by name and not found, why.

        A relative path written from a folder above the manifest's (CheXpert's ``CheXpert-v1.0-small/train/
        patient00001/study1/view1_frontal.jpg`` in ``CheXpert-v1.0-small/train.csv``) is found by dropping its first
        folders (up to :data:`DROPPED_FOLDERS`)."""
        file = _resolve(raw_path, self.base)
        why = ""
        if not file.exists() and by_name_only(raw_path):  # look for the file's name in sub-folders
            *folders, name = re.split(r"[/\\]", raw_path)
            found, why = self.by_name.find(name, folders)
            if found is None and (kind := KIND_SUFFIX.fullmatch(name)):  # SIIM's <study uid>_study: folder <uid>
                found, why = self.by_name.find(kind.group(1))
            if found is not None and is_absolute_path(raw_path):
                file = found
                self.found_elsewhere.append(raw_path)
            elif found is not None:
                file, self.found_by_name = found, self.found_by_name + 1
        elif not file.exists() and not Path(raw_path).is_absolute():
            parts = [p for p in re.split(r"[/\\]", raw_path) if p]
            for dropped in range(1, min(DROPPED_FOLDERS, len(parts) - 1) + 1):
                shorter = self.base.joinpath(*parts[dropped:])
                if shorter.exists():
                    file, self.found_from_above = shorter, self.found_from_above + 1
                    break
            else:  # given from inside a folder of the base (Derm7pt's meta/meta.csv: Aal/Aal000.jpg in images/)
                inside = next((f for f in self._sub_folders() if f.joinpath(*parts).exists()), None)
                if inside is not None:
                    file, self.found_below = inside.joinpath(*parts), self.found_below + 1
        return file, why

    def _sub_folders(self) -> list[Path]:
        if self._folders is None:
            entries = sorted(itertools.islice(self.base.iterdir(), 200)) if self.base.is_dir() else []
            self._folders = [p for p in entries if p.is_dir() and not p.name.startswith((".", "_"))]
        return self._folders

    def peek(self, raw_paths: list[str]) -> list[Path]:
        """The files ``raw_paths`` name, as :meth:`locate` finds them (they may not exist); the counts
        :meth:`report` logs are left as they were."""
        counts = (self.found_by_name, self.found_from_above, self.found_below, self.by_name.copies)
        unpadded, elsewhere, numbered = self.by_name.unpadded, len(self.found_elsewhere), len(self.by_name.numbered)
        try:
            return [self.locate(raw)[0] for raw in raw_paths]
        finally:
            self.found_by_name, self.found_from_above, self.found_below, self.by_name.copies = counts
            self.by_name.unpadded = unpadded
            del self.found_elsewhere[elsewhere:]
            del self.by_name.numbered[numbered:]

    def begun_by(self, value: str) -> list[Path]:
        """The image files under the base whose name begins with ``value`` and a separator."""
        return self.by_name.begun_by(value)

    def all_found(self, raw_paths: list[str]) -> bool:
        """Whether ``raw_paths`` (at least one) all name an existing file or folder, as :meth:`locate` finds them;
        the counts :meth:`report` logs are left as they were."""
        return bool(raw_paths) and all(file.exists() for file in self.peek(raw_paths))

    def report(self, manifest: Path) -> None:
        """One log line when rows were found by name, or by dropping their first folders."""
        if self.found_from_above:
            logger.info(
                "%s: %d row(s) give their path from a folder above the manifest's: found under %s",
                manifest,
                self.found_from_above,
                self.base,
            )
        if self.found_below:
            logger.info(
                "%s: %d row(s) give their path from inside a folder of %s: found there",
                manifest,
                self.found_below,
                self.base,
            )
        if self.found_by_name:
            logger.info(
                "%s: %d row(s) name a file without its folder: found by name under %s",
                manifest,
                self.found_by_name,
                self.base,
            )
        if self.found_elsewhere:
            logger.info(
                "%s: %d row(s) give a path of another machine (e.g. %s): each file found by its name under %s",
                manifest,
                len(self.found_elsewhere),
                self.found_elsewhere[0],
                self.base,
            )
        if self.by_name.copies:
            logger.info(
                "%s: %d row(s) name a file kept twice or more, byte for byte the same (a sample or a second copy of "
                "the images): the first copy is read",
                manifest,
                self.by_name.copies,
            )
        if self.by_name.numbered:
            from medimg.data.identical_files import shown_under

            number, file = self.by_name.numbered[0]
            logger.info(
                "%s: %d row(s) give a number, each the image of that number (e.g. %s -> %s): every image's name is "
                "one word and its number",
                manifest,
                len(self.by_name.numbered),
                number,
                shown_under(file, self.base),
            )
        if self.by_name.unpadded:
            logger.warning(
                "%s: %d row(s) give a number whose file or folder name has leading zeros (17 -> 00017): matched by "
                "the number (a spreadsheet drops an id's zeros; keep the column as text)",
                manifest,
                self.by_name.unpadded,
            )


def problems_error(where: Path, problems: Sequence[str], what: str = "problem(s)", fix: str = "") -> DatasetError:
    """One :class:`~medimg.errors.DatasetError` listing the first ten of a reader's ``problems`` (and how many
    more), so that a user fixes them all in one pass instead of one per run."""
    shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
    return DatasetError(f"{where}: {len(problems)} {what}:\n  {shown}" + (f"\n{fix}" if fix else ""))


def videos_named_error(manifest: Path, example: str | Path, why: str = "") -> DatasetError:
    """The error of a table whose rows name videos (``example``, one of them), with how to make images of their
    frames."""
    from medimg.io.formats import VIDEO_FRAMES_HINT

    return DatasetError(
        f"{manifest}: its rows name videos (e.g. {example}), which medimg does not read: for each, "
        f"{VIDEO_FRAMES_HINT}{why}"
    )


def refuse_video_rows(manifest: Path, paths: Sequence[str]) -> None:
    """Refuse a table whose rows name videos (EchoNet-Dynamic's ``VolumeTracings.csv``: ``FileName`` of ``.avi``
    clips, with tracing points per frame that read like box corners).

    Raises:
        DatasetError: naming a video and how to make images of its frames.
    """
    named = [p for p in paths if p.strip()]
    videos = [p for p in named if UNREAD_SUFFIXES.get(Path(p.strip()).suffix.lower()) == "video"]
    if named and len(videos) > len(named) / 2:
        why = "; a table of points per frame (EchoNet's tracings) is no table of boxes"
        raise videos_named_error(manifest, videos[0].strip(), why)


def nothing_listed_error(
    root: Path, what: str, absent: Sequence[str], patterns: Sequence[str], fix: str
) -> DatasetError:
    """The error of a reader whose tables name no image it finds: ``what`` they list (``"no image in the study
    folders its tables list"``), an example of the ``absent`` names, the ``--include``/``--exclude`` ``patterns``
    that may have left the rest out, and the ``fix``."""
    return DatasetError(
        f"{root}: {what}"
        + (f" (e.g. {absent[0]})" if absent else "")
        + (f" among those --include/--exclude keep ({', '.join(patterns)})" if patterns else "")
        + f": {fix}"
    )


#: Pascal VOC's split lists in ``ImageSets/<Main|Segmentation>/``: ``trainval.txt`` stands in for a missing
#: ``train.txt``
SPLIT_LISTS = {"train": ("train.txt", "trainval.txt"), "val": ("val.txt",), "test": ("test.txt",)}


def listed_splits(folder: Path) -> dict[str, str]:
    """``id -> split`` from the Pascal VOC split lists in ``folder`` (one id a line, the first split naming an id
    wins); empty when there are none. Without a ``val.txt``, the ids ``trainval.txt`` adds to ``train.txt`` are the
    validation split (m2cai16-tool-locations: they were "in no list", and a validation part was carved anew)."""
    split_of: dict[str, str] = {}
    for split, names in SPLIT_LISTS.items():
        file = next((folder / name for name in names if (folder / name).is_file()), None)
        if file is not None:
            read_split_list(file, split, split_of)
    if (folder / "train.txt").is_file() and (folder / "trainval.txt").is_file() and not (folder / "val.txt").is_file():
        read_split_list(folder / "trainval.txt", "val", split_of)
    return split_of


#: a file naming the cases of every split: CTSpine1K's ``data_split.txt``, MAMA-MIA's ``train_test_splits.csv``
SPLIT_TABLE_NAME = re.compile(r"(^|[_-])(data[_-]?)?splits?$", re.IGNORECASE)


def split_table(folder: Path) -> dict[str, str]:
    """``name -> split`` from a file in ``folder`` that names the cases of each split (:data:`SPLIT_TABLE_NAME`):
    a CSV with a column per split (MAMA-MIA's ``train_split,test_split`` of patient ids), or a text file of sections
    headed ``<split>:`` (CTSpine1K's ``trainset:`` and ``test_public:`` of file names), or a JSON object of a list
    per split (ToothFairy's ``splits.json``: ``{"train": ["P1", ...], "val": [...], "test": [...]}``); a split by
    its first word. Empty when there is none, or it names fewer than two splits."""
    try:
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".csv", ".txt", ".json") and f.is_file())
    except OSError:
        return {}
    for file in files:
        if not SPLIT_TABLE_NAME.search(file.stem):
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        lines = [line.strip() for line in text.splitlines()]
        suffix = file.suffix.lower()
        split_of = (
            _split_columns(lines)
            if suffix == ".csv"
            else _split_lists_in_json(text)
            if suffix == ".json"
            else _split_sections(lines)
        )
        if len(set(split_of.values())) >= 2:
            logger.info("%s: the split of the %d cases it names", file, len(split_of))
            return split_of
    return {}


def _split_lists_in_json(text: str) -> dict[str, str]:
    """A JSON object of a list of case names per split (``{"train": ["P1", ...], "test": [...]}``)."""
    from medimg.data.case import split_in_name

    try:
        found = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}  # nnU-Net's splits_final.json: a list of folds
    return {
        str(name): split
        for key, names in found.items()
        if (split := split_in_name(str(key), "first")) is not None and isinstance(names, list)
        for name in names
        if isinstance(name, (str, int))
    }


def _split_columns(lines: list[str]) -> dict[str, str]:
    """A CSV of a column per split, each cell a case's name."""
    rows = list(csv.reader(line for line in lines if line))
    if not rows:
        return {}
    from medimg.data.case import split_in_name

    splits = [split_in_name(cell, "first") for cell in rows[0]]
    if sum(split is not None for split in splits) < 2:
        return {}
    return {
        cell.strip(): split
        for row in rows[1:]
        for cell, split in zip(row, splits, strict=False)
        if split is not None and cell.strip()
    }


def _split_sections(lines: list[str]) -> dict[str, str]:
    """A text file of sections headed ``<split>:``, a case's name a line."""
    from medimg.data.case import split_in_name

    split_of: dict[str, str] = {}
    split: str | None = None
    for line in lines:
        if line.endswith(":"):
            split = split_in_name(line[:-1], "first")
        elif line and split is not None:
            split_of.setdefault(line.split()[0], split)
    return split_of


#: split list files beside a manifest (NIH ChestX-ray14's ``train_val_list.txt``, ``test_list.txt``): one image name
#: a line
SPLIT_LIST_NAME = re.compile(r"^(train_?val|train|val|valid|validation|test)[_-]?list$", re.IGNORECASE)


def split_lists(folder: Path) -> dict[str, str]:
    """``image file name -> split`` from the split list files in ``folder`` (:data:`SPLIT_LIST_NAME`; ``train_val``
    counts as train, medimg carves validation from it); empty when there are none."""
    from medimg.data.case import normalise_split

    listed: dict[str, str] = {}
    for candidate in sorted(folder.glob("*.txt")):
        match = SPLIT_LIST_NAME.match(candidate.stem)
        if match is None:
            continue
        split = "train" if match.group(1).lower().replace("_", "") == "trainval" else normalise_split(match.group(1))
        read_split_list(candidate, str(split), listed)
        logger.info("%s: the split of the images it lists (%s)", candidate, split)
    return listed


def is_split_list_folder(folder: Path) -> bool:
    """Whether ``folder`` holds text files alone and is named for splits (CAMUS' ``database_split/``, ``splits/``),
    or two of its files are (BBBC039's ``metadata/training.txt``, ``validation.txt``, ``test.txt``)."""
    if not folder.is_dir():
        return False
    files = [f for f in itertools.islice(folder.iterdir(), 50) if not f.name.startswith(".")]
    if not files or not all(f.is_file() and f.suffix.lower() in (".txt", ".csv") for f in files):
        return False
    named = re.search(r"splits?(?:\b|_)", folder.name.lower()) is not None
    return named or len({named_split(f.stem) for f in files if f.suffix.lower() == ".txt"} - {None}) >= 2


def split_list_folder(root: Path) -> dict[str, str]:
    """``name -> split`` from a folder at the top of ``root`` named for splits (CAMUS' ``database_split/``) whose text
    files each name one split (``subgroup_training.txt``, ``subgroup_validation.txt``, ``subgroup_testing.txt``: a
    case a line); empty when there is none, or its lists name fewer than two splits."""
    for folder in (d for d in sorted(root.iterdir()) if is_split_list_folder(d)):
        listed: dict[str, str] = {}
        for file in sorted(folder.glob("*.txt")):
            split = named_split(file.stem)
            if split is not None:
                read_split_list(file, split, listed)
        if len(set(listed.values())) >= 2:
            logger.info("%s: the split of the %d cases its lists name", folder, len(listed))
            return listed
    return {}


def read_split_list(file: Path, split: str, split_of: dict[str, str]) -> None:
    """Add the names a split list names (the first word of each line) to ``split_of`` as ``split``; a name already
    there keeps its split."""
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            split_of.setdefault(line.split()[0], split)


def visible_dir(path: Path) -> bool:
    """A folder that may hold data: not hidden, not ``__MACOSX`` or another system folder."""
    return path.is_dir() and not in_system_folder(path, path.parent)


#: the manifests medimg writes and reads back (file name -> header, exactly as written): ``fit(paths, labels)``'s copy
#: in the run folder (:mod:`medimg.data.given_files`), ``evaluate(paths, labels)``'s
#: ``RUN/evaluations/given/<digest>/files.csv`` and ``medimg generate``'s ``synthetic.csv``
#: (:mod:`medimg.data.synthetic_sets`); ``medimg compare --group`` writes ``<dataset>-grouped.csv``
#: (:data:`GROUPED_MANIFEST`). Their every label and patient cell is a name as the data gave it (a class named
#: ``NA`` or ``nan`` too); only an empty cell says "no value".
OWN_MANIFESTS: dict[str, tuple[str, ...]] = {
    "training_labels.csv": ("path", "label", "split"),
    "files.csv": ("path", "label", "split"),
    "synthetic.csv": ("path", "label", "synthetic", "run", "seed"),
}
#: ``medimg compare --group``'s manifest: its name's ending and its header
GROUPED_MANIFEST = ("-grouped.csv", ("path", "label", "patient_id", "split"))


def written_by_medimg(path: Path, header: Sequence[str], paths: Sequence[str]) -> bool:
    """Whether the manifest ``path`` (its ``header`` as written, its rows' ``paths`` cells) is one medimg wrote
    (:data:`OWN_MANIFESTS`, :data:`GROUPED_MANIFEST`): its name, its exact header, and its paths as medimg writes
    them (absolute, but for ``synthetic.csv``'s, relative to the set); ``files.csv`` also in its
    ``evaluations/given/<digest>/`` folder. A user's table of another name or header is never taken for one."""
    name, columns = path.name, tuple(header)
    if name.endswith(GROUPED_MANIFEST[0]):
        expected: tuple[str, ...] | None = GROUPED_MANIFEST[1]
    else:
        expected = OWN_MANIFESTS.get(name)
    if expected is None or columns != expected:
        return False
    if name == "synthetic.csv":
        return True
    if name == "files.csv" and [p.name for p in path.parents[1:3]] != ["given", "evaluations"]:
        return False
    return all(Path(p).is_absolute() for p in paths)
