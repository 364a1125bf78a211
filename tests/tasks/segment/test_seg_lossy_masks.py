"""Masks saved as JPEG: the ringing values around every edge are not classes (found by a new-user session)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.tasks.segment.labels import LabelEncoding


def _jpeg_set(root: Path, values: tuple[int, ...], n: int = 8, quality: int = 80) -> Path:
    """``n`` 64x64 cases whose masks hold ``values`` (a disc, then 12x12 squares), saved as JPEG."""
    rng = np.random.default_rng(3)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[:64, :64]
    for i in range(n):
        label = np.zeros((64, 64), np.uint8)
        cy, cx = rng.integers(16, 48, 2)
        label[(yy - cy) ** 2 + (xx - cx) ** 2 <= 100] = values[0]
        for k, value in enumerate(values[1:]):
            y, x = 4 + 20 * k, 44 if i % 2 else 4
            label[y : y + 12, x : x + 16] = np.where(
                label[y : y + 12, x : x + 16] == 0, value, label[y : y + 12, x : x + 16]
            )
        Image.fromarray(rng.integers(0, 255, (64, 64)).astype(np.uint8)).save(root / "images" / f"c{i}.png")
        Image.fromarray(label).save(root / "masks" / f"c{i}.jpg", quality=quality)
    return root


def _encoding(root: Path) -> LabelEncoding:
    from medimg import Dataset
    from medimg.tasks.segment.cases import determine_dataset_encoding, read_samples

    dataset = Dataset.load(root, task="segment")
    return determine_dataset_encoding(dataset, read_samples(dataset, dataset.cases).samples)


def test_a_0_1_mask_saved_as_jpeg_stays_binary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before, its ringing value 2 made a third class "class_2" (trained on, Dice 0), without a warning."""
    from medimg import Dataset
    from medimg.tasks.segment.labels import encode_mask
    from medimg.tasks.segment.quality import check_segmentation

    root = _jpeg_set(tmp_path / "j01", (1,), quality=75)
    assert max(np.asarray(Image.open(root / "masks" / f"c{i}.jpg")).max() for i in range(8)) >= 2
    with caplog.at_level(logging.WARNING):
        encoding = _encoding(root)
    assert encoding.num_classes == 2 and encoding.snap == [0.0, 1.0] and "JPEG" in caplog.text
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 1, 2, 3]]], np.float32), encoding), [[0, 1, 1, 1]])
    report = check_segmentation(Dataset.load(root, task="segment"))
    assert report.class_names == ["background", "foreground"] and any("JPEG" in w for w in report.warnings)


def test_a_jpeg_label_map_is_refused_unless_its_values_are_named(tmp_path: Path) -> None:
    """0/1/4/7 saved as JPEG held 0..10 and became 11 classes; now refused, or snapped to the named values."""
    from medimg.errors import DatasetError
    from medimg.tasks.segment.labels import encode_mask

    root = _jpeg_set(tmp_path / "mc", (1, 4, 7), quality=85)
    with pytest.raises(DatasetError, match="JPEG"):
        _encoding(root)
    names = {"0": "background", "1": "disc", "4": "dark", "7": "grey"}
    (root / "dataset.json").write_text(json.dumps({"labels": names}))
    encoding = _encoding(root)
    assert encoding.snap == [0.0, 1.0, 4.0, 7.0] and encoding.num_classes == 8
    np.testing.assert_array_equal(
        encode_mask(np.array([[[0, 2, 3, 5, 6, 9]]], np.float32), encoding), [[0, 1, 4, 4, 7, 7]]
    )


def test_snapped_encodings_keep_their_saved_fields() -> None:
    assert "snap" not in LabelEncoding(kind="identity", num_classes=2).model_dump()
    snapped = LabelEncoding(kind="identity", num_classes=2, snap=[0.0, 1.0])
    assert LabelEncoding.model_validate(snapped.model_dump()) == snapped
