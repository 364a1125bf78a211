"""The guard that keeps validation/test images out of training (an unlabelled pool, a synthetic set) compares
decoded pixels: a second export of the same images (other PNG compression, another format) is caught, not only a
byte-identical copy."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.data.pool import case_digests, image_digests
from medimg.data.splits import make_splits
from medimg.data.synthetic import make_phantom_dataset
from medimg.engine.run import synthetic_cases
from tests.engine.test_synthetic_cases import _write_set


def _reexport(source: Path, target: Path) -> Path:
    """The same pixels in other bytes (a second PACS export: no compression, or TIFF)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.open(source)
    picture.save(target, compress_level=0) if target.suffix == ".png" else picture.save(target)
    assert target.read_bytes() != source.read_bytes()
    assert (np.asarray(Image.open(target)) == np.asarray(picture)).all()
    return target


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    return Dataset.load(make_phantom_dataset(tmp_path / "phantoms", n_per_class=6, size=16, seed=0), task="classify")


def test_the_same_pixels_in_other_bytes_have_one_digest(dataset: Dataset, tmp_path: Path) -> None:
    first, second = (Path(str(c.path)) for c in dataset.cases[:2])
    copies = [_reexport(first, tmp_path / "pool" / "a.png"), _reexport(first, tmp_path / "pool" / "a.tif")]
    from medimg.data.case import Case

    pool = [Case(case_id=str(p), label=None, path=p) for p in copies]
    originals = case_digests(dataset, dataset.cases[:2])
    assert case_digests(dataset, pool) == [originals[0]] * 2 and originals[0] != originals[1]
    assert image_digests([first, *copies]) == [image_digests([first])[0]] * 3 != image_digests([second])


def test_a_grey_image_saved_again_as_rgb_is_the_same_image(dataset: Dataset, tmp_path: Path) -> None:
    """A grey test image re-exported as RGB (R = G = B) had another digest, stayed in the pool, and training read it
    back to the test image's exact grey pixels (6 of 17 test copies were trained on)."""
    first, second = (Path(str(c.path)) for c in dataset.cases[:2])
    rgb = tmp_path / "pool" / "a_rgb.png"
    rgb.parent.mkdir(parents=True)
    Image.open(first).convert("RGB").save(rgb)
    assert image_digests([rgb]) == image_digests([first]) != image_digests([second])
    colour = np.asarray(Image.open(rgb)).copy()
    colour[0, 0, 0] ^= 1  # one channel differs: a colour image, not the grey one
    Image.fromarray(colour).save(tmp_path / "pool" / "b.png")
    assert image_digests([tmp_path / "pool" / "b.png"]) != image_digests([first])


def test_a_synthetic_set_of_re_exported_evaluation_images_is_dropped(
    dataset: Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    splits = make_splits(dataset.cases, seed=0)
    held_out = [c for c in dataset.cases if splits.assignment[c.case_id] != "train"]
    train = [c for c in dataset.cases if splits.assignment[c.case_id] == "train"]
    names = dataset.class_names
    files = [
        (_reexport(Path(str(c.path)), tmp_path / "export" / f"{i}.png"), names[int(str(c.label))])
        for i, c in enumerate([*held_out, *train[:2]])
    ]
    _write_set(tmp_path / "synth", files)
    with caplog.at_level(logging.WARNING):
        cases = synthetic_cases(dataset, str(tmp_path / "synth"), splits)
    assert len(cases) == 2
    assert f"{len(held_out)} image(s) are copies of validation/test images" in caplog.text
