"""Chest X-ray multi-label sets as users bring them (CheXpert, MIMIC-CXR-JPG): the patient a CheXpert path names
keeps one patient's studies on one side of the split, lateral views are named (and can be left out), and the
empty cells read as absent are counted beside the uncertain ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.splits import make_splits

FINDINGS = "No Finding,Cardiomegaly,Edema,Pleural Effusion"


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value % 256, dtype=np.uint8)).save(path)


def _chexpert(root: Path, patients: int = 12) -> Path:
    """``CheXpert-v1.0-small`` with ``train.csv`` and ``valid.csv``: each patient two studies, the first with a
    frontal and a lateral view."""
    top = root / "CheXpert-v1.0-small"
    cells = [",1.0,,0.0", ",,-1.0,1.0", "1.0,,,", ",0.0,1.0,1.0"]
    for split, first, count in (("train", 1, patients), ("valid", 64541, 3)):
        rows = [f"Path,Sex,Age,Frontal/Lateral,AP/PA,{FINDINGS}"]
        for p in range(first, first + count):
            for study, views in ((1, ("frontal", "lateral")), (2, ("frontal",))):
                for v, view in enumerate(views, start=1):
                    rel = f"CheXpert-v1.0-small/{split}/patient{p:05d}/study{study}/view{v}_{view}.jpg"
                    _image(root / rel, p * 7 + study * 3 + v)
                    side = "AP" if view == "frontal" else ""
                    rows.append(f"{rel},Male,60,{view.title()},{side},{cells[(p + study) % 4]}")
        (top / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return top


def test_chexpert_patients_come_from_their_folders_and_never_straddle_the_split(tmp_path: Path) -> None:
    """CheXpert's tables have no patient column: the patient is the ``patientNNNNN`` folder. Read image by image,
    the test split carved from train held views and studies of patients that trained (a silent leak)."""
    dataset = Dataset.load(_chexpert(tmp_path))
    assert {c.patient_id for c in dataset.cases if c.split == "train"} == {f"patient{p:05d}" for p in range(1, 13)}
    assert {c.patient_id for c in dataset.cases if c.split == "val"} == {f"patient{p:05d}" for p in range(64541, 64544)}
    splits = make_splits(dataset.cases, seed=0, warn=False)
    sides: dict[str, set[str]] = {}
    for case in dataset.cases:
        sides.setdefault(str(case.patient_id), set()).add(splits.assignment[case.case_id])
    assert splits.counts()["test"] > 0
    assert all(len(parts) == 1 for parts in sides.values()), sides


def test_chexpert_lateral_views_are_named_and_can_be_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The ``Frontal/Lateral`` column: lateral radiographs read beside the frontal ones are counted in a warning
    that says how to leave them out, and ``exclude`` does (no warning then)."""
    top = _chexpert(tmp_path)
    Dataset.load(top)
    assert "train.csv: 12 of the 36 images are lateral radiographs (column 'Frontal/Lateral'" in caplog.text
    assert "--exclude '*lateral*' leaves them out" in caplog.text
    caplog.clear()
    frontal = Dataset.load(top, exclude="*lateral*")
    assert len(frontal.cases) == 2 * 15 and not any("lateral" in c.case_id for c in frontal.cases)
    assert "lateral radiographs" not in caplog.text


def test_empty_cells_read_as_absent_are_counted_beside_the_uncertain(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CheXpert's empty cell (the report does not mention the finding) is read as absent: the warning on the
    uncertain labels says how many were, instead of only the -1s."""
    rows = [f"Path,{FINDINGS}"]
    for i, cells in enumerate(["1.0,,,", ",1.0,-1.0,", ",0.0,1.0,1.0"]):
        _image(tmp_path / "train" / f"patient{i}" / "view1_frontal.jpg", 30 * i)
        rows.append(f"train/patient{i}/view1_frontal.jpg,{cells}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    Dataset.load(tmp_path / "train.csv")
    assert (
        "1 uncertain (-1) finding label(s) are read as present (U-Ones), and 4 empty cell(s) (not mentioned) as absent"
        in caplog.text
    )


def _mimic(root: Path, metadata: bool = True) -> Path:
    folder = root / "mimic-cxr-jpg" / "2.0.0"
    images = [("d1", "50000001", "10000032", "train", "PA"), ("d2", "50000001", "10000032", "train", "LATERAL"),
              ("d3", "50000002", "10000040", "validate", "AP"), ("d4", "50000003", "11000050", "test", "PA"),
              ("d5", "50000003", "11000050", "test", "LL")]  # fmt: skip
    for i, (dicom, study, subject, *_) in enumerate(images):
        _image(folder / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg", 20 * i)
    with gzip.open(folder / "mimic-cxr-2.0.0-split.csv.gz", "wt") as f:
        f.write("dicom_id,study_id,subject_id,split\n" + "".join(",".join(i[:4]) + "\n" for i in images))
    with gzip.open(folder / "mimic-cxr-2.0.0-chexpert.csv.gz", "wt") as f:
        f.write(
            "subject_id,study_id,Atelectasis,Cardiomegaly,No Finding\n"
            "10000032,50000001,1.0,-1.0,\n10000040,50000002,,,1.0\n11000050,50000003,0.0,1.0,\n"
        )
    if metadata:
        with gzip.open(folder / "mimic-cxr-2.0.0-metadata.csv.gz", "wt") as f:
            f.write(
                "dicom_id,subject_id,study_id,ViewPosition,Rows,Columns\n"
                + "".join(f"{d},{sub},{st},{view},8,8\n" for d, st, sub, _, view in images)
            )
    return folder


def test_mimic_cxr_lateral_views_are_named_and_can_be_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MIMIC-CXR-JPG's metadata table gives each image's ViewPosition: laterals (LATERAL, LL) read beside the
    frontal views are counted in a warning; ``exclude``/``include`` patterns match the view too."""
    folder = _mimic(tmp_path)
    assert len(Dataset.load(folder).cases) == 5
    assert "2 of the 5 images are lateral radiographs (column 'ViewPosition', e.g. d2.jpg)" in caplog.text
    caplog.clear()
    frontal = Dataset.load(folder, exclude=["*LATERAL", "LL"])
    assert sorted(c.path.stem for c in frontal.cases if c.path is not None) == ["d1", "d3", "d4"]
    assert "lateral radiographs" not in caplog.text
    chosen = Dataset.load(folder, include=["PA", "AP"])
    assert sorted(c.path.stem for c in chosen.cases if c.path is not None) == ["d1", "d3", "d4"]
    assert len(Dataset.load(_mimic(tmp_path / "bare", metadata=False)).cases) == 5  # no metadata: every image
