"""Transparency and EXIF orientation are kept as stored and said once per set of files: by the raster reader's
meta, by ``check`` (classification and segmentation) and by prediction."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.io import read_image
from medimg.io.image import ImageData

tifffile = pytest.importorskip("tifffile")


def _tile(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(60, 200, (24, 32, 3), dtype=np.uint8)


def write_transparent_png(path: Path, seed: int = 0, columns: int = 8) -> Path:
    """An RGBA PNG whose first ``columns`` columns are transparent black (as slide-viewer region exports are)."""
    rgba = np.dstack([_tile(seed), np.full((24, 32), 255, np.uint8)])
    rgba[:, :columns] = 0
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def write_exif_jpeg(path: Path, orientation: int = 6, seed: int = 0) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_tile(seed)).save(path, exif=exif.tobytes())
    return path


def test_transparent_share_is_recorded(tmp_path: Path) -> None:
    image = read_image(write_transparent_png(tmp_path / "t.png"))
    assert image.array.shape == (3, 24, 32)
    assert image.meta["transparent"] == pytest.approx(8 / 32)
    opaque = np.dstack([_tile(), np.full((24, 32), 255, np.uint8)])
    Image.fromarray(opaque, "RGBA").save(tmp_path / "o.png")
    assert "transparent" not in read_image(tmp_path / "o.png").meta


def test_transparent_share_of_a_reduced_read_and_a_palette_key(tmp_path: Path) -> None:
    big = np.dstack([np.full((400, 400, 3), 120, np.uint8), np.full((400, 400), 255, np.uint8)])
    big[:100] = 0
    Image.fromarray(big, "RGBA").save(tmp_path / "big.png")
    assert read_image(tmp_path / "big.png", target_size=[16, 16]).meta["transparent"] == pytest.approx(0.25)
    palette = Image.fromarray(np.array([[0, 1], [1, 1]], np.uint8), "P")
    palette.putpalette([0, 0, 0, 200, 10, 10])
    palette.save(tmp_path / "key.png", transparency=0)
    assert read_image(tmp_path / "key.png").meta["transparent"] == pytest.approx(0.25)


@pytest.mark.parametrize("kind", ["assocalpha", "unassalpha"])
def test_transparent_share_of_a_tiff_alpha_sample(tmp_path: Path, kind: str) -> None:
    rgba = np.dstack([_tile(), np.full((24, 32), 255, np.uint8)])
    rgba[:12, :, 3] = 0
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=[kind])
    image = read_image(tmp_path / "a.tif")
    assert image.array.shape == (3, 24, 32)
    assert image.meta["transparent"] == pytest.approx(0.5)


def test_notes_are_said_once_per_set(caplog: pytest.LogCaptureFixture) -> None:
    from medimg.io.read_notes import ReadNotes

    notes = ReadNotes()
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            notes.note(ImageData(np.zeros((3, 2, 2), np.float32), source=f"exif_{i}.jpg", meta={"exif_orientation": 6}))
            notes.note(ImageData(np.zeros((3, 2, 2), np.float32), source=f"rgba_{i}.png", meta={"transparent": 0.25}))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2
    assert "exif_0.jpg carries an EXIF orientation 6: viewers show it turned 90 degrees clockwise" in said[0]
    assert "rgba_0.png has transparent pixels (25% of them)" in said[1] and "white" in said[1]
    assert (notes.exif, notes.transparent) == (3, 3)


def test_classification_check_warns_about_transparency(tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset
    from medimg.data.quality import check_dataset

    for label in ("benign", "malignant"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(3):
            write_transparent_png(tmp_path / "data" / label / f"{i}.png", seed=10 * i + len(label))
    report = check_dataset(Dataset.load(tmp_path / "data"))
    found = [w for w in report.warnings if "transparent pixels" in w]
    assert len(found) == 1 and found[0].startswith("6 image(s) have transparent pixels") and "25%" in found[0]


def test_segmentation_check_warns_about_transparency(tmp_path: Path) -> None:
    from medimg.data.dataset import SegmentationDataset
    from medimg.tasks.segment.quality import check_segmentation

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(3):
        write_transparent_png(tmp_path / "images" / f"case_{i}.png", seed=i)
        mask = np.zeros((24, 32), np.uint8)
        mask[8:16, 10:20] = 1
        Image.fromarray(mask).save(tmp_path / "masks" / f"case_{i}.png")
    report = check_segmentation(SegmentationDataset.load(tmp_path))
    found = [w for w in report.warnings if "transparent pixels" in w]
    assert len(found) == 1 and found[0].startswith("3 image(s) have transparent pixels")
