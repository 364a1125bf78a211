"""Label tables saved beside label maps by ITK-SNAP ("Export label descriptions"), 3D Slicer (colour tables) and
FreeSurfer (lookup tables) name the classes, as a ``dataset.json`` does (which wins where both are). Before: the
classes were ``class_1``, ``class_2``... in check, the plan and the reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.data.label_tables import label_table_names, parse_label_table
from medimg.tasks.segment.quality import check_segmentation

nib = pytest.importorskip("nibabel")

ITK_SNAP = """################################################
# ITK-SnAP Label Description File
# File format:
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
################################################
    0     0    0    0        0  0  0    "Clear Label"
    1   255    0    0        1  1  1    "Hippocampus head"
    2     0  255    0        1  1  1    "Hippocampus tail"
"""
SLICER = """# Color table file /home/user/Hippocampus.ctbl
# 3 values
0 Background 0 0 0 0
1 head 128 174 128 255
2 tail 241 214 145 255
"""
FREESURFER = """#$Id: FreeSurferColorLUT.txt $
#No. Label Name:                            R   G   B   A
0   Unknown                                 0   0   0   0
17  Left-Hippocampus                        220 216 20  0
53  Right-Hippocampus                       220 216 20  0
"""


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (ITK_SNAP, {0: "background", 1: "Hippocampus head", 2: "Hippocampus tail"}),
        (SLICER, {0: "background", 1: "head", 2: "tail"}),
        (FREESURFER, {0: "background", 17: "Left-Hippocampus", 53: "Right-Hippocampus"}),
        ("image,label\na.png,1\n", None),  # a manifest
        ("1 head 128 174 128 255\n", None),  # one value names no classes
        ("some notes about the data\n0 background\n", None),
    ],
)
def test_parse_label_table(text: str, names: dict[int, str] | None) -> None:
    assert parse_label_table(text) == names


def _set(root: Path) -> None:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for number in range(4):
        mask = np.zeros((12, 10, 6), np.uint8)
        mask[2:6, 2:5, 1:4] = 1
        mask[6:9, 5:8, 2:5] = 2
        nib.save(
            nib.Nifti1Image(rng.normal(size=mask.shape).astype(np.float32), np.eye(4) * 2),
            root / "imagesTr" / f"h{number}.nii.gz",
        )
        nib.save(nib.Nifti1Image(mask, np.eye(4) * 2), root / "labelsTr" / f"h{number}.nii.gz")


def test_an_itk_snap_table_beside_the_masks_names_the_classes(tmp_path: Path) -> None:
    _set(tmp_path)
    (tmp_path / "labelsTr" / "labels.txt").write_text(ITK_SNAP)
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    report = check_segmentation(dataset, progress=False)
    assert report.class_names == ["background", "Hippocampus head", "Hippocampus tail"]
    (tmp_path / "dataset.json").write_text(
        json.dumps({"labels": {"0": "background", "1": "anterior", "2": "posterior"}})
    )
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    assert check_segmentation(dataset, progress=False).class_names == ["background", "anterior", "posterior"]


def test_label_table_names_looks_in_the_folders_given_only(tmp_path: Path) -> None:
    (tmp_path / "deeper").mkdir()
    (tmp_path / "deeper" / "lut.ctbl").write_text(SLICER)
    (tmp_path / "README.txt").write_text("Hippocampus data, see the paper\n")
    assert label_table_names([tmp_path]) == {}
    assert label_table_names([tmp_path, tmp_path / "deeper"])[2] == "tail"
