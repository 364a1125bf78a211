"""Too little data to split: the message says how many files, how many groups once copies/patients are kept
together, and which options make it fit (was: "only 2 patients/images to split into parts of 15%" for 20 files)."""

from __future__ import annotations

import pytest

from medimg.data.case import Case
from medimg.data.splits import make_splits
from medimg.errors import DatasetError


def test_copies_are_counted_as_files_and_groups():
    cases = [Case(f"c{i}", i % 2, same_image=f"copy{i % 2}") for i in range(20)]
    with pytest.raises(DatasetError) as error:
        make_splits(cases, warn=False)
    message = str(error.value)
    assert message.startswith("20 images, only 2 groups once identical copies of an image are kept together")
    assert "test split of 15%" in message
    assert "--test-fraction 0" in message and "--val-fraction 0.50" in message
    # the proposed options work
    assert make_splits(cases, test_fraction=0, val_fraction=0.5, warn=False).counts()["val"] == 10


def test_one_group_of_copies_asks_for_other_images_only():
    cases = [Case(f"c{i}", i % 2, same_image="blank") for i in range(20)]
    with pytest.raises(DatasetError, match=r"20 images, only 1 group .*; add other images \(not copies of these\)$"):
        make_splits(cases, warn=False)


def test_two_images_and_patients_name_the_options():
    with pytest.raises(DatasetError, match=r"^only 2 images: too few .* --test-fraction 0 .*--val-fraction 0.50"):
        make_splits([Case("a", 0), Case("b", 1)], warn=False)
    patients = [Case(f"c{i}", i % 2, patient_id=f"p{i % 4}") for i in range(20)]
    with pytest.raises(DatasetError, match="20 images, only 4 groups once the images of one patient") as error:
        make_splits(patients, warn=False)
    assert "add images of other patients" in str(error.value)
    with pytest.raises(DatasetError, match=r"15 images left for .* 3 groups .*validation .*--val-fraction 0.25"):
        make_splits(patients, test_fraction=0.25, warn=False)
    assert make_splits(patients, test_fraction=0.25, val_fraction=0.25, warn=False).counts()["val"] > 0
