"""A synthetic set whose images are not of the data's kind (other channels, size or intensity units) is refused
by ``fit --synthetic`` before training, instead of silently training the classifier on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.data.synthetic import make_phantom_dataset
from medimg.errors import DatasetError


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_phantom_dataset(tmp_path_factory.mktemp("data") / "phantoms", n_per_class=10, size=16, seed=0)


def _set(folder: Path, arrays: list[np.ndarray], suffix: str = ".png", run: str = "") -> Path:
    rows = ["path,label,synthetic,run,seed"]
    for i, array in enumerate(arrays):
        name = f"lesion/synthetic_s0_{i:05d}{suffix}"
        (folder / "lesion").mkdir(parents=True, exist_ok=True)
        if suffix == ".png":
            Image.fromarray(array).save(folder / name)
        else:
            from medimg.io.image import ImageData
            from medimg.io.nifti import write_nifti

            write_nifti(ImageData(array=array[None].astype(np.float32)), folder / name)
        rows.append(f"{name},lesion,1,{run},0")
    (folder / "synthetic.csv").write_text("\n".join(rows) + "\n")
    return folder


def _fit(data: Path, synthetic: Path, run_dir: Path) -> None:
    Model("simple-cnn").fit(
        data, run_dir=run_dir, epochs=1, progress=False, tensorboard=False, synthetic=str(synthetic)
    )


def _phantom_like(rng: np.random.Generator, n: int = 4, size: int = 16) -> list[np.ndarray]:
    from medimg.data.synthetic import draw_phantom

    return [draw_phantom(rng, size, lesion=True) for _ in range(n)]


def test_sixteen_bit_nifti_samples_for_eight_bit_images_are_refused(phantoms: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arrays = [a.astype(np.float32) * 150 + 1000 for a in _phantom_like(rng)]  # a 16-bit generator's units
    synth = _set(tmp_path / "synth", arrays, suffix=".nii.gz")
    with pytest.raises(DatasetError, match=r"synthetic set .*synth.*other units"):
        _fit(phantoms, synth, tmp_path / "run")


def test_rgb_samples_for_grayscale_images_are_refused(phantoms: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arrays = [np.stack([a, a // 2, 255 - a], -1) for a in _phantom_like(rng)]
    with pytest.raises(DatasetError, match=r"3 channel.*the data 2D with 1 channel"):
        _fit(phantoms, _set(tmp_path / "synth", arrays), tmp_path / "run")


def test_samples_of_another_size_are_refused(phantoms: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(DatasetError, match=r"images of 64x64 \(median\), the data 16x16"):
        _fit(phantoms, _set(tmp_path / "synth", _phantom_like(rng, size=64)), tmp_path / "run")


def test_an_eight_bit_generator_for_sixteen_bit_images_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for label in ("normal", "lesion"):
        (data / label).mkdir(parents=True)
        for i in range(8):
            Image.fromarray((rng.random((16, 16)) * 4000).astype(np.uint16)).save(data / label / f"{i}.png")
    run = tmp_path / "generator"  # a generator trained on 8-bit images (its plan's 0..255)
    run.mkdir()
    (run / "splits.json").write_text(json.dumps({"assignment": {}}))
    (run / "plan.json").write_text(json.dumps({"clip_low": 0.0, "clip_high": 255.0, "output_format": "png"}))
    arrays = [(rng.random((16, 16)) * 255).astype(np.uint8) for _ in range(4)]
    synth = _set(tmp_path / "synth", arrays, run=str(run))
    with pytest.raises(DatasetError, match=r"generator's .* intensities 0\.\.255 are in other units"):
        _fit(data, synth, tmp_path / "run")


def test_samples_of_the_datas_kind_are_taken(phantoms: Path, tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset
    from medimg.data.synthetic_sets import read_synthetic_cases, refuse_unlike_images

    rng = np.random.default_rng(1)
    flat = [np.full((16, 16), 40, dtype=np.uint8)] * 2  # a collapsed generator's grey squares still count
    synth = _set(tmp_path / "synth", [*_phantom_like(rng, size=18), *flat])
    dataset = Dataset.load(phantoms, task="classify")
    cases = read_synthetic_cases(synth, list(dataset.class_names))
    refuse_unlike_images(dataset, list(dataset.cases), cases, synth)  # no error


@pytest.mark.parametrize("size", [18, 30, 6])
def test_phantoms_of_a_side_that_is_not_a_multiple_of_four_are_drawn(size: int, tmp_path: Path) -> None:
    root = make_phantom_dataset(tmp_path / "p", n_per_class=1, size=size, seed=0)
    assert np.asarray(Image.open(root / "lesion" / "phantom_0000.png")).shape == (size, size)


def test_the_data_itself_as_a_synthetic_set_is_refused(phantoms: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"20 of its 20 images are the data's own images .*medimg generate"):
        _fit(phantoms, phantoms, tmp_path / "run")
    rows = ["path,label,synthetic"] + [f"{p},lesion,1" for p in sorted((phantoms / "lesion").glob("*.png"))[:3]]
    (tmp_path / "synthetic.csv").write_text("\n".join(rows) + "\n")  # a manifest naming the data's files
    with pytest.raises(DatasetError, match=r"3 of its 3 images are the data's own"):
        _fit(phantoms, tmp_path / "synthetic.csv", tmp_path / "run")


def test_a_sets_labels_match_the_datas_classes_whatever_their_case(phantoms: Path, tmp_path: Path) -> None:
    from medimg.data.synthetic_sets import read_synthetic_cases

    rng = np.random.default_rng(1)
    synth = _set(tmp_path / "synth", _phantom_like(rng, n=2))
    text = (synth / "synthetic.csv").read_text().replace(",lesion,", ",Lesion,")  # e.g. a CSV's spelling
    (synth / "synthetic.csv").write_text(text)
    cases = read_synthetic_cases(synth, ["normal", "lesion"])
    assert [c.label for c in cases] == [1, 1]
    with pytest.raises(DatasetError, match=r"class\(es\) \['Lesion'\] that the training data lacks"):
        read_synthetic_cases(synth, ["normal", "tumour"])


def test_noisy_samples_of_an_eight_bit_generator_for_dark_images_are_taken(tmp_path: Path) -> None:
    """Dark 8-bit images (values 0..25) use a tenth of the generator's 0..255; its early samples are noisier."""
    from medimg.data.dataset import Dataset
    from medimg.data.synthetic_sets import read_synthetic_cases, refuse_unlike_images

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for label in ("normal", "lesion"):
        (data / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray((rng.random((16, 16)) * 25).astype(np.uint8)).save(data / label / f"{i}.png")
    run = tmp_path / "generator"
    run.mkdir()
    (run / "splits.json").write_text(json.dumps({"assignment": {}}))
    (run / "plan.json").write_text(json.dumps({"clip_low": 0.0, "clip_high": 255.0, "output_format": "png"}))
    noisy = [(rng.random((16, 16)) * 255).astype(np.uint8) for _ in range(4)]
    synth = _set(tmp_path / "synth", noisy, run=str(run))
    dataset = Dataset.load(data, task="classify")
    refuse_unlike_images(dataset, list(dataset.cases), read_synthetic_cases(synth, ["lesion", "normal"]), synth)


def test_data_of_mixed_sizes_and_channels_takes_a_set_of_its_kind(tmp_path: Path) -> None:
    """Images of 12 to 40 px, some RGB: samples at the median size, grayscale, are of the data's kind."""
    from medimg.data.dataset import Dataset
    from medimg.data.synthetic_sets import read_synthetic_cases, refuse_unlike_images

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for label in ("normal", "lesion"):
        (data / label).mkdir(parents=True)
        for i, side in enumerate((12, 16, 20, 24, 28, 32, 36, 40)):
            array = (rng.random((side, side)) * 255).astype(np.uint8)
            Image.fromarray(np.stack([array] * 3, -1) if i == 2 else array).save(data / label / f"{i}.png")
    synth = _set(tmp_path / "synth", [(rng.random((26, 26)) * 255).astype(np.uint8) for _ in range(4)])
    dataset = Dataset.load(data, task="classify")
    refuse_unlike_images(dataset, list(dataset.cases), read_synthetic_cases(synth, ["lesion", "normal"]), synth)
    big = _set(tmp_path / "big", [(rng.random((80, 80)) * 255).astype(np.uint8) for _ in range(2)])
    with pytest.raises(DatasetError, match="images of 80x80"):
        refuse_unlike_images(dataset, list(dataset.cases), read_synthetic_cases(big, ["lesion", "normal"]), big)
