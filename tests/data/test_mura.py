"""MURA as Stanford ships it: study folders labelled normal/abnormal by two header-less tables."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError

PARTS = ("XR_WRIST", "XR_SHOULDER")


def write_mura(root: Path, patients: int = 4) -> Path:
    """``MURA-v1.1/{train,valid}/<part>/<patient>/study<k>_<label>/image<i>.png`` and the two study tables, one patient
    having studies of both body parts."""
    folder = root / "MURA-v1.1"
    for split, first in (("train", 1), ("valid", 100)):
        rows = []
        for p in range(first, first + patients):
            for k, part in enumerate(PARTS if p == first else PARTS[p % 2 : p % 2 + 1], start=1):
                label = (p + k) % 2
                study = folder / split / part / f"patient{p:05d}" / f"study{k}_{['negative', 'positive'][label]}"
                study.mkdir(parents=True)
                for i in range(1, 3):
                    Image.fromarray(np.full((20, 16), (10 * p + i) % 256, np.uint8)).save(study / f"image{i}.png")
                rows.append(f"MURA-v1.1/{split}/{part}/patient{p:05d}/{study.name}/,{label}")
        (folder / f"{split}_labeled_studies.csv").write_text("\n".join(rows) + "\n")
        (folder / f"{split}_image_paths.csv").write_text("")  # shipped too; the studies table is what labels
    return root


def test_studies_label_their_images_and_valid_is_the_test_split(tmp_path: Path) -> None:
    for given in (write_mura(tmp_path), tmp_path / "MURA-v1.1"):
        data = Dataset.load(given)
        assert data.source == "mura" and data.class_names == ["normal", "abnormal"]
        assert {c.split for c in data.cases} == {"train", "test"}
        for case in data.cases:
            assert case.path is not None and case.label == int(case.path.parent.name.endswith("_positive"))
            assert case.patient_id == case.path.parent.parent.name
        both = [c for c in data.cases if c.patient_id == "patient00001"]
        assert {c.path.parts[-4] for c in both if c.path} == set(PARTS)  # one patient, two body parts
        assert len(data.cases) == 2 * 2 * (4 + 1)


def test_include_keeps_one_body_part(tmp_path: Path) -> None:
    data = Dataset.load(write_mura(tmp_path), include=("XR_WRIST",))
    assert data.cases and all(c.path is not None and c.path.parts[-4] == "XR_WRIST" for c in data.cases)


def test_missing_studies_are_left_out_and_a_bad_row_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    write_mura(tmp_path)
    shutil.rmtree(tmp_path / "MURA-v1.1" / "valid" / "XR_WRIST" / "patient00100")
    with caplog.at_level(logging.WARNING):
        data = Dataset.load(tmp_path)
    assert "1 study folder(s) the tables list are missing" in caplog.text
    assert not any(c.patient_id == "patient00100" and "XR_WRIST" in c.case_id for c in data.cases)
    table = tmp_path / "MURA-v1.1" / "train_labeled_studies.csv"
    table.write_text(table.read_text() + "MURA-v1.1/train/XR_WRIST/patient00009/study1_positive/,yes\n")
    with pytest.raises(DatasetError, match=r"train_labeled_studies.csv, line 6: .* label 0 \(normal\) or 1"):
        Dataset.load(tmp_path)
