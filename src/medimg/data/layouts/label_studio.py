"""Label Studio's JSON export: a list of tasks (``[{"data": {"image": ...}, "annotations": [{"result": [...]}]}]``),
each result a labelled shape in percent of the image (``polygonlabels``, ``rectanglelabels`` with its rotation,
``ellipselabels``), as the Label Studio annotation server exports a project.

A task's image is its ``data`` value (``/data/upload/3/5b6f2b1c-scan_01.png``, a URL, a local path): found by that
path under the folder, else by its file name anywhere under the folder, without the eight-character prefix Label
Studio gives uploaded files. The first annotation that was not cancelled counts (older exports' ``completions`` too);
predictions never do. Keypoints, brush strokes and choices outline no area and are left out (counted in one log
line). :mod:`.outlined_shapes` draws the shapes into label maps (``task="segment"``, cached) or boxes them
(``task="detect"``); without a task, a file with any polygon or ellipse is segmentation data, one of rectangles alone
detection data. A task without a shape is an image without objects.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

from medimg.data.detection import image_size
from medimg.data.layouts.common import ManifestFiles, path_selected, text_head
from medimg.data.layouts.drawn_masks import cache_folder
from medimg.data.layouts.outlined_shapes import AnnotationTool, Outlined, Reading, Shape, kinds_named
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

SNIFF_CHARS = 1 << 16
#: Label Studio's result types of area shapes, as :class:`~.outlined_shapes.Shape` kinds
AREA_TYPES = {"polygonlabels": "polygon", "rectanglelabels": "rectangle", "ellipselabels": "ellipse"}
#: the prefix Label Studio gives an uploaded file's name (``5b6f2b1c-scan_01.png``)
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def _is_export(file: Path) -> bool:
    if file.suffix.lower() != ".json":
        return False
    head = text_head(file, SNIFF_CHARS)
    return head.lstrip().startswith("[") and '"data"' in head and ('"annotations"' in head or '"completions"' in head)


def _files(path: Path) -> list[Path]:
    """The export ``path`` is, or those directly in the folder ``path``."""
    if path.is_file():
        return [path] if _is_export(path) else []
    try:
        return sorted(p for p in path.iterdir() if p.is_file() and _is_export(p)) if path.is_dir() else []
    except OSError:
        return []


def _shape(result: dict[str, Any]) -> Shape | None:
    """A result as a :class:`Shape` in pixels, ``None`` for one outlining no area."""
    kind = AREA_TYPES.get(str(result.get("type")))
    value = result.get("value") or {}
    labels = value.get(str(result.get("type"))) or []
    if kind is None or not labels:
        return None
    sx, sy = float(result.get("original_width") or 0) / 100, float(result.get("original_height") or 0) / 100
    if kind == "polygon":
        return Shape(str(labels[0]), kind, [(float(x) * sx, float(y) * sy) for x, y in value.get("points") or []])
    x, y = float(value.get("x", 0)) * sx, float(value.get("y", 0)) * sy
    if kind == "ellipse":
        rx, ry = float(value.get("radiusX", 0)) * sx, float(value.get("radiusY", 0)) * sy
        return Shape(str(labels[0]), kind, [(x, y), (x + rx, y + ry)])
    width, height = float(value.get("width", 0)) * sx, float(value.get("height", 0)) * sy
    angle = math.radians(float(value.get("rotation") or 0))
    if not angle:
        return Shape(str(labels[0]), kind, [(x, y), (x + width, y + height)])
    cos, sin = math.cos(angle), math.sin(angle)  # turned clockwise about its top-left corner, as Label Studio draws it
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    return Shape(str(labels[0]), "polygon", [(x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in corners])


def _image_reference(task: dict[str, Any]) -> str:
    data = task.get("data") or {}
    named = data.get("image") or data.get("img")
    return str(named or next((v for v in data.values() if isinstance(v, str)), ""))


def _outlined(path: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[list[Outlined], Path, Path]:
    """The tasks of every export ``path`` is or holds, with their images and shapes; the mask cache; the root.

    Raises:
        DatasetError: no export, an unreadable one, or a task whose image is nowhere under the folder.
    """
    files = _files(path)
    if not files:
        raise DatasetError(f"{path} holds no Label Studio JSON export (a list of tasks with data and annotations)")
    root = path if path.is_dir() else path.parent
    locate = ManifestFiles(root, lambda p: path_selected(p, include, exclude, root))
    reading = Reading()
    for file in files:
        try:
            tasks = json.loads(file.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeError, ValueError) as error:
            reading.problems.append(f"{file}: not readable Label Studio JSON ({error}); fix or remove it")
            continue
        for task in tasks if isinstance(tasks, list) else []:
            reference = _image_reference(task)
            name = reference.split("?")[0].replace("\\", "/").rsplit("/", 1)[-1]
            found = locate.locate(name)[0]
            if not found.is_file():
                found = locate.locate(UPLOAD_PREFIX.sub("", name))[0]
            if not found.is_file():
                reading.problems.append(f"{file}: task {task.get('id')}'s image {reference!r} is not under {root}")
                continue
            if not path_selected(found, include, exclude, root):
                continue
            done = [a for a in task.get("annotations") or task.get("completions") or [] if not a.get("was_cancelled")]
            results = (done[0].get("result") or []) if done else []
            where = f"{file}: task {task.get('id')}"
            shapes = reading.shapes(results, _shape, lambda result: str(result.get("type")), where)
            sized = [r for r in results if r.get("original_height") and r.get("original_width")]
            size = (int(sized[0]["original_height"]), int(sized[0]["original_width"])) if sized else image_size(found)
            case_id = found.relative_to(root).as_posix()
            reading.items.append(Outlined(file, found, size, case_id, shapes))
    return reading.finish(path, "Label Studio task problem(s)"), cache_folder(files), root


LABEL_STUDIO = AnnotationTool(
    "label_studio", lambda path: kinds_named(_files(path), {f'"{t}"': k for t, k in AREA_TYPES.items()}), _outlined
)
