"""``medimg predict RUN FOLDER`` on a folder of images *with* their annotations predicts the images only: masks,
fields of view and second observers' annotations beside them are not inputs (they were predicted as images)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.data.layouts.image_mask_pairs import annotation_files
from tests.serve.support import train_tiny_segmentation_run


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    return path


def test_the_annotations_beside_images_are_found_by_name(tmp_path: Path) -> None:
    busi = [_png(tmp_path / "busi" / name) for name in ("a (1).png", "a (1)_mask.png", "a (1)_mask_1.png", "b.png")]
    assert sorted(p.name for p in annotation_files(busi, tmp_path / "busi")) == ["a (1)_mask.png", "a (1)_mask_1.png"]
    drive = [
        _png(tmp_path / "drive" / "test" / folder / name)
        for folder, name in (
            ("images", "01_test.png"),
            ("mask", "01_test_mask.png"),
            ("1st_manual", "01_manual1.png"),
            ("2nd_manual", "01_manual2.png"),  # the second observer's: was predicted as an image
        )
    ]
    left = annotation_files(drive, tmp_path / "drive")
    assert sorted(p.parent.name for p in left) == ["1st_manual", "2nd_manual", "mask"]
    assert sorted(p.parent.name for p in annotation_files(drive, tmp_path / "drive" / "test")) == [
        "1st_manual",
        "2nd_manual",
        "mask",
    ]
    lone = [_png(tmp_path / "lone" / "scan-d.png"), _png(tmp_path / "lone" / "other.png")]
    assert annotation_files(lone, tmp_path / "lone") == []  # a mask-like name without its image is an image


def test_predicting_a_dataset_folder_predicts_its_images_only(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = train_tiny_segmentation_run(tmp_path_factory)  # its data: discs/images/*.png + discs/masks/*.png
    data = run.parent / "discs"
    images = sorted((data / "images").iterdir())
    with caplog.at_level(logging.INFO):
        predictions = Model.load(run).predict(data, out_dir=tmp_path / "out")
    assert sorted(Path(p.source).name for p in predictions) == [p.name for p in images]
    assert all(Path(p.source).parent.name == "images" for p in predictions)
    assert f"{len(images)} file(s) are annotations or further channel files" in caplog.text
    (named,) = Model.load(run).predict(data / "masks" / images[0].name, out_dir=tmp_path / "named")
    assert Path(named.source).parent.name == "masks"  # a file named explicitly is always predicted
