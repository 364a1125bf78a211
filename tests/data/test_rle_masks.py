"""Run-length encoded masks in a CSV, as Kaggle's segmentation sets ship them (UW-Madison GI tract's
``id,class,segmentation``, SIIM-ACR pneumothorax's ``ImageId, EncodedPixels`` over DICOM files, Sartorius'
``id,annotation,width,height``): they were read as a classification manifest of missing files (or, where ids named
files, a classifier of the ``class`` column)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset, Model
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import select_layout
from medimg.errors import ConfigError, DatasetError
from tests.conftest import shared_data
from tests.io.conftest import write_dicom
from tests.tasks.segment.synthetic import FAST_FIT

INTENSITY = {"large_bowel": 100, "small_bowel": 160, "stomach": 220}


def encode(mask: np.ndarray, order: str, *, relative: bool = False) -> str:
    """Kaggle's run lengths of ``mask`` (1-based starts), numbered ``order`` ("F": down the columns first); SIIM's
    ``mask_functions.mask2rle`` with ``relative``: each start the gap after the previous run, 0-based."""
    flat = np.concatenate([[0], mask.flatten(order=order).astype(np.int8), [0]])
    changes = np.flatnonzero(np.diff(flat))
    starts, ends = changes[0::2], changes[1::2]
    if relative:
        gaps = starts - np.concatenate([[0], ends[:-1]])
        return " ".join(f"{g} {e - s}" for g, s, e in zip(gaps, starts, ends, strict=True))
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts, ends, strict=True))


def organs(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An image of up to three bright ellipses on a dark noisy ground, each class at its own intensity in its own
    third of the width (so they never overlap), not symmetric about the diagonal (a transposed mask misses them)."""
    height, width = shape
    image = rng.normal(30, 4, shape)
    yy, xx = np.mgrid[:height, :width]
    masks = {}
    for third, (name, value) in enumerate(INTENSITY.items()):
        radius_y, radius_x = rng.integers(height // 10, height // 4), rng.integers(width // 20, width // 8)
        centre_y = rng.integers(radius_y, height - radius_y)
        centre_x = rng.integers(third * width // 3 + radius_x, (third + 1) * width // 3 - radius_x)
        region = ((yy - centre_y) / radius_y) ** 2 + ((xx - centre_x) / radius_x) ** 2 <= 1
        if name == "small_bowel" and rng.random() < 0.4:
            region[:] = False  # a class absent from a slice: an empty cell
        image[region] = value + rng.normal(0, 3, int(region.sum()))
        masks[name] = region
    return image, masks


def write_uw_madison(root: Path, shapes: tuple[tuple[int, int], ...], *, cases: int = 10) -> dict[str, dict]:
    """``train.csv`` (``id,class,segmentation``, row-major) + ``train/case<k>/case<k>_day<d>/scans/slice_<n>_<w>_<h>
    _1.50_1.50.png`` (16-bit) + a ``sample_submission.csv``; returns the drawn masks by id."""
    rng = np.random.default_rng(0)
    rows, truth = [], {}
    for case in range(cases):
        height, width = shapes[case % len(shapes)]
        scans = root / "train" / f"case{case}" / f"case{case}_day{case + 3}" / "scans"
        scans.mkdir(parents=True)
        for number in (1, 2):
            image, masks = organs(rng, (height, width))
            name = f"slice_{number:04d}_{width}_{height}_1.50_1.50.png"
            Image.fromarray((np.clip(image, 0, 255) * 200).astype(np.uint16)).save(scans / name)
            image_id = f"case{case}_day{case + 3}_slice_{number:04d}"
            truth[image_id] = masks
            rows += [[image_id, n, encode(m, "C") if m.any() else ""] for n, m in masks.items()]
    with (root / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["id", "class", "segmentation"], *rows])
    (root / "sample_submission.csv").write_text("id,class,predicted\n")
    return truth


def labels_of(dataset: SegmentationDataset, image_id_part: str) -> np.ndarray:
    case = next(c for c in dataset.cases if image_id_part in c.case_id)
    return np.asarray(dataset.read(case).mask[0])


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize(
    "shapes",
    [((31, 40), (40, 40)), ((40, 40),)],
    ids=["oblong-images-decide-by-outline", "square-images-decide-by-edges"],
)
def test_uw_madison_rows_become_label_maps_on_the_right_pixels(tmp_path: Path, shapes: tuple) -> None:
    truth = write_uw_madison(tmp_path / "uwmgi", shapes)
    assert select_layout(tmp_path / "uwmgi").name == "rle_masks"
    dataset = Dataset.load(tmp_path / "uwmgi")
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 20
    assert dataset.value_names == {0: "background", 1: "large_bowel", 2: "small_bowel", 3: "stomach"}
    assert {c.patient_id for c in dataset.cases} == {f"case{k}" for k in range(10)}  # days and slices stay together
    for image_id, masks in truth.items():
        case, day, _, number = image_id.split("_")
        labels = labels_of(dataset, f"{case}/{case}_{day}/scans/slice_{number}_")
        for value, name in enumerate(INTENSITY, start=1):
            assert np.array_equal(labels == value, masks[name]), (image_id, name)
        assert np.array_equal(labels > 0, np.any(list(masks.values()), axis=0)), image_id


def test_classes_overlapping_in_an_image_are_warned_of_drawn_or_cached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """UW-Madison's large and small bowel share pixels: a label map keeps one class there, the larger region's
    pixels lost without a word."""
    write_uw_madison(tmp_path / "uwmgi", ((40, 40),), cases=3)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        Dataset.load(tmp_path / "uwmgi")
    assert "two classes" not in caplog.text  # apart, as drawn
    table = tmp_path / "uwmgi" / "train.csv"
    lines = table.read_text().splitlines()
    first = next(line for line in lines if ",large_bowel," in line and line.split(",")[2])
    image_id, _, runs = first.split(",")
    table.write_text("\n".join([*lines, f"{image_id},small_bowel,{runs}"]) + "\n")  # the same pixels, both classes
    for _ in range(2):  # drawn, then read from the cache
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="medimg"):
            Dataset.load(tmp_path / "uwmgi")
        assert "1 of 6 image(s) have pixels that rows of two classes (of large_bowel, small_bowel" in caplog.text


def test_a_stated_order_is_used_and_kept_apart_in_the_cache(tmp_path: Path) -> None:
    truth = write_uw_madison(tmp_path / "uwmgi", ((40, 40),), cases=3)
    wrong = Dataset.load(tmp_path / "uwmgi", rle_order="F")
    right = Dataset.load(tmp_path / "uwmgi")
    masks = truth["case0_day3_slice_0001"]
    union = np.any(list(masks.values()), axis=0)
    assert np.array_equal(labels_of(right, "case0/") > 0, union)
    assert np.array_equal(labels_of(wrong, "case0/") > 0, union.T)  # as stated, not as detected
    assert wrong.options["rle_order"] == "F" and "rle_order" not in right.options
    with pytest.raises(ConfigError, match="rle_order"):
        Dataset.load(tmp_path / "uwmgi", rle_order="rows")


def write_siim(root: Path, n: int = 8, size: int = 48) -> dict[str, np.ndarray]:
    """``dicom-images-train/<study>/<series>/<uid>.dcm`` + ``train-rle.csv`` (``ImageId, EncodedPixels``: the
    leading space, ``-1`` for no pneumothorax, one row per region, column-major relative runs)."""
    import pydicom
    from pydicom.uid import generate_uid

    rng = np.random.default_rng(1)
    truth, rows = {}, []
    for k in range(n):
        image = rng.normal(60, 5, (size, size))
        mask = np.zeros((size, size), bool)
        regions = []
        if k % 3:
            for _ in range(1 + k % 2):
                top, left = rng.integers(2, size - 20, 2)
                region = np.zeros_like(mask)
                region[top : top + rng.integers(6, 18), left : left + rng.integers(3, 9)] = True
                regions.append(region & ~mask)
                mask |= region
        image[mask] = 200
        folder = root / "dicom-images-train" / generate_uid() / generate_uid()
        folder.mkdir(parents=True)
        path = write_dicom(
            folder / "x.dcm", np.clip(image, 0, 255).astype(np.uint16), modality="CR", pixel_spacing=None
        )
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        path.rename(folder / f"{uid}.dcm")
        truth[uid] = mask
        rows += [[uid, encode(r, "F", relative=True)] for r in regions] or [[uid, " -1"]]
    with (root / "train-rle.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["ImageId", " EncodedPixels"], *rows])
    return truth


def test_siim_relative_column_major_runs_on_dicom_files(tmp_path: Path) -> None:
    truth = write_siim(tmp_path / "siim")
    dataset = Dataset.load(tmp_path / "siim" / "train-rle.csv")
    assert dataset.value_names == {0: "background", 1: "foreground"} and len(dataset.cases) == len(truth)
    for uid, mask in truth.items():
        assert np.array_equal(labels_of(dataset, uid) == 1, mask), uid


def test_sartorius_instances_with_size_columns(tmp_path: Path) -> None:
    """``train.csv`` ``id,annotation,width,height,cell_type`` (one row per cell, row-major) + ``train/<id>.png``;
    an image without rows is unlabelled."""
    root = tmp_path / "sartorius"
    (root / "train").mkdir(parents=True)
    rng = np.random.default_rng(2)
    rows, truth = [], {}
    for k in range(4):
        image_id = f"0030fd0e6378{k}"
        image = np.full((26, 35), 20, np.uint8)
        mask = np.zeros((26, 35), bool)
        for _ in range(3):
            top, left = rng.integers(1, 20), rng.integers(1, 28)
            cell = np.zeros_like(mask)
            cell[top : top + 5, left : left + 6] = True
            rows.append([image_id, encode(cell, "C"), 35, 26, "shsy5y"])
            mask |= cell
        image[mask] = 230
        Image.fromarray(image).save(root / "train" / f"{image_id}.png")
        truth[image_id] = mask
    Image.fromarray(np.zeros((26, 35), np.uint8)).save(root / "train" / "unannotated.png")
    with (root / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["id", "annotation", "width", "height", "cell_type"], *rows])
    dataset = Dataset.load(root)
    assert dataset.unlabelled == ["train/unannotated.png"]
    for image_id, mask in truth.items():
        assert np.array_equal(labels_of(dataset, image_id) == 1, mask)


def test_rows_that_name_no_image_or_run_past_it_are_listed(tmp_path: Path) -> None:
    write_uw_madison(tmp_path / "uwmgi", ((40, 40),), cases=1)
    with (tmp_path / "uwmgi" / "train.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows(
            [["case9_day1_slice_0001", "stomach", "1 4"], ["case0_day3_slice_0002", "stomach", "1598 9"]]
        )
    with pytest.raises(DatasetError) as raised:
        Dataset.load(tmp_path / "uwmgi")
    message = str(raised.value)
    assert "2 run-length problem(s)" in message and "no image is named 'case9_day1_slice_0001'" in message
    assert (
        "case0_day3_slice_0002" in message
        and "of an image of 1600 pixels (slice_0002_40_40_1.50_1.50.png, 40x40)" in message
    )


def test_a_segmentation_model_trains_on_the_table(tmp_path: Path) -> None:
    write_uw_madison(tmp_path / "uwmgi", ((31, 40), (40, 40)))
    model = Model("unet", task="segment").fit(tmp_path / "uwmgi", run_dir=tmp_path / "run", rle_order="C", **FAST_FIT)
    assert model.class_names_ == ["background", "large_bowel", "small_bowel", "stomach"]
    options = json.loads((tmp_path / "run" / "config.json").read_text())["dataset_options"]
    assert options["rle_order"] == "C"  # the CLI's --set rle_order=C; a reloaded run reads the masks the same way
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())["assignment"]
    part_of: dict[str, set[str]] = {}
    for case_id, part in splits.items():
        part_of.setdefault(case_id.split("/")[1], set()).add(part)
    assert all(len(parts) == 1 for parts in part_of.values())  # a patient's slices stay in one part
    (prediction,) = model.predict(next((tmp_path / "uwmgi").rglob("*.png")), out_dir=tmp_path / "out")
    assert Path(prediction.mask_path).is_file()


@pytest.mark.parametrize("order", ["F", "C"])
def test_real_lesions_re_encoded_either_way_are_read_back(tmp_path: Path, order: str) -> None:
    """ISIC 2018 task 1 (square 256 px dermoscopy, soft lesion borders, hair): 40 masks written as a run-length table
    in each order are read back exactly (the order from the images' edges)."""
    source = SegmentationDataset.load(shared_data("isic2018_task1_256"))
    root = tmp_path / "isic_rle"
    (root / "images").mkdir(parents=True)
    rows, truth = [], {}
    for k, case in enumerate(source.cases[:40]):
        mask = np.asarray(source.read(case).mask[0]) > 0
        Image.open(case.image).save(root / "images" / f"lesion{k}.png")
        truth[f"lesion{k}"] = mask
        rows.append([f"lesion{k}", encode(mask, order)])
    with (root / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["ImageId", "EncodedPixels"], *rows])
    dataset = Dataset.load(root)
    for case in dataset.cases:
        assert np.array_equal(np.asarray(Image.open(case.mask)) > 0, truth[Path(case.image).stem]), case.case_id


def test_rle_order_elsewhere_is_refused(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / name)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "masks" / name)
    with pytest.raises(ConfigError, match="rle_order applies to a table of run-length masks"):
        SegmentationDataset.load(tmp_path, rle_order="C")


def test_a_few_ids_without_their_image_are_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIIM's ``train-rle.csv`` beside a download lacking an image: one row without its file refused the whole set
    ("1 run-length problem(s)"), which a user cannot repair in a public table. A few are left out, said; a table
    whose ids mostly name no image is still refused."""
    write_uw_madison(tmp_path / "uwmgi", ((40, 40),), cases=2)
    with (tmp_path / "uwmgi" / "train.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows([["case9_day1_slice_0001", "stomach", "1 4"]])
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path / "uwmgi")
    assert len(dataset.cases) > 1 and not any("case9" in c.case_id for c in dataset.cases)
    assert "1 of its image ids name no image" in caplog.text and "case9_day1_slice_0001" in caplog.text
    with (tmp_path / "uwmgi" / "train.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows([[f"case9_day1_slice_{n:04d}", "stomach", "1 4"] for n in range(2, 40)])
    with pytest.raises(DatasetError, match="no image is named"):
        Dataset.load(tmp_path / "uwmgi")
