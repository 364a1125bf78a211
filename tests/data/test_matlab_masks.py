"""Nuclei label maps in MATLAB ``.mat`` files beside their images (CoNSeP, Lizard, Kumar as HoVer-Net ships them):
they were read as class folders (``Images``/``Labels``) or as no data at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from medimg import Dataset, Model
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import select_layout
from medimg.errors import DatasetError
from tests.tasks.segment.synthetic import FAST_FIT


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def nuclei(rng: np.random.Generator, shape: tuple[int, int] = (30, 40), n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """An instance map of ``n`` square nuclei (ids 1..n, never touching) and each nucleus' type (1..3)."""
    instances = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        top, left = 2 + 5 * ((k - 1) // 4), 2 + 9 * ((k - 1) % 4)
        instances[top : top + 3, left : left + rng.integers(3, 7)] = k
    return instances, rng.integers(1, 4, n)


def image_of(instances: np.ndarray) -> np.ndarray:
    rgb = np.full((*instances.shape, 3), 220, np.uint8)
    rgb[instances > 0] = (90, 40, 140)  # haematoxylin-dark nuclei
    return rgb


def write_consep(root: Path, per_split: int = 6) -> dict[str, np.ndarray]:
    """``CoNSeP/{Train,Test}/{Images,Labels}``: ``.mat`` v5 with ``inst_map``, ``type_map``, ``inst_type``,
    ``inst_centroid``; returns the type maps by image name."""
    rng = np.random.default_rng(0)
    truth = {}
    for split in ("Train", "Test"):
        (root / "CoNSeP" / split / "Images").mkdir(parents=True)
        (root / "CoNSeP" / split / "Labels").mkdir()
        for k in range(1, per_split + 1):
            name = f"{split.lower()}_{k}"
            instances, types = nuclei(rng)
            type_map = np.concatenate([[0], types])[instances]
            Image.fromarray(image_of(instances)).save(root / "CoNSeP" / split / "Images" / f"{name}.png")
            savemat(
                root / "CoNSeP" / split / "Labels" / f"{name}.mat",
                {
                    "inst_map": instances.astype(np.float64),
                    "type_map": type_map.astype(np.float64),
                    "inst_type": types.reshape(-1, 1).astype(np.float64),
                    "inst_centroid": np.zeros((len(types), 2)),
                },
            )
            truth[name] = type_map
    return truth


def test_consep_type_maps_are_the_masks_with_its_split_and_names(tmp_path: Path) -> None:
    truth = write_consep(tmp_path)
    root = tmp_path / "CoNSeP"
    assert select_layout(root).name == "matlab_masks"
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 12
    assert dataset.value_names[4] == "malignant_epithelial" and len(dataset.value_names) == 8
    assert {c.split for c in dataset.cases} == {"train", "test"}
    for case in dataset.cases:
        assert np.array_equal(np.asarray(dataset.read(case).mask[0]), truth[Path(case.image).stem]), case.case_id


def test_cpm17_same_names_in_each_split_pair_within_their_split(tmp_path: Path) -> None:
    """CPM-17: ``{train,test}/Images/image_00.png`` + ``{train,test}/Labels/image_00.mat`` (``inst_map``), one name
    in both splits. Both splits' label files were paired with the first image of the name: the train images lost,
    the test images read twice ("splits test: 8" of 4, or no training case at all)."""
    rng = np.random.default_rng(2)
    truth = {}
    for split, count in (("train", 6), ("test", 4)):
        (tmp_path / "CPM17" / split / "Images").mkdir(parents=True)
        (tmp_path / "CPM17" / split / "Labels").mkdir()
        for k in range(count):
            instances, _ = nuclei(rng, n=3 + k % 3)
            Image.fromarray(image_of(instances)).save(tmp_path / "CPM17" / split / "Images" / f"image_{k:02d}.png")
            savemat(tmp_path / "CPM17" / split / "Labels" / f"image_{k:02d}.mat", {"inst_map": instances * 1.0})
            truth[f"{split}/Images/image_{k:02d}.png"] = instances > 0
    dataset = Dataset.load(tmp_path / "CPM17")
    assert isinstance(dataset, SegmentationDataset)
    assert sorted(c.case_id for c in dataset.cases) == sorted(truth)
    assert dataset.split_counts() == {"train": 6, "test": 4}
    for case in dataset.cases:
        assert np.array_equal(np.asarray(dataset.read(case).mask[0]) > 0, truth[case.case_id]), case.case_id


def test_lizard_per_nucleus_classes_are_drawn_through_the_instance_map(tmp_path: Path) -> None:
    """Lizard: ``inst_map`` + ``id`` (the nuclei listed, not in order) + ``class``; no ``type_map``. Its
    ``Lizard_Labels/Overlay/`` holds each image with its labels drawn on it, named as the image and nearer to the
    ``.mat`` files: the images were those overlays (the labels painted into the input), the real images unused."""
    root = tmp_path / "Lizard"
    (root / "Lizard_Images1").mkdir(parents=True)
    (root / "Lizard_Labels" / "Labels").mkdir(parents=True)
    (root / "Lizard_Labels" / "Overlay").mkdir()
    rng = np.random.default_rng(1)
    truth = {}
    for k in range(1, 5):
        instances, types = nuclei(rng, n=6)
        ids = rng.permutation(np.arange(1, 7))
        classes = np.array([types[i - 1] for i in ids])
        Image.fromarray(image_of(instances)).save(root / "Lizard_Images1" / f"consep_{k}.png")
        Image.fromarray(image_of(instances)).save(root / "Lizard_Labels" / "Overlay" / f"consep_{k}.png")
        savemat(
            root / "Lizard_Labels" / "Labels" / f"consep_{k}.mat",
            {"inst_map": instances, "id": ids.reshape(-1, 1), "class": classes.reshape(-1, 1)},
        )
        truth[f"consep_{k}"] = np.concatenate([[0], types])[instances]
    Image.fromarray(image_of(instances)).save(root / "Lizard_Images1" / "extra.png")
    dataset = Dataset.load(root)
    assert dataset.value_names == {0: "background", 1: "neutrophil", 2: "epithelial", 3: "lymphocyte",
                                   4: "plasma", 5: "eosinophil", 6: "connective"}  # fmt: skip
    assert sorted(Path(case.image).parent.name for case in dataset.cases) == ["Lizard_Images1"] * 4
    assert dataset.unlabelled == ["Lizard_Images1/extra.png"]
    for case in dataset.cases:
        assert np.array_equal(np.asarray(dataset.read(case).mask[0]), truth[Path(case.image).stem])


def test_instance_maps_alone_in_matlab_7_3_files_are_one_class(tmp_path: Path) -> None:
    """Kumar as HoVer-Net redistributed it, saved by MATLAB with ``-v7.3`` (HDF5 after a 512-byte header, arrays
    stored column-major)."""
    import h5py

    root = tmp_path / "kumar"
    (root / "Images").mkdir(parents=True)
    (root / "Labels").mkdir()
    rng = np.random.default_rng(2)
    truth = {}
    for k in range(3):
        instances, _ = nuclei(rng)
        Image.fromarray(image_of(instances)).save(root / "Images" / f"TCGA-{k}.tif")
        with h5py.File(root / "Labels" / f"TCGA-{k}.mat", "w", userblock_size=512) as handle:
            handle["inst_map"] = instances.T.astype(np.float64)
        with (root / "Labels" / f"TCGA-{k}.mat").open("r+b") as handle:
            handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64")
        truth[f"TCGA-{k}"] = instances > 0
    dataset = Dataset.load(root)
    assert dataset.value_names == {0: "background", 1: "nucleus"}
    for case in dataset.cases:
        assert np.array_equal(np.asarray(dataset.read(case).mask[0]) == 1, truth[Path(case.image).stem])


def test_a_map_of_another_size_or_without_maps_is_named(tmp_path: Path) -> None:
    write_consep(tmp_path, per_split=2)
    labels = tmp_path / "CoNSeP" / "Train" / "Labels"
    savemat(labels / "train_1.mat", {"inst_map": np.zeros((10, 10))})
    savemat(labels / "train_2.mat", {"inst_centroid": np.zeros((3, 2)), "type_map_old": np.zeros((30, 40))})
    with pytest.raises(DatasetError) as raised:
        Dataset.load(tmp_path / "CoNSeP", task="segment")
    message = str(raised.value)
    assert "2 label file problem(s)" in message and "a 10x10 map for train_1.png of 40x30" in message
    assert "train_2.mat holds neither a type_map nor an inst_map (it holds: inst_centroid, type_map_old)" in message


def test_a_segmentation_model_trains_on_consep(tmp_path: Path) -> None:
    write_consep(tmp_path, per_split=8)
    model = Model("unet", task="segment").fit(tmp_path / "CoNSeP", run_dir=tmp_path / "run", **FAST_FIT)
    assert model.class_names_ is not None and model.class_names_[1:4] == ["other", "inflammatory", "healthy_epithelial"]
