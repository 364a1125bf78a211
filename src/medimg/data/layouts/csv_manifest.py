"""CSV manifest of a classification set: ``path,label[,patient_id,split]``, paths relative to the CSV's folder.

A path may name a folder of DICOM slices: that row is one volume (the series; a study folder of several series, its
largest), for classifying CT or MR studies.

Column names are matched case-insensitively, spaces as underscores, with synonyms (:data:`PATH_COLUMNS`,
:data:`LABEL_COLUMNS`..., including public sets' own headers: NIH ChestX-ray14's ``Image Index``/``Finding
Labels``/``Patient ID``, HAM10000's ``image_id``/``dx``/``lesion_id``). A row may give a bare file name, an
identifier without suffix or an absolute path from another machine: the file is found by its name in
sub-folders. Without a label column, one-hot columns give the label (ISIC's ``image,MEL,NV,...`` ground truth).
Several labels per row (joined by ``|``, or several one-hot columns set, CheXpert's ``-1`` uncertain labels) make a
multi-label set: each row's findings (``Case.findings``), "No Finding" being none of them.

A row whose ``label`` cell is empty or a missing-value marker (R's ``NA``, pandas' ``nan``, ``<NA>``, ``N/A``,
``NULL``, ``None``...: :data:`~medimg.data.case.MISSING_VALUES`) is an unlabelled image: it is kept in
``Dataset.unlabelled`` (never a class, never in a split). With ``unlabelled=True`` the ``label`` column may be absent
altogether (a manifest of an unlabelled pool). The manifests medimg writes and reads back (``fit(paths, labels)``'s
``RUN/training_labels.csv``, ``compare --group``'s: :func:`~medimg.data.layouts.common.written_by_medimg`) hold the
class and patient names as given: there ``NA`` or ``nan`` is a class (a folder per class so named), only an empty
cell is missing.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from medimg.data.case import PLACEHOLDER_LABELS, Case, CaseT, is_missing_value, normalise_split
from medimg.data.dataset import Dataset
from medimg.data.dataset_names import dataset_name
from medimg.data.dicom_patients import folders_joined_by_patient
from medimg.data.labels import MEASUREMENT_CLASSES, MULTI_LABEL_SEPARATOR, as_numbers, class_key, is_score, same_text
from medimg.data.layouts.columns import LATERALITY_COLUMNS, PATH_COLUMNS, PATIENT_COLUMNS, READER_COLUMNS
from medimg.data.layouts.common import (
    CONTAINER_WORDS,
    ManifestFiles,
    by_name_only,
    column_key,
    file_stem,
    is_absolute_path,
    is_manifest,
    manifest_delimiter,
    manifest_header,
    named_split,
    order_classes,
    path_selected,
    read_manifest,
    refuse_video_rows,
    split_lists,
    splits_from_names,
    text_head,
    videos_named_error,
    visible_dir,
    written_by_medimg,
)
from medimg.data.layouts.radiograph_views import warn_lateral_views
from medimg.data.name_patients import patients_from_folders
from medimg.errors import DatasetError
from medimg.io.dicom_survey import image_laterality, projection_images
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

LABEL_COLUMNS = (
    "label", "labels", "class", "target", "diagnosis", "diagnostic", "finding_labels", "dx", "level",
    "retinopathy_grade",
    "cancer",  # RSNA Screening Mammography's train.csv (beside biopsy, invasive, implant: not labels to learn)
    "dr_grade", "adjudicated_dr_grade", "grade",  # Messidor-2 (Kaggle: beside adjudicated_dme, _gradable)
    "finding",  # HyperKvasir's image-labels.csv (Video file,Organ,Finding,Classification)
    "group",  # LONI IDA's download tables (ADNI's AD/CN/MCI, PPMI's PD/Control) beside Image Data ID, Subject
    # the pathology before a BI-RADS score beside it (CDD-CESM's "Pathology Classification/ Follow up": Normal,
    # Benign, Malignant, beside BIRADS)
    "pathology", "pathology_classification/_follow_up", "pathology_classification",
    # CMMD's clinical table (Benign / Malignant), after HyperKvasir's Finding; before a BI-RADS score beside it
    # (BrEaST-Lesions-USG's clinical table: BIRADS, then Classification benign / malignant / normal)
    "classification",
    "bi_rads", "birads", "breast_birads",  # mammography: INbreast's Bi-Rads, VinDr-Mammo's breast_birads
    "image_class",  # the HEp-2 cell sets' gt_training.csv (ID,Image class,Intensity,Specimen)
    "final_label",  # JustRAIGS' labels (Eye ID;Final Label;...; Label G1..G3 the graders'): beside numbered folders
    # a hospital's own export in German, French, Spanish, Italian, Dutch
    "diagnose", "befund", "klasse", "classe", "clase", "etiqueta", "etichetta", "diagnostico", "diagnóstico",
    "diagnosi",
)  # fmt: skip
_BINARY = {"0", "1", "0.0", "1.0"}
SPLIT_COLUMNS = ("split", "fold", "subset")
#: names of a split column that may name something else too: a split column when a value names a split
SPLIT_LIKE_COLUMNS = frozenset({"set", "partition", "data_split", "dataset_split", "usage", "split_name", "phase"})
#: words of a folder of masks, which may sit beside the image folders of a label table
MASK_FOLDER_WORDS = frozenset({"mask", "masks", "segmentation", "segmentations"})


def _column_of_splits(manifest: Path, rows: list[dict[str, str]], candidates: list[str]) -> str | None:
    """The first of ``candidates`` whose every value names a split (``training``, ``validation``, ``test``...:
    :func:`~medimg.data.case.normalise_split`), two splits at least, or named as a split (:data:`SPLIT_LIKE_COLUMNS`:
    ``Set``, ``partition``) with a value naming one (the others are then reported): the split column of a table
    that names it otherwise; read so, with a log line, its test rows are never trained on."""
    for candidate in candidates:
        values = {str(row.get(candidate) or "").strip() for row in rows}
        splits = {normalise_split(v) for v in values}
        named = column_key(candidate) in SPLIT_LIKE_COLUMNS and len(splits - {None}) >= 1  # others: reported
        if values and (named or (len(splits) >= 2 and None not in splits)):
            logger.info("%s: splits from its column %r (%s)", manifest, candidate, ", ".join(sorted(values)[:6]))
            return candidate
    return None


#: columns whose 1/0 says whether a row trains (1) or tests (0): FETAL_PLANES_DB's ``Train``
TRAIN_FLAG_COLUMNS = ("train", "is_train", "in_train", "training")
#: columns whose 1/0 says whether a row tests (1) or trains (0): Brixia's ``ConsensusTestset`` (not a bare ``test``,
#: which may be a lab test's result)
TEST_FLAG_COLUMNS = ("is_test", "in_test", "testset", "test_set", "consensustestset", "consensus_test_set")


def _train_flag_split(
    manifest: Path, rows: list[dict[str, str]], columns: dict[str, str]
) -> tuple[list[dict[str, str]], str | None]:
    """``rows`` with the split their train or test flag says (:data:`TRAIN_FLAG_COLUMNS`: 1 train, 0 test;
    :data:`TEST_FLAG_COLUMNS`: 1 test, 0 train; read into the column's cells) and that column, when a column named
    as one holds 1 and 0 only, both; else unchanged and ``None``. Said in an INFO line: the published split
    (validation is carved from the training rows)."""
    flags = [(key, "train") for key in TRAIN_FLAG_COLUMNS] + [(key, "test") for key in TEST_FLAG_COLUMNS]
    for key, flagged_as in flags:
        column_name = columns.get(key)
        if column_name is None:
            continue
        values = {_as_whole_number(str(row.get(column_name) or "").strip()) for row in rows}
        if values != {"0", "1"}:
            continue
        other = "test" if flagged_as == "train" else "train"
        logger.info("%s: its column %r (1/0) gives the split: 1 %ss, 0 %ss", manifest, column_name, flagged_as, other)
        flagged = [
            {**row, column_name: flagged_as if _as_whole_number(str(row.get(column_name)).strip()) == "1" else other}
            for row in rows
        ]
        return flagged, column_name
    return rows, None


def _refuse_overflowing_rows(manifest: Path, rows: list[dict[str, str]]) -> None:
    """Rows with more values than the header has columns (a cell holding the delimiter unquoted, ``effusion, left``):
    their values would shift into the wrong columns or be dropped, so they are refused, naming the rows.

    Raises:
        DatasetError: such rows, the first few listed."""
    over: list[str] = []  # the rows, as shown
    for line, row in enumerate(rows, start=2):
        cells: dict[str | None, object] = {key: value for key, value in row.items()}
        extra = cells.pop(None, None)  # csv.DictReader's values past the header's columns
        if isinstance(extra, list) and any(str(v).strip() for v in extra):
            over.append(f"line {line}: {[*map(str, cells.values()), *map(str, extra)]}")
    if not over:
        return
    shown = "; ".join(over[:3])
    raise DatasetError(
        f"{manifest}: {len(over)} row(s) have more values than the header has columns (a value holding the "
        f'delimiter, unquoted?): {shown}. Quote such values ("effusion, left"), or add the missing column names '
        "to the header"
    )


def _refuse_repeated_columns(manifest: Path, used: list[str]) -> None:
    """A column medimg reads (path, label, patient, split) named twice in the header (one read, the other ignored
    silently otherwise).

    Raises:
        DatasetError: naming the column."""
    header = manifest_header(manifest)
    repeated = sorted({c for c in used if header.count(column_key(c)) > 1})
    if repeated:
        raise DatasetError(
            f"{manifest}: its header names the column(s) {', '.join(repr(c) for c in repeated)} twice; rename or "
            "delete one of each, so that it is clear which one holds the values"
        )


def _url_as_path(raw_path: str) -> str:
    """A ``file://`` URL (as a browser, a PACS viewer or Windows' "Copy as link" writes one) as the path it names:
    ``file:///data/a%20b.png`` -> ``/data/a b.png``, ``file:///C:/data/a.png`` -> ``C:/data/a.png``, a host's
    share ``file://server/share/a.png`` -> ``//server/share/a.png``; any other text as it is."""
    if not raw_path.lower().startswith("file:"):
        return raw_path
    from urllib.parse import unquote, urlsplit

    url = urlsplit(raw_path)
    path = unquote(url.path)
    if re.match(r"^/[a-zA-Z]:[\\/]", path):  # a Windows drive: /C:/data -> C:/data
        path = path[1:]
    return path if url.netloc in ("", "localhost") else f"//{url.netloc}{path}"


def _folds_note(values: set[str]) -> str:
    """What split values numbered 0..k (or 1..k) are: cross-validation folds (EchoNet-Pediatric's ``Split`` 0..9),
    which medimg makes itself; ``""`` for other values."""
    if len(values) < 3 or not all(v.isdigit() for v in values):
        return ""
    numbers = sorted(int(v) for v in values)
    return (
        f". Its values {numbers[0]}..{numbers[-1]} look like cross-validation folds, which medimg does not take from "
        f"a table: --folds {len(numbers)} makes {len(numbers)} folds of its own (each patient in one), or write train, "
        "val and test in a column of its own for the fold you mean"
    )


def _case_id(raw_path: str, file: Path, base: Path) -> str:
    """A row's case id: its path as written, but for a path of another machine found here by name (Kaggle's
    ``/kaggle/input/.../Tumor/Tumor- (6).jpg``), the file's path under ``base``: the predictions and reports name the
    file a user has, not one that does not exist."""
    if is_absolute_path(raw_path) and Path(raw_path) != file:
        return file.relative_to(base).as_posix() if base in file.parents else str(file)
    return raw_path


def _is_series_folder(path: Path) -> bool:
    """A folder holding DICOM slices: a row naming it is one volume (a DICOM series). A folder whose DICOM files are
    annotation objects only (NSCLC-Radiomics' RT structure set series beside the CT's) holds no slices."""
    if not path.is_dir():
        return False
    from medimg.io.dicom import non_image_object
    from medimg.io.dicom_survey import looks_like_dicom  # what read_dicom_series takes for a slice

    dicom = (f for f in sorted(path.iterdir())[:20] if f.is_file() and looks_like_dicom(f))
    return any(non_image_object(f) is None for f in dicom)  # stops at the first slice


def _single_image_in(
    path: Path, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), base: Path | None = None
) -> Path | None:
    """The one image file of a folder a row names, when that file, not a DICOM slice, is all the folder holds (ADNI's
    NIfTI download: ``<subject>/MPRAGE/<date>/I12345/ADNI_..._I12345.nii``, named by ``Image Data ID``), or the one
    that ``include``/``exclude`` choose among its image files (M&Ms-2's ``dataset/001/`` of ``001_SA_ED.nii.gz``,
    ``001_SA_ES.nii.gz``... with ``--include '*_SA_ED.nii.gz'``); else None."""
    if not path.is_dir():
        return None
    from medimg.io.dicom_survey import looks_like_dicom
    from medimg.io.formats import is_image_file

    if include or exclude:
        chosen = [
            p
            for p in sorted(path.iterdir())
            if p.is_file() and is_image_file(p) and path_selected(p, include, exclude, base or path.parent)
        ]
        return chosen[0] if len(chosen) == 1 and not looks_like_dicom(chosen[0]) else None
    folder, only = path, None
    for _ in range(SINGLE_FOLDER_DEPTH):  # down folders of one folder each: ABIDE's <subject>/session_1/anat_1/
        visible = (p for p in folder.iterdir() if not p.name.startswith("."))
        entries = list(itertools.islice(visible, 2))  # two are enough to tell one entry from more
        only = entries[0] if len(entries) == 1 else None
        if only is None or not only.is_dir():
            break
        folder = only
    return only if only is not None and only.is_file() and is_image_file(only) and not looks_like_dicom(only) else None


#: how many folders of one folder each a row's folder is looked down for its one image (ABIDE's
#: ``<subject>/session_1/anat_1/mprage.nii.gz``)
SINGLE_FOLDER_DEPTH = 4


def _folder_of_images_note(folder: Path) -> str:
    """Why a row's folder is no image: it holds several image files that are not DICOM slices (M&Ms-2's
    ``dataset/001/``); else the plain note."""
    from medimg.io.formats import file_suffix, is_image_file

    images = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    if len(images) < 2:
        return " (a folder without DICOM slices)"
    example = images[0].name
    ending = example[example.find("_", max(0, len(example) - len(file_suffix(images[0])) - 8)) :]
    return (
        f" (a folder of {len(images)} image files, not DICOM slices, e.g. {example}: name the file in the row, or "
        f"choose one per folder with --include, e.g. --include '*{ending}')"
    )


#: a side in a column's name: ODIR's ``Left-Fundus`` and ``Right-Fundus``, a patient's two eyes in one row
_SIDE_WORD = re.compile(r"(?:^|[^a-z])(left|right)(?:[^a-z]|$)", re.IGNORECASE)


def _refuse_a_row_of_sides(manifest: Path, naming: list[str], label_col: str | None) -> None:
    """Raise when the columns naming files are one per side (ODIR's ``Left-Fundus``, ``Right-Fundus``: both eyes
    of a patient in a row) and the labels are not of the side read: the row's findings (ODIR's ``N,D,G,...``) are
    the patient's, the left eye's image trained with its right eye's cataract."""
    sides = {c: found.group(1).lower() for c in naming if (found := _SIDE_WORD.search(c))}
    if len(set(sides.values())) < 2 or naming[0] not in sides:
        return
    label_side = _SIDE_WORD.search(label_col or "")
    if label_side is not None and label_side.group(1).lower() == sides[naming[0]]:
        return  # --label-column 'Left-Diagnostic Keywords' with the left images
    labels = f"its column {label_col!r}" if label_col else "its finding columns"
    raise DatasetError(
        f"{manifest}: each row names an image per side ({', '.join(sides)}), and {labels} label the row, not one "
        f"side's image: read as the labels of {naming[0]!r}'s images they would be wrong wherever the sides differ. "
        "Give a CSV manifest of one row per image (path,label[,patient_id]) with each image's own label, or name a "
        f"column of that side's labels with --label-column (e.g. a column with '{sides[naming[0]]}' in its name)"
    )


#: an identifier of letters and digits (AIROGS' ``TRAIN000000``): its file may be missing from a partial download
_LETTERS_AND_DIGITS = re.compile(r"(?=.*[a-z])(?=.*\d)[a-z0-9_-]{4,}", re.IGNORECASE)


def _mostly_found(sample: list[str], files: ManifestFiles) -> bool:
    """Whether ``sample``'s values are identifiers of letters and digits, at least half of them naming a file: the
    path column of a download of which some parts are missing (AIROGS' ``train_labels.csv`` beside 3 of its 6
    folders), whose missing rows are then named (was: "has no 'path' column")."""
    if len(sample) < 4 or not all(_LETTERS_AND_DIGITS.fullmatch(value) for value in sample):
        return False
    return 2 * sum(path.exists() for path in files.peek(sample)) >= len(sample)


#: the rows whose cells of a column are sampled to judge what the column names
CELL_SAMPLE = 20


def _filled_cells(rows: list[dict[str, str]], column: str, most: int = CELL_SAMPLE) -> list[str]:
    """The first ``most`` non-empty cells of ``column``, stripped."""
    return [v for row in rows if (v := str(row.get(column) or "").strip())][:most]


def _names_shared_folders(sample: list[str], files: ManifestFiles) -> bool:
    """Whether ``sample`` (a column's values, all found) repeats, each value naming a folder: a site's or a class's
    folder holding several rows' images, not each row's own image or series."""
    return len(set(sample)) <= len(sample) / 2 and all(p.is_dir() for p in files.peek(sorted(set(sample))))


def _inside_shared_folders(rows: list[dict[str, str]], shared: str, candidate: str, files: ManifestFiles) -> bool:
    """Whether each row's ``candidate`` value (the first rows giving both) is distinct and names a file or folder
    inside the folder its ``shared`` value names (ABIDE's ``SUB_ID`` 50003 in ``SITE_ID``'s ``Pitt/``)."""
    both = [(str(row.get(shared) or "").strip(), str(row.get(candidate) or "").strip()) for row in rows]
    pairs = [(folder, own) for folder, own in both if folder and own][:CELL_SAMPLE]
    if not pairs or len({own for _, own in pairs}) < len(pairs):
        return False
    folders, owns = files.peek([folder for folder, _ in pairs]), files.peek([own for _, own in pairs])
    return len(folders) == len(owns) == len(pairs) and all(
        folder in own.parents for folder, own in zip(folders, owns, strict=True)
    )


def _column_naming_files(
    manifest: Path,
    candidates: list[str],
    rows: list[dict[str, str]],
    files: ManifestFiles,
    label_col: str | None = None,
) -> str | None:
    """The first of ``candidates`` whose values (the first 20 rows that have one) all name a file or folder under the
    manifest's folder: the path column of a table that names it otherwise (``BraTS21ID``, ``ImageId``, ``fname``).
    When several do (Derm7pt's ``clinic`` and ``derm``: a clinical and a dermoscopic photograph of each lesion), a
    warning names the others."""
    naming: list[str] = []
    shared: list[str] = []  # columns naming folders that hold several rows' images (ABIDE's SITE_ID: NYU/, Pitt/)
    for candidate in candidates:
        sample = _filled_cells(rows, candidate)
        if set(sample) <= _BINARY:  # one-hot: its 1 named a slice 1.dcm (RSNA abdominal trauma's bowel_healthy)
            continue
        # after the first, only file names count (MGMT_value's 0 and 1 name the folders 00000/ and 00001/)
        found = files.all_found(sample) or (not naming and not shared and _mostly_found(sample, files))
        if (not naming or _image_file_names(sample)) and found:
            if not naming and _names_shared_folders(sample, files):
                shared.append(candidate)
                continue
            if shared and not naming and not _inside_shared_folders(rows, shared[0], candidate, files):
                continue  # a box table's slice numbers found by name in another study's folder
            naming.append(candidate)
    if shared and naming:
        logger.info(
            "%s: the values of %s name folders that hold several rows' images; %r names each row's own",
            manifest,
            ", ".join(repr(c) for c in shared),
            naming[0],
        )
    naming = naming or shared[:1]
    if len(naming) > 1:
        _refuse_a_row_of_sides(manifest, naming, label_col)
        logger.warning(
            "%s: %d columns name image files (%s): the images of the first, %r, are read; to read another column's, "
            "give a CSV manifest with that column named path (path,label)",
            manifest,
            len(naming),
            ", ".join(naming),
            naming[0],
        )
    elif naming:
        logger.info("%s: no column is named as paths; %r names the files", manifest, naming[0])
    return naming[0] if naming else None


def _refuse_names_begun_by(
    manifest: Path, candidates: list[str], rows: list[dict[str, str]], files: ManifestFiles
) -> None:
    """Raise when no column names files but one's values each begin the name of one image file (ABIDE's
    ``FILE_ID`` ``Pitt_0050003``: ``Pitt_0050003_func_preproc.nii.gz``, the derivative's name appended): the table
    is the images' own, and the error gives the path column to add rather than "no 'path' column"."""
    for candidate in candidates:
        sample = _filled_cells(rows, candidate)
        if not sample or len(set(sample)) < len(sample) or not any(c.isalpha() for c in sample[0]):
            continue
        begun = {value: found for value in sample if len(found := files.begun_by(value)) == 1}
        if len(begun) >= max(2, 0.75 * len(sample)):  # ABIDE's rows without a scan give FILE_ID no_filename
            value, (file,) = next(iter(begun.items()))
            raise DatasetError(
                f"{manifest}: no column names the image files, but the values of its column {candidate!r} begin "
                f"their names ({value} -> {file.name}): add a column named path of each file's name ({candidate} "
                f"followed by {file.name[len(value) :]!r}), or give a CSV manifest path,label[,patient_id]"
            )


def _patient_folders(
    manifest: Path, patient_col: str | None, rows: list[dict[str, str]], files: ManifestFiles
) -> str | None:
    """The patient column, when no other column names files and its values (the first 20) name folders under the
    manifest's folder: a table of a row per patient whose images lie in the patient's folder (RSNA 2023 abdominal
    trauma's ``train.csv``: ``patient_id`` and one-hot injuries, ``train_images/<patient_id>/<series_id>/*.dcm``)."""
    if patient_col is None:
        return None
    sample = _filled_cells(rows, patient_col)
    if not sample or not files.all_found(sample) or not all(p.is_dir() for p in files.peek(sample)):
        return None
    logger.info("%s: no column is named as paths; patient column %r names the images' folders", manifest, patient_col)
    return patient_col


#: label column names that say so outright: kept even where another column names the images' folders
_PLAIN_LABEL_COLUMNS = frozenset({"label", "labels", "class", "classes"})
#: a column of identifiers by its name, or a value that is one (a hash, a long number): the folders it names hold
#: one study or patient each, not a class (VinDr-Mammo's ``images/<study_id>/<image_id>.dicom``)
_ID_COLUMN = re.compile(r"(?:^|_)(?:id|ids|uid|study|series|patient|case|subject|folder|dir|directory)(?:_|$)|id$")
_ID_VALUE = re.compile(r"[0-9a-f]{16,}|\d{4,}")


def _column_naming_folders(
    manifest: Path,
    rows: list[dict[str, str]],
    path_col: str,
    label_col: str,
    candidates: list[str],
    files: ManifestFiles,
) -> str | None:
    """The column whose values name each image's folder, when the label column medimg chose by its name (not an
    outright ``label`` or ``class``) does not: the class folders' own column (UniToPatho's ``800/train.csv``:
    ``grade`` (HG, LG, none) was read beside ``top_label_name``, whose TA.HG, HP... name the folders the images are
    in); ``None`` otherwise. A column counts when its values repeat (classes, not one folder per image)."""
    if column_key(label_col) in _PLAIN_LABEL_COLUMNS:
        return None
    sample = [row for row in rows if str(row.get(path_col) or "").strip()][:50]
    folders = [f.parent.name.casefold() for f in files.peek([str(row[path_col]).strip() for row in sample])]

    def names_folders(column: str) -> bool:
        values = [str(row.get(column) or "").strip().casefold() for row in sample]
        return (
            values == folders
            and 1 < len(set(values)) <= len(values) / 2
            and not _ID_COLUMN.search(column_key(column))
            and not any(_ID_VALUE.search(value) for value in values)
        )

    if len(sample) < 4 or names_folders(label_col):
        return None
    found = next((c for c in candidates if names_folders(c)), None)
    if found is not None:
        logger.info(
            "%s: labels from its column %r, which names the folder each image is in (not from %r)",
            manifest,
            found,
            label_col,
        )
    return found


def _header_as_row(manifest: Path, names: list[str]) -> dict[str, str]:
    """The first line of a table without a header (ISIC 2016's ``..._GroundTruth.csv``: ``ISIC_0000000,benign``...),
    whose first cell names an image, as the row it is; it was taken as the header and its image lost."""
    logger.warning(
        "%s has no header row: its first line (%s) names an image and is read as a row; columns are known by their "
        "values (a header path,label names them)",
        manifest,
        ",".join(names),
    )
    return {name: name for name in names}


def _names_no_file(manifest: Path, column: str, rows: list[dict[str, str]], files: ManifestFiles) -> bool:
    """Whether none of the first 20 values of a column named as the images' (ODIR-5K's ``ID``: 0, 1, 2... of the
    patients, beside ``Left-Fundus`` and ``Right-Fundus``: 0_left.jpg...) names a file or folder; another column that
    does then names the images, else the rows' missing files are said as ever."""
    sample = _filled_cells(rows, column)
    if not sample or any(file.exists() for file in files.peek(sample)):
        return False
    logger.info(
        "%s: its column %r names no file (%s...): another column naming files is looked for",
        manifest,
        column,
        ", ".join(sample[:3]),
    )
    return True


#: columns naming an image in a table of facts about the images, beside :data:`PATH_COLUMNS` (GRAZPEDWRI-DX's
#: ``dataset.csv``: ``filestem,patient_id,...``)
_STEM_COLUMNS = ("filestem", "file_stem", "stem")


def patients_from_a_table_beside(cases: list[CaseT], manifest: Path | None, base: Path) -> list[CaseT]:
    """``cases`` with their patient (or lesion) from another table at the top of ``base`` or beside ``manifest`` that
    names the same images and has a patient column (ISIC 2018's ``..._LesionGroupings.csv``: ``image,lesion_id``;
    GRAZPEDWRI-DX's ``dataset.csv`` beside its YOLO ``images/`` and ``labels/``: ``filestem,patient_id``), when it
    lists every case; images of one lesion or patient then never straddle the splits. An image whose cell is empty
    (ISIC 2019's metadata leaves ``lesion_id`` empty for whole sources) is a group of its own, said once. Unchanged
    when a case has a patient already."""
    key = _image_key
    if not cases or any(c.patient_id for c in cases) or not base.is_dir():
        return cases
    tables = sorted({*base.iterdir(), *(manifest.parent.iterdir() if manifest is not None else ())})
    for table in tables:
        if table == manifest or not is_manifest(table):
            continue
        header = set(manifest_header(table))
        path_key = next((c for c in (*PATH_COLUMNS, *_STEM_COLUMNS) if c in header), None)
        patient_key = next((c for c in PATIENT_COLUMNS if c in header), None)
        if path_key is None or patient_key is None:
            continue
        columns, rows = read_manifest(table)
        patients = {
            key(row.get(columns[path_key]) or ""): _patient_name(str(row.get(columns[patient_key]) or "").strip())
            for row in rows
        }
        found = [patients.get(key(c.case_id)) for c in cases]
        if not cases or any(patient is None for patient in found) or not any(found):
            continue
        named = [patient for patient in found if patient]
        logger.info(
            "%s: patients from %s (%s), %d of them", manifest or base, table.name, columns[patient_key], len(set(named))
        )
        if len(named) < len(found):
            logger.info(
                "%s: %d of its %d images have no %s there: each of those is a group of its own",
                table,
                len(found) - len(named),
                len(found),
                columns[patient_key],
            )
        return [replace(c, patient_id=patient or None) for c, patient in zip(cases, found, strict=True)]
    return cases


def _image_key(raw_path: str) -> str:
    """How two tables name one image: its file name without folders or suffix."""
    name = re.split(r"[/\\]", raw_path.strip())[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _series_folders_below(folder: Path, depth: int = 3) -> list[Path]:
    """The folders up to ``depth`` levels below ``folder`` that hold DICOM slices themselves (a patient's sequence
    folders: RSNA-MICCAI's ``00000/FLAIR/``, ``00000/T1w/``...); a folder holding slices is not looked into."""
    found: list[Path] = []
    level = [folder]
    for _ in range(depth):
        subs = [sub for parent in level for sub in sorted(parent.iterdir()) if visible_dir(sub)]
        below = [(sub, _is_series_folder(sub)) for sub in subs]
        found += [sub for sub, holds_slices in below if holds_slices]
        level = [sub for sub, holds_slices in below if not holds_slices]
    return sorted(found)


def _largest_series_of_study_folders(cases: list[Case], manifest: Path) -> list[Case]:
    """``cases`` with each row naming a folder of several DICOM series (a study exported from a PACS: axial,
    reformats, a scout) set to read its largest series, as a class folder's study folder is read."""
    folders = [c.path for c in cases if c.path is not None and c.path.is_dir()]
    if not folders:
        return cases
    from medimg.data.dicom_volumes import largest_series

    chosen = largest_series(folders)
    if not chosen:
        return cases
    folder, series = next(iter(chosen.items()))
    logger.info(
        "%s: %d row(s) name a folder of several DICOM series; each is read as its largest (e.g. %s: %d slices of "
        "series %s); name a series' own folder to choose another",
        manifest,
        len(chosen),
        folder,
        series.slices,
        series.series_uid,
    )
    return [replace(c, series_uid=chosen[c.path].series_uid) if c.path in chosen else c for c in cases]


class NoLabelColumnError(DatasetError):
    """A label table without a label column (or one-hot columns)."""


_WHOLE_NUMBER = re.compile(r"([+-]?\d+)\.0+")


def _as_whole_number(text: str) -> str:
    """A whole number written as a float as that number (``17.0`` -> ``17``: pandas writes an integer column with
    gaps as floats); any other text as it is."""
    number = _WHOLE_NUMBER.fullmatch(text)
    return str(int(number.group(1))) if number else text


def _spelling_key(label: str) -> str:
    """What spellings of one class share: :func:`~medimg.data.labels.class_key` with runs of spaces as one
    (``no  finding``), every dash as ``-`` (Word's non-breaking hyphen in ``COVID‑19``) and a whole number written
    as a float as that number (``1.0`` is ``1``: two exports, one by pandas from a column with gaps)."""
    key = " ".join(class_key(unicodedata.normalize("NFKC", label)).split())
    key = "".join("-" if unicodedata.category(char) == "Pd" else char for char in key)  # en dash, U+2011...
    return _as_whole_number(key)


def _merge_case_variants(labels: list[str], manifest: Path) -> list[str]:
    """Labels that differ only in case (``NORMAL``, ``normal``), in the spaces inside them (``no  finding``) or in
    how a whole number is written (``1``, ``1.0``) become one class, spelled as most rows spell it, with a warning
    naming the spellings; labels in Unicode's decomposed form are read composed (they look alike)."""
    labels = [same_text(label) for label in labels]
    spellings: dict[str, Counter[str]] = {}
    for label in labels:
        if label:
            spellings.setdefault(_spelling_key(label), Counter())[label] += 1
    chosen: dict[str, str] = {}
    for counts in spellings.values():
        name = counts.most_common(1)[0][0]
        if len(counts) > 1:
            listed = ", ".join(f"{spelling!r} ({n} rows)" for spelling, n in counts.most_common())
            how = "case" if len({class_key(s) for s in counts}) == 1 else "case, spacing, dashes or number format"
            logger.warning("%s: labels %s differ only in %s: read as one class %r", manifest, listed, how, name)
        chosen.update(dict.fromkeys(counts, name))
    return [chosen.get(label, label) for label in labels]


def _joined_findings(
    labels: list[str], manifest: Path, column: str, written_with: str = MULTI_LABEL_SEPARATOR
) -> list[list[str] | None] | None:
    """NIH ChestX-ray14's ``Finding Labels`` (``Atelectasis|Effusion``): when some labels join several with ``|``,
    each row's findings (a "No Finding"-like label is none: :func:`~medimg.data.labels.is_no_finding`; an empty
    cell ``None``, an unlabelled image); ``None`` when no label joins others (a single-label set)."""
    from medimg.data.labels import is_no_finding, joined_findings

    if not any(MULTI_LABEL_SEPARATOR in label for label in labels):
        return None
    rows: list[list[str] | None] = [joined_findings(label) if label else None for label in labels]
    contradictory = [
        label
        for label, row in zip(labels, rows, strict=True)
        if row and any(is_no_finding(part) for part in label.split(MULTI_LABEL_SEPARATOR))
    ]
    if contradictory:  # a data-entry error a user wants to see: read as the findings it names
        logger.warning(
            "%s: %d row(s) list 'No Finding' beside findings in column %r (e.g. %r): read as the findings",
            manifest,
            len(contradictory),
            column,
            contradictory[0],
        )
    joined = sum(1 for label in labels if MULTI_LABEL_SEPARATOR in label)
    logger.info(
        "%s: %d row(s) list several findings joined by %r in column %r: read as a multi-label set%s",
        manifest,
        joined,
        written_with,
        column,
        "" if written_with == MULTI_LABEL_SEPARATOR else " (each of their findings is the label of other rows too)",
    )
    return rows


#: what else joins several findings in one cell (``Effusion;Atelectasis``, ``Effusion, Atelectasis``)
OTHER_SEPARATORS = (";", ",", "+")


def _other_separators_joined(labels: list[str]) -> tuple[list[str], str]:
    """``labels`` with findings joined by ``;``, ``,`` or ``+`` joined by ``|`` instead, and the separator they had,
    when every part of every label so joined is a label of a row of its own (``Effusion;Atelectasis`` beside rows of
    ``Effusion`` and of ``Atelectasis``): else each such label would be a class of its own, one per order of its
    findings. Otherwise ``labels`` as they are and ``|`` (``Benign, no atypia``: a class with a comma)."""
    if any(MULTI_LABEL_SEPARATOR in label for label in labels):
        return labels, MULTI_LABEL_SEPARATOR
    alone = {_spelling_key(label) for label in labels if label}
    for separator in OTHER_SEPARATORS:
        joined = [label for label in labels if separator in label]
        parts = [part.strip() for label in joined for part in label.split(separator)]
        if joined and all(part and _spelling_key(part) in alone for part in parts):
            rejoined = [
                MULTI_LABEL_SEPARATOR.join(p.strip() for p in label.split(separator)) if separator in label else label
                for label in labels
            ]
            return rejoined, separator
    return labels, MULTI_LABEL_SEPARATOR


def _repeats_as_one(labels: list[str], written: list[str], manifest: Path, column: str) -> list[str]:
    """``labels`` (findings joined by ``|``; as ``written``) with a label joining one finding several times as that
    finding (BCCD's ``NEUTROPHIL, NEUTROPHIL``: two neutrophils in the picture), said once: the one such row made the
    table a multi-label set."""
    out, repeated = [], []
    for label, cell in zip(labels, written, strict=True):
        parts = {_spelling_key(part): part.strip() for part in label.split(MULTI_LABEL_SEPARATOR)}
        if MULTI_LABEL_SEPARATOR in label and len(parts) == 1:
            repeated.append(cell)
            label = next(iter(parts.values()))
        out.append(label)
    if repeated:
        logger.info(
            "%s: %d row(s) name one class several times in column %r (e.g. %r): read as that class",
            manifest,
            len(repeated),
            column,
            repeated[0],
        )
    return out


def _merge_finding_variants(rows: list[list[str] | None], manifest: Path) -> list[list[str] | None]:
    """Each row's findings with spellings of one finding (:func:`_merge_case_variants`: ``Effusion``, ``effusion``)
    as one."""
    names = [name for row in rows for name in row or ()]
    chosen = dict(zip(names, _merge_case_variants(names, manifest), strict=True))
    return [sorted({chosen[name] for name in row}) if row is not None else None for row in rows]


#: a long-format table lists at most this many findings per image
MAX_LONG_FINDINGS = 20


def _long_findings(
    rows: list[dict[str, str]], path_col: str, label_col: str, manifest: Path, files: ManifestFiles
) -> tuple[list[dict[str, str]], list[list[str] | None], tuple[str, ...]] | None:
    """RSNA Intracranial Hemorrhage's ``stage_2_train.csv``: one row per image and finding (``ID_63eb1e259_epidural,0``,
    six per image), the image being ``ID_63eb1e259.dcm``: pivoted into one row per image with its findings (those
    labelled 1), and every finding word. ``None`` unless the table has only these two columns, every id ends with
    one of a few (2..:data:`MAX_LONG_FINDINGS`) finding words, every label is 0/1, most images are listed with every
    finding, and the first rows' ids (bare names) name no file while their images do."""
    if not rows or set(rows[0]) - {path_col, label_col}:
        return None
    parsed = [(str(r.get(path_col) or "").strip().rpartition("_"), str(r.get(label_col) or "").strip()) for r in rows]
    if not all(image and word.isalpha() and value in _BINARY for (image, _, word), value in parsed):
        return None
    for (image, _, word), _value in parsed[:3]:  # looked up in the index by name (the rows' count is left alone)
        if not by_name_only(image) or files.by_name.find(f"{image}_{word}")[0] or not files.by_name.find(image)[0]:
            return None
    findings: dict[str, list[str]] = {}
    words: dict[str, None] = {}
    for (image, _, word), value in parsed:
        words.setdefault(word, None)
        listed = findings.setdefault(image, [])
        if value in ("1", "1.0"):
            listed.append(word)
    if not 2 <= len(words) <= MAX_LONG_FINDINGS or len(rows) < len(words) * len(findings) // 2:
        return None
    logger.info(
        "%s: one row per image and finding (%s): %d images, pivoted into one row each",
        manifest,
        ", ".join(words),
        len(findings),
    )
    pivoted: list[list[str] | None] = [sorted(set(found)) for found in findings.values()]
    return [{path_col: image} for image in findings], pivoted, tuple(words)


_LIST_LITERAL = re.compile(r"^\[\s*(?:(['\"])[^'\"]*\1\s*(?:,\s*(['\"])[^'\"]*\2\s*)*)?\]$")


def _list_labels(labels: list[str]) -> list[list[str] | None] | None:
    """Labels written as lists of names, as pandas saves a list column (ODIR-5K's ``labels``: ``['N']``,
    ``['D', 'G']``): each row's names (``None`` for an empty cell); ``None`` unless every non-empty label is one."""
    written = [label for label in labels if label]
    if not written or not all(_LIST_LITERAL.match(label) for label in written):
        return None
    import ast

    rows: list[list[str] | None] = []
    for label in labels:
        rows.append([str(name).strip() for name in ast.literal_eval(label) if str(name).strip()] if label else None)
    return rows


#: labels that say what to do with an image, not what it shows (PadChest's ``Labels``): ``exclude`` leaves the image
#: out; the others are dropped from its findings (an image with nothing else is unlabelled)
EXCLUDE_FLAGS = frozenset({"exclude"})
QUALITY_FLAGS = frozenset({"suboptimal study", "unchanged"})


def _without_quality_flags(
    rows: list[dict[str, str]], findings: list[list[str] | None], manifest: Path
) -> tuple[list[dict[str, str]], list[list[str] | None]]:
    """``rows`` and their ``findings`` without the rows flagged ``exclude`` and without the quality flags among the
    findings (:data:`QUALITY_FLAGS`), each with a warning; a row left with no finding is unlabelled (``None``)."""
    excluded = {i for i, row in enumerate(findings) if any(n.strip().casefold() in EXCLUDE_FLAGS for n in row or ())}
    kept = [i for i in range(len(rows)) if i not in excluded]
    flagged: Counter[str] = Counter()
    cleaned: list[list[str] | None] = []
    for i in kept:
        row = findings[i]
        quality = [n for n in row or () if n.strip().casefold() in QUALITY_FLAGS]
        flagged.update(n.strip().casefold() for n in quality)
        left = [n for n in row or () if n not in quality]
        cleaned.append(None if row is not None and quality and not left else (left if row is not None else None))
    if excluded:
        logger.warning(
            "%s: %d image(s) labelled 'exclude' (marked unfit by the set's readers) left out", manifest, len(excluded)
        )
    if flagged:
        logger.warning(
            "%s: %s: quality notes, not findings; dropped from the labels (an image with nothing else is unlabelled)",
            manifest,
            ", ".join(f"{name!r} on {n} image(s)" for name, n in sorted(flagged.items())),
        )
    return [rows[i] for i in kept], cleaned


def _class_counts(rows: list[dict[str, str]], column: str) -> Counter[str]:
    """How many rows name each class in ``column`` (cells saying "no value" left out)."""
    return Counter(c for r in rows if (c := str(r.get(column) or "").strip()) and not is_missing_value(c))


def _placeholder_or_single_classes(counts: Counter[str]) -> list[str]:
    """The classes of a column (``counts``: :func:`_class_counts`) that no model can learn from the table: those
    named like a placeholder for "not known" (:data:`~medimg.data.case.PLACEHOLDER_LABELS`: ``not applicable``,
    ``unknown``) and those of one row (too few to be both trained on and tested)."""
    return [name for name, n in counts.items() if n == 1 or name.casefold() in PLACEHOLDER_LABELS]


def _label_named_column(columns: dict[str, str], rows: list[dict[str, str]], manifest: Path) -> str | None:
    """The first column named for labels (:data:`LABEL_COLUMNS`, in its order), or a later one of them when the first
    holds classes none can learn (:func:`_placeholder_or_single_classes`) and the later one none (BrEaST's
    ``Diagnosis``, a histology per lesion with ``not applicable`` for normal scans and rare ones once, beside its
    ``Classification``: benign, malignant, normal), said in an INFO line; ``None`` when no column is so named."""
    named = [columns[option] for option in LABEL_COLUMNS if option in columns]
    if not named:
        return None
    odd = _placeholder_or_single_classes(_class_counts(rows, named[0]))
    if odd:
        for other in named[1:]:
            counts = _class_counts(rows, other)
            if len(counts) >= 2 and not _placeholder_or_single_classes(counts):
                logger.info(
                    "%s: labels from its column %r, not from %r, whose classes include %s (a placeholder or a "
                    "class of one row); give --label-column %r to learn those",
                    manifest,
                    other,
                    named[0],
                    ", ".join(repr(name) for name in sorted(odd)[:4]),
                    named[0],
                )
                return other
    return named[0]


def _one_label_named_column(columns: dict[str, str], manifest: Path) -> str | None:
    """The one column whose name ends in ``label`` when none is named as :data:`LABEL_COLUMNS` (MHIST's
    ``Majority Vote Label``), with an INFO line; ``None`` for none or several (Fitzpatrick17k's partition labels
    beside its ``label``)."""
    found = [name for key, name in columns.items() if re.search(r"(^|_)labels?$", key)]
    if len(found) != 1:
        return None
    logger.info("%s: labels from its column %r (the one column named for labels)", manifest, found[0])
    return found[0]


def _side(value: str | None) -> str | None:
    """``"L"`` or ``"R"`` from a laterality cell (``L``, ``right``...); ``None`` for anything else."""
    word = str(value or "").strip().upper()
    return {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}.get(word)


#: one-hot cell values: 1 present, 0 (or empty) absent, -1 uncertain (CheXpert's labeller)
_ONE_HOT_VALUES = {"0", "1", "0.0", "1.0", "-1", "-1.0", ""}


def _cell(row: dict[str, str], column: str) -> str:
    """A one-hot cell, a missing value (``NA``) empty (absent)."""
    return _missing_as_empty(str(row.get(column) or "").strip())


#: a column weighting the rows (ISIC 2019's test ground truth ``score_weight``, 0/1 like its one-hot classes): no class
WEIGHT_COLUMN = re.compile(r"(^|[\s_-])weights?$", re.IGNORECASE)


@dataclass
class OneHot:
    """Labels read from one-hot columns: ``labels`` (one class per row) or ``findings`` (a multi-label set)."""

    labels: list[str] | None = None
    findings: list[list[str] | None] | None = None
    names: tuple[str, ...] = ()  # every finding column, set in some row or not


def _binary_columns(candidates: list[str], rows: list[dict[str, str]]) -> list[str]:
    """The columns among ``candidates`` whose cells are all one-hot values (0/1; empty cells and -1 allowed), not
    all empty."""
    return [
        c
        for c in candidates
        if rows and all(_cell(r, c) in _ONE_HOT_VALUES for r in rows) and any(_cell(r, c) for r in rows)
    ]


def _columns_set(
    manifest: Path, candidates: list[str], rows: list[dict[str, str]]
) -> tuple[list[str], list[list[str]], int]:
    """The one-hot columns among ``candidates`` (only 0/1 cells: empty cells and CheXpert's -1 allowed, an empty
    column not), the columns each row sets (stripped names) and how many cells are uncertain: a ``-1`` counts as set
    (the "U-Ones" policy of Irvin et al. 2019), with one warning."""
    from medimg.data.labels import is_no_finding

    binary = _binary_columns(candidates, rows)
    on = [[c.strip() for c in binary if _cell(row, c) not in {"", "0", "0.0"}] for row in rows]
    uncertain = sum(_cell(row, c).startswith("-") for row in rows for c in binary)
    empty = sum(not _cell(row, c) for row in rows for c in binary if not is_no_finding(c))  # "not mentioned"
    if uncertain and len(binary) >= 2:
        logger.warning(
            "%s: %d uncertain (-1) finding label(s) are read as present (U-Ones)%s; edit them to 0 or 1 to decide "
            "otherwise",
            manifest,
            uncertain,
            f", and {empty} empty cell(s) (not mentioned) as absent" if empty else "",
        )
    return binary, on, uncertain


def _findings_of(binary: list[str], on: list[list[str]]) -> OneHot:
    """The multi-label reading of one-hot columns: each row's findings, a "No Finding"-like column none."""
    from medimg.data.labels import is_no_finding

    names = tuple(c.strip() for c in binary if not is_no_finding(c))
    return OneHot(findings=[[c for c in row_on if not is_no_finding(c)] for row_on in on], names=names)


def one_hot_findings(
    manifest: Path, candidates: list[str], rows: list[dict[str, str]]
) -> tuple[list[str], list[list[str]]]:
    """One-hot finding columns read as a multi-label set whatever the rows set (MIMIC-CXR's CheXpert table): the
    finding names in order and each row's findings.

    Raises:
        DatasetError: fewer than two one-hot columns.
    """
    binary, on, _ = _columns_set(manifest, candidates, rows)
    if len(binary) < 2:
        raise DatasetError(f"{manifest}: no one-hot finding columns (1/0/-1/empty) among {', '.join(candidates)}")
    found = _findings_of(binary, on)
    assert found.findings is not None
    return order_classes(list(found.names)), [row or [] for row in found.findings]


def _without_per_slice_findings(
    rows: list[dict[str, str]],
    path_col: str,
    finding_rows: list[list[str] | None],
    finding_names: tuple[str, ...],
    manifest: Path,
) -> tuple[list[list[str] | None], tuple[str, ...]]:
    """``finding_rows`` and ``finding_names`` without the findings that differ among the rows naming one file or
    folder, when the others agree within each: a table of a row per slice of each series it names (the RSNA
    Pulmonary Embolism set's ``train.csv``: ``pe_present_on_image`` per slice beside the exam's
    ``negative_exam_for_pe``, ``central_pe``...), whose series each read as one case would otherwise be a case per
    distinct row, labelled against each other. Said with a warning; unchanged when no finding differs so or all do
    (rows that contradict each other: reported as label conflicts), or when fewer than half the files are named
    by several rows (a repeated row of other findings is a conflict too)."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(str(row.get(path_col) or "").strip(), []).append(i)
    named = [key for key in groups if key]
    shared = [groups[key] for key in named if len(groups[key]) > 1]
    if 2 * len(shared) < len(named):  # a few repeated rows: conflicts, reported as such
        return finding_rows, finding_names
    names = {name for row in finding_rows for name in row or ()}
    varying = {
        name
        for group in shared
        for name in names
        if len({name in (finding_rows[i] or ()) for i in group if finding_rows[i] is not None}) > 1
    }
    if not varying or varying == names:
        return finding_rows, finding_names
    logger.warning(
        "%s: %d of its %d files or folders are named by several rows, and the findings %s differ among the rows of "
        "one (labels of each slice or image, not of what the row names): left out, the other %d findings label each "
        "once; to learn them, give a table of a row per image file",
        manifest,
        len(shared),
        len(named),
        ", ".join(sorted(varying)),
        len(names - varying),
    )
    kept = [[n for n in row if n not in varying] if row is not None else None for row in finding_rows]
    return kept, tuple(n for n in finding_names if n not in varying)


def _one_hot(manifest: Path, candidates: list[str], rows: list[dict[str, str]]) -> OneHot | None:
    """Labels from one-hot columns, named by the column; ``None`` when fewer than two columns hold only 0/1 (empty
    cells and CheXpert's -1 allowed, an empty column not).

    One ``1`` per row (ISIC's ``image,MEL,NV,BCC,...`` ground truth): one class per row. Rows that set several
    columns or none (with a warning: a class per row cannot be empty), or CheXpert's ``-1`` (uncertain), make a
    multi-label set: each row's findings (a "No Finding" column is not a finding; an uncertain finding counts as
    present; an empty cell as absent).
    """
    binary, on, uncertain = _columns_set(manifest, candidates, rows)
    _refuse_soft_labels(manifest, [c for c in candidates if c not in binary], binary, rows)
    if len(binary) < 2:
        return None
    blank = _blank_rows(manifest, binary, rows)
    if uncertain or any(len(row_on) > 1 for row_on in on):
        listed = ", ".join(c.strip() for c in binary)
        several = [line for line, row_on in enumerate(on, start=2) if len(row_on) > 1]
        if not uncertain and len(several) <= FEW_SEVERAL_SHARE * len(rows):  # ISIC 2019: one row of MEL and SCC
            logger.warning(
                "%s: %d of its %d rows set several of the one-hot columns %s (e.g. line %d), the others at most one: "
                "read as a multi-label set, each column a finding; if every image has one class, fix those rows",
                manifest,
                len(several),
                len(rows),
                listed,
                several[0],
            )
        else:
            logger.info("%s: rows set several of the one-hot columns %s: a multi-label set", manifest, listed)
        return _without_blank_rows(_findings_of(binary, on), blank)
    none = [line for line, row_on in enumerate(on, start=2) if not row_on and line - 2 not in blank]
    if none:  # a class per row cannot be empty: the columns are findings an image may lack
        logger.warning(
            "%s: %d row(s) set none of the one-hot columns %s (e.g. line %d): read as a multi-label set, each "
            "column a finding an image may show or not; if every image has exactly one class, give those rows theirs",
            manifest,
            len(none),
            ", ".join(c.strip() for c in binary),
            none[0],
        )
        return _without_blank_rows(_findings_of(binary, on), blank)
    logger.info("%s: labels from the one-hot columns %s", manifest, ", ".join(c.strip() for c in binary))
    return OneHot(labels=[row_on[0] if row_on else "" for row_on in on])


#: rows setting several one-hot columns, at most this share of a table's: slips of a single-label table, warned of
FEW_SEVERAL_SHARE = 0.05


def _refuse_soft_labels(manifest: Path, others: list[str], binary: list[str], rows: list[dict[str, str]]) -> None:
    """Refuse class columns whose values in a row add up to 1 with some between 0 and 1: soft labels (ISIC 2019's
    ground truth as probabilities) or a tie (``0.5,0.5``). Such a column was no one-hot column: its class's rows
    set none of the others and the table was read as findings, melanoma gone, status OK.

    Raises:
        DatasetError: naming the rows and the fix.
    """
    unit = [c for c in others if rows and all(_in_unit_interval(_cell(r, c)) for r in rows)]
    if not unit or len(binary) + len(unit) < 2:
        return
    columns = binary + unit
    sums = [sum(float(_cell(r, c) or 0) for c in columns) for r in rows]
    if sum(abs(total - 1) <= 0.02 for total in sums) < 0.9 * len(rows):  # no class probabilities (Dice scores...)
        return
    soft = [
        (line, [f"{c.strip()}={_cell(row, c)}" for c in unit if _cell(row, c) not in _ONE_HOT_VALUES])
        for line, row in enumerate(rows, start=2)
    ]
    soft = [(line, cells) for line, cells in soft if cells]
    if not soft:
        return
    line, cells = soft[0]
    raise DatasetError(
        f"{manifest}: {len(soft)} row(s) give the class columns values between 0 and 1 (line {line}: "
        f"{', '.join(cells[:3])}): soft or tied labels, which medimg does not read (one class per image, 1 in its "
        "column and 0 in the others): give each such row its one class, or leave it out"
    )


def _in_unit_interval(cell: str) -> bool:
    """Whether a cell is empty or a number from 0 to 1."""
    try:
        return not cell or 0.0 <= float(cell) <= 1.0
    except ValueError:
        return False


def _blank_rows(manifest: Path, binary: list[str], rows: list[dict[str, str]]) -> set[int]:
    """The rows (0-based) leaving every one-hot column empty in a table that writes a class's absence as 0
    (DFUC 2021's ``train.csv``: ``100033.jpg,,,,`` beside ``100001.jpg,1,0,0,0``): images without labels, not images
    without a finding; said with a warning. None in a table that writes absence as an empty cell."""
    if not any(_cell(row, c) in {"0", "0.0"} for row in rows for c in binary):
        return set()
    blank = {i for i, row in enumerate(rows) if not any(_cell(row, c) for c in binary)}
    if blank:
        logger.warning(
            "%s: %d row(s) leave every one of the columns %s empty (e.g. line %d) where the other rows write 0 or 1: "
            "images without labels, left out of training and testing (fit DATA --unlabelled DATA learns from them)",
            manifest,
            len(blank),
            ", ".join(c.strip() for c in binary),
            min(blank) + 2,
        )
    return blank


def _without_blank_rows(found: OneHot, blank: set[int]) -> OneHot:
    """``found``'s findings with the :func:`_blank_rows` as rows without labels."""
    assert found.findings is not None
    return replace(found, findings=[None if i in blank else row for i, row in enumerate(found.findings)])


def detect(path: Path) -> bool:
    """A ``.csv``/``.tsv`` file (registered after the image/mask manifest, which claims ``image,mask`` headers), a
    folder of image containers with one label manifest beside them (:func:`folder_manifest`), or split folders each
    holding its images and their label manifest (:func:`split_manifests`)."""
    return is_manifest(path) or folder_manifest(path) is not None or bool(split_manifests(path))


def _patient_name(cell: str) -> str:
    """A patient cell of a user's table: a missing value empty, a whole number written as a float as the number
    (``17.0`` is patient ``17``: pandas writes an id column with gaps as floats, and a table joined from two
    exports would otherwise hold one patient twice, on both sides of a split)."""
    return _as_whole_number(_missing_as_empty(cell))


#: fewer rows than this sharing one patient word are a small table, not an anonymised one
PLACEHOLDER_PATIENT_ROWS = 10


def _placeholder_patient(cases: list[Case], manifest: Path, column: str) -> bool:
    """Whether the patient column holds one word without a digit in every row (INbreast's ``Patient ID``:
    ``removed``; an export's ``anonymous``): a de-identification placeholder, not one patient's id (a warning says
    it is not used, so patients come from the images' headers or names instead of one group of all)."""
    ids = {c.patient_id for c in cases}
    if len(cases) < PLACEHOLDER_PATIENT_ROWS or len(ids) != 1:
        return False
    (only,) = ids
    if only is None or any(ch.isdigit() for ch in only):
        return False
    logger.warning(
        "%s: column %r holds %r in all %d rows: a de-identification placeholder, not patient ids; not used (patients "
        "come from the images' DICOM headers or names where they name them)",
        manifest,
        column,
        only,
        len(cases),
    )
    return True


def _missing_as_empty(cell: str) -> str:
    """A cell that says "no value" (:func:`~medimg.data.case.is_missing_value`: R's ``NA``, pandas' ``nan``,
    ``N/A``, ``NULL``...) as an empty cell: an unlabelled row's label, never a class."""
    return "" if is_missing_value(cell) else cell


#: missing-value markers that are also words a class may be named (``None`` of None/Mild/Moderate/Severe): in a
#: label column of a user's table, read as that class with a warning (medimg's own tables keep every name as given)
_CLASS_LIKE_MARKERS = frozenset({"none"})


def _label_cells(rows: list[dict[str, str]], column: str, manifest: Path, exact: bool = False) -> list[str]:
    """The label column's cells, those saying "no value" (:func:`_missing_as_empty`) empty: the rows of unlabelled
    images. The markers read so are logged with their rows' count; ``None``, which may name a class, is kept as a
    class with a warning, as a class named like a placeholder for a missing label (``?``, ``unknown``) is.

    ``exact``: a manifest medimg wrote (:func:`~medimg.data.layouts.common.written_by_medimg`), whose cells are the
    class names as given (``NA``, ``nan``, ``None``: classes, the names of a folder per class): read as written."""
    cells = [str(r.get(column) or "").strip() for r in rows]
    if exact:
        return cells
    markers = Counter(
        cell for cell in cells if cell and is_missing_value(cell) and cell.casefold() not in _CLASS_LIKE_MARKERS
    )
    for marker, count in markers.items():
        logger.info(
            "%s: %d row(s) have the label %r in column %r, a missing value (as pandas and R write one): read as "
            "unlabelled images",
            manifest,
            count,
            marker,
            column,
        )
    written = ["" if cell in markers else cell for cell in cells]
    placeholders = Counter(
        cell for cell in written if cell.casefold() in PLACEHOLDER_LABELS or cell.casefold() in _CLASS_LIKE_MARKERS
    )
    if "+" in written:  # a table of +/- results: '-' is the negative class
        placeholders.pop("-", None)
    for name, count in placeholders.items():
        logger.warning(
            "%s: %d row(s) have the label %r in column %r, read as a class of its own; if it means the label is "
            "not known, leave those cells empty (or write NA): they are then unlabelled images, never a class",
            manifest,
            count,
            name,
            column,
        )
    return written


def _measurement_columns(names: list[str], rows: list[dict[str, str]]) -> str:
    """The columns among ``names`` whose every cell is a number, with many distinct values
    (:data:`~medimg.data.labels.MEASUREMENT_CLASSES`: a measurement, not classes), said as ``'boneage' holds numbers
    (152 distinct, 1 to 228)``; empty when none."""
    said = []
    for name in names:
        values = set(as_numbers(str(row.get(name) or "") for row in rows) or ())
        if len(values) >= MEASUREMENT_CLASSES:
            said.append(f"{name!r} holds numbers ({len(values)} distinct, {min(values):g} to {max(values):g})")
    return "; ".join(said)


def _class_like_columns(names: list[str], rows: list[dict[str, str]]) -> list[str]:
    """The columns among ``names`` that may hold classes: 2 to fewer than
    :data:`~medimg.data.labels.MEASUREMENT_CLASSES` distinct values, a value repeated (NSCLC-Radiomics' clinical
    table: ``Histology``, ``Overall.Stage``, ``gender``)."""
    found = []
    for name in names:
        given = [str(row.get(name) or "").strip() for row in rows]
        values = {v for v in given if v and not is_missing_value(v)}
        if 2 <= len(values) < MEASUREMENT_CLASSES and len(values) < len([v for v in given if v]):
            found.append(name)
    return found


def _label_column_advice(choices: list[str], rows: list[dict[str, str]]) -> str:
    """How to name the label column of a table without one: ``--label-column`` with an example from ``choices``, its
    columns that may hold classes (:func:`_class_like_columns`; rank: text before numbers), or renaming the column
    ``label``."""
    # a column of split names is no class (BreakHis' Folds.csv: grp train/test beside fold and mag), nor one of
    # coordinates (Duke breast MRI's Start Row, End Column; PROSTATEx' pos "25.7 31.8 -38.5"): not offered
    choices = [n for n in choices if not _names_splits(n, rows) and not _coordinates(n, rows)]
    choices = [n for n in choices if not _fractional_scores(n, rows)]  # CheXmask's Dice RCA (Max): 0.70, 0.71...
    text = [n for n in choices if as_numbers(v for r in rows if (v := str(r.get(n) or "").strip())) is None]
    shown = sorted(choices, key=lambda n: _label_rank(n, numbers=n not in text))[:4]
    example = f"; columns that may hold classes: {', '.join(repr(n) for n in shown)}" if shown else ""
    first = shown[0] if shown else "NAME"
    quoted = f'"{first}"' if not re.fullmatch(r"[\w.-]+", first) else first
    return (
        f" with --label-column {quoted} (Python: label_column={first!r}{example}), or rename it label "
        "(a header row path,label[,patient_id])"
    )


#: words of a column's name that say it holds a finding (the classes a user means) ...
_FINDING_WORDS = re.compile(
    r"grade|class|label|diagnos|dx|finding|stage|type|category|patholog|birads|bi-rads|severity|kl|cdr|group|"
    r"target|outcome|clinsig|signific|malignan|benign|disease|histolog",
    re.IGNORECASE,
)
#: ... and words that say how the image was taken or who the patient is: offered last
_ACQUISITION_WORDS = re.compile(
    r"side|laterality|view|position|hand|sex|gender|machine|scanner|manufacturer|device|operator", re.IGNORECASE
)


def _label_rank(column: str, *, numbers: bool) -> tuple[int, bool]:
    """Where a column stands among those offered as the classes: named for a finding first (a knee's ``KL_grade``,
    OASIS' ``CDR``: text, then numbers), then other columns of text, then those named for the acquisition or the
    person (``side``, ``M/F``), then other columns of numbers (:data:`_FINDING_WORDS`, :data:`_ACQUISITION_WORDS`)."""
    if _FINDING_WORDS.search(column):
        return 0, numbers
    if _ACQUISITION_WORDS.search(column):
        return 2, numbers
    return (3 if numbers else 1), numbers


#: a column's name that says it holds a coordinate or an extent: a box's, a lesion's position
_COORDINATE_NAME = re.compile(
    r"(?:^|[\s_.-])(?:start|end|row|rows|col|cols|column|slice|[xyz]|[xyz][12]|[xyz]_?(?:min|max)|width|height|"
    r"coords?|coordinates?|bbox|centroid|ijk)(?:$|[\s_.-])",
    re.IGNORECASE,
)


def _coordinates(column: str, rows: list[dict[str, str]]) -> bool:
    """Whether ``column`` holds coordinates: named for one (:data:`_COORDINATE_NAME`), or each cell several numbers
    (PROSTATEx' ``pos``: ``25.7457 31.8707 -38.511``)."""
    if _COORDINATE_NAME.search(column):
        return True
    cells = [cell for row in rows if (cell := str(row.get(column) or "").strip())][:50]
    split = [re.split(r"[\s,;]+", cell.strip("[]() ")) for cell in cells]
    return bool(cells) and all(len(parts) > 1 and as_numbers(parts) is not None for parts in split)


def _fractional_scores(column: str, rows: list[dict[str, str]]) -> bool:
    """Whether ``column`` holds a measurement or a score (:func:`~medimg.data.labels.is_score`), no classes."""
    values = as_numbers({cell for row in rows if (cell := str(row.get(column) or "").strip())})
    return values is not None and is_score(values)


def _names_splits(column: str, rows: list[dict[str, str]]) -> bool:
    """Whether every value of ``column`` names a split (``train``, ``test``...)."""
    values = {str(row.get(column) or "").strip() for row in rows} - {""}
    return bool(values) and all(normalise_split(v) for v in values)


#: a column of one reader's finding: CQ500's ``R1:ICH``, ``R2:ICH``, ``R3:ICH``; ``Reader1_ICH``
_READER_COLUMN = re.compile(r"(?:r|reader|rater|rad)[\s_]?(\d+)\s*[:_.\-]\s*(.+)", re.IGNORECASE)


def _readers_columns_merged(
    manifest: Path, columns: dict[str, str], rows: list[dict[str, str]]
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """``columns`` and ``rows`` with the columns of several readers' findings (CQ500's ``reads.csv``: ``R1:ICH`` ...
    ``R3:ICH``, 0/1 each) merged into one column per finding, 1 where at least half the readers set it (the
    majority for three), with one INFO line; unchanged without two readers who read the same findings. Read
    as they were, each reader's column was a finding of its own (42 findings, ``R2:ICH`` scored apart from
    ``R1:ICH``)."""
    readers: dict[str, dict[str, str]] = {}  # finding -> reader -> column
    for name in columns.values():
        found = _READER_COLUMN.fullmatch(name.strip())
        if found is not None:
            readers.setdefault(found.group(2).strip(), {})[found.group(1)] = name
    everyone = {reader for by_reader in readers.values() for reader in by_reader}
    if len(everyone) < 2 or any(set(by_reader) != everyone for by_reader in readers.values()):
        return columns, rows
    binary = all(
        _cell(row, column) in _ONE_HOT_VALUES for r in readers.values() for column in r.values() for row in rows
    )
    if not binary:
        return columns, rows
    merged_rows = []
    for row in rows:
        kept = {k: v for k, v in row.items() if not any(k in r.values() for r in readers.values())}
        for finding, by_reader in readers.items():
            votes = [_cell(row, column) for column in by_reader.values() if _cell(row, column)]
            set_by = sum(vote not in {"0", "0.0"} for vote in votes)
            kept[finding] = ("1" if 2 * set_by >= len(votes) else "0") if votes else ""
        merged_rows.append(kept)
    reader_columns = {column for by_reader in readers.values() for column in by_reader.values()}
    merged = {key: name for key, name in columns.items() if name not in reader_columns}
    merged.update({column_key(finding): finding for finding in readers})
    logger.info(
        "%s: %d readers' columns of the same %d findings (e.g. %s): each finding set where at least half the "
        "readers set it",
        manifest,
        len(everyone),
        len(readers),
        ", ".join(next(iter(readers.values())).values()),
    )
    return merged, merged_rows


def _readers_merged(manifest: Path, rows: list[dict[str, str]], path_col: str, reader_col: str) -> list[dict[str, str]]:
    """One row per image of a table whose readers each gave their own row (VinDr-CXR's ``image_labels_train.csv``:
    three radiologists' one-hot rows per image): each cell the value most of the image's readers gave, a finding
    half of them gave kept (a 0/1 tie is 1). Read row by row, every image the readers disagreed on was a label
    conflict, left out: most abnormal images."""
    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(path_col) or "").strip(), []).append(row)
    several = [group for group in groups.values() if len(group) > 1]
    if not several:
        return rows
    merged = []
    for group in groups.values():
        row = {}
        for column in group[0]:
            counts = Counter(str(r.get(column) or "").strip() for r in group)
            top = max(counts.values())
            tied = [value for value, n in counts.items() if n == top]
            binary = len(tied) > 1 and set(tied) <= _BINARY
            row[column] = max(tied, key=float) if binary else tied[0]
        merged.append(row)
    logger.info(
        "%s: %d image(s) were labelled by several readers (column %r, up to %d each): each image is one case with the "
        "labels most of its readers gave (a finding half of them gave is kept)",
        manifest,
        len(several),
        reader_col,
        max(len(g) for g in several),
    )
    return merged


def has_label_column(path: Path) -> bool:
    """Whether a table's header names a label column (:data:`LABEL_COLUMNS`)."""
    return bool(set(manifest_header(path)) & set(LABEL_COLUMNS))


def _labels_manifest(header: set[str]) -> bool:
    """A header with a path column and a label column, or at least two more columns (one-hot labels)."""
    return bool(header & set(PATH_COLUMNS)) and (bool(header & set(LABEL_COLUMNS)) or len(header) >= 3)


#: lists of a table's row numbers beside it, one per split (Derm7pt's ``meta/train_indexes.csv``, ``valid_indexes.csv``
#: and ``test_indexes.csv``: a header ``indexes``, then 0-based rows of ``meta.csv``)
_ROW_INDEX_LIST = re.compile(r"^(train|val|valid|validation|test)[_-]?(?:indexes|indices|index|idx)$", re.IGNORECASE)


def row_index_splits(manifest: Path, count: int) -> dict[int, str]:
    """``row number (0-based) -> split`` from the row index lists beside ``manifest`` (:data:`_ROW_INDEX_LIST`), when
    there are two or more and every entry is a row number below ``count``; else empty."""
    lists = [(match.group(1), p) for p in sorted(manifest.parent.iterdir()) if (match := _ROW_INDEX_LIST.match(p.stem))]
    if len(lists) < 2:
        return {}
    by_row: dict[int, str] = {}
    for word, file in lists:
        cells = [line.split(",")[0].strip() for line in file.read_text(errors="replace").splitlines() if line.strip()]
        numbers = cells[1:] if cells and not cells[0].isdigit() else cells  # a header (``indexes``)
        if not numbers or not all(n.isdigit() and int(n) < count for n in numbers):
            return {}
        for n in numbers:
            by_row.setdefault(int(n), str(normalise_split(word)))
    logger.info("%s: the split of each row from %s", manifest, ", ".join(file.name for _, file in lists))
    return by_row


def _unlisted_to_train(cases: list[Case], manifest: Path) -> list[Case]:
    """Cases that no split list names, moved to train (with one warning)."""
    unlisted = [c for c in cases if c.split is None]
    if unlisted:
        example = unlisted[0].case_id
        logger.warning(
            "%s: %d image(s) are in no split list beside it (e.g. %s): they train", manifest, len(unlisted), example
        )
    return [c if c.split is not None else replace(c, split="train") for c in cases]


def _split_named_manifests(path: Path) -> list[tuple[str, Path]]:
    """``(split, label CSV)`` of the label manifests named for two or more splits, one per split: at the top of
    ``path`` (CheXpert's ``train.csv`` and ``valid.csv``; ISIC 2019's ``ISIC_2019_Training_GroundTruth.csv`` and
    ``ISIC_2019_Test_GroundTruth.csv``) or in label folders beside the images (ISIC 2018's
    ``ISIC2018_Task3_Training_GroundTruth/``, ``..._Validation_GroundTruth/``, ``..._Test_GroundTruth/``); of
    several for one split, those named for labels (ISIC's metadata tables beside its ground truths). Empty
    otherwise."""
    subdirs = [p for p in path.iterdir() if visible_dir(p)]
    named: dict[str, list[Path]] = {}
    for candidate in [*sorted(path.iterdir()), *(t for d in _label_folders(subdirs) for t in sorted(d.iterdir()))]:
        split = named_split(candidate.stem) if is_manifest(candidate) else None
        header = set(manifest_header(candidate)) if split is not None else set()
        # a path and a label column, or a label column beside one naming image files (Chaoyang's train.json: name)
        if split is not None and (
            _labels_manifest(header) or (header & set(LABEL_COLUMNS) and _image_file_columns(candidate))
        ):
            named.setdefault(split, []).append(candidate)
    for split, files in named.items():
        if len(files) > 1:
            named[split] = [f for f in files if _LABELS_NAME.search(f.stem.lower())] or files
    if len(named) < 2 or any(len(files) > 1 for files in named.values()):
        return []
    return [(split, files[0]) for split, files in named.items()]


#: a table's name saying it holds the labels (ISIC's ``..._GroundTruth``, ``labels.csv``)
_LABELS_NAME = re.compile(r"truth|label")


def _inside_its_twin(folder: Path) -> Path:
    """The folder of ``folder``'s name that is all ``folder`` holds (a Kaggle mirror unzips RFMiD's
    ``Training_Set/`` as ``Training_Set/Training_Set/``), else ``folder``."""
    dirs = [p for p in folder.iterdir() if visible_dir(p)]
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != "Thumbs.db"]
    if len(dirs) == 1 and not files and dirs[0].name.casefold() == folder.name.casefold():
        return _inside_its_twin(dirs[0])
    return folder


def split_manifests(path: Path) -> list[tuple[str, Path]]:
    """``(split, label CSV)`` of a folder that keeps one label manifest per split: named for its split at the top
    (CheXpert's ``train.csv``, ``valid.csv``), or inside split folders (``train``, ``valid``, ``test``) that hold
    their images directly or in one folder, no class folders (Roboflow's classification CSV exports:
    ``train/_classes.csv``, ``filename`` and one-hot columns; RFMiD's ``Training_Set/RFMiD_Training_Labels.csv``
    beside ``Training_Set/Training/``; TDSC-ABUS's ``Train/labels.csv`` beside ``Train/DATA/`` and ``Train/MASK/``).
    Empty otherwise."""
    if not path.is_dir():
        return []
    top = _split_named_manifests(path)
    if top:
        return top
    found: list[tuple[str, Path]] = []
    for folder in sorted(p for p in path.iterdir() if visible_dir(p)):
        split = normalise_split(folder.name)
        folder = _inside_its_twin(folder)  # a Kaggle mirror's Training_Set/Training_Set/
        inside = [p for p in folder.iterdir() if visible_dir(p) and p.name.lower() not in MASK_FOLDER_WORDS]
        if split is None or len(inside) > 1:  # one folder of images inside at most, and masks (TDSC-ABUS's MASK/)
            return []  # (RFMiD's Training_Set/Training/ beside its labels; no class folders)
        labelled = [c for c in sorted(folder.iterdir()) if is_manifest(c) and _labels_manifest(set(manifest_header(c)))]
        if len(labelled) != 1:
            return []
        found.append((split, labelled[0]))
    return found


def folder_manifest(path: Path) -> Path | None:
    """The label manifest of a folder that ships its images in container folders and its labels in one CSV at its
    top (HAM10000's ``HAM10000_images_part_1/`` + ``HAM10000_metadata.csv``, NIH ChestX-ray14's ``images_001/``...
    + ``Data_Entry_2017.csv``, ISIC 2019's ``..._Training_Input/`` + ``..._GroundTruth.csv``): read as class folders,
    the containers would be the classes; or the images lie beside the table, without sub-folders (Messidor's
    ``Base11/`` with its ``.tif`` images and ``Annotation_Base11.xls``), or in one sub-folder of any name holding
    them (``xrays/`` + ``labels.csv``; then only a table with a label column counts: BreakHis's ``Folds.csv`` beside
    its wrapper folder of class folders is not its labels). ``None`` unless every sub-folder's name reads as a
    container (or those cases) and one CSV or workbook at the top has a path column and a label column (or one-hot
    label columns); among several, box lists, Kaggle submissions, files without a label column and then files not
    named for labels are left out in turn."""
    candidates = folder_manifest_candidates(path)
    return candidates[0] if len(candidates) == 1 else None


#: a cell holding a list of points (``[[1487, 1279], [1477, 1168]]``) or of point records (``[{"x": 1, "y": 2}]``)
_POINT_LIST = re.compile(r"^\s*\[\s*[\[{]")


def _holds_outlines(table: Path) -> bool:
    """Whether a table's first rows give each row a list of points (RANZCR CLiP's ``train_annotations.csv``:
    ``StudyInstanceUID,label,data``, a catheter's line for some images): annotations of a few images, not the
    images' labels (its ``label`` column made it the folder's table over ``train.csv``'s one-hot columns)."""
    import csv

    if table.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return False
    lines = text_head(table, 8192).splitlines()[1:6]
    try:
        cells = [cell for row in csv.reader(lines, delimiter=manifest_delimiter(table)) for cell in row]
    except (csv.Error, OSError):
        return False
    return any(_POINT_LIST.match(cell) for cell in cells)


def _class_folders_beside_a_flat_split(subdirs: list[Path]) -> bool:
    """Whether one split folder holds class folders of images and another holds images without folders (MobileODT's
    ``train/Type_1/`` and ``test/*.jpg``, labelled by ``solution_stg1_release.csv``): class folders, their flat
    split labelled by the table (:mod:`.table_labelled_splits`); read by the table, the training images were in
    no row and the folder was refused."""
    from medimg.data.layouts.class_nesting import folder_entries

    shapes = [folder_entries(d) for d in subdirs if normalise_split(d.name)]
    classes = any(
        len(inside) >= 2 and not images and all(folder_entries(c)[1] for c in inside[:3]) for inside, images in shapes
    )
    return classes and any(images and not inside for inside, images in shapes)


def folder_manifest_candidates(path: Path) -> list[Path]:
    """The label tables :func:`folder_manifest` chooses among, left after its rules: one, or several it cannot tell
    apart (Kaggle's resized diabetic retinopathy set: ``trainLabels.csv`` beside ``trainLabels_cropped.csv``, each
    naming the images of one of its folders), or none."""
    if not path.is_dir():
        return []
    from medimg.io.formats import is_image_file

    subdirs = [p for p in path.iterdir() if visible_dir(p)]
    words = [set(re.split(r"[^a-z]+", d.name.lower())) for d in subdirs]
    # folders of images, of a split, or of masks beside them (HAM10000's segmentations_lesion_tschandl/), or a
    # competition's sample of its images (Kaggle's diabetic retinopathy: sample/ beside train/ and test/)
    container_words = CONTAINER_WORDS | MASK_FOLDER_WORDS | {"sample"}
    # numbered folders hold the images too (PadChest's ImageDir 0/, 1/... 54/): read as classes, the table was unread
    label_folders = _label_folders(subdirs)
    containers = all(
        w & container_words or any(normalise_split(x) for x in w if x) or d.name.isdigit() or d in label_folders
        for w, d in zip(words, subdirs, strict=True)
    ) and len(label_folders) < len(subdirs)
    if containers and _class_folders_beside_a_flat_split(subdirs):
        return []  # MobileODT's train/Type_1/... and test/ of its solution table: read as class folders
    one_folder = len(subdirs) == 1 and not containers  # xrays/ beside labels.csv
    images_in = path if not subdirs else _below_wrappers(subdirs[0]) if one_folder else None  # must hold images
    if images_in is None and not containers:
        return []
    if images_in is not None and not any(is_image_file(p) for p in images_in.iterdir() if p.is_file()):
        return []  # no images beside the table, or a single folder of folders (an archive's wrapper of classes)
    from medimg.data.layouts.csv_boxes import detect as is_box_manifest

    tables = [*sorted(path.iterdir()), *(t for folder in label_folders for t in sorted(folder.iterdir()))]
    headers = {candidate: set(manifest_header(candidate)) for candidate in tables if is_manifest(candidate)}
    labelled = [
        c
        for c, h in headers.items()
        if (_labels_manifest(h) and (h & set(LABEL_COLUMNS) or _has_one_hot(c)))
        or (h & set(LABEL_COLUMNS) and _id_column_names_images(c, h, subdirs or [path]))
        or (h & set(LABEL_COLUMNS) and _image_file_columns(c))
    ]
    if one_folder:  # a folder of images not named as a container: a real label column only
        labelled = [c for c in labelled if headers[c] & set(LABEL_COLUMNS)]
    for keep in (
        lambda c: not is_box_manifest(c),  # NIH's BBox_List_2017.csv beside Data_Entry_2017.csv
        lambda c: not _holds_outlines(c),  # RANZCR's train_annotations.csv (a line's points) beside train.csv
        lambda c: "submission" not in c.stem.lower(),  # Kaggle's sample_submission.csv beside train.csv (APTOS)
        lambda c: bool(headers[c] & set(LABEL_COLUMNS)),
        lambda c: bool(_LABELS_NAME.search(c.stem.lower())),  # ISIC's one-hot file
    ):
        if len(labelled) > 1:
            labelled = [c for c in labelled if keep(c)] or labelled
    return labelled


#: how many files of each folder :func:`_id_column_names_images` looks at, and how many of a table's rows
ID_SAMPLE_FILES, ID_SAMPLE_ROWS = 5000, 20


def _id_column_names_images(table: Path, header: set[str], folders: list[Path]) -> bool:
    """Whether a column of ``table`` named as an id (``*id``, not a path column: AIROGS' ``challenge_id``,
    ``TRAIN000000``) names images in ``folders`` by their names without suffix (at least half of its first
    :data:`ID_SAMPLE_ROWS` values): the table labels the images, which the folders only hold in chunks."""
    ids = [h for h in header if h.endswith("id") and h not in PATH_COLUMNS]
    if not ids:
        return False
    try:
        columns, rows = read_manifest(table)
    except DatasetError:
        return False
    from medimg.io.formats import is_image_file

    stems = {
        file_stem(p).lower()
        for folder in folders
        for p in itertools.islice(folder.iterdir(), ID_SAMPLE_FILES)
        if p.is_file() and is_image_file(p)
    }
    for key in ids:
        values = [str(row.get(columns[key]) or "").strip().lower() for row in rows[:ID_SAMPLE_ROWS]]
        if values and sum(v in stems for v in values) * 2 >= len(values):
            return True
    return False


def _image_file_columns(table: Path) -> list[str]:
    """The columns of ``table`` (none named as paths) whose values are image file names: each of the first
    :data:`ID_SAMPLE_ROWS` non-empty values ends in an image suffix (Derm7pt's ``meta.csv``: ``clinic`` and
    ``derm``, ``Aal/Aal000.jpg``)."""
    try:
        columns, rows = read_manifest(table)
    except DatasetError:
        return []
    found = []
    for key, name in columns.items():
        values = _filled_cells(rows, name, ID_SAMPLE_ROWS)
        if key not in PATH_COLUMNS and values and _image_file_names(values):
            found.append(name)
    return found


def _image_file_names(values: list[str]) -> bool:
    """Whether every one of ``values`` ends in an image file's suffix (``Aal/Aal000.jpg``)."""
    return all(file_suffix(Path(v)) in IMAGE_SUFFIXES for v in values)


def _has_one_hot(table: Path) -> bool:
    """Whether ``table`` (no label column) has two or more one-hot columns (ISIC's ``image,MEL,NV,...``): a label
    table beside the images; a table of facts about them (COVID-CT's ``COVID-CT-MetaInfo.xlsx``: file name, age,
    gender, severity...) is not, and stopped the read with "has no 'label' column" where the folders held classes."""
    try:
        columns, rows = read_manifest(table)
    except DatasetError:
        return False
    others = [name for key, name in columns.items() if key not in PATH_COLUMNS]
    return len(_binary_columns(others, rows)) >= 2


def _below_wrappers(folder: Path, depth: int = 2) -> Path:
    """``folder``, or the folder below it through up to ``depth`` levels of folders holding nothing but one folder
    (Messidor-2's ``messidor-2/IMAGES/`` beside ``messidor_data.csv``)."""
    for _ in range(depth):
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not visible_dir(entries[0]):
            break
        folder = entries[0]
    return folder


def _label_folders(subdirs: list[Path]) -> list[Path]:
    """Sub-folders that hold a dataset's label table and no images, named for it (ISIC 2018's
    ``ISIC2018_Task3_Training_GroundTruth/``, beside ``..._Training_Input/``; Derm7pt's ``meta/``)."""
    from medimg.io.formats import is_image_file

    named = [d for d in subdirs if re.search(r"ground_?truth|labels?\b|labels?_|^meta(?:[-_ ]?data)?$", d.name.lower())]
    return [d for d in named if not any(is_image_file(f) for f in d.iterdir() if f.is_file())]


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    unlabelled: bool = False,
    label_column: str | None = None,
) -> Dataset:
    """Read a ``path,label[,patient_id,split]`` manifest (labels and paths only).

    Args:
        path: the CSV (or TSV) file.
        include: file-name patterns a row's file must match to be kept.
        exclude: file-name patterns of rows to skip.
        unlabelled: allow a manifest without a ``label`` column (every row unlabelled).
        label_column: the column holding the classes (case-insensitive), instead of the one medimg would choose (a
            clinical table's ``Histology`` beside ``Overall.Stage``).

    Raises:
        DatasetError: a required column is missing, rows point to files that do not exist (all listed), or
            split values are unknown or set on some rows only.
    """
    per_split = split_manifests(path)
    if per_split:
        return _load_split_folders(path, per_split, include, exclude, unlabelled, label_column)
    manifest = (folder_manifest(path) or _table_with_column(path, label_column)) if path.is_dir() else path
    manifest = manifest or path
    if manifest != path:
        nested = any(visible_dir(p) for p in path.iterdir())
        where = "its sub-folders hold the images" if nested else "the images beside it"
        logger.info("%s: labels from %s (%s)", path, manifest.name, where)
    dataset = _load_table(
        manifest, path if path.is_dir() else manifest.parent, include, exclude, unlabelled, label_column
    )
    if manifest != path and not unlabelled:
        _refuse_most_images_unnamed(path, manifest, dataset, include, exclude)
    if path.is_dir():  # read again from the folder (evaluate, a run's card): its table finds the images below it
        dataset.root = path
    return dataset


#: how many image files under a folder :func:`_refuse_most_images_unnamed` looks at
UNNAMED_WALK = 200_000


def _refuse_most_images_unnamed(
    folder: Path, manifest: Path, dataset: Dataset, include: tuple[str, ...], exclude: tuple[str, ...]
) -> None:
    """Refuse a folder read by the table at its top when most of its images are in no row (C-NMC 2019: the
    preliminary test set's ``..._labels.csv`` beside ``C-NMC_training_data/``, whose 10,661 images it never names:
    a model trained and tested on the 1,867 test images, the training data left out without a word).

    Raises:
        DatasetError: naming the table, the counts and the folder of most unnamed images to give instead."""
    import itertools

    from medimg.io.folder_walk import walk_tree
    from medimg.io.formats import in_system_folder, is_image_file

    named = {Path(c.path).resolve() for c in dataset.cases if c.path is not None}
    named |= {Path(c.path).resolve() for c in dataset.unlabelled if c.path is not None}
    named_folders = {p for p in named if p.is_dir()}  # a study's folder of slices (Kaggle RSNA's uids)
    named_files = {p.name.lower() for p in named}  # another copy of a named file (Kaggle's HAM10000 holds two)

    def in_no_row(file: Path) -> bool:
        folders = {part.lower() for part in file.relative_to(folder).parts[:-1]}
        if folders & MASK_FOLDER_WORDS or file.stem.lower().endswith(("_mask", "_seg", "_segmentation")):
            return False  # the images' masks beside them: no images a row should name
        if file.name.lower() in named_files:
            return False  # a copy of a file the table names, read once (said as the table is read)
        resolved = file.resolve()
        return resolved not in named and not any(parent in named_folders for parent in resolved.parents)

    unnamed = [
        p
        for p in itertools.islice(walk_tree(folder), UNNAMED_WALK)
        if is_image_file(p) and not in_system_folder(p, folder) and path_selected(p, include, exclude, folder)
        if in_no_row(p)
    ]
    tops = Counter(p.relative_to(folder).parts[0] for p in unnamed if len(p.relative_to(folder).parts) > 1)
    if len(unnamed) <= max(len(named), 10):
        _say_folders_in_no_row(folder, manifest, tops)
        return
    top = tops.most_common(1)[0][0] if tops else ""
    give = f"; to train on those, give their folder (medimg fit '{folder / top}')" if top else ""
    raise DatasetError(
        f"{folder}: its table {manifest.name} names {len(named)} image(s), but {len(unnamed)} other image(s) under "
        f"it are in no row (e.g. {unnamed[0].relative_to(folder)}): the table labels another part of the data (a "
        f"test set's table beside the training data?). To use the table's images, give the table itself (medimg "
        f"fit '{manifest}'){give}"
    )


#: a folder of this many images in no row of a folder's table is said (fewer: strays, thumbnails)
UNNAMED_FOLDER_IMAGES = 10


def _say_folders_in_no_row(folder: Path, manifest: Path, tops: Counter[str]) -> None:
    """Warn of a sub-folder of images that the folder's table names none of (HAM10000's metadata beside
    ``ISIC2018_Task3_Test_Images/``, the challenge's test set, labelled by ``ISIC2018_Task3_Test_GroundTruth.csv``):
    left out of training and of the split, said with the tables beside that may label it. ``tops``: the images in
    no row, counted by the sub-folder of ``folder`` they lie in."""
    left = [(top, n) for top, n in tops.most_common(3) if n >= UNNAMED_FOLDER_IMAGES]
    if not left:
        return
    others = [t.name for t in sorted(folder.iterdir()) if t != manifest and is_manifest(t) and _labels_images(t)]
    tables = f"; a table beside may label them ({', '.join(others[:3])}): score a run on it with medimg evaluate RUN "
    logger.warning(
        "%s: %s hold%s images that %s names in no row: left out of training, validation and test%s",
        folder,
        ", ".join(f"{top}/ ({n} images)" for top, n in left),
        "s" if len(left) == 1 else "",
        manifest.name,
        f"{tables}{folder / others[0]}" if others else "",
    )


def _labels_images(table: Path) -> bool:
    """Whether ``table`` names images (a path column) and their classes (a label column, or one-hot columns): a label
    table to score a run on; not HAM10000's ``hmnist_28_28_L.csv`` (pixels and a label) or ISIC 2018's
    ``..._LesionGroupings.csv`` (each image's lesion), which were suggested so and then refused."""
    header = set(manifest_header(table))
    return bool(header & set(PATH_COLUMNS)) and (bool(header & set(LABEL_COLUMNS)) or _has_one_hot(table))


def tables_with_column(folder: Path, label_column: str) -> list[Path]:
    """The tables directly in ``folder`` whose header has ``label_column``, but for Kaggle's submission templates
    (PANDA's ``sample_submission.csv`` of ``isup_grade`` beside ``train.csv``) and a table's Excel copy beside it
    (FETAL_PLANES_DB's ``_data.csv`` and ``_data.xlsx``)."""
    tables = [p for p in sorted(folder.iterdir()) if is_manifest(p) and "submission" not in p.stem.lower()]
    having = [p for p in tables if column_key(label_column) in manifest_header(p)]
    from medimg.data.layouts.spreadsheets import SPREADSHEET_SUFFIXES

    csv_stems = {p.stem for p in having if p.suffix.lower() not in SPREADSHEET_SUFFIXES}
    return [p for p in having if p.suffix.lower() not in SPREADSHEET_SUFFIXES or p.stem not in csv_stems]


def _table_with_column(folder: Path, label_column: str | None) -> Path | None:
    """The one table directly in ``folder`` whose header has ``label_column`` (:func:`tables_with_column`: a
    clinical table beside the patient folders, which is not read as a label table by itself), or the folder's one
    table when none has it (its reading then names its columns); ``None`` otherwise."""
    if label_column is None:
        return None
    tables = [p for p in sorted(folder.iterdir()) if is_manifest(p)]
    having = tables_with_column(folder, label_column)
    return having[0] if len(having) == 1 else tables[0] if len(tables) == 1 and not having else None


def reads_label_column(path: Path, label_column: str) -> bool:
    """Whether ``path`` is a label table this layout reads with ``label_column``: a table, split folders of tables,
    a folder with its label table, or a folder with one table whose header has the column (a clinical table)."""
    if is_manifest(path):
        return True
    return path.is_dir() and bool(
        split_manifests(path) or folder_manifest(path) or _table_with_column(path, label_column)
    )


def _chosen_label_column(manifest: Path, columns: dict[str, str], label_column: str) -> str:
    """The column ``--label-column`` names (case-insensitive, spaces as underscores).

    Raises:
        DatasetError: the table has no such column (its columns listed, a close match suggested)."""
    from medimg.errors import did_you_mean

    found = columns.get(column_key(label_column))
    if found is None:
        raise DatasetError(
            f"{manifest} has no column {label_column!r} (--label-column); its columns: {', '.join(columns.values())}."
            f"{did_you_mean(label_column, list(columns.values()))}"
        )
    logger.info("%s: labels from its column %r (--label-column)", manifest, found)
    return found


def _load_table(
    manifest: Path,
    base: Path,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    unlabelled: bool,
    label_column: str | None = None,
) -> Dataset:
    """:func:`load` of one label table, its rows' files found under ``base`` (its folder, or the dataset's folder for
    a table in a folder of its own: ISIC 2018's ``..._GroundTruth/``)."""
    if not manifest.is_file():
        raise DatasetError(f"{manifest} is not a file: a manifest is a CSV (or Excel workbook) with columns path,label")
    columns, rows = read_manifest(manifest)
    _refuse_overflowing_rows(manifest, rows)
    columns, rows = _readers_columns_merged(manifest, columns, rows)

    def column(options: tuple[str, ...], required: bool) -> str | None:
        for option in options:
            if option in columns:
                return columns[option]
        if required:
            raise (NoLabelColumnError if options == LABEL_COLUMNS else DatasetError)(
                f"{manifest} has no {options[0]!r} column (found: {', '.join(columns) or 'none'}); "
                "the manifest needs a header row path,label[,patient_id,split]"
            )
        return None

    # one index of the files by name, for the long-format check and the rows; --include/--exclude choose among
    # files of one name
    files = ManifestFiles(base, lambda p: path_selected(p, include, exclude, base), named_split(manifest.stem))
    if label_column is not None:
        label_col: str | None = _chosen_label_column(manifest, columns, label_column)
    else:
        label_col = _label_named_column(columns, rows, manifest) or _one_label_named_column(columns, manifest)
    patient_col, split_col = column(PATIENT_COLUMNS, False), column(SPLIT_COLUMNS, False)
    patient_col, split_col = (None if c == label_col else c for c in (patient_col, split_col))
    known = {label_col, patient_col, split_col}
    named = column(PATH_COLUMNS, False)
    path_col = (
        (None if named is not None and _names_no_file(manifest, named, rows, files) else named)
        or _column_naming_files(
            manifest, [c for c in columns.values() if c not in {*known, named}], rows, files, label_col
        )
        or _patient_folders(manifest, patient_col, rows, files)
        or named
        or ""
    )
    if not path_col:
        _refuse_names_begun_by(manifest, [c for c in columns.values() if c not in known], rows, files)
        path_col = column(PATH_COLUMNS, True) or ""
    if path_col and path_col != named and files.all_found([path_col]):  # no header: its first line is a row
        rows = [_header_as_row(manifest, list(columns.values())), *rows]
    refuse_video_rows(manifest, [str(row.get(path_col) or "") for row in rows] if path_col else [])
    side_col = column(LATERALITY_COLUMNS, False)
    reader_col = column(READER_COLUMNS, False)
    if reader_col is not None and path_col:
        rows = _readers_merged(manifest, rows, path_col, reader_col)
    if split_col is None:  # a column of another name holding train/val/test (``Set``, ``partition``, ``Usage``)
        split_col = _column_of_splits(manifest, rows, [c for c in columns.values() if c not in {*known, path_col}])
    if split_col is None:  # a 1/0 column saying which rows train (FETAL_PLANES_DB's ``Train``)
        rows, split_col = _train_flag_split(manifest, rows, columns)
    _refuse_repeated_columns(manifest, [c for c in (path_col, label_col, patient_col, split_col) if c])
    if label_column is None and label_col is not None and path_col:
        others = [c for c in columns.values() if c not in {label_col, path_col, patient_col, split_col}]
        label_col = _column_naming_folders(manifest, rows, path_col, label_col, others, files) or label_col
    other_columns = [c for c in columns.values() if c not in {label_col, path_col, patient_col, split_col}]
    if label_col is not None and other_columns and label_column is None:  # which column, when others were there
        logger.info(
            "%s: labels from its column %r (not from %s)",
            manifest,
            label_col,
            ", ".join(repr(c) for c in other_columns[:5])
            + (f" and {len(other_columns) - 5} more" if len(other_columns) > 5 else ""),
        )
    if label_col is None and not unlabelled and len(columns) == 2:  # a path and one more column
        others = [c for c in columns.values() if c != path_col]
        values = [str(row.get(others[0]) or "").strip() for row in rows] if len(others) == 1 else []
        given = [v for v in values if v]
        if given and len(set(given)) <= len(given) / 2:  # repeated values: the labels
            label_col = others[0]  # (RSNA-MICCAI's BraTS21ID,MGMT_value)
            logger.info(
                "%s: no column is named as labels; the table's other column, %r, gives them", manifest, label_col
            )
    # a table medimg wrote (fit(paths, labels)'s copy, compare --group's) holds class and patient names as given
    exact = written_by_medimg(manifest, list(columns.values()), [str(row.get(path_col) or "") for row in rows])
    finding_rows: list[list[str] | None] | None = None
    finding_names: tuple[str, ...] = ()  # findings no row shows are findings too (a one-hot column, an ICH subtype)
    long = _long_findings(rows, path_col, label_col, manifest, files) if label_col else None
    if long is not None:  # one row per image and finding: pivoted to one row per image
        rows, finding_rows, finding_names = long
    elif label_col:
        written = _label_cells(rows, label_col, manifest, exact)
        lists = _list_labels(written)
        if lists is not None and any(len(row or ()) != 1 for row in lists if row is not None):
            from medimg.data.labels import is_no_finding

            finding_rows = [[n for n in row if not is_no_finding(n)] if row is not None else None for row in lists]
        elif lists is not None:
            written = [row[0] if row else "" for row in lists]  # ['N']: one class in a list
        else:
            rejoined, separator = _other_separators_joined(written)
            rejoined = _repeats_as_one(rejoined, written, manifest, label_col)
            finding_rows = _joined_findings(rejoined, manifest, label_col, separator)
            written = written if finding_rows is not None else rejoined
    else:
        used = {path_col, patient_col, split_col}
        candidates = [c for c in columns.values() if c not in used and not WEIGHT_COLUMN.search(c)]
        one_hot = None if unlabelled else _one_hot(manifest, candidates, rows)
        if one_hot is None and not unlabelled:
            measured, choices = _measurement_columns(candidates, rows), _class_like_columns(candidates, rows)
            if measured:  # RSNA Bone Age's id,boneage,male: a number to regress, no classes
                raise NoLabelColumnError(
                    f"{manifest} has no label column (found: {', '.join(columns)}), and {measured}: medimg classifies "
                    "images and does not regress a number; bin the values into classes in a column named label (e.g. "
                    "age groups), or name the column that holds the classes" + _label_column_advice(choices, rows)
                )
            if choices:
                raise NoLabelColumnError(
                    f"{manifest} has no label column (found: {', '.join(columns)}); name the column that holds the "
                    "classes" + _label_column_advice(choices, rows)
                )
            column(LABEL_COLUMNS, True)  # raises: no label column
        written = (one_hot.labels if one_hot else None) or [""] * len(rows)  # a pool's manifest: no labels
        finding_rows = one_hot.findings if one_hot else None
        finding_names = one_hot.names if one_hot else ()
    if finding_rows is not None:
        rows, finding_rows = _without_quality_flags(rows, finding_rows, manifest)
        finding_rows = _merge_finding_variants(finding_rows, manifest)
        finding_rows, finding_names = _without_per_slice_findings(rows, path_col, finding_rows, finding_names, manifest)
        class_names = order_classes({*finding_names, *(name for row in finding_rows for name in row or ())})
        labels_raw = [""] * len(rows)  # no class per row: the findings label it
    else:
        labels_raw = _merge_case_variants(written, manifest)
        class_names = order_classes({lab for lab in labels_raw if lab})
    index = {name: i for i, name in enumerate(class_names)}
    listed = {} if split_col else split_lists(base)
    by_row = {} if split_col or listed else row_index_splits(manifest, len(rows))
    cases: list[Case] = []
    pool: list[Case] = []
    missing: list[str] = []
    absent: list[str] = []  # rows naming a file by name that no sub-folder holds: not downloaded
    bad_split: list[str] = []
    bad_values: set[str] = set()  # the unknown split values themselves
    expanded = 0  # rows naming a folder of series folders
    folder_patients = False  # a case per series or film, its patient the row's folder (no patient column)
    from_here = 0  # missing rows whose path names a file from the current folder instead of the table's
    first_row: dict[Path, Case] = {}  # each file's first row: a later row naming it again is read once or conflicts
    repeated = 0  # rows repeating an earlier row's file, label and split
    projections = 0  # projection radiographs of series folders, each read as an image of its own
    for line, (row, label) in enumerate(zip(rows, labels_raw, strict=True), start=2):
        raw_path = _url_as_path(str(row.get(path_col) or "").strip())
        if not raw_path:
            missing.append(f"line {line}: empty path")
            continue
        file, why = files.locate(raw_path)
        file = _single_image_in(file, include, exclude, base) or file  # a folder's file, as --include chooses it
        if not path_selected(file, include, exclude, base):
            continue
        series = _is_series_folder(file)  # lists the folder: once per row
        series_below = _series_folders_below(file) if file.is_dir() and not series else []
        if not (file.is_file() or series or series_below):
            note = _folder_of_images_note(file) if file.is_dir() else why
            if not why and not file.exists() and by_name_only(raw_path):  # named by name, under no sub-folder
                absent.append(f"line {line}: {raw_path}")
            else:
                missing.append(f"line {line}: {file}{note}")
                from_here += not Path(raw_path).is_absolute() and Path(raw_path).exists()
            continue
        split_raw = row.get(split_col) if split_col else None
        split = (
            normalise_split(split_raw)
            if split_col
            else listed.get(Path(raw_path.replace("\\", "/")).name) or by_row.get(line - 2)
        )
        if split_raw and split is None:
            bad_split.append(f"line {line}: {split_raw!r}")
            bad_values.add(str(split_raw).strip())
        patient = str(row.get(patient_col) or "").strip() if patient_col else ""
        patient = patient if exact else _patient_name(patient)
        findings = finding_rows[line - 2] if finding_rows is not None else None
        case = Case(
            case_id=_case_id(raw_path, file, base),
            label=index[label] if label else None,
            split=split,
            patient_id=patient or None,
            path=file,
            findings=tuple(sorted({index[name] for name in findings})) if findings is not None else None,
        )
        films = projection_images(file) if series else []  # a folder of X-ray films: each film an image
        if series_below or films:  # a case per series (per film of X-ray film folders), the row's folder their patient
            expanded += bool(series_below)
            folder_patients |= not patient
            patient = patient or raw_path
            parts = films or [one for folder in series_below for one in (projection_images(folder) or [folder])]
            side = _side(row.get(side_col)) if side_col else None
            if side is not None:  # CMMD: a row per breast of the patient folder, its films by their laterality
                parts = [part for part in parts if not part.is_file() or image_laterality(part) in (side, None)]
            projections += sum(part.is_file() for part in parts)
            for part in parts:
                below = part.relative_to(file).as_posix()
                film = replace(case, case_id=f"{case.case_id.rstrip('/')}/{below}", path=part, patient_id=patient)
                earlier = first_row.setdefault(part, film)
                if earlier is not film:  # another row's film: read once, or a case of its own when labelled otherwise
                    if (earlier.label, earlier.findings, earlier.split) == (film.label, film.findings, film.split):
                        repeated += 1
                        continue
                    film = replace(film, case_id=f"{film.case_id} (line {line})")
                (cases if film.labelled else pool).append(film)
            continue
        # a file named again: a repeated row (or one without a label) is read once; another label or split is a
        # case of its own, which the check then reports (identical pixels, different labels) and fit leaves out
        earlier = first_row.setdefault(file, case)
        if earlier is not case:
            same = (earlier.label, earlier.findings, earlier.split) == (case.label, case.findings, case.split)
            if same or not case.labelled:
                repeated += 1
                continue
            case = replace(case, case_id=f"{case.case_id} (line {line})")
        (cases if case.labelled else pool).append(case)
    if repeated:
        logger.info(
            "%s: %d row(s) name a file an earlier row names with the same label and split (or without a label): "
            "each file is read once",
            manifest,
            repeated,
        )
    # images in container folders, some not unpacked (NIH's images_001/ of twelve): the rest train
    if (
        absent
        and (cases or pool)
        and not missing
        and any(visible_dir(p) for p in base.iterdir())  # images beside the table, no containers: nothing unpacked
        # the folder's own label table, or a table most of whose rows have their image (BCCD's labels.csv lists 411
        # images of JPEGImages/'s 364)
        and (folder_manifest(base) == manifest or 2 * len(absent) < len(rows))
    ):
        logger.warning(
            "%s: %d of the %d rows name a file that is under no sub-folder of %s (a partial download?): left out "
            "(e.g. %s)",
            manifest,
            len(absent),
            len(rows),
            base,
            absent[0],
        )
    else:
        missing += absent
    if missing and len(files.by_name.videos) > len(missing) / 2:  # EchoNet's FileList.csv: its clips' names
        raise videos_named_error(manifest, files.by_name.videos[0])
    if missing:
        shown = "\n  ".join(missing[:10]) + (f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else "")
        here = (
            f"{from_here} of them name a file relative to the current folder ({Path.cwd()}), but a table's "
            f"relative paths are read from its own folder ({manifest.parent.resolve()}): write them relative to "
            "that folder, or as absolute paths\n"
            if from_here
            else ""
        )
        raise DatasetError(
            f"{manifest}: {len(missing)} row(s) point to files that do not exist:\n  {shown}\n{here}"
            "Fix the paths (relative paths are resolved against the CSV's folder) or remove those rows."
        )
    if bad_split:
        raise DatasetError(
            f"{manifest}: unknown split value(s) in column {split_col!r}: {', '.join(bad_split[:5])}"
            + (f" and {len(bad_split) - 5} more" if len(bad_split) > 5 else "")
            + "; use train, val or test (or leave the column empty everywhere)"
            + _folds_note(bad_values)
        )
    files.report(manifest)
    if patient_col is not None and _placeholder_patient(cases, manifest, patient_col):
        cases, pool = [replace(c, patient_id=None) for c in cases], [replace(c, patient_id=None) for c in pool]
        patient_col = None
    if patient_col is None:
        cases = patients_from_a_table_beside(cases, manifest, base)
        cases = patients_from_folders(cases, manifest, base)  # CheXpert's patient00001/study1/view1_frontal.jpg
    warn_lateral_views(manifest, columns, rows, path_col, cases)  # CheXpert's Frontal/Lateral column
    if folder_patients and patient_col is None:  # one patient's studies, each a row's folder, joined
        cases = folders_joined_by_patient(cases, manifest)
    if expanded:
        logger.info(
            "%s: %d row(s) name a folder of DICOM series folders (a patient's sequences: FLAIR, T1w...): each series "
            "is a case with the row's label, the row's folder their patient (never split apart)",
            manifest,
            expanded,
        )
    if projections:
        logger.info(
            "%s: %d projection radiograph(s) (CR, DX, MG...) share a series folder with others: each is an image of "
            "its own with the row's label, never stacked into a volume",
            manifest,
            projections,
        )
    cases, pool = _largest_series_of_study_folders(cases, manifest), _largest_series_of_study_folders(pool, manifest)
    if pool and cases:
        logger.info(
            "%s: %d row(s) without a label are left out of the labelled images (never scored; semi-supervised "
            "training can use them as unlabelled images)",
            manifest,
            len(pool),
        )
    if (listed or by_row) and cases:
        cases = _unlisted_to_train(cases, manifest)
    prefixed = None if any(c.split for c in cases) else splits_from_names([Path(c.path or c.case_id) for c in cases])
    if prefixed is not None:  # GlaS's Grade.csv: train_1, testA_1, testB_1 (its test images trained before)
        cases = [replace(c, split=split) for c, split in zip(cases, prefixed, strict=True)]
        logger.info(
            "%s: the splits are the images' name prefixes (%s: %s)", manifest, cases[0].case_id, dict(Counter(prefixed))
        )
    if cases and any(c.split for c in cases) and not all(c.split for c in cases):
        raise DatasetError(
            f"{manifest}: some rows have a split and others do not; fill the split column for every row "
            "or leave it empty everywhere"
        )
    return Dataset(
        name=dataset_name(manifest),
        root=manifest,
        source="csv",
        class_names=class_names,
        cases=cases,
        unlabelled=pool,
        options=_layout_options(unlabelled, label_column),
        multi_label=finding_rows is not None,
    )


def _layout_options(unlabelled: bool, label_column: str | None) -> dict[str, object]:
    """The options a dataset was read with, saved with a run to read it (or an external set) the same way."""
    return {
        **({"unlabelled": True} if unlabelled else {}),
        **({"label_column": label_column} if label_column is not None else {}),
    }


def _load_split_folders(
    path: Path,
    per_split: list[tuple[str, Path]],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    unlabelled: bool,
    label_column: str | None,
) -> Dataset:
    """One dataset from the label manifest of each split (``per_split``, :func:`split_manifests`): case ids prefixed
    with the split folder, the split from the folder where the rows give none, one class list for all. When one
    split's rows list several findings, every split is read as multi-label (a split whose rows happen to set one
    column each gives that finding; a "No Finding"-like column none)."""
    from medimg.data.labels import is_no_finding

    parts: list[tuple[str, Path, Dataset]] = []
    without_labels: list[Path] = []
    label_folders = set(_label_folders([m.parent for _, m in per_split if m.parent != path]))
    lacking = [m for _, m in per_split if label_column and column_key(label_column) not in manifest_header(m)]
    for split, manifest in per_split:
        base = path if manifest.parent in label_folders else manifest.parent  # ISIC 2018's ..._GroundTruth/
        if manifest in lacking and len(lacking) < len(per_split):  # ISIC 2020's test.csv without --label-column's
            without_labels.append(manifest)  # column beside train.csv: refused as "has no column 'target'"
            continue
        try:
            parts.append((split, base, _load_table(manifest, base, include, exclude, unlabelled, label_column)))
        except NoLabelColumnError:
            without_labels.append(manifest)  # a competition's test.csv: the images to predict
    if without_labels:
        if not parts:
            raise NoLabelColumnError(
                f"{path}: none of its label tables ({', '.join(m.name for m in without_labels)}) has a label column"
            )
        logger.info(
            "%s: %s has no labels (a competition's test set?): not read; predict its images with medimg predict",
            path,
            ", ".join(m.name for m in without_labels),
        )
    multi = any(part.multi_label for *_, part in parts)

    def names_of(part: Dataset) -> list[str]:
        return [n for n in part.class_names if not (multi and not part.multi_label and is_no_finding(n))]

    names = order_classes({n for *_, part in parts for n in names_of(part)})
    cases: list[Case] = []
    pool: list[Case] = []
    for split, base, part in parts:
        index = {i: names.index(n) for i, n in enumerate(part.class_names) if n in names}

        folder = f"{base.name}/" if base != path else ""  # CSVs at the top name full paths

        def moved(case: Case, split: str = split, prefix: str = folder, index: dict = index) -> Case:
            label = index.get(case.label) if case.label is not None else None
            findings = tuple(sorted(index[i] for i in case.findings)) if case.findings is not None else None
            if multi and case.label is not None:  # a single-label split of a multi-label set
                findings, label = ((label,) if label is not None else ()), None
            case_id = f"{prefix}{case.case_id}"
            return replace(case, case_id=case_id, split=case.split or split, label=label, findings=findings)

        cases += [moved(c) for c in part.cases]
        pool += [moved(c) for c in part.unlabelled]
    return Dataset(
        name=dataset_name(path),
        root=path,
        source="csv",
        class_names=names,
        cases=cases,
        unlabelled=pool,
        options=_layout_options(unlabelled, label_column),
        multi_label=multi,
    )
