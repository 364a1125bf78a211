"""Patients from file names (Kermany's chest X-rays and OCT, NIH, EyePACS): one patient's images on one side of the
split when nothing else names the patients; names without patient ids are left alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.data.name_patients import name_key
from medimg.data.splits import make_splits


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("CNV-1016042-1.jpeg", "1016042"),  # OCT2017: <finding>-<patient>-<image>
        ("NORMAL-1016042-3.jpeg", "1016042"),  # the same patient's other eye or visit, in another class folder
        ("person1_bacteria_1.jpeg", "person1"),  # Kermany: one child's bacterial and viral images
        ("person1_virus_6.jpeg", "person1"),
        ("Patient_12_CT_3.png", "patient12"),
        ("NORMAL2-IM-1427-0001.jpeg", "normal2-im-1427"),
        ("00000001_000.png", "00000001"),
        ("10_left.jpeg", "10"),
        ("M01_01.jpg", "m01"),
        ("ISIC_0024306.jpg", None),  # no digit left: not a patient
        ("IM000000.JPG", None),  # one part
        ("20051020_00001_0100_PP.png", None),  # no counter at the end
        ("1.2.826.0.1.3680043.8.498.1.png", None),  # a UID: one part
        ("acne-cystic-12.jpg", None),
        # the NIH malaria cells: the slide (patient) before a camera's IMG_<date>_<time>; each photo was one group
        ("C100P61ThinF_IMG_20150918_144104_cell_162.png", "c100p61thinf"),
        ("C100P61ThinF_IMG_20150918_150041_cell_8.png", "c100p61thinf"),
        ("C1_thinF_IMG_20150604_104722_cell_9.png", "c1-thinf"),
        ("IMG_20150604_104722_1.jpg", "20150604-104722"),  # no slide before IMG: the name as before
    ],
)
def test_name_key(name: str, key: str | None) -> None:
    assert name_key(name) == key


def _oct(root: Path, patients: int, per_patient: int, *, shared: bool = True) -> None:
    """OCT2017's ``<class>/<class>-<patient>-<image>.jpeg``; ``shared``: each patient has images in both classes."""
    rng = np.random.default_rng(0)
    for c, cls in enumerate(("CNV", "NORMAL")):
        for p in range(patients):
            for i in range(per_patient):
                path = root / cls / f"{cls}-{1000 + p + (0 if shared else 1000 * c)}-{i + 1}.jpeg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(path)


def test_a_patient_in_the_file_names_stays_on_one_side_of_the_split(tmp_path: Path) -> None:
    """A patient with images in two class folders (OCT2017's CNV-1000-1 and NORMAL-1000-1) is one patient. Before:
    two, and re-split, half the patients had images on both sides."""
    _oct(tmp_path, patients=12, per_patient=4)
    dataset = Dataset.load(tmp_path)
    assert {c.patient_id for c in dataset.cases} == {f"name-{1000 + p}" for p in range(12)}
    splits = make_splits(dataset.cases, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert splits.method == "stratified-grouped"
    side: dict[str, set[str]] = {}
    for case in dataset.cases:
        side.setdefault(str(case.patient_id), set()).add(splits.assignment[case.case_id])
    assert all(len(sides) == 1 for sides in side.values()), json.dumps({k: sorted(v) for k, v in side.items()})


def test_names_that_are_not_patient_ids_are_left_alone(tmp_path: Path) -> None:
    """Every name its own key (nothing shared), or too few keys: no grouping."""
    _oct(tmp_path / "unique", patients=30, per_patient=1, shared=False)
    assert all(c.patient_id is None for c in Dataset.load(tmp_path / "unique").cases)
    _oct(tmp_path / "few", patients=3, per_patient=4)  # 6 keys: fewer than MIN_GROUPS
    assert all(c.patient_id is None for c in Dataset.load(tmp_path / "few").cases)
