"""Tiny synthetic detection data: bright discs and dark squares on a noisy background, with the boxes written as
Pascal VOC XML, COCO JSON or a CSV box manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("disc", "square")

#: a detector small enough to train in seconds on these images (plan overrides)
TINY = {
    "epochs": 2,
    "batch_size": 4,
    "backbone_widths": [8, 16, 32, 64],
    "backbone_depths": [1, 1, 1, 1],
    "fpn_channels": 16,
    "head_convs": 1,
    "time_budget_s": None,
    "learning_rate": 3e-3,
}


def draw_image(
    rng: np.random.Generator, size: tuple[int, int] = (48, 64), n_objects: int = 3
) -> tuple[np.ndarray, list]:
    """An RGB ``(H, W, 3)`` uint8 image and its objects ``(x1, y1, x2, y2, class name)``."""
    height, width = size
    image = rng.normal(120, 12, size=(height, width, 3)).clip(0, 255)
    objects: list[tuple[float, float, float, float, str]] = []
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(n_objects):
        side = int(rng.integers(9, 15))
        x1, y1 = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        name = CLASSES[int(rng.integers(0, 2))]
        if name == "disc":
            cx, cy, r = x1 + side / 2, y1 + side / 2, side / 2
            image[(xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r] = (235, 60, 60)
        else:
            image[y1 : y1 + side, x1 : x1 + side] = (30, 30, 200)
        objects.append((float(x1), float(y1), float(x1 + side), float(y1 + side), name))
    return image.astype(np.uint8), objects


def write_voc(root: Path, n: int = 12, *, seed: int = 0, splits: bool = True, size: tuple[int, int] = (48, 64)) -> Path:
    """A VOC folder: ``JPEGImages/*.png``, ``Annotations/*.xml`` and (``splits``) ``ImageSets/Main/*.txt``."""
    rng = np.random.default_rng(seed)
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        image, objects = draw_image(rng, size)
        name = f"img_{i:03d}"
        names.append(name)
        Image.fromarray(image).save(root / "JPEGImages" / f"{name}.png")
        (root / "Annotations" / f"{name}.xml").write_text(voc_xml(f"{name}.png", size, objects))
    if splits:
        folder = root / "ImageSets" / "Main"
        folder.mkdir(parents=True, exist_ok=True)
        n_test = max(1, n // 6)
        n_val = max(1, n // 6)
        parts = {"test": names[:n_test], "val": names[n_test : n_test + n_val], "train": names[n_test + n_val :]}
        for split, members in parts.items():
            (folder / f"{split}.txt").write_text("".join(f"{m}\n" for m in members))
    return root


def voc_xml(filename: str, size: tuple[int, int], objects: list) -> str:
    height, width = size
    body = "".join(
        f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1:g}</xmin><ymin>{y1:g}</ymin>"
        f"<xmax>{x2:g}</xmax><ymax>{y2:g}</ymax></bndbox></object>"
        for x1, y1, x2, y2, name in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>{width}</width><height>{height}</height>"
        f"<depth>3</depth></size>{body}</annotation>"
    )


def write_coco(root: Path, n: int = 8, *, seed: int = 0, split_files: bool = True, outlines: bool = False) -> Path:
    """A COCO folder: ``images/*.png`` and ``annotations/instances_{train,val}.json`` (or one file); ``outlines``
    adds each object's ``segmentation`` polygon (a square's corners, a disc's 16-gon)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    categories = [{"id": 7 + k, "name": name} for k, name in enumerate(CLASSES)]
    documents: dict[str, dict] = {}
    for i in range(n):
        split = ("train" if i % 4 else "val") if split_files else "all"
        doc = documents.setdefault(split, {"images": [], "annotations": [], "categories": categories})
        image, objects = draw_image(rng)
        file_name = f"c_{i:03d}.png"
        Image.fromarray(image).save(root / "images" / file_name)
        doc["images"].append({"id": 100 + i, "file_name": file_name, "width": image.shape[1], "height": image.shape[0]})
        for x1, y1, x2, y2, name in objects:
            annotation = {
                "id": len(doc["annotations"]) + 1,
                "image_id": 100 + i,
                "category_id": 7 + CLASSES.index(name),
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": 0,
            }
            if outlines:
                annotation["segmentation"] = [outline(x1, y1, x2, y2, name)]
            doc["annotations"].append(annotation)
    for split, doc in documents.items():
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    return root


def write_csv(root: Path, n: int = 8, *, seed: int = 0, negatives: int = 1) -> Path:
    """``boxes.csv`` (``path,x1,y1,x2,y2,label``) beside ``img/*.png``; ``negatives`` images without objects."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = ["path,x1,y1,x2,y2,label"]
    for i in range(n):
        image, objects = draw_image(rng, n_objects=0 if i < negatives else 3)
        Image.fromarray(image).save(root / "img" / f"{i}.png")
        if not objects:
            rows.append(f"img/{i}.png,,,,,")
        rows += [f"img/{i}.png,{x1:g},{y1:g},{x2:g},{y2:g},{name}" for x1, y1, x2, y2, name in objects]
    (root / "boxes.csv").write_text("\n".join(rows) + "\n")
    return root / "boxes.csv"


def write_yolo(root: Path, n: int = 8, *, seed: int = 0, negatives: int = 1, outlines: bool = False) -> Path:
    """A Roboflow-style YOLO folder: ``{train,valid}/images/*.png`` + ``labels/*.txt`` and ``data.yaml``;
    ``outlines`` writes YOLO segmentation lines (each object's :func:`outline`) instead of boxes."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        split = "valid" if i % 4 == 3 else "train"
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        image, objects = draw_image(rng, n_objects=0 if i < negatives else 3)
        Image.fromarray(image).save(root / split / "images" / f"{i}.png")
        height, width = image.shape[:2]
        lines = [
            f"{CLASSES.index(name)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
            for x1, y1, x2, y2, name in objects
        ]
        if outlines:
            lines = [
                f"{CLASSES.index(name)} "
                + " ".join(
                    f"{v / (width if k % 2 == 0 else height):.6f}" for k, v in enumerate(outline(x1, y1, x2, y2, name))
                )
                for x1, y1, x2, y2, name in objects
            ]
        (root / split / "labels" / f"{i}.txt").write_text("".join(f"{line}\n" for line in lines))
    (root / "data.yaml").write_text(f"nc: {len(CLASSES)}\nnames: {list(CLASSES)}\n")
    return root


def outline(x1: float, y1: float, x2: float, y2: float, name: str) -> list[float]:
    """A drawn object's outline as a COCO polygon ``[x1, y1, x2, y2, ...]``: a square's corners, a disc's 16-gon."""
    if name != "disc":
        return [x1, y1, x2, y1, x2, y2, x1, y2]
    cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    return [float(v) for a in angles for v in (cx + r * np.cos(a), cy + r * np.sin(a))]
