"""One image in two formats in twin folders (Kaggle's CVC-ClinicDB: ``PNG/`` beside ``TIF/``, each with
``Original/`` + ``Ground Truth/``): the copies are grouped by name so a split keeps them on one side. Before: split
at random, 5 of a replica's 7 test images had their copy in training and `check` said OK."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.data.splits import make_splits


def _pair(image: Path, mask: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    label = np.zeros((24, 24), np.uint8)
    label[4 : 8 + seed % 10, 4:14] = 255
    for path, array in ((image, pixels), (mask, label)):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)


def test_copies_in_two_formats_stay_on_one_side_of_the_split(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for top, suffix in (("PNG", ".png"), ("TIF", ".tif")):
        for i in range(1, 13):
            _pair(tmp_path / top / "Original" / f"{i}{suffix}", tmp_path / top / "Ground Truth" / f"{i}{suffix}", i)
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 24
    assert "24 image(s) are one image in several formats in twin folders" in caplog.text
    assert "--include '*.png'" in caplog.text
    patients = {c.case_id: c.patient_id for c in dataset.cases}
    assert patients["PNG/Original/3.png"] == patients["TIF/Original/3.tif"] != patients["PNG/Original/4.png"]
    splits = make_splits([c.as_case() for c in dataset.cases], val_fraction=0.2, test_fraction=0.2, seed=0)
    for i in range(1, 13):
        assert splits.assignment[f"PNG/Original/{i}.png"] == splits.assignment[f"TIF/Original/{i}.tif"]


def test_split_folders_and_one_format_are_not_copies(tmp_path: Path) -> None:
    """``train/images/1.png`` and ``test/images/1.png`` are two images; so are two folders in one format."""
    for top in ("train", "test"):
        for i in range(1, 4):
            _pair(tmp_path / "a" / top / "images" / f"{i}.png", tmp_path / "a" / top / "masks" / f"{i}.png", i)
    assert all(c.patient_id is None for c in Dataset.load(tmp_path / "a", task="segment").cases)
    for top in ("site1", "site2"):
        for i in range(1, 4):
            _pair(tmp_path / "b" / top / "images" / f"{i}.png", tmp_path / "b" / top / "masks" / f"{i}.png", i)
    assert all(c.patient_id is None for c in Dataset.load(tmp_path / "b", task="segment").cases)


def test_converted_copies_are_found_by_name_and_pixels(tmp_path: Path) -> None:
    """An evaluation set saved from the training images in another format (PNG of TIFF, JPEG of PNG): the byte
    comparison missed them and their scores were taken for an external set's."""
    from medimg.data.format_copies import converted_copies_among

    rng = np.random.default_rng(3)
    smooth = np.kron(rng.integers(0, 255, (8, 8)), np.ones((8, 8))).astype(np.uint8)  # JPEG keeps blocks well
    trained = tmp_path / "train" / "a.tif"
    trained.parent.mkdir()
    Image.fromarray(smooth).save(trained)
    (tmp_path / "ext").mkdir()
    Image.fromarray(smooth).save(tmp_path / "ext" / "a.png")
    Image.fromarray(smooth).convert("RGB").save(tmp_path / "ext" / "A.jpg", quality=90)
    Image.fromarray(255 - smooth).save(tmp_path / "ext" / "a.bmp")  # the same name, another picture
    Image.fromarray(smooth).save(tmp_path / "ext" / "b.png")  # the same picture, another name: the byte check's
    found = converted_copies_among(sorted((tmp_path / "ext").iterdir()), [trained])
    assert sorted(p.name for p, original in found if original == trained) == ["A.jpg", "a.png"]
    assert converted_copies_among([tmp_path / "ext" / "a.png"], [trained], most=0) == []


def test_analyze_headers_alike_are_copies_only_when_their_pixels_are(tmp_path: Path) -> None:
    """OASIS-1's Analyze 7.5 pairs: every ``.hdr`` of one protocol holds the same bytes, the ``.img`` beside it the
    scan. Compared by the header alone, every scan was a copy of every other: a segmentation fit refused with 'only
    1 group once identical copies are kept together'."""
    import nibabel as nib

    from medimg.data.identical_files import identical_file_groups

    headers = []
    for i in range(3):
        pixels = np.full((6, 6, 4), i if i < 2 else 0, np.int16)  # scans 0 and 2 hold the same pixels
        path = tmp_path / f"OAS1_000{i}_MR1_mpr_n4_anon_111_t88_gfc.hdr"
        nib.save(nib.AnalyzeImage(pixels, np.eye(4)), str(path))
        headers.append(path)
    assert headers[0].read_bytes() == headers[1].read_bytes()  # the headers alike, as OASIS's are
    assert identical_file_groups(headers) == [[headers[0], headers[2]]]


def test_metaimage_headers_alike_are_copies_only_when_their_data_files_are(tmp_path: Path) -> None:
    """RETOUCH's ``TRAIN001/oct.mhd`` + ``oct.raw``: one vendor's headers are the same text (``ElementDataFile =
    oct.raw``), the ``.raw`` beside each its own scan. Compared by the header alone, each vendor's scans were
    "byte-for-byte copies" and the split went by vendor."""
    from medimg.data.identical_files import identical_file_groups

    header = "ObjectType = Image\nNDims = 3\nDimSize = 4 4 2\nElementType = MET_UCHAR\nElementDataFile = oct.raw\n"
    headers = []
    for i, value in enumerate((1, 2, 1)):  # scans 0 and 2 hold the same pixels
        case = tmp_path / f"TRAIN00{i + 1}"
        case.mkdir()
        (case / "oct.mhd").write_text(header)
        (case / "oct.raw").write_bytes(bytes([value]) * 32)
        headers.append(case / "oct.mhd")
    assert identical_file_groups(headers) == [[headers[0], headers[2]]]
