"""Binary masks drawn black on white (the structure 0, the background 255 around it). As they are, 255 is read as
the structure: ``check`` now says that the value read as the structure surrounds every image, and a
``dataset.json`` naming 255 "background" makes 255 class 0 (before, its name went to class 1, which was still
trained and scored as the structure: the model segmented what lay around the lesion, named "background")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.tasks.segment.cases import determine_dataset_encoding
from medimg.tasks.segment.labels import LabelEncoding, encode_mask, named_background_first
from medimg.tasks.segment.quality import check_segmentation


def _inverted_set(root: Path, count: int = 6) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[:40, :40]
    for number in range(count):
        centre = rng.integers(14, 26, 2)
        disk = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < 36
        image = (rng.random((40, 40)) * 80 + 60).astype(np.uint8)
        image[disk] = 230
        Image.fromarray(image).save(root / "images" / f"c{number}.png")
        Image.fromarray(np.where(disk, 0, 255).astype(np.uint8)).save(root / "masks" / f"c{number}.png")


def test_check_warns_when_the_structure_read_surrounds_every_mask(tmp_path: Path) -> None:
    _inverted_set(tmp_path)
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    report = check_segmentation(dataset, progress=False)
    assert any("the value 255, read as the structure, surrounds the image" in w for w in report.warnings)
    assert any('{"labels": {"0": "<structure>", "255": "background"}}' in w for w in report.warnings)


def test_a_dataset_json_naming_255_background_makes_it_class_0(tmp_path: Path) -> None:
    _inverted_set(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"0": "lesion", "255": "background"}}))
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    samples = [dataset.read(case) for case in dataset.cases]
    encoding = determine_dataset_encoding(dataset, samples)
    assert encoding.kind == "values" and encoding.values == [255.0, 0.0]
    assert samples[0].mask is not None
    classes = encode_mask(samples[0].mask, encoding)
    np.testing.assert_array_equal(classes == 1, samples[0].mask[0] == 0)  # the lesion is class 1
    report = check_segmentation(dataset, progress=False)
    assert report.class_names == ["background", "lesion"] and report.cases_per_class == {"lesion": 6}
    assert not any("surrounds the image" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("encoding", "names", "values"),
    [
        (LabelEncoding(kind="identity", num_classes=3), {0: "liver", 1: "Background", 2: "tumour"}, [1.0, 0.0, 2.0]),
        (LabelEncoding(kind="values", num_classes=2, values=[0.0, 255.0]), {0: "background", 255: "vessel"}, None),
        (LabelEncoding(kind="identity", num_classes=2), {0: "lesion"}, None),  # no background named
        (LabelEncoding(kind="identity", num_classes=2), {0: "background", 1: "bg"}, None),  # two: which one?
        (LabelEncoding(kind="threshold", num_classes=2, threshold=128), {255: "background"}, None),
    ],
)
def test_named_background_first(encoding: LabelEncoding, names: dict[int, str], values: list[float] | None) -> None:
    result = named_background_first(encoding, names)
    if values is None:
        assert result is encoding
    else:
        assert result.kind == "values" and result.values == values
