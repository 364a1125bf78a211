"""``medimg predict RUN ROOT`` on a Medical Segmentation Decathlon / nnU-Net dataset root (dataset.json, imagesTr/,
labelsTr/, imagesTs/) predicts its images: the masks in labelsTr/ were inputs too (each predicted as an image, or
failed as one without its channel files), and the failures were listed on one long line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.errors import DatasetError
from medimg.io.inputs import expand_inputs
from tests.serve.support import train_tiny_segmentation_run


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
    return path


def _nnunet_root(root: Path, images: dict[str, Path] | None = None) -> Path:
    """``root/dataset.json``, ``imagesTr/case_00X_0000.png``, ``labelsTr/case_00X.png``,
    ``imagesTs/test_000_0000.png``."""
    for i in range(2):
        if images:
            (root / "imagesTr").mkdir(parents=True, exist_ok=True)
            Image.open(images[f"case_{i:02d}.png"]).save(root / "imagesTr" / f"case_{i:03d}_0000.png")
        else:
            _png(root / "imagesTr" / f"case_{i:03d}_0000.png", 100)
        _png(root / "labelsTr" / f"case_{i:03d}.png", 1)
    if images:
        (root / "imagesTs").mkdir(parents=True, exist_ok=True)
        Image.open(images["case_02.png"]).save(root / "imagesTs" / "test_000_0000.png")
    else:
        _png(root / "imagesTs" / "test_000_0000.png", 100)
    (root / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "gray"}, "labels": {"background": 0, "a": 1}})
    )
    return root


def test_a_dataset_roots_masks_are_not_inputs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _nnunet_root(tmp_path / "Dataset001_Discs")
    with caplog.at_level(logging.INFO, logger="medimg"):
        files = expand_inputs([root])
    assert [f.relative_to(root).as_posix() for f in files] == [
        "imagesTr/case_000_0000.png",
        "imagesTr/case_001_0000.png",
        "imagesTs/test_000_0000.png",
    ]
    assert "its 2 mask(s) in labelsTr/ are not inputs; predicting the images in imagesTr/, imagesTs/" in caplog.text
    assert f"give {root / 'imagesTs'} to predict only its test images" in caplog.text
    # a folder of several datasets too; labelsTr/ named on its own is a folder of inputs
    assert len(expand_inputs([tmp_path])) == 3
    assert len(expand_inputs([root / "labelsTr"])) == 2
    # the masks alone: said, not predicted
    masks_only = tmp_path / "masks_only"
    (masks_only / "imagesTr").mkdir(parents=True)
    _png(masks_only / "labelsTr" / "case_000.png")
    with pytest.raises(DatasetError, match=r"whose image folders hold no image files, only the masks in labelsTr/"):
        expand_inputs([masks_only])


def test_predicting_a_dataset_root_predicts_its_images(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    run = train_tiny_segmentation_run(tmp_path_factory)
    discs = {p.name: p for p in (run.parent / "discs" / "images").iterdir()}
    root = _nnunet_root(tmp_path / "Dataset001_Discs", discs)
    predictions = Model.load(run).predict(root, out_dir=tmp_path / "out")
    assert sorted(Path(p.source).parent.name for p in predictions) == ["imagesTr", "imagesTr", "imagesTs"]


def test_files_that_could_not_be_used_are_listed_one_a_line() -> None:
    from medimg.cli.app import _failed_lines

    failed = [
        (f"d/labelsTr/case_{i:03d}.nii.gz", f"d/labelsTr/case_{i:03d}.nii.gz: image has 1 channels") for i in range(12)
    ]
    lines = _failed_lines(failed, Path("out/predictions.failed.csv")).splitlines()
    assert lines[0] == "12 file(s) could not be used (all listed in out/predictions.failed.csv):"
    assert lines[1] == "  d/labelsTr/case_000.nii.gz: image has 1 channels"  # the name once
    assert len(lines) == 7 and lines[-1] == "  ... and 7 more in out/predictions.failed.csv"
    assert _failed_lines(failed[:2], None).splitlines()[1:] == [
        "  d/labelsTr/case_000.nii.gz: image has 1 channels",
        "  d/labelsTr/case_001.nii.gz: image has 1 channels",
    ]
    assert "with --out, all are listed" in _failed_lines(failed, None).splitlines()[-1]
