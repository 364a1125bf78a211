"""What a dataset.json says is not dropped silently (the BraTS tester's report): nnU-Net v2 regions
(``"whole tumor": [1, 2, 3]``) were skipped and the values called unnamed; a 2D+t cine stored as a 4D NIfTI (time
units, 40 ms/frame) was trained as a 10-channel image against its dataset.json's one channel."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.data.layouts.dataset_json import read_dataset_json
from medimg.errors import DatasetError
from medimg.tasks.segment.quality import check_segmentation


def _labelled(root: Path, count: int = 3) -> Path:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(count):
        labels = np.zeros((16, 16, 8), np.uint8)
        labels[2:6, 2:6, 2:4], labels[6:9, 6:9, 2:4], labels[10:12, 10:12, 2:4] = 1, 2, 3
        nib.save(
            nib.Nifti1Image(np.random.default_rng(i).normal(size=labels.shape).astype(np.float32), np.eye(4)),
            root / "imagesTr" / f"case_{i:03d}_0000.nii.gz",
        )
        nib.save(nib.Nifti1Image(labels, np.eye(4)), root / "labelsTr" / f"case_{i:03d}.nii.gz")
    return root


def test_nnunet_regions_are_refused_saying_so_and_how_to_name_the_values(tmp_path: Path) -> None:
    root = _labelled(tmp_path / "regions")
    labels = {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": 3}
    (root / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "FLAIR"}, "labels": labels, "regions_class_order": [1, 2, 3]})
    )
    found = read_dataset_json(root)
    assert found is not None
    assert found.labels == {0: "background", 3: "enhancing tumor"}  # the names it can read are kept
    assert found.regions == {"whole tumor": [1, 2, 3], "tumor core": [2, 3]}
    with pytest.raises(DatasetError) as raised:
        check_segmentation(Dataset.load(root, task="segment"))
    message = str(raised.value)
    assert "declares nnU-Net regions ('whole tumor': [1, 2, 3]; 'tumor core': [2, 3])" in message
    assert "cannot train regions" in message and '"enhancing tumor": 3' in message and '"<name of 1>": 1' in message


def _cine(root: Path, dataset_json: bool) -> Path:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    x, y = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    disc = ((x - 8) ** 2 + (y - 8) ** 2 < 16).astype(np.uint8)
    affine = np.diag([1.4, 1.4, 8.0, 1.0])
    for i in range(3):
        frames = np.stack([disc * 200.0 + t for t in range(10)], -1)[:, :, None, :].astype(np.float32)
        image = nib.Nifti1Image(frames, affine)
        image.header.set_xyzt_units("mm", "msec")
        image.header["pixdim"][4] = 40.0
        nib.save(image, root / "imagesTr" / f"cine_{i:03d}.nii.gz")
        nib.save(nib.Nifti1Image(disc[:, :, None], affine), root / "labelsTr" / f"cine_{i:03d}.nii.gz")
    if dataset_json:
        (root / "dataset.json").write_text(
            json.dumps({"channel_names": {"0": "cineMRI"}, "labels": {"background": 0, "LV": 1}})
        )
    return root


def test_a_cine_against_its_dataset_jsons_one_channel_is_refused_naming_the_time_axis(tmp_path: Path) -> None:
    report = check_segmentation(Dataset.load(_cine(tmp_path / "cine", dataset_json=True), task="segment"))
    assert not report.ok
    text = report.summary()
    assert "10 volumes along its 4th axis, which its header says is time (10 frames of 40 ms)" in text
    assert "names 1 channel(s) (cineMRI" in text


def test_a_cine_without_a_dataset_json_is_read_as_channels_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = Dataset.load(_cine(tmp_path / "cine", dataset_json=False), task="segment")
    with caplog.at_level("WARNING"):
        image = dataset.read(dataset.cases[0]).image
        dataset.read(dataset.cases[1])
    assert image.channels == 10 and image.meta["time_axis"] == "10 frames of 40 ms"
    assert caplog.text.count("its header says the 4th axis is time (10 frames of 40 ms), not channels") == 1
