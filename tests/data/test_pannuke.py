"""PanNuke as it ships (per fold ``images.npy`` + ``masks.npy``): it was one image/mask pair of arrays, or no data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg import Dataset, Model
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import select_layout
from tests.tasks.segment.synthetic import FAST_FIT


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_pannuke(root: Path, folds: tuple[int, ...] = (1, 2, 3), n: int = 6, size: int = 24) -> dict[str, np.ndarray]:
    """``Fold <k>/images/fold<k>/images.npy`` (float RGB) + ``types.npy``, ``Fold <k>/masks/fold<k>/masks.npy`` (five
    instance maps and background); returns the expected label maps by case id."""
    rng = np.random.default_rng(0)
    truth = {}
    for fold in folds:
        images = rng.uniform(150, 230, (n, size, size, 3))
        masks = np.zeros((n, size, size, 6))
        for index in range(n):
            labels = np.zeros((size, size), np.uint8)
            for nucleus in range(1, 4):
                kind = int(rng.integers(0, 5))
                top, left = 2 + 7 * (nucleus - 1), int(rng.integers(1, size - 6))
                masks[index, top : top + 4, left : left + 5, kind] = 10 * index + nucleus  # the instance's id
                labels[top : top + 4, left : left + 5] = kind + 1
                images[index, top : top + 4, left : left + 5] = (80, 40, 120)
            masks[index, :, :, 5] = labels == 0
            truth[f"fold{fold}/{index:05d}"] = labels
        image_folder = root / f"Fold {fold}" / "images" / f"fold{fold}"
        mask_folder = root / f"Fold {fold}" / "masks" / f"fold{fold}"
        image_folder.mkdir(parents=True)
        mask_folder.mkdir(parents=True)
        np.save(image_folder / "images.npy", images)
        np.save(image_folder / "types.npy", np.array(["Breast"] * n))
        np.save(mask_folder / "masks.npy", masks)
    return truth


def test_the_three_folds_are_train_val_test_with_nucleus_types(tmp_path: Path) -> None:
    truth = write_pannuke(tmp_path / "pannuke")
    assert select_layout(tmp_path / "pannuke").name == "pannuke"
    dataset = Dataset.load(tmp_path / "pannuke")
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 18
    assert dataset.value_names == {0: "background", 1: "neoplastic", 2: "inflammatory", 3: "connective", 4: "dead",
                                   5: "epithelial"}  # fmt: skip
    assert [c.split for c in dataset.cases[::6]] == ["train", "val", "test"]
    for case in dataset.cases:
        sample = dataset.read(case)
        assert np.array_equal(np.asarray(sample.mask[0]), truth[case.case_id]), case.case_id
        assert sample.image.array.shape == (3, 24, 24)
    again = Dataset.load(tmp_path / "pannuke")  # written once: the second load reads the cached files
    assert [c.mask for c in again.cases] == [c.mask for c in dataset.cases]


def test_one_fold_is_split_by_medimg_and_trains(tmp_path: Path) -> None:
    write_pannuke(tmp_path / "pannuke", folds=(2,), n=12)
    dataset = Dataset.load(tmp_path / "pannuke")
    assert all(c.split is None for c in dataset.cases)
    model = Model("unet", task="segment").fit(tmp_path / "pannuke", run_dir=tmp_path / "run", **FAST_FIT)
    assert model.class_names_ is not None and model.class_names_[1] == "neoplastic"


def test_conic_patches_are_2d_cases_of_its_class_map_grouped_by_source_image(tmp_path: Path) -> None:
    """CoNIC 2022: ``data/images.npy`` (N x H x W x 3) beside ``data/labels.npy`` (N x H x W x 2: instance ids, then
    classes 0..6) and ``patch_info.csv`` (``consep_1-0000``). Was: "a single class ('data')"; with ``--task segment``
    one 3D volume whose classes were the instance ids."""
    rng = np.random.default_rng(1)
    n, size = 8, 16
    images = rng.integers(150, 230, (n, size, size, 3)).astype(np.uint8)
    labels = np.zeros((n, size, size, 2), np.int32)
    for index in range(n):
        for nucleus in range(1, 4):
            top = 1 + 5 * (nucleus - 1)
            labels[index, top : top + 3, 2:6, 0] = 100 + nucleus  # the instance's id, beyond the classes
            labels[index, top : top + 3, 2:6, 1] = 1 + (index + nucleus) % 6
    data = tmp_path / "conic" / "data"
    data.mkdir(parents=True)
    np.save(data / "images.npy", images)
    np.save(data / "labels.npy", labels)
    sources = ["consep_1", "consep_1", "crag_2", "crag_2", "glas_3", "glas_3", "pannuke_4", "pannuke_4"]
    (data / "patch_info.csv").write_text("patch_info\n" + "".join(f"{s}-{i:04d}\n" for i, s in enumerate(sources)))
    (data / "counts.csv").write_text(
        "neutrophil,epithelial,lymphocyte,plasma,eosinophil,connective\n" + "1,1,1,0,0,0\n" * n
    )
    dataset = Dataset.load(tmp_path / "conic")
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == n
    assert dataset.value_names[1] == "neutrophil" and dataset.value_names[6] == "connective"
    assert [c.patient_id for c in dataset.cases] == sources
    sample = dataset.read(dataset.cases[3])
    assert sample.image.array.shape[-2:] == (size, size)
    np.testing.assert_array_equal(np.asarray(sample.mask).reshape(size, size), labels[3, :, :, 1])
