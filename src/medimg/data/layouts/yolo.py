"""YOLO detection folders (Ultralytics, Roboflow exports): images beside ``labels/*.txt`` of normalised boxes.

Three arrangements are read, the split folders named as everywhere in medimg (``train``, ``valid``/``val``,
``test``...):

* Roboflow's ``<split>/images/`` + ``<split>/labels/``;
* Ultralytics' ``images/<split>/`` + ``labels/<split>/``;
* one ``images/`` + ``labels/`` without splits;

and the folders a dataset YAML's ``train``/``val``/``test`` entries name, whatever their names, or the list files
they name (``train: train.txt``, one image path a line, as COCO's ``train2017.txt``), as Ultralytics reads them
(:func:`split_folders`).

An image's labels are the ``.txt`` of the same name in the matching ``labels`` folder (Ultralytics' rule: the last
``images`` folder of its path becomes ``labels``), one
object a line: ``class x_center y_center width height`` as fractions of the image size, or a YOLO segmentation
polygon ``class x1 y1 x2 y2 ...`` (its bounding box is used). An image without a ``.txt``, or with an empty one,
has no objects (a negative, as in Ultralytics). Class names come from the ``names`` of a ``data.yaml`` (or any
``*.yaml`` holding ``names``) in the folder or its parent, else ``class_<id>``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from medimg.data.case import Case, normalise_split
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import BoxIssue, DetectionDataset, clean_boxes, image_size, log_issues
from medimg.data.layouts.common import name_selected, problems_error
from medimg.errors import DatasetError
from medimg.io.folder_walk import entry_is, walk_tree
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

IMAGES, LABELS = "images", "labels"
LIST_SUFFIX = ".txt"
"""Label files, and the image list files a dataset YAML may name instead of a folder."""
#: the largest value a YOLO label line may hold: a fraction of the image size, with room for rounding (Ultralytics
#: refuses a file with any value over 1: pixel coordinates read as fractions are boxes far outside the image)
MAX_FRACTION = 1.0 + 1e-3


def _image_folders(root: Path) -> list[tuple[str | None, Path]]:
    """``(split, images folder)`` of each arrangement found under ``root`` whose ``labels`` twin exists."""
    if not root.is_dir():
        return []
    found: list[tuple[str | None, Path]] = []
    subdirs = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    for sub in subdirs:  # Roboflow: <split>/images + <split>/labels
        split = normalise_split(sub.name)
        if split and (sub / IMAGES).is_dir() and (sub / LABELS).is_dir():
            found.append((split, sub / IMAGES))
    images = root / IMAGES
    if not found and images.is_dir() and (root / LABELS).is_dir():
        splits = [(normalise_split(p.name), p) for p in sorted(images.iterdir()) if p.is_dir()]
        found = [(s, p) for s, p in splits if s and (root / LABELS / p.name).is_dir()]  # Ultralytics
        if not found:
            found = [(None, images)]
    return found


YAML_SPLITS = ("train", "val", "test")
"""The split keys of an Ultralytics dataset YAML (medimg's split names too)."""


def _dataset_yaml(root: Path, given: Path | None) -> Path | None:
    """The dataset YAML whose ``train``/``val``/``test`` entries say the splits: the one the user named, else
    ``data.yaml``/``dataset.yaml`` or another ``*.yaml`` with a ``train`` entry in ``root``."""
    if given is not None and given.suffix.lower() in (".yaml", ".yml") and given.is_file():
        return given
    for candidate in (root / "data.yaml", root / "dataset.yaml", *sorted(root.glob("*.yaml"))):
        if candidate.is_file() and isinstance(content := _read_yaml(candidate), dict) and "train" in content:
            return candidate
    return None


def _first_existing(entry: str, bases: Sequence[Path], exists: Callable[[Path], bool]) -> Path | None:
    """The path ``entry`` names (``~`` expanded, normalised): as it is when absolute, else against each of
    ``bases`` in turn; the first that ``exists``, or ``None``."""
    given = Path(entry).expanduser()
    candidates = [given] if given.is_absolute() else [base / given for base in bases]
    return next((Path(os.path.normpath(c)) for c in candidates if exists(c)), None)


def _yaml_folder(entry: str, root: Path, yaml_file: Path) -> Path | None:
    """The images folder a YAML split entry names, resolved as Ultralytics resolves it: against the dataset folder
    (``path``), then the YAML's folder; Roboflow's ``../train/images`` inside the dataset folder."""
    found = _first_existing(entry, [root, yaml_file.parent], Path.is_dir)
    if found is None and entry.startswith("../"):
        found = _first_existing(entry[3:], [root], Path.is_dir)
    return found


def _yaml_list_file(entry: str, root: Path, yaml_file: Path) -> Path | None:
    """The image list file (``train.txt``) a YAML split entry names, resolved as :func:`_yaml_folder` resolves
    folders."""
    if Path(entry).suffix.lower() != LIST_SUFFIX:
        return None
    return _first_existing(entry, [root, yaml_file.parent], Path.is_file)


def listed_images(list_file: Path, root: Path) -> list[Path]:
    """The images an Ultralytics list file names that are there (:func:`read_list_file`)."""
    return list(read_list_file(list_file, root, list_file.stat().st_mtime_ns)[0])


@functools.lru_cache(maxsize=16)
def read_list_file(list_file: Path, root: Path, modified_ns: int) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """``(images there, lines naming no file)`` of an Ultralytics list file, one path a line (blank lines and ``#``
    comments skipped): a relative path (``./images/train/a.jpg``) against the list file's folder, then the dataset
    folder ``root``. Read once per version of the file (``modified_ns``): detection, the split check and loading
    all ask."""
    images: list[Path] = []
    missing: list[str] = []
    for line in list_file.read_text(encoding="utf-8", errors="replace").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        found = _first_existing(entry, [list_file.parent, root], Path.is_file)
        if found is None:
            missing.append(entry)
        else:
            images.append(found)
    return tuple(images), tuple(missing)


def _warn_missing(list_file: Path, root: Path) -> None:
    images, missing = read_list_file(list_file, root, list_file.stat().st_mtime_ns)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        logger.warning(
            "%s: %d of the %d images it lists are not there (%s): left out; paths are read against the list "
            "file's folder, then the dataset folder",
            list_file,
            len(missing),
            len(missing) + len(images),
            shown,
        )


def label_file_of(image: Path) -> Path:
    """An image's YOLO label file, by Ultralytics' rule: its path with the last ``images`` folder as ``labels`` and
    the suffix ``.txt`` (beside the image when no folder is named ``images``)."""
    parts = list(image.parts)
    at = max((i for i, part in enumerate(parts[:-1]) if part == IMAGES), default=None)
    if at is not None:
        parts[at] = LABELS
    return Path(*parts).with_suffix(LIST_SUFFIX)


def label_files(source: Path, root: Path, limit: int | None = None) -> list[Path]:
    """The label files of an images folder (its ``labels`` twin's ``.txt`` files) or of a list file's images (those
    that exist), at most ``limit``."""
    if source.is_file():
        return [label for label in map(label_file_of, listed_images(source, root)[:limit]) if label.is_file()]
    return sorted(_labels_folder(source).rglob(f"*{LIST_SUFFIX}"))[:limit]


def _yaml_split_folders(root: Path, given: Path | None, *, quiet: bool) -> list[tuple[str | None, Path]]:
    """``(split, images folder or list file)`` as the dataset YAML's ``train``/``val``/``test`` entries name them (a
    folder, a list file or a list of them each), as Ultralytics reads them: the folder names need not say the split
    (``images/fold1_holdout``). An entry naming neither a folder with a ``labels`` twin nor a list file (a moved
    folder) is named in a warning and left to the folder names; a folder named under two splits stays in the first
    (``val`` naming the training folder: the validation split is then carved from it)."""
    yaml_file = _dataset_yaml(root, given)
    content = _read_yaml(yaml_file) if yaml_file is not None else None
    if yaml_file is None or not isinstance(content, dict):
        return []
    found: list[tuple[str | None, Path]] = []
    for split in YAML_SPLITS:
        entries = content.get(split)
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, str) or not entry.strip():
                continue
            folder = _yaml_list_file(entry.strip(), root, yaml_file) or _yaml_folder(entry.strip(), root, yaml_file)
            if folder is None or not (folder.is_file() or _labels_folder(folder).is_dir()):
                logger.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "%s: %s: %s is neither an images folder with a labels/ twin nor an image list file: the splits "
                    "come from the folder names for it",
                    yaml_file,
                    split,
                    entry,
                )
                continue
            earlier = next((s for s, f in found if f == folder), None)
            if earlier is not None:
                logger.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "%s: %s names %s, the %s folder already: its images stay in %s (a %s split is carved from the "
                    "training images when no other folder gives one)",
                    yaml_file,
                    split,
                    entry,
                    earlier,
                    earlier,
                    split,
                )
                continue
            found.append((split, folder))
    return found


def split_folders(root: Path, given: Path | None = None, *, quiet: bool = False) -> list[tuple[str | None, Path]]:
    """The images folders of a YOLO dataset with their splits: those the dataset YAML names (its ``train``,
    ``val``, ``test``), then the folders found by their names (:func:`_image_folders`) for the splits it does not
    name (a Roboflow ``test/`` its YAML leaves out); a folder of the dataset neither gives is left out with a
    warning (``quiet``: no warnings, for layout detection)."""
    named = _yaml_split_folders(root, given, quiet=quiet)
    found = _image_folders(root)
    if not named:
        return found
    named_splits, named_folders = {s for s, _ in named}, {f for _, f in named}
    listing = {image.parent for _, f in named if f.is_file() for image in listed_images(f, root)}
    normalised = [(s, Path(os.path.normpath(f))) for s, f in found]  # as the YAML's folders are written
    unnamed = [(s, f) for s, f in normalised if f not in named_folders and not _holds(f, listing)]
    rest = [(s, f) for s, f in unnamed if s and s not in named_splits]
    left_out: list[Path] = []
    for split, folder in unnamed:
        holding = [n for n in named_folders if folder in n.parents]  # images/ above the folders the YAML names
        if holding:
            left_out += [
                sub
                for sub in sorted(folder.iterdir())
                if sub.is_dir() and sub not in named_folders and not any(sub in n.parents for n in holding)
            ]
        elif (split, folder) not in rest:
            left_out.append(folder)
    if left_out and not quiet:
        logger.warning(
            "%s: %s not named by the dataset YAML's train/val/test entries: left out, as Ultralytics leaves them",
            root,
            ", ".join(str(f) for f in left_out),
        )
    return [*named, *rest]


def _holds(folder: Path, listing: set[Path]) -> bool:
    """Whether ``folder`` holds images a list file names (the folders of ``listing``, or below)."""
    return any(folder == d or folder in d.parents for d in listing)


def _labels_folder(images: Path) -> Path:
    """The ``labels`` twin of an ``images`` folder (``.../images/train`` -> ``.../labels/train``)."""
    if images.name == IMAGES:
        return images.parent / LABELS
    return images.parent.parent / LABELS / images.name


def _has_text_file(folder: Path, look: int = 5) -> bool:
    """Whether ``folder`` holds YOLO label files: of its first ``look`` ``.txt`` files, one empty (an image without
    objects) or opening with a line of a class and two or more numbers, no word; lists of another kind (LLD-MMRI's
    ``labels/labels_train.txt``: ``MR-000001 1`` a case's class) are not (read as YOLO with no box, status OK)."""
    with os.scandir(folder) as listing:  # the first few: a labels folder may hold a file per image, thousands
        texts = (Path(e.path) for e in listing if e.name.lower().endswith(".txt") and entry_is(e, "file"))
        return any(_opens_like_yolo(text) for text in itertools.islice(texts, look))


#: a YOLO label line: a class index, then numbers (the box's 4, or a polygon's; a short line is a reading error
#: later, naming it): no word, as in a list of cases and their classes
_YOLO_LINE = re.compile(r"^\s*\d+(?:\s+[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?){2,}\s*$")


def _opens_like_yolo(text: Path) -> bool:
    with text.open(encoding="utf-8", errors="replace") as lines:
        first = next((line for line in lines if line.strip()), None)
    return first is None or bool(_YOLO_LINE.match(first))


def dataset_folder(path: Path) -> Path:
    """The folder of a YOLO dataset given as its YAML (``medimg fit data.yaml``, as ``yolo train data=...``): the
    YAML's ``path`` when it names a folder (relative to the YAML), else the YAML's own folder; a folder as it is."""
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        return path
    content = _read_yaml(path)
    named = content.get("path") if isinstance(content, dict) else None
    if isinstance(named, str) and named.strip():
        folder = (path.parent / named).expanduser()
        if folder.is_dir():
            return folder
    return path.parent


def detect(path: Path) -> bool:
    """Images folders with ``labels`` twins holding ``.txt`` files (masks there would be segmentation data), or a
    dataset YAML beside (or naming) such folders."""
    folders = detection_folders(path)
    root = dataset_folder(path)
    return any(
        label_files(source, root, limit=20) if source.is_file() else _has_text_file(_labels_folder(source))
        for _, source in folders
    )


def detection_folders(path: Path) -> list[tuple[str | None, Path]]:
    """The images folders layout detection looks at (:func:`split_folders`, quietly); a YAML that cannot be parsed
    (a stray file in another layout's folder) leaves them to their names here."""
    root = dataset_folder(path)
    try:
        return split_folders(root, path, quiet=True)
    except DatasetError:
        return _image_folders(root)


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as error:
        raise DatasetError(f"{path}: not a readable YAML file ({error}); fix it or remove it") from error


def class_names_from_yaml(root: Path, given: Path | None = None) -> list[str] | None:
    """The ``names`` of a YOLO dataset YAML (a list, or ``{id: name}``): of ``given`` (the YAML the user named,
    ``medimg fit swapped.yaml``, whatever other YAML lies in its folder) when it has them, else of one in ``root``
    or its parent; ``None`` without any.

    Raises:
        DatasetError: the YAML cannot be parsed.
    """
    named = [given] if given is not None and given.suffix.lower() in (".yaml", ".yml") else []
    candidates = [
        *named,
        root / "data.yaml",
        root / "dataset.yaml",
        *sorted(root.glob("*.yaml")),
        root.parent / "data.yaml",
    ]
    for candidate in dict.fromkeys(candidates):
        if not candidate.is_file():
            continue
        content = _read_yaml(candidate)
        names = content.get("names") if isinstance(content, dict) else None
        if isinstance(names, dict):
            return [str(names[key]) for key in sorted(names, key=int)]
        if isinstance(names, list):
            return [str(name) for name in names]
    return None


def read_label_lines(label_file: Path, problems: list[str]) -> list[tuple[int, int, list[float]]]:
    """``(line number, class id, values)`` of a YOLO label file's lines: four values (a box ``x_center y_center
    width height``) or an even number from six (a polygon ``x1 y1 x2 y2 ...``), as fractions of the image size;
    what is malformed, and a line with a value over 1 (pixels, not fractions: :data:`MAX_FRACTION`), is added to
    ``problems``. A missing file has no lines (an image without objects)."""
    lines: list[tuple[int, int, list[float]]] = []
    if not label_file.is_file():
        return lines
    for number, line in enumerate(label_file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls, values = int(float(fields[0])), [float(v) for v in fields[1:]]
        except ValueError:
            problems.append(f"{label_file}:{number}: not 'class x_center y_center width height' numbers")
            continue
        if len(values) == 4 or (len(values) >= 6 and len(values) % 2 == 0):
            lines.append((number, cls, values))
            if over := [v for v in values if v > MAX_FRACTION]:
                problems.append(
                    f"{label_file}:{number}: values {', '.join(f'{v:g}' for v in over[:4])} are over 1 (pixels?); "
                    "YOLO labels must be normalised by the image width/height: divide x and w by W, y and h by H"
                )
        else:
            problems.append(f"{label_file}:{number}: {len(fields)} values; a YOLO box line has 5")
    return lines


def _box(values: list[float]) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)`` of a box line's values, or of a polygon's bounding box."""
    if len(values) == 4:
        cx, cy, w, h = values
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    xs, ys = values[0::2], values[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def labelled_images(
    folders: Sequence[tuple[str | None, Path]], include: tuple[str, ...], exclude: tuple[str, ...], root: Path
) -> Iterator[tuple[str | None, Path, Path]]:
    """``(split, image, its label file)`` of every selected image of ``folders`` (images folders, or list files
    read against the dataset folder ``root``), in order."""
    for split, images in folders:
        if images.is_file():
            _warn_missing(images, root)
            for image in listed_images(images, root):
                if file_suffix(image) in IMAGE_SUFFIXES and name_selected(image.name, include, exclude):
                    yield split, image, label_file_of(image)
            continue
        labels = _labels_folder(images)
        by_name: dict[str, Path] | None = None
        for image in sorted(p for p in walk_tree(images) if p.is_file()):
            if file_suffix(image) in IMAGE_SUFFIXES and name_selected(image.name, include, exclude):
                label = labels / image.relative_to(images).with_suffix(".txt")
                if not label.is_file():  # images in sub-folders, their labels side by side (FracAtlas's
                    by_name = _by_name(label_files(images, root)) if by_name is None else by_name  # Fractured/)
                    label = by_name.get(image.stem, label)
                yield split, image, label


def _by_name(files: Sequence[Path]) -> dict[str, Path]:
    """``files`` by their name without suffix, the names found once only."""
    found: dict[str, list[Path]] = {}
    for path in files:
        found.setdefault(path.stem, []).append(path)
    return {stem: paths[0] for stem, paths in found.items() if len(paths) == 1}


def case_id_of(image: Path, root: Path) -> str:
    """An image's case id: its path below the dataset folder (``../`` first for a folder the YAML names
    elsewhere)."""
    return Path(os.path.relpath(image, root)).as_posix()


def unnamed_ids(ids: set[int], names: Sequence[str]) -> str | None:
    """The problem of class ids without a name, or ``None``."""
    unnamed = sorted(i for i in ids if not 0 <= i < len(names))
    return (
        f"class id(s) {unnamed} have no name (names: {list(names)}); fix the labels or the YAML 'names'"
        if unnamed
        else None
    )


def required_size(image: Path) -> tuple[int, int]:
    """``(height, width)`` of an image from its header, needed to turn YOLO's fractions into pixels.

    Raises:
        DatasetError: the header does not give it.
    """
    size = image_size(image)
    if size is None:
        raise DatasetError(f"{image}: its size cannot be read from its header, so YOLO's fractions cannot be used")
    return size


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    class_names: Sequence[str] | None = None,
) -> DetectionDataset:
    """Read a YOLO folder (label files and image headers; no pixels).

    Args:
        path: the dataset folder, or its YAML (:func:`dataset_folder`).
        include: file-name patterns an image must match to be kept.
        exclude: file-name patterns of images to skip.
        class_names: the class of each id, in id order (default: the YAML's ``names``, else ``class_<id>``).

    Raises:
        DatasetError: no images folder with a labels twin, a malformed label line, a line in pixels (a value over
            1), or a class id without a name; the message names the files and lines.
    """
    given, path = path, dataset_folder(path)
    folders = split_folders(path, given)
    if not folders:
        raise DatasetError(
            f"{path} holds no boxes medimg reads: not a YOLO folder (images/ beside labels/, optionally per split), "
            "nor Pascal VOC (Annotations/*.xml named like their images), COCO JSON, a CSV of boxes "
            "(path,x1,y1,x2,y2,label), LabelMe, CVAT or Label Studio exports; convert the boxes to one of these (boxes "
            "per DICOM slice or in another tool's format: a CSV of boxes naming each slice's file)"
        )
    names = list(class_names) if class_names is not None else class_names_from_yaml(path, given)
    problems: list[str] = []
    entries = [
        (split, image, [(cls, *_box(values)) for _, cls, values in read_label_lines(label_file, problems)])
        for split, image, label_file in labelled_images(folders, include, exclude, path)
    ]
    ids = {obj[0] for *_, objects in entries for obj in objects}
    if names is None:
        names = [f"class_{i}" for i in range(max(ids, default=0) + 1)]
        logger.warning("%s: no YAML with class names (data.yaml 'names'): classes are named %s", path, names)
    if (unnamed := unnamed_ids(ids, names)) is not None:
        problems.append(unnamed)
    if problems:
        raise problems_error(path, problems, "label problem(s)")
    if not entries:
        raise DatasetError(f"{path}: the images folders hold no images")
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, int]] = {}
    for split, image, objects in entries:
        case_id = case_id_of(image, path)
        size = required_size(image) if objects else image_size(image)
        height, width = size or (1, 1)
        raw = [(x1 * width, y1 * height, x2 * width, y2 * height, cls) for cls, x1, y1, x2, y2 in objects]
        boxes, found = clean_boxes(raw, size, names, file=str(image), image=case_id)
        issues += found
        if size is not None:
            sizes[case_id] = size
        cases.append(Case(case_id=case_id, label=None, split=split, path=image, boxes=boxes))
    log_issues(issues, path)
    return DetectionDataset(
        name=dataset_name(path),
        root=path,
        source="yolo",
        class_names=names,
        cases=cases,
        box_issues=issues,
        image_sizes=sizes,
    )
