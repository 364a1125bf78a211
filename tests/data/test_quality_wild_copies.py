"""Copies a data manager finds in the wild: a test image that is a training image trimmed at its borders or
mirrored (the near-duplicate check compared whole thumbnails only and missed both), two blank files reported again as
"duplicates", and identical copies within a split counted but never named."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from medimg import Dataset
from medimg.data.quality import check_dataset
from tests.data.radiographs import radiograph


def _folders(root: Path, rng: np.random.Generator, count: int = 12) -> list[np.ndarray]:
    originals = []
    for split in ("train", "test"):
        for cls in ("normal", "pneumonia"):
            (root / split / cls).mkdir(parents=True)
    for i in range(count):
        picture = radiograph(rng)
        originals.append(picture)
        split = "train" if i < count - 4 else "test"
        Image.fromarray(picture).save(root / split / ("normal", "pneumonia")[i % 2] / f"{i}.png")
    return originals


def test_cropped_and_mirrored_copies_across_splits_are_found(tmp_path: Path) -> None:
    originals = _folders(tmp_path, np.random.default_rng(3))
    leaks = tmp_path / "test" / "normal"
    Image.fromarray(originals[0][5:-5, 5:-5]).save(leaks / "trimmed.png")  # ~5% off every border
    Image.fromarray(originals[2][5:, 5:]).save(leaks / "corner.png")  # top and left trimmed
    Image.fromarray(originals[4][:, ::-1].copy()).save(leaks / "mirrored.png")
    report = check_dataset(Dataset.load(tmp_path))
    found = {m.split(" ")[0] for group in report.cross_split_near_duplicates for m in group if m.startswith("test/")}
    assert found == {"test/normal/trimmed.png", "test/normal/corner.png", "test/normal/mirrored.png"}
    assert len(report.near_duplicates) == 3 and not report.ok  # the distinct pictures are not grouped


def test_blank_files_are_blank_not_duplicates_and_identical_copies_are_named(tmp_path: Path) -> None:
    _folders(tmp_path, np.random.default_rng(4))
    train = tmp_path / "train"
    Image.fromarray(np.zeros((96, 96), np.uint8)).save(train / "normal" / "black.png")
    Image.fromarray(np.zeros((96, 96), np.uint8)).save(train / "pneumonia" / "black2.png")
    shutil.copy(train / "normal" / "0.png", train / "normal" / "0_copy.png")
    shutil.copy(train / "normal" / "2.png", train / "pneumonia" / "2_relabelled.png")
    report = check_dataset(Dataset.load(tmp_path))
    assert sorted(report.blank) == ["train/normal/black.png", "train/pneumonia/black2.png"]
    assert sorted(sorted(g) for g in report.duplicates) == [
        ["train/normal/0.png", "train/normal/0_copy.png"],
        ["train/normal/2.png", "train/pneumonia/2_relabelled.png"],
    ]
    assert len(report.label_conflicts) == 1  # the two blank files are no label conflict
    text = report.summary()
    assert "identical images (same split): train/normal/0.png, train/normal/0_copy.png" in text
    assert any("1 group(s) of identical images within a split" in w for w in report.warnings)


def test_a_text_label_and_images_of_odd_sizes_are_named_but_a_dark_radiograph_is_not(tmp_path: Path) -> None:
    from PIL import ImageDraw

    _folders(tmp_path, np.random.default_rng(5))
    train = tmp_path / "train"
    label = Image.new("L", (96, 96), 255)
    ImageDraw.Draw(label).text((4, 40), "ID 2019-03", fill=0)  # a scanned label: a line of text on white
    label.save(train / "pneumonia" / "label.png")
    dark = (radiograph(np.random.default_rng(6)).astype(np.float32) / 255 * 12).astype(np.uint8)
    Image.fromarray(dark).save(train / "normal" / "dark.png")  # real but dark: values 0..12
    Image.fromarray(radiograph(np.random.default_rng(7), 12)).save(train / "normal" / "thumb.png")
    Image.fromarray(radiograph(np.random.default_rng(8), 400)).save(train / "pneumonia" / "full.png")
    report = check_dataset(Dataset.load(tmp_path))
    assert report.blank == [] and report.suspected_masks == []
    text = "\n".join(report.warnings)
    assert f"1 of {len(Dataset.load(tmp_path).cases)} image(s) are nearly empty" in text
    assert "train/pneumonia/label.png" in text and "--exclude 'label.png'" in text and "dark.png" not in text
    assert "(e.g. train/pneumonia/label.png: 9" in text
    assert "thumb.png: 12x12 px, against a median of 96x96 px" in text
    assert "full.png: 400x400 px, against a median of 96x96 px" in text


def test_turned_and_upside_down_copies_across_splits_are_found(tmp_path: Path) -> None:
    # augmented copies saved to disk as pathology tiles are: quarter and half turns, flips, one not square
    originals = _folders(tmp_path, np.random.default_rng(5))
    leaks = tmp_path / "test" / "pneumonia"
    Image.fromarray(np.rot90(originals[0]).copy()).save(leaks / "turned90.png")
    Image.fromarray(np.rot90(originals[2], 2).copy()).save(leaks / "turned180.png")
    Image.fromarray(originals[4][::-1].copy()).save(leaks / "upside_down.png")
    oblong = radiograph(np.random.default_rng(6))[:, :80]
    Image.fromarray(oblong).save(tmp_path / "train" / "normal" / "oblong.png")
    Image.fromarray(np.rot90(oblong, 3).copy()).save(leaks / "oblong_turned270.png")
    Image.fromarray(originals[6].T.copy()).save(leaks / "transposed.png")
    report = check_dataset(Dataset.load(tmp_path))
    found = {m.split(" ")[0] for group in report.cross_split_near_duplicates for m in group if m.startswith("test/")}
    names = ("turned90", "turned180", "upside_down", "oblong_turned270", "transposed")
    assert found == {f"test/pneumonia/{name}.png" for name in names}
    assert len(report.near_duplicates) == 5 and not report.ok  # the distinct pictures are not grouped


def test_data_made_of_nearly_empty_images_is_called_its_kind_not_told_to_exclude_them(tmp_path: Path) -> None:
    """AdrenalMNIST3D-like binary shapes (most voxels 0): check said every image was 'nearly empty' and suggested
    --exclude '0', which names no file of an .npz and would have left nothing to train on."""
    rng = np.random.default_rng(0)
    images = np.zeros((40, 28, 28), np.uint8)
    for image in images:
        r, c = rng.integers(8, 20, 2)
        image[r - 3 : r + 3, c - 3 : c + 3] = 255  # a small bright shape: 95% of the pixels are 0
    labels = rng.integers(0, 2, (40, 1))
    arrays = {
        f"{split}_{kind}": data
        for split in ("train", "val", "test")
        for kind, data in (("images", images), ("labels", labels))
    }
    np.savez(tmp_path / "shapesmnist.npz", **arrays)
    text = "\n".join(check_dataset(Dataset.load(tmp_path / "shapesmnist.npz")).warnings)
    assert "image(s) are nearly empty" in text and "most of the data, so likely its kind" in text
    assert "--exclude" not in text
