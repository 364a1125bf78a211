"""Microscopy stacks as shipped (ISBI 2012: ``train-volume.tif`` + ``train-labels.tif``, 30 EM sections): the
sections are the 2D cases, split in contiguous blocks, and a 2D model predicts a stack section by section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medimg import Dataset, Model
from tests.tasks.segment.synthetic import FAST_FIT, disc_image

FAST = FAST_FIT


def _stacks(folder: Path, sections: int = 20, size: int = 32, seed: int = 0, name: str = "train") -> np.ndarray:
    """``<name>-volume.tif`` and ``<name>-labels.tif`` (0/255) as ISBI 2012 ships them; returns the masks."""
    import tifffile

    rng = np.random.default_rng(seed)
    pairs = [disc_image(rng, size) for _ in range(sections)]
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / f"{name}-volume.tif", np.stack([image for image, _ in pairs]))
    masks = np.stack([mask for _, mask in pairs]) * 255
    tifffile.imwrite(folder / f"{name}-labels.tif", masks.astype(np.uint8))
    return masks


def test_one_stack_pair_is_read_as_its_sections_split_in_blocks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import tifffile

    masks = _stacks(tmp_path / "isbi", sections=20)
    tifffile.imwrite(tmp_path / "isbi" / "test-volume.tif", np.zeros((20, 32, 32), np.uint8))  # no labels
    dataset = Dataset.load(tmp_path / "isbi", task="segment")
    assert len(dataset.cases) == 20 and "too few volumes to split" in caplog.text
    assert [c.page for c in dataset.cases] == list(range(20))
    assert dataset.cases[7].case_id == "train-volume.tif#8"
    assert {c.patient_id for c in dataset.cases[:2]} == {"train-volume.tif:0"}  # blocks of 2 neighbours
    assert dataset.cases[2].patient_id == "train-volume.tif:1"
    sample = dataset.read(dataset.cases[7])
    assert sample.image.array.shape == (1, 32, 32) and sample.mask is not None
    assert np.array_equal(sample.mask[0], masks[7])
    assert dataset.unlabelled == ["test-volume.tif"]


@pytest.mark.parametrize("kind", ["grey16", "rgb", "palette"])
def test_a_section_read_alone_is_the_section_of_the_whole_stack(tmp_path: Path, kind: str) -> None:
    """Plain stacks are read a page at a time (no decoded stack kept); others whole, as read_image reads them."""
    import tifffile

    from medimg.data.tiff_stacks import _decoded, section, stack_page
    from medimg.io import read_image

    rng = np.random.default_rng(1)
    path = tmp_path / f"{kind}.tif"
    if kind == "grey16":
        tifffile.imwrite(path, rng.integers(0, 65535, (5, 12, 10), dtype=np.uint16))
    elif kind == "rgb":
        tifffile.imwrite(path, rng.integers(0, 255, (5, 12, 10, 3), dtype=np.uint8), photometric="rgb")
    else:
        colours = np.zeros((3, 256), np.uint16)
        colours[:, 1] = [65535, 0, 0]
        tifffile.imwrite(path, rng.integers(0, 2, (5, 12, 10), dtype=np.uint8), photometric="palette", colormap=colours)
    whole = read_image(path)
    _decoded.cache_clear()
    for k in range(5):
        alone, expected = stack_page(path, k), section(whole, k)
        assert np.array_equal(alone.array, expected.array), (kind, k)
        assert alone.source == f"{path}#{k + 1}" and alone.meta["bits"] == expected.meta["bits"]
        assert alone.meta["mode"] == expected.meta["mode"]
    assert _decoded.cache_info().misses == (1 if kind == "palette" else 0)  # decoded whole once, or never


def test_three_stacks_stay_volumes(tmp_path: Path) -> None:
    for k in range(3):
        _stacks(tmp_path / "em", sections=4, seed=k, name=f"case{k}")
    dataset = Dataset.load(tmp_path / "em", task="segment")
    assert len(dataset.cases) == 3 and all(c.page is None for c in dataset.cases)


def test_a_model_of_sections_trains_and_predicts_a_stack_section_by_section(tmp_path: Path) -> None:
    import tifffile

    _stacks(tmp_path / "isbi", sections=20)
    model = Model("unet", task="segment").fit(tmp_path / "isbi", run_dir=tmp_path / "run", **FAST)
    assert model.plan_ is not None and model.plan_.spatial_dims == 2
    assignment = json.loads((tmp_path / "run" / "splits.json").read_text())["assignment"]
    assert len(assignment) == 20
    for first in range(0, 20, 2):  # each block of neighbouring sections lies in one part
        assert assignment[f"train-volume.tif#{first + 1}"] == assignment[f"train-volume.tif#{first + 2}"]
    masks = _stacks(tmp_path / "new", sections=5, seed=9, name="test")
    (prediction,) = model.predict(tmp_path / "new" / "test-volume.tif", out_dir=tmp_path / "out")
    assert prediction.domain is not None and prediction.domain["in_domain"], prediction.domain
    written = tifffile.imread(prediction.mask_path)
    assert Path(prediction.mask_path).name == "test-volume_mask.tif"
    assert written.shape == masks.shape and set(np.unique(written)) <= {0, 255}
    from medimg.export.predictor import OnnxPredictor

    exported = model.export(tmp_path / "model.onnx")
    assert exported.path.is_file()
    onnx = OnnxPredictor(exported.path, mask_dir=tmp_path / "onnx")
    (theirs,) = onnx.predict([tmp_path / "new" / "test-volume.tif"])
    assert theirs.domain is not None and theirs.domain["in_domain"], theirs.domain
    assert np.array_equal(tifffile.imread(theirs.mask_path), written)
