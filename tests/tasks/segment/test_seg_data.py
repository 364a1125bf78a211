"""Pairing images and masks in folders and manifests; clear errors for bad input; real sets load as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.errors import DatasetError
from medimg.tasks.segment.data import SegmentationDataset, pairing_key
from tests.conftest import shared_data


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def test_pairing_keys() -> None:
    assert pairing_key(Path("21_training.tif")) == pairing_key(Path("21_manual1.gif")) == "21"
    assert pairing_key(Path("21_training_mask.gif")) == "21"
    assert pairing_key(Path("ISIC_0000009_segmentation.png")) == "isic_0000009"
    assert pairing_key(Path("1491-001-d.bmp")) == pairing_key(Path("1491-001.BMP"))
    assert pairing_key(Path("hippocampus_001.nii.gz")) == "hippocampus_001"


@pytest.mark.parametrize(
    ("image", "mask"),
    [
        ("img00.png", "img00_mask.png"),
        ("image1.png", "image1_seg.png"),
        ("scan12.nii.gz", "scan12_seg.nii.gz"),
        ("vol3.nii.gz", "vol3_label.nii.gz"),
        ("IMG0001.jpg", "IMG0001_mask.png"),
    ],
)
def test_a_role_word_before_the_number_pairs_with_its_mask(image: str, mask: str) -> None:
    """``img00.png`` + ``img00_mask.png`` were refused as unpaired: the prefix came off the image's name only."""
    assert pairing_key(Path(image)) == pairing_key(Path(mask))


def test_a_flat_folder_of_img_names_pairs(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / f"img{i:02d}.png", np.full((8, 8), 60 + i))
        _png(tmp_path / f"img{i:02d}_mask.png", np.pad(np.full((4, 4), 255), 2))
    ds = Dataset.load(tmp_path, task="segment")
    assert sorted(c.image.name for c in ds.cases) == ["img00.png", "img01.png", "img02.png"]
    assert all(c.mask is not None and c.mask.name == c.image.name.replace(".png", "_mask.png") for c in ds.cases)


def test_drive_like_layout_with_fov_and_second_observer(tmp_path: Path) -> None:
    img = np.zeros((8, 8, 3))
    for split, ids in (("training", ["21", "22"]), ("test", ["01"])):
        for i in ids:
            stem = f"{i}_{'training' if split == 'training' else 'test'}"
            _png(tmp_path / split / "images" / f"{stem}.png", img)
            _png(tmp_path / split / "1st_manual" / f"{i}_manual1.png", np.zeros((8, 8)))
            _png(tmp_path / split / "mask" / f"{stem}_mask.png", np.full((8, 8), 255))
            _png(tmp_path / split / "2nd_manual" / f"{i}_manual2.png", np.zeros((8, 8)))
    ds = SegmentationDataset.load(tmp_path)
    assert len(ds) == 3 and ds.split_counts() == {"test": 1, "train": 2}
    detected = Dataset.load(tmp_path)  # the same reader, found by detection
    assert isinstance(detected, SegmentationDataset) and detected.cases == ds.cases
    case = next(c for c in ds.cases if c.case_id.startswith("training/images/21"))
    assert case.mask is not None and case.mask.parent.name == "1st_manual"
    assert case.roi is not None and case.roi.parent.name == "mask"
    sample = ds.read(case)
    assert sample.roi is not None and sample.roi.all()


def test_side_by_side_suffix_masks_and_unpaired(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _png(tmp_path / "a.png", np.zeros((4, 4)))
    _png(tmp_path / "a_mask.png", np.zeros((4, 4)))
    _png(tmp_path / "b.png", np.zeros((4, 4)))  # no mask: unlabelled
    _png(tmp_path / "c_mask.png", np.zeros((4, 4)))  # no image: unpaired
    ds = SegmentationDataset.load(tmp_path)
    assert [c.case_id for c in ds.cases] == ["a.png"]
    assert ds.unlabelled == ["b.png"] and ds.unpaired == ["c_mask.png"]
    with pytest.raises(DatasetError, match=r"c_mask\.png"):
        SegmentationDataset.load(tmp_path, strict=True)


def test_bad_input_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        SegmentationDataset.load(tmp_path / "empty")
    _png(tmp_path / "nomasks" / "x.png", np.zeros((4, 4)))
    with pytest.raises(DatasetError, match="no masks"):
        SegmentationDataset.load(tmp_path / "nomasks")
    _png(tmp_path / "sizes" / "images" / "x.png", np.zeros((4, 4)))
    _png(tmp_path / "sizes" / "masks" / "x.png", np.zeros((5, 4)))
    ds = SegmentationDataset.load(tmp_path / "sizes")
    with pytest.raises(DatasetError, match=r"x.png has size \(5, 4\).*\(4, 4\)"):
        ds.read(ds.cases[0])
    with pytest.raises(DatasetError, match="does not exist"):
        SegmentationDataset.load(tmp_path / "missing")


def test_csv_manifest(tmp_path: Path) -> None:
    _png(tmp_path / "i" / "p1.png", np.zeros((4, 4)))
    _png(tmp_path / "m" / "p1.png", np.zeros((4, 4)))
    (tmp_path / "pairs.csv").write_text("image,mask,patient_id,split\ni/p1.png,m/p1.png,P1,test\n")
    ds = SegmentationDataset.load(tmp_path / "pairs.csv")
    assert ds.cases[0].patient_id == "P1" and ds.cases[0].split == "test"
    (tmp_path / "bad.csv").write_text("image,mask\ni/p1.png,m/nope.png\n")
    with pytest.raises(DatasetError, match=r"line 2: mask .*nope\.png does not exist"):
        SegmentationDataset.load(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("path,label\na,b\n")
    with pytest.raises(DatasetError, match="'image' and 'mask'"):
        SegmentationDataset.load(tmp_path / "cols.csv")


@pytest.mark.parametrize(
    ("folder", "cases", "splits", "with_roi"),
    [
        ("drive", 40, {"train": 20, "test": 20}, 40),
        ("isbi2012_membrane", 30, {"train": 30}, 0),
        ("isic2018_task1_256", 2594, {"train": 1600, "val": 400, "test": 594}, 0),
        ("msd_hippocampus", 260, {"train": 260}, 0),  # its TrainingSet/ folder: the train split
        ("herlev", 917, {"none": 917}, 0),
    ],
)
def test_real_sets_pair_as_they_are(folder: str, cases: int, splits: dict[str, int], with_roi: int) -> None:
    from medimg.tasks.segment.cases import determine_dataset_encoding, read_samples

    ds = SegmentationDataset.load(shared_data(folder))
    assert len(ds) == cases and ds.split_counts() == splits
    assert sum(c.roi is not None for c in ds.cases) == with_roi
    loaded = read_samples(ds, ds.cases[:3])
    encoding = determine_dataset_encoding(ds, loaded.samples)
    expected = {"msd_hippocampus": 3, "herlev": 3}.get(folder, 2)
    assert encoding.num_classes == expected


def test_split_words_starting_every_file_name_are_the_splits(tmp_path: Path) -> None:
    """GlaS ships one folder of ``train_1.bmp`` / ``train_1_anno.bmp``, ``testA_1.bmp``, ``testB_1.bmp``..."""
    root = tmp_path / "Warwick QU Dataset (Released 2016_07_08)"
    for prefix in ("train", "testA", "testB"):
        for k in (1, 2):
            _png(root / f"{prefix}_{k}.bmp", np.zeros((6, 6)))
            _png(root / f"{prefix}_{k}_anno.bmp", np.eye(6) * (k + 1))
    ds = SegmentationDataset.load(root)
    splits = {c.image.name: c.split for c in ds.cases}
    assert splits == {
        "train_1.bmp": "train",
        "train_2.bmp": "train",
        "testA_1.bmp": "test",
        "testA_2.bmp": "test",
        "testB_1.bmp": "test",
        "testB_2.bmp": "test",
    }
    _png(root / "extra_1.bmp", np.zeros((6, 6)))  # one name without a split word: the names say nothing
    _png(root / "extra_1_anno.bmp", np.eye(6))
    assert all(c.split is None for c in SegmentationDataset.load(root).cases)


def test_one_split_word_in_every_name_is_no_split(tmp_path: Path) -> None:
    for k in (1, 2, 3):
        _png(tmp_path / f"training_{k}.png", np.zeros((6, 6)))
        _png(tmp_path / f"training_{k}_mask.png", np.eye(6))
    assert all(c.split is None for c in SegmentationDataset.load(tmp_path).cases)
