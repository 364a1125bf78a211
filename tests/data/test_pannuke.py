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
