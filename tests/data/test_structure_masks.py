"""One binary mask file per structure in a folder per case (TotalSegmentator, AbdomenAtlas): the structures are
the classes, composed into one label map on read; a table beside the cases gives the split."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import data_task, select_layout
from medimg.errors import DatasetError
from medimg.tasks.segment.labels import LabelEncoding, encode_mask

SHAPE = (12, 10, 8)


def _volume(path: Path, array: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(array, np.diag([1.5, 1.5, 2.0, 1.0])), path)


def _totalsegmentator(root: Path, cases: int = 4, structures: tuple[str, ...] = ("spleen", "liver")) -> None:
    """``s000k/ct.nii.gz`` + ``s000k/segmentations/<structure>.nii.gz`` and TotalSegmentator's ``meta.csv``."""
    splits = ["train", "train", "val", "test"]
    for k in range(cases):
        folder = root / f"s{k:04d}"
        (folder / "segmentations").mkdir(parents=True)
        _volume(folder / "ct.nii.gz", np.full(SHAPE, k, np.int16))
        for i, name in enumerate(structures):
            mask = np.zeros(SHAPE, np.uint8)
            mask[2 * i : 2 * i + 3] = 1  # structure i covers slices 2i..2i+2: the two overlap on slice 2
            _volume(folder / "segmentations" / f"{name}.nii.gz", mask)
    rows = [f"s{k:04d};{60 + k};{splits[k % 4]}" for k in range(cases)]
    (root / "meta.csv").write_text("image_id;age;split\n" + "\n".join(rows) + "\n")


def test_structures_are_classes_composed_into_one_label_map(tmp_path: Path) -> None:
    _totalsegmentator(tmp_path)
    assert select_layout(tmp_path).name == "structure_masks" and data_task(tmp_path)[0] == "segment"
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, SegmentationDataset)
    assert dataset.value_names == {0: "background", 1: "liver", 2: "spleen"}  # alphabetical, whatever the order
    assert [c.split for c in dataset.cases] == ["train", "train", "val", "test"]  # from meta.csv
    case = dataset.cases[0]
    assert case.case_id == "s0000" and case.image.name == "ct.nii.gz"
    mask = dataset.read(dataset.cases[0]).mask
    assert mask.shape == (1, *SHAPE)
    # liver: slices 2..4, spleen: 0..2; slice 2 is both, and the later name (spleen) wins
    assert [int(mask[0, z].max()) for z in range(6)] == [2, 2, 2, 1, 1, 0]
    # SegmentationDataset.load (what medimg fit --task segment calls) reads it the same way
    assert SegmentationDataset.load(tmp_path).value_names == dataset.value_names


def test_meta_csv_beside_the_case_folders_in_a_download_folder_gives_the_split(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Given the folder the archive was unpacked into (``Totalsegmentator_dataset_v201/`` with ``meta.csv`` inside),
    the split of meta.csv was not read: its test cases trained on. Each overlapping structure's warning came once per
    case, naming "the class of segmentations/"."""
    _totalsegmentator(tmp_path / "Totalsegmentator_dataset_v201", cases=8)
    dataset = Dataset.load(tmp_path)
    assert [c.split for c in dataset.cases] == ["train", "train", "val", "test"] * 2
    with caplog.at_level(logging.WARNING, logger="medimg"):
        for case in dataset.cases:
            dataset.read(case)
    assert caplog.text.count("overlaps other structure masks") == 1
    assert "so spleen is trained there" in caplog.text and "--exclude 'spleen.nii.gz'" in caplog.text


def test_detection_boxes_from_the_structure_masks(tmp_path: Path) -> None:
    """``--task detect`` on TotalSegmentator: one box per structure, named for it. It was an error telling the user to
    name each mask like its image (``kidney_left.nii.gz`` vs ``ct.nii.gz``), which cannot be done."""
    _totalsegmentator(tmp_path)
    boxes = Dataset.load(tmp_path, task="detect")
    assert boxes.class_names == ["liver", "spleen"] and len(boxes.cases) == 4
    first = boxes.cases[0].boxes or ()
    # spleen covers slices 0..2 of the first axis (z), liver 2..4 under the spleen on slice 2; each the whole of the
    # other two axes
    assert sorted((boxes.class_names[b.label], b.z1, b.z2, b.x2, b.y2) for b in first) == [
        ("liver", 3.0, 5.0, 8.0, 10.0),
        ("spleen", 0.0, 3.0, 8.0, 10.0),
    ]


def test_patterns_choose_structures_and_a_missing_file_is_an_absent_structure(tmp_path: Path) -> None:
    _totalsegmentator(tmp_path, structures=("liver", "spleen", "aorta"))
    (tmp_path / "s0001" / "segmentations" / "aorta.nii.gz").unlink()
    dataset = Dataset.load(tmp_path, task="segment", exclude="aorta*")
    assert dataset.value_names == {0: "background", 1: "liver", 2: "spleen"}
    chosen = Dataset.load(tmp_path, task="segment", include="spleen")  # a structure's name matches too
    assert chosen.value_names == {0: "background", 1: "spleen"}
    assert sorted(np.unique(chosen.read(chosen.cases[0]).mask)) == [0, 1]
    every = Dataset.load(tmp_path, task="segment")
    assert every.value_names[1] == "aorta"
    assert 1 not in np.unique(every.read(every.cases[1]).mask)  # s0001 has no aorta file: no aorta
    with pytest.raises(DatasetError, match=r"no masks found.*--include"):
        Dataset.load(tmp_path, task="segment", include="kidney*")


def test_abdomenatlas_combined_labels_are_not_the_image_and_empty_structure_folders_are_unlabelled(
    tmp_path: Path,
) -> None:
    for k in range(3):
        folder = tmp_path / "AbdomenAtlas" / f"BDMAP_{k:08d}"
        (folder / "segmentations").mkdir(parents=True)
        _volume(folder / "ct.nii.gz", np.zeros(SHAPE, np.int16))
        _volume(folder / "combined_labels.nii.gz", np.zeros(SHAPE, np.uint8))
        if k < 2:
            _volume(folder / "segmentations" / "kidney_left.nii.gz", np.ones(SHAPE, np.uint8))
    dataset = Dataset.load(tmp_path, task="segment")  # the archive's wrapping folder is looked into
    assert [c.image.name for c in dataset.cases] == ["ct.nii.gz", "ct.nii.gz"]
    assert [c.split for c in dataset.cases] == [None, None]
    assert dataset.unlabelled == ["AbdomenAtlas/BDMAP_00000002/ct.nii.gz"]


def test_a_structure_mask_of_another_size_names_the_file(tmp_path: Path) -> None:
    for k in range(2):
        folder = tmp_path / f"case{k}"
        (folder / "segmentations").mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "image.png")
        Image.fromarray(np.full((8, 8), 255, np.uint8)).save(folder / "segmentations" / "heart.png")
        Image.fromarray(np.zeros((6, 8), np.uint8)).save(folder / "segmentations" / "lung.png")
    dataset = Dataset.load(tmp_path, task="segment")
    with pytest.raises(DatasetError, match=r"lung\.png has size \(6, 8\).*heart\.png"):
        dataset.read(dataset.cases[0])


def test_an_external_set_with_fewer_structures_is_mapped_by_name(tmp_path: Path) -> None:
    """A run trained on liver + spleen evaluated on a set annotating only the spleen: its composed value 1 is the
    run's class 2 (it was read as liver: Dice 0 without a word)."""
    from medimg.tasks.segment.evaluate import mask_encoding_plan
    from medimg.tasks.segment.planning import SegPlan

    _totalsegmentator(tmp_path, structures=("spleen",))
    names = ["background", "liver", "spleen"]
    plan = SegPlan(num_classes=3, class_names=names, label_encoding=LabelEncoding(kind="identity", num_classes=3))
    dataset = Dataset.load(tmp_path, task="segment")
    mapped = mask_encoding_plan(plan, dataset, dataset.cases).label_encoding
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 1]]], np.float32), mapped), [[0, 2]])


def test_class_folders_and_image_mask_pairs_are_not_structure_sets(tmp_path: Path) -> None:
    for name in ("normal", "tumour"):
        (tmp_path / "classes" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "classes" / name / "a.png")
    assert select_layout(tmp_path / "classes").name == "class_folders"
    for k in range(3):  # a case folder with a masks/ folder: image/mask pairs, not structures
        folder = tmp_path / "pairs" / f"case{k}"
        (folder / "masks").mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / f"case{k}.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "masks" / f"case{k}.png")
    assert select_layout(tmp_path / "pairs").name != "structure_masks"


def test_predicting_a_case_folder_leaves_its_structure_masks_out(tmp_path: Path) -> None:
    """``medimg predict RUN s0000/`` predicted ``segmentations/liver.nii.gz`` as a CT of its own."""
    from medimg.data.layouts.image_mask_pairs import annotation_files

    _totalsegmentator(tmp_path, cases=1)
    files = sorted(p for p in (tmp_path / "s0000").rglob("*.nii.gz"))
    left = annotation_files(files, tmp_path / "s0000")
    assert sorted(p.name for p in left) == ["liver.nii.gz", "spleen.nii.gz"]
    lone = tmp_path / "lone" / "segmentations"  # a folder of that name without an image beside it: images
    lone.mkdir(parents=True)
    _volume(lone / "scan.nii.gz", np.zeros(SHAPE, np.int16))
    assert annotation_files([lone / "scan.nii.gz"], tmp_path / "lone") == []
    # PDDCA: 0522c0001/img.nrrd + structures/BrainStem.nrrd... (no mask word in any name): 100 structure masks of 12
    # cases were predicted as images of their own, silently
    for case in ("0522c0001", "0522c0002"):
        (tmp_path / "pddca" / case / "structures").mkdir(parents=True)
        _volume(tmp_path / "pddca" / case / "img.nii.gz", np.zeros(SHAPE, np.int16))
        for organ in ("BrainStem", "Mandible"):
            _volume(tmp_path / "pddca" / case / "structures" / f"{organ}.nii.gz", np.zeros(SHAPE, np.uint8))
    for root in (tmp_path / "pddca", tmp_path / "pddca" / "0522c0001"):
        files = sorted(root.rglob("*.nii.gz"))
        assert sorted(annotation_files(files, root)) == [p for p in files if p.name != "img.nii.gz"], root


def _data_science_bowl(root: Path, cases: int = 3) -> None:
    """``<id>/images/<id>.png`` (RGBA) + ``<id>/masks/<hash>.png``, one file per nucleus."""
    for k in range(cases):
        folder = root / f"{k:04x}ab"
        (folder / "images").mkdir(parents=True)
        (folder / "masks").mkdir()
        Image.fromarray(np.full((8, 8, 4), 60, np.uint8)).save(folder / "images" / f"{folder.name}.png")
        for j in range(3):
            nucleus = np.zeros((8, 8), np.uint8)
            nucleus[2 * j : 2 * j + 2, 1:3] = 255
            Image.fromarray(nucleus).save(folder / "masks" / f"{j * 7919 + k:08x}.png")


def test_object_masks_are_one_class_their_union_the_foreground(tmp_path: Path) -> None:
    """The 2018 Data Science Bowl's cases were read as one class per case folder."""
    from medimg.data.layouts.image_mask_pairs import annotation_files

    _data_science_bowl(tmp_path / "stage1_train")
    assert data_task(tmp_path / "stage1_train")[0] == "segment"
    dataset = Dataset.load(tmp_path / "stage1_train")
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 3
    assert dataset.value_names == {}  # one unnamed class: the default names
    assert all(len(c.structures) == 3 and {v for v, _ in c.structures} == {1} for c in dataset.cases)
    mask = dataset.read(dataset.cases[0]).mask
    assert mask.shape == (1, 8, 8) and int(mask.sum()) == 3 * 4 and set(np.unique(mask)) == {0, 1}
    folder = dataset.cases[0].image.parent.parent
    files = sorted(folder.rglob("*.png"))
    assert sorted(p.parent.name for p in annotation_files(files, folder)) == ["masks"] * 3  # predict: the image only


def test_the_data_science_bowl_root_with_its_unlabelled_test_stage(tmp_path: Path) -> None:
    """The download's top: ``stage1_train/`` beside ``stage1_test/<id>/images/`` (no masks) and the tables. It was
    refused: "no image has a mask with a matching name"."""
    _data_science_bowl(tmp_path / "stage1_train")
    for k in range(2):
        folder = tmp_path / "stage1_test" / f"{k:04x}cd" / "images"
        folder.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 4), 90, np.uint8)).save(folder / f"{k:04x}cd.png")
    (tmp_path / "stage1_train_labels.csv").write_text("ImageId,EncodedPixels\n")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 3 and len(dataset.unlabelled) == 2
    assert {c.split for c in dataset.cases} == {"train"}


def test_both_kinds_of_case_folder_in_one_set_are_refused(tmp_path: Path) -> None:
    _data_science_bowl(tmp_path, cases=2)
    _totalsegmentator(tmp_path / "more", cases=1)
    (tmp_path / "more" / "meta.csv").unlink()
    (tmp_path / "more" / "s0000").rename(tmp_path / "s0000")
    (tmp_path / "more").rmdir()
    with pytest.raises(DatasetError, match="mixes case folders"):
        Dataset.load(tmp_path, task="segment")
