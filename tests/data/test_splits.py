from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from medimg.data.case import Case
from medimg.data.splits import Splits, kfold_assignments, make_splits
from medimg.errors import DatasetError


def _cases(n: int = 100, patients: bool = False, split: str | None = None) -> list[Case]:
    return [
        Case(case_id=f"c{i}", label=i % 2, patient_id=f"p{i // 4}" if patients else None, split=split) for i in range(n)
    ]


def test_stratified_fractions_and_reproducible() -> None:
    cases = _cases(200)
    a = make_splits(cases, seed=3)
    b = make_splits(cases, seed=3)
    assert a.assignment == b.assignment
    counts = a.counts()
    assert abs(counts["test"] - 30) <= 4 and abs(counts["val"] - 30) <= 4
    for split in ("train", "val", "test"):
        labels = Counter(c.label for c in a.cases(cases, split))
        assert abs(labels[0] - labels[1]) <= 2


def test_patients_never_straddle_splits() -> None:
    cases = _cases(200, patients=True)
    splits = make_splits(cases, seed=0)
    by_patient: dict[str, set[str]] = {}
    for c in cases:
        by_patient.setdefault(str(c.patient_id), set()).add(splits.assignment[c.case_id])
    assert all(len(s) == 1 for s in by_patient.values())
    assert splits.method == "stratified-grouped"


def test_own_split_kept_and_val_carved() -> None:
    cases = _cases(80, split="train") + [Case(f"t{i}", i % 2, split="test") for i in range(20)]
    splits = make_splits(cases)
    assert splits.counts()["test"] == 20
    assert splits.counts()["val"] > 0
    assert "carved-val" in splits.method
    assert Splits.from_dict(splits.to_dict()).assignment == splits.assignment


def test_kfold_covers_everything_once() -> None:
    cases = _cases(50, patients=True)
    folds = kfold_assignments(cases, 5)
    assert set(folds) == set(range(5))
    patients: dict[str, set[int]] = {}
    for c, f in zip(cases, folds, strict=True):
        patients.setdefault(str(c.patient_id), set()).add(f)
    assert all(len(s) == 1 for s in patients.values())
    with pytest.raises(DatasetError):
        kfold_assignments(cases, 1)


def test_too_many_folds_names_how_many_are_left_and_the_most_that_works() -> None:
    """``--folds 33`` on 36 images said "needs at least 33 patients/images", not that 30 were left once the test
    split was held out, nor which --folds would do."""
    with pytest.raises(DatasetError, match=r"and 30 are left to fold once the test split's 6 images are held out "):
        kfold_assignments(_cases(30), 33, held_out=6)
    with pytest.raises(DatasetError, match=r"and 12 are left to fold: pass --folds 12 at most"):
        kfold_assignments(_cases(48, patients=True), 13)


def test_bad_fractions() -> None:
    with pytest.raises(DatasetError, match="fractions"):
        make_splits(_cases(), val_fraction=0.6, test_fraction=0.5)


def test_classes_smaller_than_the_parts_are_split_without_stratification() -> None:
    """Five images per class cannot be stratified into 1/7 parts (sklearn refuses): the parts are drawn at random
    instead of `medimg fit` failing with a traceback."""
    cases = [Case(case_id=f"{k}/{i}", label=k) for k in (0, 1) for i in range(5)]
    splits = make_splits(cases)
    counts = Counter(splits.assignment.values())
    assert set(splits.assignment) == {c.case_id for c in cases}
    assert counts["test"] >= 1 and counts["val"] >= 1 and counts["train"] >= 6


def test_a_small_set_without_classes_is_not_called_images_without_findings(caplog: pytest.LogCaptureFixture) -> None:
    """Six segmentation cases, every mask holding nuclei, were "images without any finding (6)"."""
    cases = [Case(case_id=f"c{i}", label=None) for i in range(6)]
    with caplog.at_level("WARNING"), pytest.raises(DatasetError, match="only 6 images: too few to hold out a test"):
        make_splits(cases, seed=0)
    assert "without any finding" not in caplog.text


def test_small_classes_are_reported_in_medimgs_words_not_sklearns(
    caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    cases = [Case(case_id=f"c{i}", label=int(i < 4), path=None) for i in range(40)]  # 4 images of class 1
    with caplog.at_level("WARNING"):
        make_splits(cases, seed=0, class_names=["normal", "cyst"])
    assert caplog.text.count("too few to sit in every part") == 1  # once per split
    assert "class 'cyst' (4 images)" in caplog.text and "normal" not in caplog.text  # the class is named
    caplog.clear()
    with caplog.at_level("WARNING"):
        kfold_assignments(cases, folds=5, seed=0)
    assert "folds to hold them: class number 1 (4 images)" in caplog.text
    assert not [w for w in recwarn if "least populated class" in str(w.message)]


def test_images_without_a_finding_are_named_so_not_called_a_class(caplog: pytest.LogCaptureFixture) -> None:
    """Multi-label data with one "no finding" image warned, twice, that "a class has only 1 image(s)" while every
    finding had 30 images: the small stratum was the images without a finding, and check split twice."""
    cases = [Case(case_id=f"c{i}", label=None, path=None, findings=(i % 2,)) for i in range(60)]
    cases.append(Case(case_id="none", label=None, path=None, findings=()))
    with caplog.at_level("WARNING"):
        make_splits(cases, seed=0, class_names=["lesion", "noise"])
        make_splits(cases, seed=0, warn=False)
    assert caplog.text.count("too few") == 1 and "images without any finding (1)" in caplog.text


def test_a_class_left_out_of_the_test_split_is_named_with_what_it_means(caplog: pytest.LogCaptureFixture) -> None:
    # 400 normal images and 2 of a rare class: it cannot sit in all three splits, and a test split without it
    # scored accuracy 1.0 with the rare class's sensitivity undefined, the warning only "too few ... (7 parts)"
    cases = [Case(case_id=f"n{i}", label=0) for i in range(400)] + [Case(case_id=f"r{i}", label=1) for i in range(2)]
    with caplog.at_level("WARNING"):
        splits = make_splits(cases, seed=0, class_names=["normal", "rare"])
    absent = [p for p in ("val", "test") if not any(splits.assignment[f"r{i}"] == p for i in range(2))]
    assert absent  # 2 images cannot reach train, validation and test
    lines = [r.getMessage() for r in caplog.records if "none in the" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("class 'rare' (2 images): none in the")
    if "test" in absent:
        assert "the test scores say nothing about it" in lines[0]
    assert "normal" not in lines[0]
    caplog.clear()
    with caplog.at_level("WARNING"):
        make_splits([Case(case_id=f"c{i}", label=i % 2) for i in range(200)], seed=0, class_names=["a", "b"])
    assert "none in the" not in caplog.text


def test_a_group_holding_a_whole_class_is_not_carved_out_of_training() -> None:
    """VinDr-Mammo's training split, whose BI-RADS 4 images and 16 others were one group of near-identical copies:
    carving the validation split took the group whole (28 of 48 cases), and the model trained without BI-RADS 4."""
    cases = [Case(case_id=f"a{i}", label=0, split="train", patient_id="one" if i < 16 else f"p{i}") for i in range(36)]
    cases += [Case(case_id=f"b{i}", label=1, split="train", patient_id="one") for i in range(12)]
    cases += [Case(case_id=f"t{i}", label=i % 2, split="test", patient_id=f"t{i}") for i in range(8)]
    for seed in range(6):
        splits = make_splits(cases, seed=seed)
        assert all(splits.assignment[f"b{i}"] == "train" for i in range(12)), seed
        assert 0 < Counter(splits.assignment.values())["val"] <= 2 * 0.15 * 48, seed


def test_a_class_left_out_of_training_is_said_and_noted(caplog: pytest.LogCaptureFixture) -> None:
    from medimg.data.splits import _warn_absent_classes

    cases = [Case(case_id=f"a{i}", label=0) for i in range(4)] + [Case(case_id=f"b{i}", label=1) for i in range(2)]
    assignment = {"a0": "train", "a1": "train", "a2": "val", "a3": "test", "b0": "val", "b1": "test"}
    with caplog.at_level("WARNING"):
        notes = _warn_absent_classes(cases, assignment, ["BI-RADS 1", "BI-RADS 4"])
    assert len(notes) == 1 and "'BI-RADS 4'" in notes[0] and "none in the training split" in notes[0]
    assert "never learns it" in caplog.text


def test_a_part_drawn_without_stratification_is_noted_in_the_split() -> None:
    cases = [Case(case_id=f"c{i}", label=i % 2, patient_id=f"p{i}") for i in range(12)]
    splits = make_splits(cases)
    assert any("drawn without stratification" in note for note in splits.notes)


def test_sun_seg_camel_case_split_folders_are_its_splits(tmp_path: Path) -> None:
    """SUN-SEG: ``TrainDataset/{Frame,GT}/case1_1/``, ``TestEasyDataset/Seen/{Frame,GT}/case3_1/``: read as no split,
    the official test frames trained on ("6 of the 8 images ... are this run's training or validation images")."""
    import numpy as np
    from PIL import Image

    from medimg import Dataset
    from medimg.data.case import normalise_split

    assert [normalise_split(n) for n in ("TrainDataset", "TestEasyDataset", "ValidationSet", "Testosterone")] == [
        "train", "test", "val", None,
    ]  # fmt: skip
    for split, cases in (("TrainDataset", ("case1_1", "case1_3")), ("TestEasyDataset/Seen", ("case3_1",))):
        for case in cases:
            for k in range(3):
                for role in ("Frame", "GT"):
                    folder = tmp_path / split / role / case
                    folder.mkdir(parents=True, exist_ok=True)
                    pixels = np.zeros((16, 16), np.uint8)
                    pixels[k : k + 5, 3:9] = 255 if role == "GT" else 120 + k
                    Image.fromarray(pixels).save(folder / f"{case}_frame{k}.{'png' if role == 'GT' else 'jpg'}")
    dataset = Dataset.load(tmp_path)
    assert dataset.split_counts() == {"train": 6, "test": 3}


def test_a_val_split_without_a_train_split_is_trained_on() -> None:
    """WSSS4LUAD: masks only in 2.validation/ and 3.testing/ (its 1.training/ images have image-level labels only).
    The run refused with "the split left 0 training and 10 validation cases; add images or change --val-fraction"."""
    cases = _cases(20, split="val") + [Case(case_id=f"t{i}", label=i % 2, split="test") for i in range(10)]
    splits = make_splits(cases, seed=0)
    counts = splits.counts()
    assert counts["test"] == 10 and counts["train"] + counts["val"] == 20 and counts["train"] > counts["val"] > 0
    assert "val-trained" in splits.method and "its val split (20 cases) is trained on" in splits.notes[0]
    assert all(splits.assignment[f"t{i}"] == "test" for i in range(10))


def test_the_larger_test_fraction_offered_leaves_room_for_the_validation_split() -> None:
    """CoNIC's 24 patches of 6 slides: the refusal offered '--test-fraction 0.17', which then refused again ('only 5
    groups ... pass --val-fraction 0.20'); it now offers both, and they split."""
    import re

    cases = [Case(case_id=f"c{i}", label=None, patient_id=f"slide{i % 6}") for i in range(24)]
    with pytest.raises(DatasetError) as refused:
        make_splits(cases)
    offered = re.search(r"--test-fraction such as ([\d.]+) with --val-fraction ([\d.]+)", str(refused.value))
    assert offered is not None, str(refused.value)
    splits = make_splits(cases, test_fraction=float(offered.group(1)), val_fraction=float(offered.group(2)))
    assert set(splits.assignment.values()) == {"train", "val", "test"}


def test_the_datas_own_split_putting_a_patient_on_several_sides_is_warned_of_and_noted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """m2cai16-tool-locations' ImageSets/Main lists put frames of every video in train, val and test: check warned,
    fit only said the videos were patients and scored test frames of videos it trained on."""
    import logging

    cases = [
        Case(case_id=f"v{v:02d}_{f}.jpg", label=f % 2, split=("train", "val", "test")[f % 3], patient_id=f"v{v}")
        for v in range(4)
        for f in range(6)
    ]
    with caplog.at_level(logging.WARNING, logger="medimg"):
        splits = make_splits(cases)
    assert splits.method == "own"
    assert any("4 patient(s) have images in several of the data's own splits" in note for note in splits.notes)
    assert "the test score measures patients seen in training" in caplog.text
    kept = [
        Case(
            case_id=c.case_id,
            label=c.label,
            split=("train", "val", "test")[int(c.case_id[1:3]) % 3],
            patient_id=c.patient_id,
        )
        for c in cases
    ]
    assert not any("several of the data's own splits" in note for note in make_splits(kept).notes)
