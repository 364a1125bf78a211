"""Pascal VOC detection folders: ``Annotations/*.xml`` + ``JPEGImages/``, split by ``ImageSets/Main/*.txt``.

The folder given (or its only sub-folder holding ``Annotations/``, as BCCD's ``bccd/BCCD/``) is read as:

* ``Annotations/<id>.xml``: one ``<annotation>`` per image with ``<filename>``, ``<size>`` and ``<object>`` entries
  (``<name>`` and ``<bndbox>`` ``xmin ymin xmax ymax`` in pixels). An annotation without objects is an image
  without objects (a negative).
* ``JPEGImages/``: the images; one without an XML is kept aside as unlabelled.
* ``ImageSets/Main/{train,val,test}.txt`` (ids, one a line): the official split when present (``trainval.txt``
  stands in for a missing ``train.txt``).

Asked for detection (``task="detect"``), a folder holding an ``annotations/`` folder of VOC XMLs (or its ``xml/``
sub-folder) beside an images folder (``images/``, ``imgs/``) whose images lie in sub-folders (TBX11K's
``annotations/xml/tb0001.xml`` for ``imgs/tb/tb0001.png``, ``imgs/health/`` and ``imgs/sick/`` without boxes) is read
too: each XML's image found by its ``<filename>`` anywhere in the images folder.

Boxes are clipped to the image (the ``<size>`` of the XML, else the image header), degenerate and duplicate boxes
dropped; both are reported (:class:`~medimg.data.detection.BoxIssue`). A missing image, an empty or malformed XML,
or (with ``class_names``) an object of an unknown class is a :class:`~medimg.errors.DatasetError` naming the file.
"""

from __future__ import annotations

import itertools
import logging
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from medimg.data.case import Case, normalise_split
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import BoxIssue, DetectionDataset, clean_boxes, image_size, log_issues
from medimg.data.layouts.common import (
    listed_splits,
    name_selected,
    path_selected,
    problems_error,
    sub_folders,
    text_head,
)
from medimg.errors import DatasetError
from medimg.io.folder_walk import walk_tree
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"


def _voc_root(path: Path) -> Path | None:
    """The folder holding ``Annotations/`` and ``JPEGImages/``: ``path`` or one of its sub-folders."""
    if not path.is_dir():
        return None
    candidates = [path]
    try:
        candidates += [p for p in itertools.islice(path.iterdir(), 200) if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return None
    for folder in candidates:
        if (folder / ANNOTATIONS).is_dir() and (folder / IMAGES).is_dir():
            return folder
    return None


def _holds_voc_xml(folder: Path) -> bool:
    """Whether ``folder`` holds a VOC ``<annotation>`` XML (among its first 500 entries)."""
    try:
        for entry in itertools.islice(folder.iterdir(), 500):
            if entry.suffix.lower() == ".xml" and entry.is_file() and "<annotation" in text_head(entry, 2048):
                return True
    except OSError:
        return False
    return False


#: folder names of an annotations folder and of its images folder beside it, lower case
ANNOTATION_FOLDERS = ("annotations", "annotation")
IMAGE_FOLDERS = ("images", "imgs", "img", "image")


def _annotations_beside_images(path: Path) -> tuple[Path, Path] | None:
    """``(XML folder, images folder)`` of a folder holding an ``annotations/`` folder of VOC XMLs (directly, or in
    its ``xml/``) beside an images folder (:data:`IMAGE_FOLDERS`): TBX11K's ``annotations/xml/`` + ``imgs/``."""
    folders = {p.name.lower(): p for p in sub_folders(path)}
    images = next((folders[name] for name in IMAGE_FOLDERS if name in folders), None)
    notes = next((folders[name] for name in ANNOTATION_FOLDERS if name in folders), None)
    if images is None or notes is None:
        return None
    for xml_dir in (notes, *(p for p in sub_folders(notes) if p.name.lower() == "xml")):
        if _holds_voc_xml(xml_dir):
            return xml_dir, images
    return None


def detect_asked(path: Path) -> bool:
    """With detection asked for: also an annotations folder of VOC XMLs beside an images folder whose images lie in
    sub-folders (:func:`_annotations_beside_images`); without, such a folder reads as its image classes."""
    return _annotations_beside_images(path) is not None


def _paired_folders(path: Path) -> list[tuple[str | None, Path]]:
    """``(split, folder)`` of the folders holding each image's XML beside it (Roboflow's VOC export:
    ``train/``, ``valid/``, ``test/``; or ``path`` itself)."""
    if not path.is_dir():
        return []
    splits = [(normalise_split(p.name), p) for p in sorted(path.iterdir()) if p.is_dir()]
    found: list[tuple[str | None, Path]] = [
        (split, folder) for split, folder in splits if split and _holds_voc_xml(folder)
    ]
    return found or ([(None, path)] if _holds_voc_xml(path) else [])


def detect(path: Path) -> bool:
    """A folder (or its sub-folder) with ``Annotations/`` holding ``.xml`` files and ``JPEGImages/``, or folders
    holding each image's XML beside it (:func:`_paired_folders`)."""
    root = _voc_root(path)
    if root is None:
        return bool(_paired_folders(path))
    try:
        return any(p.suffix.lower() == ".xml" for p in itertools.islice((root / ANNOTATIONS).iterdir(), 500))
    except OSError:
        return False


def _text(element: ET.Element | None, tag: str) -> str:
    found = element.find(tag) if element is not None else None
    return (found.text or "").strip() if found is not None and found.text else ""


def _find_image(images: Path, filename: str, stem: str, by_name: dict[str, Path] | None = None) -> Path | None:
    """The image an XML names in ``images`` (by its ``<filename>``, else the XML's name with an image suffix), or,
    given ``by_name`` (images anywhere below, by lower-case name), found there."""
    if by_name is not None:
        names = [filename, *(f"{stem}{suffix}" for suffix in IMAGE_SUFFIXES)]
        return next((by_name[name.lower()] for name in names if name and name.lower() in by_name), None)
    if filename and (images / filename).is_file():
        return images / filename
    for base in dict.fromkeys([Path(filename).stem if filename else stem, stem]):
        for suffix in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".JPG", ".PNG"):
            if (images / f"{base}{suffix}").is_file():
                return images / f"{base}{suffix}"
    return None


_Parsed = tuple[Path, Path, str, tuple[int, int] | None, list[tuple[str, tuple[float, ...]]], str | None]
"""One VOC XML read: ``(xml, image, id, size (height, width) or None, [(class, corners)], split of its folder)``."""


def _parse_folder(
    xml_dir: Path,
    images_dir: Path,
    split: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    problems: list[str],
    *,
    nested: bool = False,
) -> list[_Parsed]:
    """``(xml, image, id, size, objects, split)`` of every VOC XML in ``xml_dir`` whose image is in ``images_dir``
    (or below it, ``nested``); what is wrong with a file is added to ``problems``."""
    parsed: list[_Parsed] = []
    by_name = {p.name.lower(): p for p in _images_below(images_dir)} if nested else None
    for xml in sorted(xml_dir.glob("*.xml")):
        try:
            text = xml.read_text(encoding="utf-8", errors="replace")
            if not text.strip():
                problems.append(f"{xml}: the file is empty")
                continue
            tree = ET.fromstring(text)
        except (OSError, ET.ParseError) as error:
            problems.append(f"{xml}: not a readable VOC XML ({error})")
            continue
        filename = _text(tree, "filename")
        image = _find_image(images_dir, filename, xml.stem, by_name)
        if image is None:
            problems.append(f"{xml}: its image {filename or xml.stem + '.*'} is not in {images_dir}")
            continue
        if not name_selected(image.name, include, exclude):
            continue
        size_node = tree.find("size")
        try:
            width, height = int(float(_text(size_node, "width") or 0)), int(float(_text(size_node, "height") or 0))
        except ValueError:
            width = height = 0
        size = (height, width) if width > 0 and height > 0 else image_size(image)
        objects: list[tuple[str, tuple[float, ...]]] = []
        for obj in tree.findall("object"):
            name = _text(obj, "name")
            box = obj.find("bndbox")
            try:
                corners = tuple(float(_text(box, tag)) for tag in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError:
                problems.append(f"{xml}: object {name!r} has no numeric bndbox xmin/ymin/xmax/ymax")
                continue
            if not name:
                problems.append(f"{xml}: an object has no <name>")
                continue
            objects.append((name, corners))
        parsed.append((xml, image, xml.stem, size, objects, split))
    return parsed


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    class_names: Sequence[str] | None = None,
) -> DetectionDataset:
    """Read a Pascal VOC folder (annotations and paths only; image headers only where the XML lacks a size).

    Args:
        path: the VOC folder, or a folder whose sub-folder is one (``bccd/`` holding ``BCCD/``).
        include: file-name patterns an image must match to be kept.
        exclude: file-name patterns of images to skip.
        class_names: the expected classes, in this order; an object of another class is an error. Default:
            every class found, alphabetically.

    Raises:
        DatasetError: no VOC folder, an XML that is empty or malformed, an XML whose image is missing, or an
            object of a class outside ``class_names``; the message names the files.
    """
    root = _voc_root(path)
    paired = _paired_folders(path) if root is None else []
    beside = _annotations_beside_images(path) if root is None and not paired else None
    if root is not None:
        sources: list[tuple[str | None, Path, Path]] = [(None, root / ANNOTATIONS, root / IMAGES)]
        split_of = listed_splits(root / "ImageSets" / "Main")
    elif beside is not None:
        sources, split_of, root = [(None, *beside)], {}, path
        logger.info("%s: VOC annotations in %s for the images in %s", path, *(p.relative_to(path) for p in beside))
    else:
        sources = [(split, folder, folder) for split, folder in paired]
        split_of = {}
        root = path
    if not sources:
        raise DatasetError(
            f"{path} is not a Pascal VOC folder: expected Annotations/*.xml beside JPEGImages/, or each image's XML "
            "beside it"
        )
    parsed: list[_Parsed] = []
    problems: list[str] = []
    for source_split, xml_dir, images_dir in sources:
        parsed += _parse_folder(xml_dir, images_dir, source_split, include, exclude, problems, nested=bool(beside))
    found = {name for *_, objects, _ in parsed for name, _ in objects}

    if class_names is not None:
        names = list(class_names)
        for xml, *_, objects, _ in parsed:
            unknown = sorted({name for name, _ in objects} - set(names))
            if unknown:
                problems.append(f"{xml}: class(es) {', '.join(map(repr, unknown))} not in class_names {names}")
    else:
        names = sorted(found)
    if problems:
        raise problems_error(
            root,
            problems,
            "annotation problem(s)",
            "Fix or remove those annotation files (an XML needs its image in JPEGImages/, or beside it).",
        )
    index = {name: i for i, name in enumerate(names)}
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, int]] = {}
    annotated: set[Path] = set()
    for xml, image, ident, size, objects, own_split in parsed:
        case_id = image.relative_to(path).as_posix()
        boxes, found_issues = clean_boxes(
            [(*corners, index[name]) for name, corners in objects],  # type: ignore[misc]
            size,
            names,
            file=str(xml),
            image=case_id,
        )
        issues += found_issues
        if size is not None:
            sizes[case_id] = size
        annotated.add(image)
        split = split_of.get(ident) or own_split
        cases.append(Case(case_id=case_id, label=None, split=split, path=image, boxes=boxes))
    pool = [
        Case(case_id=p.relative_to(path).as_posix(), label=None, path=p)
        for _, _, images_dir in sources
        for p in (_images_below(images_dir) if beside else sorted(images_dir.iterdir()))
        if p not in annotated and file_suffix(p) in IMAGE_SUFFIXES and path_selected(p, include, exclude, path)
    ]
    if pool:
        logger.info("%s: %d image(s) without an annotation are kept aside as unlabelled", root, len(pool))
    if split_of and cases and not all(c.split for c in cases):
        missing = [c.case_id for c in cases if not c.split]
        kept = 2 * len(missing) <= len(cases)  # a few strays (BCCD's) do not undo the lists' split of the rest
        logger.warning(
            "%s: %d annotated image(s) are in no ImageSets/Main list (e.g. %s): %s",
            root,
            len(missing),
            missing[0],
            "the lists' split is kept and these train (add them to a list to place them elsewhere)"
            if kept
            else "the official split is not used (the lists name fewer than half of the images)",
        )
        cases = [
            Case(c.case_id, None, (c.split or "train") if kept else None, None, c.path, boxes=c.boxes) for c in cases
        ]
    log_issues(issues, root)
    return DetectionDataset(
        name=dataset_name(path),
        root=path,
        source="voc",
        class_names=names,
        cases=cases,
        unlabelled=pool,
        box_issues=issues,
        image_sizes=sizes,
    )


def _images_below(folder: Path) -> list[Path]:
    """The image files anywhere below ``folder``, sorted."""
    return sorted(p for p in walk_tree(folder) if file_suffix(p) in IMAGE_SUFFIXES and p.is_file())
