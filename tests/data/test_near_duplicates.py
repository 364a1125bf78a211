"""Nearly identical images across splits: the same picture re-saved as JPEG, resized, at 16 bits or as RGB (a
public set's classic leak) differs in every pixel, so the digest check missed it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medimg import Dataset
from medimg.data.near_duplicates import near_duplicate_groups, signature
from medimg.data.quality import check_dataset
from tests.data.radiographs import radiograph


def _radiograph(rng: np.random.Generator, size: int = 112) -> np.ndarray:
    """A smooth grey picture with structure (summed random blobs), 8-bit."""
    return radiograph(rng, size, blobs=6)


def test_copies_through_other_exports_are_found_and_unlike_pictures_are_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("normal", "pneumonia"):
            (tmp_path / split / cls).mkdir(parents=True)
    originals = [_radiograph(rng) for _ in range(24)]
    for i, picture in enumerate(originals):
        split = "train" if i < 18 else "test"
        Image.fromarray(picture).save(tmp_path / split / ("normal", "pneumonia")[i % 2] / f"{i}.png")
    leaks = tmp_path / "test" / "normal"
    Image.fromarray(originals[0]).save(leaks / "resaved.jpg", quality=85)
    Image.fromarray(originals[2]).resize((224, 224), Image.Resampling.BICUBIC).save(leaks / "resized.png")
    Image.fromarray(originals[4].astype(np.uint16) * 257).save(leaks / "deep.png")
    Image.fromarray(originals[6]).convert("RGB").save(leaks / "colour.png")
    report = check_dataset(Dataset.load(tmp_path))
    found = {
        next(m for m in group if m.startswith("test/")).split(" ")[0] for group in report.cross_split_near_duplicates
    }
    assert found == {f"test/normal/{n}" for n in ("resaved.jpg", "resized.png", "deep.png", "colour.png")}
    assert len(report.near_duplicates) == 4 and not report.ok  # the 24 distinct pictures are not grouped
    assert any("4 group(s) of nearly identical images" in w for w in report.warnings)


def test_identical_copies_are_left_to_the_digest_check_and_volumes_have_no_signature() -> None:
    picture = _radiograph(np.random.default_rng(1))[None].astype(np.float32)
    signatures = {"a": signature(picture), "b": signature(picture), "c": signature(picture[:, ::2, ::2])}
    assert all(s is not None for s in signatures.values())
    groups = near_duplicate_groups({k: v for k, v in signatures.items() if v is not None}, identical=[["a", "b"]])
    assert [sorted(g) for g in groups] == [["a", "b", "c"]]  # c is the near copy; a+b alone would not be reported
    assert near_duplicate_groups({k: v for k, v in signatures.items() if k != "c" and v}, [["a", "b"]]) == []
    assert signature(np.zeros((1, 8, 16, 16))) is None and signature(np.ones((1, 16, 16))) is None
