"""A test image that is a training image with a label burned in (a "PORTABLE" box, an "R" marker and a date in a
corner, then re-saved as JPEG): its thumbnail correlates with the original's far below the near-duplicate threshold
(~0.55..0.87), so `medimg check` said OK; different pictures alike but for a region are still not copies."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from medimg import Dataset
from medimg.data.near_duplicates import near_duplicate_groups, signature
from medimg.data.quality import check_dataset
from tests.data.radiographs import radiograph


def _radiograph(rng: np.random.Generator, size: int = 160) -> np.ndarray:
    return radiograph(rng, size)


def _labelled(picture: np.ndarray, kind: int) -> Image.Image:
    """The picture with a label burned in (a white box with text, or a black box with a marker and a date), as JPEG."""
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    if kind == 0:
        draw.rectangle((4, 4, 48, 18), fill=255)
        draw.text((6, 6), "PORTABLE", fill=0)
    else:
        draw.rectangle((118, 130, 156, 156), fill=0)
        draw.text((120, 134), "R 2024", fill=255)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return Image.open(buffer)


def test_copies_with_burned_in_labels_across_splits_are_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for split in ("train", "test"):
        for cls in ("normal", "pneumonia"):
            (tmp_path / split / cls).mkdir(parents=True)
    originals = []
    for i in range(12):
        picture = _radiograph(rng)
        originals.append(picture)
        split = "train" if i < 8 else "test"
        Image.fromarray(picture).save(tmp_path / split / ("normal", "pneumonia")[i % 2] / f"{i}.png")
    _labelled(originals[0], 0).save(tmp_path / "test" / "normal" / "portable.png")
    _labelled(originals[2], 1).save(tmp_path / "test" / "normal" / "marker.png")
    report = check_dataset(Dataset.load(tmp_path))
    found = {m.split(" ")[0] for group in report.cross_split_near_duplicates for m in group}
    assert found == {"test/normal/portable.png", "train/normal/0.png", "test/normal/marker.png", "train/normal/2.png"}
    assert len(report.near_duplicates) == 2 and not report.ok
    assert "text burned in" in report.summary()


def test_different_pictures_alike_but_for_a_region_are_not_copies() -> None:
    from medimg.data.near_duplicates import unoccluded_correlation

    rng = np.random.default_rng(6)
    base = _radiograph(rng).astype(np.float32)
    signatures = {}
    for i in range(6):  # one background, a different picture over a quarter of each (more than a label covers)
        picture = base.copy()
        picture[40:120, 40:120] = _radiograph(rng, 80)
        signatures[str(i)] = signature(picture[None])
    assert near_duplicate_groups({k: s for k, s in signatures.items() if s is not None}) == []
    same = np.arange(576, dtype=np.float32)[None]
    assert unoccluded_correlation(same, same)[0] > 0.999
