"""COCO detection JSON: ``images``, ``annotations`` (``bbox`` ``[x, y, width, height]``; corners ``[x1, y1, x2, y2]``
when the image sizes show it, as MIDOG 2021's ``MIDOG.json`` has them) and ``categories``.

The path is one COCO JSON file, or a folder holding them (``annotations/instances_train.json`` ..., ``Annotations/``
in any case; or ``*.json`` at its top; or Roboflow's ``<split>/_annotations.coco.json`` beside each split's images).
With several files, the split comes from each file's name (``train``, ``val``, ``test``, as in
``instances_val2017.json``). Image ``file_name`` entries are resolved against, in order: the JSON's folder, its
parent, ``images/`` and ``images/<split name>/`` beside it, and the folder named like the file's suffix
(``train2017/`` for ``instances_train2017.json``); else by name anywhere under the data folder (the folder above
``annotations/`` for a JSON given from it).

Class names come from ``categories`` (ordered by id); boxes are clipped to the image's ``width``/``height``
(which must be the file's own, read from its header: a JSON made on another resolution is refused), degenerate
and duplicate boxes and ``iscrowd`` regions dropped and reported. Images without annotations are images without
objects. A missing image, an empty or malformed file, or an annotation naming an unknown category or image is a
:class:`~medimg.errors.DatasetError` naming the file.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medimg.data.case import Case, normalise_split
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import BoxIssue, DetectionDataset, clean_boxes, image_size, log_issues
from medimg.data.layouts.common import name_selected, problems_error, sub_folders, text_head
from medimg.errors import DatasetError
from medimg.io.inputs import shell_quoted

logger = logging.getLogger(__name__)

SNIFF_BYTES = 1 << 16


def _looks_like_coco(file: Path) -> bool:
    """A ``.json`` file whose start names ``images`` and (``annotations`` or ``categories``); reads 64 KiB."""
    if file.suffix.lower() != ".json" or not file.is_file():
        return False
    head = text_head(file, SNIFF_BYTES)
    return '"images"' in head and ('"annotations"' in head or '"categories"' in head)


def _json_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if _looks_like_coco(path) else []
    if not path.is_dir():
        return []
    found: list[Path] = []
    annotations = next((p for p in sub_folders(path, 500) if p.name.lower() == "annotations"), path / "annotations")
    # annotations/ or the one folder inside it holding COCO files (LIVECell's annotations/LIVECell/
    # livecell_coco_train.json, beside LIVECell_single_cells/<cell type>/train.json), or the top
    inner = sorted(p for p in annotations.iterdir() if p.is_dir()) if annotations.is_dir() else []
    if len(inner) > 1:
        inner = [d for d in inner if any(_looks_like_coco(p) for p in itertools.islice(d.iterdir(), 500))]
    for folder in (annotations, *(inner if len(inner) == 1 else []), path):
        if folder.is_dir():
            try:
                entries = sorted(itertools.islice(folder.iterdir(), 500))
            except OSError:
                continue
            found += [p for p in entries if _looks_like_coco(p)]
        if found:
            break
    if not found:  # Roboflow's COCO export: <split>/_annotations.coco.json beside the split's images
        for split_folder in sorted(p for p in path.iterdir() if p.is_dir() and normalise_split(p.name)):
            found += sorted(p for p in split_folder.glob("*.json") if _looks_like_coco(p))
    return found


def detect(path: Path) -> bool:
    """A COCO JSON file, or a folder with COCO JSON files in ``annotations/`` or at its top."""
    return bool(_json_files(path))


#: a word naming a set for evaluation: the test split where another file is the validation split
_EVAL_WORD = re.compile(r"(?:^|[^a-z])eval(?:uation)?(?:[^a-z]|$)", re.IGNORECASE)


def _split_of(file: Path, several: bool) -> str | None:
    """The split a file's name says (``instances_val2017``), else its folder's (Roboflow's ``valid/``)."""
    if not several:
        return None
    for word in re.split(r"[^a-z]+", file.stem.lower()):
        split = normalise_split(word)
        if split:
            return split
    return normalise_split(file.parent.name)


def _image_path(file: Path, file_name: str, split: str | None) -> Path | None:
    base = file.parent
    stem_words = file.stem.split("_", 1)
    candidates = [base / file_name, base.parent / file_name, base / "images" / file_name]
    candidates += [base.parent / "images" / file_name]
    # TBX11K's annotations/json/TBX11K_train.json of imgs/tb/tb0003.png, two folders up
    candidates += [folder / file_name for folder in (base / "imgs", base.parent / "imgs", base.parent.parent)]
    candidates += [base.parent.parent / name / file_name for name in ("images", "imgs")]
    if split:
        candidates += [base.parent / "images" / split / file_name, base / "images" / split / file_name]
    if len(stem_words) == 2:
        candidates += [base.parent / stem_words[1] / file_name, base / stem_words[1] / file_name]
        candidates += [base.parent / "images" / stem_words[1] / file_name]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None and not Path(file_name).parent.parts:  # one folder of images beside the JSON (DENTEX's xrays/)
        folders = sorted(p for p in base.iterdir() if p.is_dir())
        found = next((f / file_name for f in folders if (f / file_name).is_file()), None)
    return found


def read_documents(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The COCO files of ``path`` (see the module docstring), parsed.

    Raises:
        DatasetError: none found, or one is empty or malformed.
    """
    if path.is_file() and path.suffix.lower() == ".json":
        files = [path]  # named explicitly: read it, and say what is wrong with it
    elif (path / "annotations").is_dir() and _json_files(path):
        files = sorted(p for p in (path / "annotations").iterdir() if p.suffix.lower() == ".json") or _json_files(path)
    else:
        files = _json_files(path)
    if not files:
        raise DatasetError(f"{path}: no COCO JSON file (with 'images' and 'annotations') found")
    return [(file, _read(file)) for file in files]


def category_names(documents: Sequence[tuple[Path, dict[str, Any]]]) -> list[str]:
    """The classes of the files' categories, by id (a name across files once), without unused parents.

    Raises:
        DatasetError: a category without a name.
    """
    categories: dict[str, int] = {}  # name -> smallest id seen, for the order
    for file, data in documents:
        for category in data.get("categories") or []:
            name = str(category.get("name", "")).strip()
            if not name:
                raise DatasetError(f"{file}: a category has no name")
            categories[name] = min(categories.get(name, int(category.get("id", 0))), int(category.get("id", 0)))
    categories = _without_unused_parents(categories, documents)
    return sorted(categories, key=lambda n: (categories[n], n))


def _without_unused_parents(
    categories: dict[str, int], documents: Sequence[tuple[Path, dict[str, Any]]]
) -> dict[str, int]:
    """``categories`` without those that only name the supercategory of others and hold no annotation (Roboflow
    exports the dataset's name as category 0: ``cells`` above ``RBC`` and ``WBC``), which would be classes no box
    ever has."""
    used: set[str] = set()
    parents: set[str] = set()
    for _, data in documents:
        by_id = {c.get("id"): str(c.get("name", "")).strip() for c in data.get("categories") or []}
        used |= {by_id.get(a.get("category_id"), "") for a in data.get("annotations") or []}
        parents |= {
            str(c.get("supercategory", "")).strip()
            for c in data.get("categories") or []
            if str(c.get("supercategory", "")).strip() != str(c.get("name", "")).strip()
        }
    unused = {name for name in categories if name in parents and name not in used}
    if unused:
        logger.info("COCO categories %s only name others' supercategory and hold no box: not classes", sorted(unused))
    return {name: i for name, i in categories.items() if name not in unused}


def _read(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{file}: cannot read the COCO file ({error})") from error
    if not text.strip():
        raise DatasetError(f"{file}: the COCO annotation file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{file}: not valid JSON ({error})") from error
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{file}: not a COCO detection file (needs 'images', 'annotations' and 'categories')")
    annotations = data.get("annotations")
    if isinstance(annotations, dict):  # LIVECell's train and val files: the annotations keyed by their id
        data = {**data, "annotations": list(annotations.values())}
    if not all(isinstance(a, dict) for a in data.get("annotations") or []):
        raise DatasetError(
            f"{file}: its 'annotations' are not a list of objects (each with image_id, bbox, category_id): not a "
            "COCO annotation file medimg reads; re-export it as COCO"
        )
    return _deepest_categories(file, data)


_LEVEL = re.compile(r"categories_(\d+)")


def _deepest_categories(file: Path, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the deepest of its levels of categories as its ``categories`` when it has levels instead
    (DENTEX's ``categories_1`` quadrants, ``categories_2`` tooth numbers, ``categories_3`` diagnoses, each annotation
    with ``category_id_1``..``_3``): the diagnoses are the classes; said in an INFO line."""
    if data.get("categories"):
        return data
    levels = sorted(int(m.group(1)) for key in data if (m := _LEVEL.fullmatch(key)) and isinstance(data[key], list))
    if not levels:
        return data
    level = levels[-1]
    names = [str(c.get("name", "")) for c in data[f"categories_{level}"] if isinstance(c, dict)]
    logger.info(
        "%s: levels of categories %s; the classes are categories_%d (%s), the last level",
        file,
        ", ".join(f"categories_{n}" for n in levels),
        level,
        ", ".join(names[:6]),
    )
    annotations = [
        {**a, "category_id": a.get(f"category_id_{level}")} if isinstance(a, dict) else a
        for a in data.get("annotations") or []
    ]
    return {**data, "categories": data[f"categories_{level}"], "annotations": annotations}


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    class_names: Sequence[str] | None = None,
) -> DetectionDataset:
    """Read COCO detection JSON (annotations and paths only).

    Args:
        path: a COCO JSON file or a folder of them (see the module docstring).
        include: file-name patterns an image must match to be kept.
        exclude: file-name patterns of images to skip.
        class_names: the expected classes, in this order; a category of another name is an error. Default: the
            files' categories, by id.

    Raises:
        DatasetError: no COCO file, an empty or malformed one, an annotation naming an unknown category or image,
            or images that do not exist; the message names the files.
    """
    documents = read_documents(path)
    names = list(class_names) if class_names is not None else category_names(documents)
    index = {name: i for i, name in enumerate(names)}
    problems: list[str] = []
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, int]] = {}
    root = path if path.is_dir() else path.parent
    # a JSON given from its annotations/ folder (EVICAN's Annotations/ beside Images/EVICAN_train2019/): the images
    # are looked for by name beside that folder
    by_name = ImagesByName(root.parent if root.name.lower() == "annotations" else root)
    split_of = {file: _split_of(file, len(documents) > 1) for file, _ in documents}
    if "val" in split_of.values():  # EVICAN's instances_eval2019 beside _train2019 and _val2019: its test split
        split_of = {
            file: split or ("test" if _EVAL_WORD.search(file.stem) else None) for file, split in split_of.items()
        }
    listed_in: dict[str, list[Path]] = {}  # image -> the COCO files listing it
    for file, data in documents:
        split = split_of[file]
        category_name = {int(c["id"]): str(c.get("name", "")).strip() for c in data.get("categories") or []}
        annotated = {category_name.get(a.get("category_id"), "") for a in data.get("annotations") or []}
        for name in sorted((set(category_name.values()) & annotated) - set(index)):
            problems.append(f"{file}: category {name!r} is not in class_names {names}")
        per_image: dict[int, list[tuple[float, float, float, float, int]]] = {}
        crowd: dict[int, list[tuple[str, tuple[float, float, float, float]]]] = {}
        images = {int(image["id"]): image for image in data["images"] if "id" in image}
        corners = _corner_boxes(file, data, images)
        for annotation in data.get("annotations") or []:
            image_id, category_id = annotation.get("image_id"), annotation.get("category_id")
            if image_id not in images:
                problems.append(f"{file}: annotation {annotation.get('id')} names image id {image_id}, not in images")
                continue
            if category_id not in category_name:
                problems.append(
                    f"{file}: annotation {annotation.get('id')} names category id {category_id}, not in categories"
                )
                continue
            bbox = annotation.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4:
                problems.append(f"{file}: annotation {annotation.get('id')} has no bbox [x, y, width, height]")
                continue
            x, y, w, h = (float(v) for v in bbox)
            if corners:  # [x1, y1, x2, y2]
                w, h = w - x, h - y
            name = category_name[category_id]
            if name not in index:
                continue
            if annotation.get("iscrowd"):
                crowd.setdefault(image_id, []).append((name, (x, y, x + w, y + h)))
                continue
            per_image.setdefault(image_id, []).append((x, y, x + w, y + h, index[name]))
        for image_id, image in images.items():
            located = locate_image(file, image, split, root, include, exclude, problems, by_name)
            if located is None:
                continue
            found, case_id, size = located
            boxes, found_issues = clean_boxes(per_image.get(image_id, []), size, names, file=str(file), image=case_id)
            issues += found_issues
            issues += [BoxIssue(str(file), case_id, "crowd", n, b) for n, b in crowd.get(image_id, [])]
            if size is not None:
                sizes[case_id] = size
            cases.append(Case(case_id=case_id, label=None, split=split, path=found, boxes=boxes))
            listed_in.setdefault(case_id, []).append(file)
    if problems:
        raise problems_error(path, problems, "annotation problem(s)")
    if len({c.case_id for c in cases}) != len(cases):
        raise _listed_twice_error(path, listed_in)
    if cases and any(c.split for c in cases) and not all(c.split for c in cases):
        logger.warning("%s: some COCO files name no split; the data's own split is not used", path)
        cases = [Case(c.case_id, None, None, None, c.path, boxes=c.boxes) for c in cases]
    log_issues(issues, path)
    return DetectionDataset(
        name=dataset_name(path if path.is_dir() else path.parent),
        root=path,
        source="coco",
        class_names=names,
        cases=cases,
        box_issues=issues,
        image_sizes=sizes,
    )


def _listed_twice_error(path: Path, listed_in: dict[str, list[Path]]) -> DatasetError:
    """The error for images listed by several COCO files (TBX11K's ``TBX11K_train.json`` beside
    ``TBX11K_trainval.json`` and ``all_train.json``, which list its images again): the files, an image, the fix."""
    twice = {image: files for image, files in listed_in.items() if len(files) > 1}
    image, files = next(iter(twice.items()))
    clashing = sorted({file.name for files in twice.values() for file in files})
    return DatasetError(
        f"{path}: {len(twice)} image(s) are listed by more than one COCO file (e.g. {image} in "
        f"{' and '.join(f.name for f in files)}; files listing images again: {', '.join(clashing)}): they hold the "
        "same images split otherwise (train+val, all). Keep one set of files (each image in one), e.g. move the others "
        f"out of {files[0].parent}, or give one file: medimg fit "
        f"{shell_quoted(str(files[0]))}"
    )


#: a COCO file's boxes are corners ``[x1, y1, x2, y2]`` when, read as ``[x, y, width, height]``, at least this share
#: of them run outside their image, and read as corners none does
CORNER_SHARE = 0.2


def _corner_boxes(file: Path, data: dict[str, Any], images: dict[int, dict[str, Any]]) -> bool:
    """Whether ``file``'s ``bbox`` values are corners ``[x1, y1, x2, y2]`` (MIDOG 2021's ``MIDOG.json``), not COCO's
    ``[x, y, width, height]``, by the image sizes the file gives (:data:`CORNER_SHARE`); said once per file."""
    known: list[tuple[list[float], float, float]] = []
    for annotation in data.get("annotations") or []:
        image, bbox = images.get(annotation.get("image_id")), annotation.get("bbox")
        if image is None or not isinstance(bbox, list) or len(bbox) != 4:
            continue
        try:
            box = [float(v) for v in bbox]
            width, height = float(image.get("width") or 0), float(image.get("height") or 0)
        except (TypeError, ValueError):
            continue
        if width > 0 and height > 0:
            known.append((box, width, height))
    outside = sum(b[0] + b[2] > w + 1 or b[1] + b[3] > h + 1 for b, w, h in known)
    if not known or outside < CORNER_SHARE * len(known):
        return False
    if not all(b[0] < b[2] <= w + 1 and b[1] < b[3] <= h + 1 for b, w, h in known):
        return False
    logger.warning(
        "%s: its bbox values are corners [x1, y1, x2, y2] (MIDOG's), not COCO's [x, y, width, height]: read as "
        "[x, y, width, height], %d of %d boxes run outside their image; read as corners, none does",
        file,
        outside,
        len(known),
    )
    return True


def locate_image(
    file: Path,
    image: dict[str, Any],
    split: str | None,
    root: Path,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    problems: list[str],
    names: ImagesByName | None = None,
) -> tuple[Path, str, tuple[int, int] | None] | None:
    """``(image file, case id, (height, width) or None)`` of one ``images`` entry of ``file``; ``None`` when the
    patterns leave it out or it is not found (then added to ``problems``). ``names``: the data's images by name, for
    a file name found nowhere beside the JSON (LIVECell's ``images/livecell_train_val_images/``)."""
    file_name = str(image.get("file_name", ""))
    if not name_selected(Path(file_name).name, include, exclude):
        return None
    found = _image_path(file, file_name, split)
    if found is None and names is not None:
        found = names.find(file_name)
    if found is None:
        problems.append(f"{file}: image {file_name!r} (id {image.get('id')}) not found beside the JSON")
        return None
    width, height = int(image.get("width") or 0), int(image.get("height") or 0)
    header = image_size(found)  # the file's own size (no pixels decoded): the JSON's may be another resolution's
    if header is not None and width > 0 and height > 0 and header != (height, width):
        problems.append(
            f"{file}: image {file_name!r} (id {image.get('id')}) is {header[1]}x{header[0]} px (width x height) in "
            f"{found} but {width}x{height} in the JSON: its annotations were made on another resolution (or belong "
            "to another file), so they would be placed wrongly; write the file's width and height into the JSON and "
            f"scale its bbox/segmentation by {header[1] / width:.4g} (x) and {header[0] / height:.4g} (y), or point "
            "it at the images it was made on"
        )
        return None
    return found, _case_id(found, root), (height, width) if width > 0 and height > 0 else header


class ImagesByName:
    """The image files under a data folder by file name, listed on first use; a name found twice is not used."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._found: dict[str, Path | None] | None = None

    def find(self, file_name: str) -> Path | None:
        if self._found is None:
            from medimg.io.folder_walk import walk_tree
            from medimg.io.formats import is_image_file

            self._found = {}
            for file in itertools.islice(walk_tree(self.root), 500_000):
                if is_image_file(file):
                    self._found[file.name] = None if file.name in self._found else file
        return self._found.get(Path(file_name).name)


def _case_id(image: Path, root: Path) -> str:
    try:
        return image.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return image.as_posix()
