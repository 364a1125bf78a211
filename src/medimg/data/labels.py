"""Labels as models see them: aligning a dataset's class names with a model's, multi-label findings as text and
as multi-hot targets."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from medimg.data.case import Case
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)


def same_text(name: str) -> str:
    """``name`` in Unicode's composed form (NFC): ``"Tümör"`` typed on Windows or Linux and the decomposed ``"Tümör"``
    macOS writes into file names and zips are one name (they print alike but compare unequal)."""
    return unicodedata.normalize("NFC", name)


def class_key(name: str) -> str:
    """What two spellings of one class share: the composed form, case-folded (``"NORMAL"`` is ``"normal"``)."""
    return same_text(name).casefold()


def find_class(name: str, class_names: Sequence[str]) -> int | None:
    """The index of the class ``name`` names: exactly, else the one class of its :func:`class_key` (``"No Finding"``
    is ``"no finding"``); ``None`` for no (or no single) such class."""
    if name in class_names:
        return list(class_names).index(name)
    same = [i for i, known in enumerate(class_names) if class_key(known) == class_key(name)]
    return same[0] if len(same) == 1 else None


def class_by_name_or_index(value: object, class_names: Sequence[str]) -> int | None:
    """The class ``value`` names (:func:`find_class`, surrounding spaces ignored) or indexes (an integer, NumPy's
    too, or digits typed on a command line or in a URL); ``None`` for neither."""
    from numbers import Integral

    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value) if 0 <= int(value) < len(class_names) else None
    text = str(value).strip()
    found = find_class(text, class_names)
    if found is None and text.isdigit() and int(text) < len(class_names):
        return int(text)
    return found


def keep_classes(
    class_names: Sequence[str], cases: Sequence[Case], kept: Sequence[int]
) -> tuple[list[str], list[Case]]:
    """Only the classes ``kept`` (indices, ascending), each case's label renumbered so labels stay contiguous (the
    cases must hold no label outside ``kept``)."""
    new_index = {old: new for new, old in enumerate(kept)}
    renumbered = [replace(c, label=new_index[c.label]) if c.label is not None else c for c in cases]
    return [class_names[i] for i in kept], renumbered


#: logged (with where the labels come from, and the last class number) when one-hot labels are read as classes
ONE_HOT_NOTE = (
    "the labels of %s are one-hot (one 1 in each row, Keras's to_categorical): read as classes 0..%d (0/1 columns "
    "are read as findings, several or none per image, when a row has another count of ones)"
)


def one_hot_classes(labels: np.ndarray) -> np.ndarray | None:
    """The class of each row of ``(N, K)`` one-hot labels (Keras's ``to_categorical``: 0/1, exactly one 1 per row,
    ``K > 1``), or ``None`` when they are not (rows with none or several ones are multi-label findings)."""
    if labels.ndim != 2 or labels.shape[1] < 2 or not labels.size or labels.dtype.kind not in "biuf":
        return None
    if not (np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all()):
        return None
    return np.asarray(labels.argmax(axis=1), dtype=np.int64)


def label_map(
    data_classes: Sequence[str], model_classes: Sequence[str], cases: Sequence[Case] | None = None
) -> np.ndarray:
    """Index of each of the data's classes in the model's class list; with ``cases`` (the images scored), a class
    none of them holds maps to -1 whether the model knows it or not (a class `medimg fit` left out because none of
    its images could be read: evaluating the run on its own data found it again).

    Raises:
        DatasetError: the data has classes the model does not know (among those of ``cases``, when given).
    """
    known = {class_key(c): i for i, c in enumerate(model_classes)}  # "NORMAL" in the data is the model's "normal"
    held = None if cases is None else {i for c in cases for i in ((c.label,) if c.findings is None else c.findings)}
    unknown = [c for i, c in enumerate(data_classes) if class_key(c) not in known and (held is None or i in held)]
    numbers = [_placeholder_number(c) for c in data_classes]
    if unknown and all(n is not None and n < len(model_classes) for n in numbers):
        logger.warning(
            "the data's classes are unnamed class numbers (%s: integer labels without names, e.g. a MedMNIST file "
            "renamed); they are read as the model's classes of those numbers (%s). Give the data its class names "
            "(keep the MedMNIST file name, or add a class_names array) if they mean something else",
            ", ".join(data_classes),
            ", ".join(f"{c} = {model_classes[n]}" for c, n in zip(data_classes, numbers, strict=True) if n is not None),
        )
        return np.array(numbers, dtype=np.int64)
    if unknown:
        raise DatasetError(
            f"the data has classes the model does not know: {', '.join(map(repr, unknown))} "
            f"(model classes: {', '.join(model_classes)}); rename the folders or labels to the model's classes"
        )
    return np.array([known.get(class_key(c), -1) for c in data_classes], dtype=np.int64)


def _placeholder_number(name: str) -> int | None:
    """The number of a placeholder class name medimg gives integer labels without names (``class_3`` -> 3)."""
    match = re.fullmatch(r"class_(\d+)", name)
    return int(match.group(1)) if match else None


#: label values that name the absence of every finding in a multi-label set (NIH ChestX-ray14's "No Finding",
#: CheXpert's "No Finding" column): an image without findings, not a finding of its own
NO_FINDING_NAMES = frozenset({"no finding", "no findings", "no_finding", "nofinding", "none", "normal", "no disease"})


def is_no_finding(name: str) -> bool:
    """True for a label naming the absence of findings (``"No Finding"``, ``"normal"``...)."""
    return name.strip().casefold() in NO_FINDING_NAMES


#: what joins several findings in one label (NIH ChestX-ray14's ``Finding Labels``: ``Atelectasis|Effusion``)
MULTI_LABEL_SEPARATOR = "|"


def joined_findings(label: str) -> list[str]:
    """The findings of one label joined by ``|`` (``"Atelectasis|Effusion"``), without a "No Finding"-like one."""
    parts = (part.strip() for part in label.split(MULTI_LABEL_SEPARATOR))
    return [part for part in parts if part and not is_no_finding(part)]


def label_text(case: Case, class_names: Sequence[str]) -> str:
    """A case's label as text: its class, a multi-label case's findings joined by ``|`` (``"no finding"`` for
    none), ``"?"`` for an unlabelled case."""
    if case.label is not None:
        return class_names[case.label]
    if case.findings is not None:
        return "|".join(class_names[i] for i in case.findings) or "no finding"
    return "?"


def findings_matrix(
    cases: Sequence[Case],
    num_findings: int,
    remap: np.ndarray | None = None,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """The multi-hot targets ``(N, K)`` float32 of multi-label cases (a case without findings is a row of zeros);
    ``remap`` maps the data's finding indices to the model's (:func:`label_map`), whose findings are ``names``.

    A model finding the data does not name (a table without its column, an external test set labelling fewer
    findings) is a column of zeros: counted absent from every image. With ``names``, a warning names those findings,
    whose specificity then counts every image the model calls them in as a false positive.

    Raises:
        DatasetError: a case is not multi-label (no ``findings``).
    """
    matrix = np.zeros((len(cases), num_findings), dtype=np.float32)
    for row, case in enumerate(cases):
        if case.findings is None:
            raise DatasetError(f"{case.case_id} has no findings: a multi-label model needs multi-label data")
        for index in case.findings:
            matrix[row, int(remap[index]) if remap is not None else index] = 1.0
    if remap is not None and names is not None and len(cases):
        unnamed = [names[j] for j in sorted(set(range(num_findings)) - {int(i) for i in remap})]
        if unnamed:
            logger.warning(
                "the data does not name the model's finding(s) %s (no column or label of theirs): each image is "
                "counted without them, so they get no AUC or sensitivity, and every image the model calls them in "
                "counts as a false positive (specificity, label-wise accuracy, exact match); if the data does not "
                "label them, read only the other findings' results",
                ", ".join(map(repr, unnamed)),
            )
    return matrix


#: this many classes or more, all of them numbers, read as a measurement rather than categories
MEASUREMENT_CLASSES = 20
#: ... or this many numbers when some have a fraction (0.71: a measurement, no category's code)
FRACTIONAL_CLASSES = 5


def is_score(values: Sequence[float]) -> bool:
    """Whether ``values`` (distinct) are :data:`FRACTIONAL_CLASSES` or more numbers, some with a fraction (``0.71``;
    ``3.0`` has none): a measurement or a score, never the codes of categories."""
    return len(values) >= FRACTIONAL_CLASSES and any(value != round(value) for value in values)


#: the name an integer label without a name is given, before its number (``class_3``)
UNNAMED_CLASS = re.compile(r"^class_(?=\d+$)")


def as_numbers(texts: Iterable[str]) -> list[float] | None:
    """``texts`` as numbers (surrounding spaces ignored), or ``None`` when one is not a number."""
    try:
        return [float(text.strip()) for text in texts]
    except ValueError:
        return None


def measurement_warning(class_names: Sequence[str]) -> str | None:
    """A warning when the classes are :data:`MEASUREMENT_CLASSES` or more numbers (RSNA Bone Age's ``boneage`` in
    months, an age, a score): a quantity read as unordered classes, one per value, which a classifier learns poorly
    and scores as wrong by any distance; ``None`` for categories (DR grades 0-4, named classes). The names medimg
    gives unnamed integer labels count as their numbers (``class_0``..., LYSTO's ``y`` of lymphocyte counts in an
    HDF5 file); or :data:`FRACTIONAL_CLASSES` or more numbers with a fraction (CheXmask's ``Dice RCA (Max)``, 0.70,
    0.71...: a score, never a code)."""
    values = as_numbers(UNNAMED_CLASS.sub("", name) for name in class_names)
    if values is None or not (is_score(values) or len(values) >= MEASUREMENT_CLASSES):
        return None
    return (
        f"the {len(values)} classes are all numbers ({min(values):g} to {max(values):g}): a measurement (an age, a "
        "size, a score) read as classes, one per value, unordered? medimg classifies and does not regress a number: "
        "bin the values into classes in a column of their own (e.g. age groups) and train on that; nothing to do if "
        "the numbers are codes (tooth numbers, numbered categories)"
    )


#: a class name that is an id: a run of four digits or more beside other characters (TCGA's
#: ``TCGA_CS_4941_19960909``, OASIS's ``OAS1_0001_MR1``), or a patient, case or subject number (``patient001``,
#: ``case_0007``, ``sub-01``); names of digits alone are numbers (:func:`measurement_warning`)
_ID_NAME = re.compile(r"\d{4,}|(?:patient|case|subject|sub)[-_ ]?\d+", re.IGNORECASE)
#: fewer classes than this are not warned of as ids (two or three named folders are classes)
ID_CLASSES = 4


def id_classes_problem(class_names: Sequence[str], cases: Sequence[Case] = ()) -> str | None:
    """The problem (fit refuses it) when every class name is an id (at least :data:`ID_CLASSES` of them): one folder
    per patient or case, read as one class per patient (a subset of Kaggle's LGG set,
    ``kaggle_3m/TCGA_CS_4941_19960909/`` with each slice's mask beside it, trained a classifier of who the patient
    is); ``None`` otherwise. Names of digits alone
    are ids when every image of ``cases`` is named for its class (PI-CAI's ``fold0/10000/10000_1000000_t2w.mha``),
    and any names are when every class holds the same few files (:func:`_same_files_in_each`)."""
    if len(class_names) < ID_CLASSES:
        return None
    named = not all(_ID_NAME.search(n) and not n.strip().isdigit() for n in class_names)
    if named and not _named_for_numbered_classes(class_names, cases) and not _same_files_in_each(cases):
        return None
    shown = ", ".join(list(class_names)[:3])
    return (
        f"the {len(class_names)} classes are all ids ({shown}...): one folder per patient or case, not per class? A "
        "classifier of patients learns nothing to diagnose: with masks beside the images, train segmentation "
        "(--task segment); else give each image its class in a CSV manifest (path,label,patient_id)"
    )


def _named_for_numbered_classes(class_names: Sequence[str], cases: Sequence[Case]) -> bool:
    """Every class name a number (of four digits or more, or :data:`MEASUREMENT_CLASSES` classes or more), and every
    image's file name that number and more (PI-CAI's ``10000/10000_1000000_t2w.mha``, DeepDRiD's ``1/1_l1.jpg``):
    case folders, not classes."""
    numbers = all(re.fullmatch(r"\d+", n.strip()) for n in class_names)
    long = all(len(n.strip()) >= 4 for n in class_names) or len(class_names) >= MEASUREMENT_CLASSES
    if not (numbers and long):
        return False
    named = [(c.label, c.path.name) for c in cases if isinstance(c.label, int) and c.path is not None]
    return bool(named) and all(re.match(re.escape(class_names[label].strip()) + r"[-_. ]", n) for label, n in named)


#: a case folder's few files (its scans and masks); class folders hold more
CASE_FOLDER_FILES = 12


def _file_names_per_class(cases: Sequence[Case]) -> dict[int, set[str]]:
    """Each single-label class's file names (case-folded), of the cases that are files."""
    names: dict[int, set[str]] = {}
    for case in cases:
        if isinstance(case.label, int) and case.path is not None:
            names.setdefault(case.label, set()).add(case.path.name.casefold())
    return names


def _same_files_in_each(cases: Sequence[Case]) -> bool:
    """Every class holds a few files, most of them named as in every other class (Prostate158's ``train/020/``
    ``t2.nii.gz``, ``adc.nii.gz``, ``dwi.nii.gz``, ``t2_anatomy_reader1.nii.gz``): the folders are cases, not
    classes. Names of numbers alone (``1.png``, kept per class by many exports; SIPaKMeD's cells ``001_03.bmp``, the
    third cell of image 001 of each class) do not count."""
    names = _file_names_per_class(cases)
    if len(names) < ID_CLASSES or any(len(files) > CASE_FOLDER_FILES for files in names.values()):
        return False
    common = {n for n in set.intersection(*names.values()) if not re.fullmatch(r"[\d\W_]+", n.split(".")[0])}
    return bool(common) and all(2 * len(common) >= len(files) for files in names.values())


#: names of the planes or views of one scan: class folders so named hold the same cases seen three ways (MRNet)
PLANE_NAMES = frozenset({"axial", "coronal", "sagittal", "transverse", "transversal"})


def plane_classes_problem(class_names: Sequence[str], cases: Sequence[Case]) -> str | None:
    """The problem (fit refuses it) when every class is a plane of one scan (``axial``, ``coronal``, ``sagittal``)
    and most file names are in every class folder (MRNet's ``train/axial/0000.npy``, ``coronal/0000.npy``,
    ``sagittal/0000.npy``: each knee's three series, its labels in ``train-abnormal.csv``, ``train-acl.csv``...): a
    classifier of planes learns nothing to diagnose; ``None`` otherwise."""
    if len(class_names) < 2 or not all(n.strip().casefold() in PLANE_NAMES for n in class_names):
        return None
    names = _file_names_per_class(cases)
    if len(names) < 2:
        return None
    common = set.intersection(*names.values())
    if not all(2 * len(common) >= len(files) for files in names.values()):
        return None
    return (
        f"the classes ({', '.join(class_names)}) are the planes of one scan, each holding the same cases (e.g. "
        f"{sorted(common)[0]}): a classifier of planes learns nothing to diagnose. The labels are in a table (MRNet's "
        "train-abnormal.csv: case,label): give a CSV manifest path,label,patient_id naming one plane's files "
        "(e.g. train/sagittal/0000.npy,1,0000)"
    )


#: classes holding at least this many images each, all of one set of file names, are views of the same cases
SAME_NAMES_MIN = 5


def shared_file_names(cases: Sequence[Case]) -> tuple[list[int], list[str]] | None:
    """The classes (of at least :data:`SAME_NAMES_MIN` images; a folder of one stray file aside) that all hold the
    same file names, and those names (case-folded, sorted); ``None`` when fewer than two classes do, or when the
    same names are other patients' images (:func:`_names_of_other_patients`)."""
    names = {label: files for label, files in _file_names_per_class(cases).items() if len(files) >= SAME_NAMES_MIN}
    if len(names) < 2 or len({frozenset(files) for files in names.values()}) != 1:
        return None
    if _names_of_other_patients(cases):
        return None
    return sorted(names), sorted(next(iter(names.values())))


#: at most this many of the names shared by the classes are judged by their patients (a header read for each)
NAMES_JUDGED = 20


def _names_of_other_patients(cases: Sequence[Case]) -> bool:
    """Whether the files named alike in the classes are mostly of other patients in each (DICOM exports number
    every folder's files from ``IM000001`` again; their headers name other patients): not views of the same cases.
    A case's patient is its ``patient_id``, else the PatientID of its DICOM header (ids of one image each are not
    set: :func:`~medimg.data.dicom_patients.group_by_dicom_patient`); :data:`NAMES_JUDGED` names at most are read,
    and one with a patient unknown is left undecided."""
    from medimg.data.dicom_patients import header_patient

    names = sorted({c.path.name.casefold() for c in cases if isinstance(c.label, int) and c.path is not None})
    judged_names = set(names[:: max(1, len(names) // NAMES_JUDGED)][:NAMES_JUDGED])
    patients: dict[str, dict[int, set[str]]] = {}
    for case in cases:
        if not isinstance(case.label, int) or case.path is None or case.path.name.casefold() not in judged_names:
            continue
        patient = case.patient_id or header_patient(case.path)
        if patient:
            patients.setdefault(case.path.name.casefold(), {}).setdefault(case.label, set()).add(patient)
    judged = [by_class for by_class in patients.values() if len(by_class) >= 2]
    apart = sum(not set.intersection(*by_class.values()) for by_class in judged)
    return bool(judged) and 2 * apart > len(judged)


#: a file name of a mask stored among the images (``phantom_0000_mask.png``)
_MASK_NAME = re.compile(r"[-_ ](?:mask|seg|segmentation|label|gt|annotation)s?\.[^.]+$", re.IGNORECASE)


def numbered_alike(names: Sequence[str]) -> bool:
    """Whether ``names`` are one template numbered (``001.jpg``..., ``image (1).png``..., masks stored among them
    aside): names each class folder of a set may give its own images by chance (medimg's phantoms'
    ``phantom_0000.png`` in each class); ``RET002OD.jpg`` beside ``RET002OS.jpg``, or ``00000_train_1+.png`` beside
    ``00001_train_0.png``, are not."""
    stems = [name.split(".")[0] for name in names if not _MASK_NAME.search(name)]
    return len({re.sub(r"\d+", "#", stem) for stem in stems}) <= 1 or all(_COUNTED.fullmatch(stem) for stem in stems)


#: a file stem that is a counter, with or without a word before it (``IM000001``, ``IMG_0003``, ``image (12)``):
#: cameras and DICOM exports number each folder's files from 1 again, whatever the extension
_COUNTED = re.compile(r"[a-z]*[-_ ]?\(?\d+\)?", re.IGNORECASE)


def same_cases_problem(class_names: Sequence[str], cases: Sequence[Case]) -> str | None:
    """The problem (fit refuses it) when every class folder with images holds the same file names, not merely
    numbered alike (:func:`numbered_alike`): views, renderings or modalities of the same cases taken for classes
    (PAPILA's ``FundusImages/RET002OD.jpg`` and ``ExpertsSegmentations/ImagesWithContours/RET002OD.jpg``: a model
    told a fundus photograph from the same photograph with contours drawn on it, status OK); ``None`` otherwise."""
    shared = shared_file_names(cases)
    if shared is None or numbered_alike(shared[1]):
        return None
    labels, names = shared
    return (
        f"the classes {', '.join(class_names[k] for k in labels)} hold the same {len(names)} file names (e.g. "
        f"{names[0]} in each): views, renderings or modalities of the same cases, not classes; a model would tell "
        "them apart and learn nothing to diagnose. The cases' labels are elsewhere (a table, the file names): give "
        "a CSV manifest path,label,patient_id naming one folder's files; with masks, train segmentation "
        "(--task segment)"
    )


#: a file name ending in a 0/1 label (Shenzhen's ``CHNCXR_0001_0.png``, ALL-IDB's ``Im001_1.jpg``)
_NAME_LABEL = re.compile(r"[-_]([01])$")
#: a class folder holds at least this many images before its names' 0/1 endings say they are the labels
NAME_LABEL_IMAGES = 4


def name_labels_problem(class_names: Sequence[str], cases: Sequence[Case]) -> str | None:
    """The problem (fit refuses it) when the images of every class folder end in ``_0`` and ``_1`` alike (ALL-IDB's
    ``ALL_IDB1/im/Im001_1.jpg`` and ``ALL_IDB2/img/Im001_0.tif``: 1 a blast, 0 healthy): the labels are in the
    file names and the folders are parts of the set, which a model would learn to tell apart; ``None`` otherwise."""
    endings: dict[int, list[str]] = {}
    for case in cases:
        if isinstance(case.label, int) and case.path is not None:
            match = _NAME_LABEL.search(case.path.name.split(".")[0])
            endings.setdefault(case.label, []).append(match.group(1) if match else "")
    if len(endings) < 2 or any(
        len(found) < NAME_LABEL_IMAGES or set(found) != {"0", "1"} for found in endings.values()
    ):
        return None
    example = next(c.path.name for c in cases if c.path is not None)
    return (
        f"the images of every class folder ({', '.join(class_names[:3])}) end in _0 and _1 alike (e.g. {example}): "
        "the labels are in the file names (ALL-IDB's, Shenzhen's 1 = finding, 0 = none), which medimg does not read, "
        "and the folders are parts of the set. Give each image its label in a CSV manifest (path,label,patient_id)"
    )


#: fewer classes than this, each of one image, are a tiny set, not classes of one image each
ONE_IMAGE_CLASSES = 3


def classes_of_one(class_names: Sequence[str], cases: Sequence[Case]) -> str:
    """The problem when every class holds one patient's images, each class another patient, or (with
    :data:`ONE_IMAGE_CLASSES` classes or more) one image: patient or scan folders taken for classes (CQ500's
    ``CQ500CT0 CQ500CT0/`` folders, whose labels are in ``reads.csv``; 3D-IRCADb's ``3Dircadb1.1/``...). A model
    can only learn to tell them apart, and a split by patient leaves the test split classes never trained. Empty
    otherwise."""
    patients: dict[int, set[str | None]] = {}
    images: Counter[int] = Counter()
    for case in cases:
        if case.label is None:
            continue
        if not isinstance(case.label, int):
            return ""  # multi-label rows
        patients.setdefault(case.label, set()).add(case.patient_id)
        images[case.label] += 1
    if len(patients) < 2:
        return ""
    one_patient = all(len(ids) == 1 and None not in ids for ids in patients.values())
    one_patient = one_patient and len(set.union(*patients.values())) == len(patients)
    one_image = len(patients) >= ONE_IMAGE_CLASSES and all(n == 1 for n in images.values())
    if not (one_patient or one_image):
        return ""
    label = min(patients)
    example = f"{class_names[label]!r}: " + (f"patient {next(iter(patients[label]))}" if one_patient else "1 image")
    return (
        f"each of the {len(patients)} classes holds "
        + ("one patient's images" if one_patient else "one image")
        + f" ({example}): the folders are patients or scans, not classes; a model would learn to tell them apart and "
        "a test split has classes never trained. Give each image its class in a CSV manifest (path,label,patient_id),"
        " or arrange <class>/<patient>/<images>; with masks beside the images, train segmentation (--task segment)"
    )
