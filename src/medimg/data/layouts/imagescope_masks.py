"""Aperio ImageScope XML outlines (``<Annotations><Annotation><Regions><Region><Vertices><Vertex X= Y=>``), drawn
into label maps: MoNuSeg's ``Tissue Images/TCGA-*.tif`` + ``Annotations/TCGA-*.xml``, and the pathology sets
annotated in ImageScope; ASAP's XML alike (Camelyon's lesion annotations, :func:`_asap_layers`).

Each XML names its image by its own name (``TCGA-18-5592-01Z-00-DX1.xml`` for ``TCGA-18-5592-01Z-00-DX1.tif``),
anywhere under the data folder. An ``<Annotation>`` layer is a class, named by its ``Name``, else by its first
attribute's name (MoNuSAC's ``<Attribute Name="Epithelial">``; MoNuSeg's layers have neither, their attribute is a
``Description``: one class, ``foreground``; several unnamed layers are ``layer_<Id>``), in name order; each of its
regions is a polygon in pixels (an ellipse region, ``Type="2"``, its two corners), drawn by :mod:`.drawn_masks` into one
label map per image (``0`` background), larger regions first, and cached outside the data. A region with
``NegativeROA="1"`` is a hole: drawn as background. Images without an XML of their name are unlabelled (set
aside, as images without a mask are).
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import image_size
from medimg.data.layouts.common import (
    folder_splits,
    images_named_like,
    problems_error,
    split_of,
    text_head,
    walk_files,
)
from medimg.data.layouts.drawn_masks import DrawnObject, cache_folder, draw_label_map, mask_file, write_mask
from medimg.data.layouts.image_mask_pairs import say_images_without_masks
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, UNREAD_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

#: how many entries :func:`detect` looks at, and how many XML files it opens
DETECT_ENTRIES = 2000
DETECT_XML = 5
SNIFF_BYTES = 4096
ELLIPSE_TYPE = "2"
ELLIPSE_POINTS = 32


def _is_imagescope(xml: Path) -> bool:
    head = text_head(xml, SNIFF_BYTES)
    return "<Annotations" in head and ("<Annotation " in head or "<Annotation>" in head)


def detect(path: Path) -> bool:
    """True for a folder holding ImageScope XML files (among its first entries) and an image named like one."""
    if not path.is_dir():
        return False
    files = walk_files(path, DETECT_ENTRIES)
    xmls = [p for p in files if p.suffix.lower() == ".xml"][:DETECT_XML]
    stems = {p.stem for p in files if file_suffix(p) in IMAGE_SUFFIXES}
    return any(_is_imagescope(x) and x.stem in stems for x in xmls)


def _layers(xml: Path) -> list[tuple[str, list[tuple[list[float], bool]]]]:
    """``[(layer name, [(polygon x1 y1 x2 y2 ..., hole)])]`` of one XML file.

    Raises:
        DatasetError: not parseable XML (the message names the file).
    """
    try:
        tree = ET.parse(xml)
    except (ET.ParseError, OSError) as error:
        raise DatasetError(f"{xml}: not readable ImageScope XML ({error}); fix or remove it") from error
    if tree.getroot().tag == "ASAP_Annotations":
        return _asap_layers(tree.getroot())
    layers: list[tuple[str, list[tuple[list[float], bool]]]] = []
    for annotation in tree.getroot().iter("Annotation"):
        name = (
            (annotation.get("Name") or "").strip()
            or _attribute_name(annotation)
            or f"layer_{annotation.get('Id', len(layers) + 1)}"
        )
        regions = []
        for region in annotation.iter("Region"):
            points = [(float(v.get("X", 0)), float(v.get("Y", 0))) for v in region.iter("Vertex")]
            if region.get("Type") == ELLIPSE_TYPE and len(points) >= 2:
                points = _ellipse(points[0], points[1])
            if len(points) >= 3:
                regions.append(([c for point in points for c in point], region.get("NegativeROA") == "1"))
        layers.append((name, regions))
    return layers


#: ASAP's annotation types that are no outline (points)
ASAP_POINTS = frozenset({"dot", "pointset"})
#: Camelyon16's groups, as ``(class, hole)``: ``_0`` and ``_1`` outline metastases, ``_2`` normal tissue inside them
CAMELYON16_GROUPS = {"_0": ("metastases", False), "_1": ("metastases", False), "_2": ("metastases", True)}


def _asap_layers(root: ET.Element) -> list[tuple[str, list[tuple[list[float], bool]]]]:
    """The outlines of an ASAP XML (``<ASAP_Annotations><Annotations><Annotation PartOfGroup=...><Coordinates>
    <Coordinate Order= X= Y=>``: Camelyon16/17's lesion annotations), one layer per group (``PartOfGroup``; none:
    one unnamed layer); points (``Dot``, ``PointSet``) are no outline and left out. Read as ImageScope's, their
    ``<Coordinate>`` points were not seen: every mask empty."""
    annotations = list(root.iter("Annotation"))
    groups = {(a.get("PartOfGroup") or "").strip() for a in annotations}
    camelyon16 = bool(groups) and groups <= set(CAMELYON16_GROUPS)
    layers: dict[str, list[tuple[list[float], bool]]] = {}
    for annotation in annotations:
        if (annotation.get("Type") or "").strip().lower() in ASAP_POINTS:
            continue
        group = (annotation.get("PartOfGroup") or "").strip()
        by_group = ("layer_1" if group.lower() in ("", "none") else group, False)  # none: one unnamed layer
        name, hole = CAMELYON16_GROUPS[group] if camelyon16 else by_group
        coordinates = sorted(annotation.iter("Coordinate"), key=lambda c: float(c.get("Order", 0)))
        points = [(float(c.get("X", 0)), float(c.get("Y", 0))) for c in coordinates]
        if len(points) >= 3:
            layers.setdefault(name, []).append(([c for p in points for c in p], hole))
    return list(layers.items())


#: ``<Attribute Name=...>`` fields ImageScope writes for every layer, never a class (MoNuSeg's ``Description``)
FIELD_NAMES = frozenset({"description", "name", "comment", "comments", "notes"})


def _attribute_name(annotation: ET.Element) -> str:
    """A layer's class written as its first attribute's name (MoNuSAC's ``<Attribute Name="Epithelial">``, its layers'
    own ``Name`` empty), ``""`` when there is none or it is a generic field."""
    attributes = annotation.find("Attributes")
    first = attributes.find("Attribute") if attributes is not None else None
    name = (first.get("Name") or "").strip() if first is not None else ""
    return "" if name.lower() in FIELD_NAMES else name


def _ellipse(corner: tuple[float, float], other: tuple[float, float]) -> list[tuple[float, float]]:
    cx, cy = (corner[0] + other[0]) / 2, (corner[1] + other[1]) / 2
    rx, ry = abs(other[0] - corner[0]) / 2, abs(other[1] - corner[1]) / 2
    steps = [2 * math.pi * k / ELLIPSE_POINTS for k in range(ELLIPSE_POINTS)]
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in steps]


#: the share of an XML's vertices outside the image above which its outlines belong to another resolution
BEYOND_SHARE = 0.5
OTHER_RESOLUTION = (
    "the outlines were drawn on another resolution (a whole-slide image's full resolution, beside it as .svs or "
    ".ndpi?), and drawn on this image they would be wrong. medimg reads no whole-slide images: export the annotated "
    "region at the outlines' resolution (e.g. with QuPath or OpenSlide), or leave this image out with --exclude"
)


def _beyond_the_image(layers: list[tuple[str, list[tuple[list[float], bool]]]], size: tuple[int, int]) -> str:
    """``"its outlines reach x 61000, y 43000, but"`` when most vertices of ``layers`` lie outside an image of
    ``size`` (height, width): BACH's whole-slide XMLs found beside their slides' 20-pixel thumbnails; else ``""``."""
    xs = np.array([c for _, regions in layers for polygon, _ in regions for c in polygon[0::2]], np.float64)
    ys = np.array([c for _, regions in layers for polygon, _ in regions for c in polygon[1::2]], np.float64)
    if not xs.size:
        return ""
    height, width = size
    outside = (xs < -0.02 * width) | (xs > 1.02 * width) | (ys < -0.02 * height) | (ys > 1.02 * height)
    if outside.mean() <= BEYOND_SHARE:
        return ""
    return f"its outlines reach x {xs.max():.0f}, y {ys.max():.0f}, but"


def _slide_beside(xml: Path) -> Path | None:
    """The whole-slide image of ``xml``'s name in its folder (BACH's ``WSI/A01.svs`` beside ``A01.xml``), if any."""
    return next(
        (p for p in xml.parent.glob(f"{xml.stem}.*") if UNREAD_SUFFIXES.get(file_suffix(p)) == "whole-slide"), None
    )


def _without_slides_outlines(paired: list[tuple[Path, Path]], root: Path) -> list[tuple[Path, Path]]:
    """``paired`` less the XMLs beside a whole-slide image of their name, paired with an image elsewhere (BACH's
    ``WSI/A01.xml`` beside ``A01.svs``, with ``WSI/gt_thumbnails/A01.png``): their outlines are the slide's, and were
    drawn on the thumbnail, Dice 0.53 with status OK. Said; when no pair is left, refused naming the slides.

    Raises:
        DatasetError: every XML belongs to a slide beside it.
    """
    slides = {xml: slide for xml, image in paired if (slide := _slide_beside(xml)) and image.parent != xml.parent}
    if not slides:
        return paired
    xml, slide = next(iter(slides.items()))
    image = dict(paired)[xml]
    what = (
        f"{len(slides)} ImageScope XML file(s) lie beside the whole-slide image of their name (e.g. "
        f"{slide.relative_to(root).as_posix()}), which medimg does not read: their outlines are the slide's, not those "
        f"of {image.relative_to(root).as_posix()}"
    )
    kept = [(x, i) for x, i in paired if x not in slides]
    if not kept:
        raise DatasetError(
            f"{root}: {what}. Export the annotated regions with their masks (e.g. with QuPath or OpenSlide), or point "
            "medimg at the folder of the images you mean (a folder of class folders is classified)"
        )
    logger.warning("%s: %s; left out", root, what)
    return kept


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """The images with an ImageScope XML of their name, their outlines drawn into label maps (cached).

    Args:
        include, exclude: file-name patterns an image must match / must not match.

    Raises:
        DatasetError: no XML names an image, an XML is unreadable, or an image's size cannot be read.
    """
    root = path
    files = walk_files(root)
    xmls = sorted(p for p in files if p.suffix.lower() == ".xml" and _is_imagescope(p))
    paired, images = images_named_like(files, xmls, include, exclude, f"an ImageScope XML file in {root}")
    paired = _without_slides_outlines(paired, root)
    read = {xml: _layers(xml) for xml, _ in paired}
    unnamed = {name for layers in read.values() for name, _ in layers if name.startswith("layer_")}
    single_unnamed = len(unnamed) == 1 and all(n.startswith("layer_") for ls in read.values() for n, _ in ls)
    names = ["foreground"] if single_unnamed else sorted({name for ls in read.values() for name, _ in ls})
    value_of = {name: k + 1 for k, name in enumerate(names)}
    cache = cache_folder(xmls)
    cases: list[SegCase] = []
    problems: list[str] = []
    for xml, image in paired:
        case_id = image.relative_to(root).as_posix()
        target = mask_file(cache, case_id)
        size = image_size(image)
        beyond = _beyond_the_image(read[xml], size) if size is not None else ""
        if beyond and size is not None:  # checked for a mask drawn before too
            problems.append(f"{xml}: {beyond} {image} is {size[1]}x{size[0]} px: {OTHER_RESOLUTION}")
            continue
        if not target.is_file():
            if size is None:
                problems.append(f"{image}: its size cannot be read from its header")
                continue
            objects = [
                DrawnObject(0 if hole else (1 if single_unnamed else value_of[name]), polygons=[polygon])
                for name, regions in read[xml]
                for polygon, hole in regions
            ]
            write_mask(target, draw_label_map(size, objects))
        cases.append(SegCase(case_id=case_id, image=image, mask=target, split=split_of(root, image)))
    if problems:
        raise problems_error(root, problems, "image problem(s)")
    cases = folder_splits(cases, root)
    annotated = {xml.stem for xml in xmls}
    unlabelled = [p.relative_to(root).as_posix() for stem, ps in images.items() if stem not in annotated for p in ps]
    logger.info("%s: %d ImageScope outline file(s) drawn or reused in %s", root, len(cases), cache)
    if unlabelled:  # Camelyon16's normal/ slides beside tumor/ and lesion_annotations/: said, not dropped unseen
        say_images_without_masks(sorted(unlabelled), len(cases), root)
    return SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source="imagescope",
        cases=cases,
        unlabelled=sorted(unlabelled),
        value_names={0: "background", **{value: name for name, value in value_of.items()}},
    )
