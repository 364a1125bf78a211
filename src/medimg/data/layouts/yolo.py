"""YOLO detection folders (Ultralytics, Roboflow exports): images beside ``labels/*.txt`` of normalised boxes.

Three arrangements are read, the split folders named as everywhere in medimg (``train``, ``valid``/``val``,
``test``...):

* Roboflow's ``<split>/images/`` + ``<split>/labels/``;
* Ultralytics' ``images/<split>/`` + ``labels/<split>/``;
* one ``images/`` + ``labels/`` without splits.

An image's labels are the ``.txt`` of the same name in the matching ``labels`` folder (Ultralytics' rule), one
object a line: ``class x_center y_center width height`` as fractions of the image size, or a YOLO segmentation
polygon ``class x1 y1 x2 y2 ...`` (its bounding box is used). An image without a ``.txt``, or with an empty one,
has no objects (a negative, as in Ultralytics). Class names come from the ``names`` of a ``data.yaml`` (or any
``*.yaml`` holding ``names``) in the folder or its parent, else ``class_<id>``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from medimg.data.case import Case, normalise_split
from medimg.data.detection import BoxIssue, DetectionDataset, clean_boxes, image_size, log_issues
from medimg.data.layouts.common import name_selected, problems_error
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

IMAGES, LABELS = "images", "labels"


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


def _labels_folder(images: Path) -> Path:
    """The ``labels`` twin of an ``images`` folder (``.../images/train`` -> ``.../labels/train``)."""
    if images.name == IMAGES:
        return images.parent / LABELS
    return images.parent.parent / LABELS / images.name


def _has_text_file(folder: Path) -> bool:
    with os.scandir(folder) as listing:
        return any(entry.name.lower().endswith(".txt") and entry.is_file() for entry in listing)


def dataset_folder(path: Path) -> Path:
    """The folder of a YOLO dataset given as its YAML (``medimg fit data.yaml``, as ``yolo train data=...``): the
    YAML's ``path`` when it names a folder (relative to the YAML), else the YAML's own folder; a folder as it is."""
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        return path
    import yaml

    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as error:
        raise DatasetError(f"{path}: not a readable YAML file ({error})") from error
    named = content.get("path") if isinstance(content, dict) else None
    if isinstance(named, str) and named.strip():
        folder = (path.parent / named).expanduser()
        if folder.is_dir():
            return folder
    return path.parent


def detect(path: Path) -> bool:
    """Images folders with ``labels`` twins holding ``.txt`` files (masks there would be segmentation data), or a
    dataset YAML beside (or naming) such folders."""
    folders = _image_folders(dataset_folder(path))
    return bool(folders) and any(_has_text_file(_labels_folder(images)) for _, images in folders)


def class_names_from_yaml(root: Path) -> list[str] | None:
    """The ``names`` of a YOLO dataset YAML in ``root`` or its parent (a list, or ``{id: name}``), else ``None``.

    Raises:
        DatasetError: the YAML cannot be parsed.
    """
    import yaml

    candidates = [root / "data.yaml", root / "dataset.yaml", *sorted(root.glob("*.yaml")), root.parent / "data.yaml"]
    for candidate in dict.fromkeys(candidates):
        if not candidate.is_file():
            continue
        try:
            content = yaml.safe_load(candidate.read_text(encoding="utf-8", errors="replace"))
        except yaml.YAMLError as error:
            raise DatasetError(f"{candidate}: not a readable YAML file ({error}); fix it or remove it") from error
        names = content.get("names") if isinstance(content, dict) else None
        if isinstance(names, dict):
            return [str(names[key]) for key in sorted(names, key=int)]
        if isinstance(names, list):
            return [str(name) for name in names]
    return None


def _read_objects(label_file: Path, problems: list[str]) -> list[tuple[int, float, float, float, float]]:
    """``(class id, x1, y1, x2, y2)`` in fractions of the image size, from one YOLO label file."""
    objects: list[tuple[int, float, float, float, float]] = []
    if not label_file.is_file():
        return objects
    for number, line in enumerate(label_file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls, values = int(float(fields[0])), [float(v) for v in fields[1:]]
        except ValueError:
            problems.append(f"{label_file}:{number}: not 'class x_center y_center width height' numbers")
            continue
        if len(values) == 4:
            cx, cy, w, h = values
            objects.append((cls, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        elif len(values) >= 6 and len(values) % 2 == 0:  # a segmentation polygon: its bounding box
            xs, ys = values[0::2], values[1::2]
            objects.append((cls, min(xs), min(ys), max(xs), max(ys)))
        else:
            problems.append(f"{label_file}:{number}: {len(fields)} values; a YOLO box line has 5")
    return objects


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
        DatasetError: no images folder with a labels twin, a malformed label line, or a class id without a name;
            the message names the files and lines.
    """
    path = dataset_folder(path)
    folders = _image_folders(path)
    if not folders:
        raise DatasetError(f"{path} is not a YOLO folder: expected images/ beside labels/ (optionally per split)")
    names = list(class_names) if class_names is not None else class_names_from_yaml(path)
    problems: list[str] = []
    entries: list[tuple[str | None, Path, list[tuple[int, float, float, float, float]]]] = []
    for split, images in folders:
        labels = _labels_folder(images)
        for image in sorted(p for p in images.rglob("*") if p.is_file()):
            if file_suffix(image) not in IMAGE_SUFFIXES or not name_selected(image.name, include, exclude):
                continue
            label_file = labels / image.relative_to(images).with_suffix(".txt")
            entries.append((split, image, _read_objects(label_file, problems)))
    ids = {obj[0] for *_, objects in entries for obj in objects}
    if names is None:
        names = [f"class_{i}" for i in range(max(ids, default=0) + 1)]
        logger.warning("%s: no YAML with class names (data.yaml 'names'): classes are named %s", path, names)
    unnamed = sorted(i for i in ids if not 0 <= i < len(names))
    if unnamed:
        problems.append(f"class id(s) {unnamed} have no name (names: {names}); fix the labels or the YAML 'names'")
    if problems:
        raise problems_error(path, problems, "label problem(s)")
    if not entries:
        raise DatasetError(f"{path}: the images folders hold no images")
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, int]] = {}
    for split, image, objects in entries:
        case_id = image.relative_to(path).as_posix()
        size = image_size(image)
        if size is None and objects:
            raise DatasetError(f"{image}: its size cannot be read from its header, so YOLO's fractions cannot be used")
        height, width = size or (1, 1)
        raw = [(x1 * width, y1 * height, x2 * width, y2 * height, cls) for cls, x1, y1, x2, y2 in objects]
        boxes, found = clean_boxes(raw, size, names, file=str(image), image=case_id)
        issues += found
        if size is not None:
            sizes[case_id] = size
        cases.append(Case(case_id=case_id, label=None, split=split, path=image, boxes=boxes))
    log_issues(issues, path)
    return DetectionDataset(
        name=path.resolve().name,
        root=path,
        source="yolo",
        class_names=names,
        cases=cases,
        box_issues=issues,
        image_sizes=sizes,
    )
