"""The Cell Tracking Challenge's training sets: ``01/t002.tif`` pairs with ``01_GT/SEG/man_seg002.tif``, the masks'
track ids are cells (never one class per id), and a sequence's frames stay on one side of a split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile

from medimg.data.dataset import SegmentationDataset
from medimg.tasks.segment.cases import determine_dataset_encoding, read_samples


def write_cell_tracking(root: Path, *, gold: bool = True, frames: int = 8) -> Path:
    """Two sequences of 16-bit frames, a mask every other frame with cells labelled by their track ids (up to 40,
    a few cells a frame), and a silver mask of every frame."""
    rng = np.random.default_rng(0)
    for sequence in ("01", "02"):
        for t in range(frames):
            frame = rng.integers(100, 200, size=(48, 48)).astype(np.uint16)
            mask = np.zeros((48, 48), np.uint16)
            for k, track in enumerate(rng.choice(np.arange(2, 41), size=3 + t % 4, replace=False)):
                row, col = 4 + 10 * (k // 4), 4 + 10 * (k % 4)
                mask[row : row + 6, col : col + 6] = track
                frame[row : row + 6, col : col + 6] += 2000
            (root / sequence).mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / sequence / f"t{t:03d}.tif", frame)
            for kind, every in (("GT", 2), ("ST", 1)):
                if (kind == "GT" and not gold) or t % every:
                    continue
                (root / f"{sequence}_{kind}" / "SEG").mkdir(parents=True, exist_ok=True)
                tifffile.imwrite(root / f"{sequence}_{kind}" / "SEG" / f"man_seg{t:03d}.tif", mask)
            (root / f"{sequence}_GT" / "TRA").mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / f"{sequence}_GT" / "TRA" / f"man_track{t:03d}.tif", (mask > 0).astype(np.uint16))
        (root / f"{sequence}_GT" / "TRA" / "man_track.txt").write_text("2 0 7 0\n")
    return root


def test_frames_pair_with_their_gold_masks_and_track_ids_are_cells(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Was: "no image ... has a mask with a matching name (e.g. mask man_seg002.tif vs image t000.tif)"; with the
    pairs listed in a table, the track ids were 40 classes (class_2 ... class_40), status OK."""
    root = write_cell_tracking(tmp_path / "Fluo-N2DH-GOWT1")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = SegmentationDataset.load(root)
    pairs = {Path(c.case_id).as_posix(): c.mask.relative_to(root).as_posix() for c in dataset.cases if c.mask}
    assert pairs["01/t002.tif"] == "01_GT/SEG/man_seg002.tif" and pairs["02/t006.tif"] == "02_GT/SEG/man_seg006.tif"
    assert len(pairs) == 8 and len(dataset.unlabelled) == 8
    assert {c.patient_id for c in dataset.cases} == {"sequence-01", "sequence-02"}
    assert "the silver truth (*_ST/SEG/) is left out" in caplog.text
    encoding = determine_dataset_encoding(dataset, read_samples(dataset, dataset.cases).samples)
    assert encoding.num_classes == 2 and encoding.kind == "threshold" and "instance-labelled" in str(encoding.note)


def test_the_silver_truth_is_read_where_the_set_has_no_gold(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = write_cell_tracking(tmp_path / "Fluo-C2DL-MSC", gold=False)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = SegmentationDataset.load(root)
    assert len(dataset.cases) == 16 and all("_ST/SEG/" in str(c.mask) for c in dataset.cases)
    assert "no gold segmentation" in caplog.text


def test_a_set_inside_its_download_folder_is_found(tmp_path: Path) -> None:
    """``PhC-C2DH-U373.zip`` unzipped into a folder of its own (``ctc/PhC-C2DH-U373/01/...``): refused as "no image
    has a mask with a matching name (e.g. mask man_seg002.tif vs image t000.tif): name each mask like its image"."""
    write_cell_tracking(tmp_path / "ctc" / "PhC-C2DH-U373", frames=4)
    dataset = SegmentationDataset.load(tmp_path / "ctc")
    assert dataset.source == "cell_tracking" and len(dataset.cases) == 4


def test_predicting_a_sets_folder_leaves_its_truth_files_out(tmp_path: Path) -> None:
    """``medimg predict RUN DIC-C2DH-HeLa``: 82 "images" predicted, every ``_GT/SEG``, ``_GT/TRA`` and ``_ST/SEG``
    file among them."""
    from medimg.data.layouts.image_mask_pairs import annotation_files

    root = write_cell_tracking(tmp_path / "DIC-C2DH-HeLa", frames=4)
    files = sorted(root.rglob("*.tif"))
    left = set(annotation_files(files, root))
    assert {p.name for p in files if p not in left} == {f"t{t:03d}.tif" for t in range(4)}
    assert all(p.name.startswith("man_") for p in left)
