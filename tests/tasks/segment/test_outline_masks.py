"""Masks drawn as closed outlines (HC18's fetal head ellipses, ``000_HC.png`` + ``000_HC_Annotation.png``; contours
traced in a viewer) are said by ``check`` and ``fit``: medimg trains the outline as drawn, which is not the area
inside. Before: the pairs were no dataset at all ("no class sub-folders"), and an outline set read as other names
said OK. A vessel or membrane network (many holes per part) is a structure of its own and is not flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.tasks.segment.cases import determine_dataset_encoding
from medimg.tasks.segment.labels import is_outline
from medimg.tasks.segment.quality import check_segmentation


def _ellipse(size: tuple[int, int], box: tuple[int, int, int, int], *, filled: bool) -> np.ndarray:
    canvas = Image.new("L", (size[1], size[0]), 0)
    draw = ImageDraw.Draw(canvas)
    if filled:
        draw.ellipse(box, fill=255)
    else:
        draw.ellipse(box, outline=255, width=2)
    return np.asarray(canvas)


def _network(size: tuple[int, int]) -> np.ndarray:
    """A mesh of thin lines: many small holes per drawn part (vessels, membranes)."""
    mesh = np.zeros(size, np.uint8)
    mesh[::12, :] = 255
    mesh[:, ::12] = 255
    return mesh


def _hc18(root: Path, count: int = 5) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        Image.fromarray(rng.integers(0, 256, (120, 160)).astype(np.uint8)).save(root / f"{number:03d}_HC.png")
        outline = _ellipse((120, 160), (30 + number, 20, 130, 100), filled=False)
        Image.fromarray(outline).save(root / f"{number:03d}_HC_Annotation.png")
    return root


def test_is_outline() -> None:
    assert is_outline(_ellipse((120, 160), (30, 20, 130, 100), filled=False))
    assert not is_outline(_ellipse((120, 160), (30, 20, 130, 100), filled=True))
    assert not is_outline(_network((120, 160)))
    assert not is_outline(np.zeros((20, 20), np.uint8))
    assert not is_outline(np.zeros((4, 20, 20), np.uint8))  # a volume


def test_hc18_pairs_are_read_and_their_outlines_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _hc18(tmp_path / "training_set")
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 5
    assert all(case.mask is not None and case.mask.name.endswith("_HC_Annotation.png") for case in dataset.cases)
    report = check_segmentation(dataset, progress=False)
    assert any("5 of 5 masks are closed outlines" in warning for warning in report.warnings)
    with caplog.at_level("WARNING"):
        encoding = determine_dataset_encoding(dataset, [dataset.read(case) for case in dataset.cases])
    assert "binary_fill_holes" in encoding.note and "closed outlines" in caplog.text


@pytest.mark.parametrize("kind", ["filled", "network"])
def test_filled_regions_and_networks_are_not_outlines(tmp_path: Path, kind: str) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(1)
    for number in range(5):
        Image.fromarray(rng.integers(0, 256, (120, 160)).astype(np.uint8)).save(tmp_path / "images" / f"{number}.png")
        mask = _ellipse((120, 160), (30, 20, 130, 100), filled=True) if kind == "filled" else _network((120, 160))
        Image.fromarray(mask).save(tmp_path / "masks" / f"{number}.png")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, SegmentationDataset)
    report = check_segmentation(dataset, progress=False)
    assert not any("closed outlines" in warning for warning in report.warnings)


def test_named_values_do_not_hide_outlines(tmp_path: Path) -> None:
    import json

    root = _hc18(tmp_path / "training_set")
    (root / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "255": "head"}}))
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset)
    report = check_segmentation(dataset, progress=False)
    assert report.class_names == ["background", "head"]
    assert any("5 of 5 masks are closed outlines" in warning for warning in report.warnings)
