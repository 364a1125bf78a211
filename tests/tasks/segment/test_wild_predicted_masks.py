"""Predicted masks as a lab opens them beside its own: a model trained on gray-level coded masks (0/128/255) or on
0/255 NIfTI masks writes its masks with those values, in PyTorch and through the ONNX predictor (before: class
indices 0/1/2, a nearly black PNG, and 0/1 NIfTI masks beside 0/255 references)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

LABELS = np.array([[0, 0, 1, 1], [0, 2, 2, 1], [0, 0, 0, 0]], dtype=np.uint8)


def _probabilities(labels: np.ndarray, k: int) -> np.ndarray:
    return np.stack([(labels == c).astype(np.float32) for c in range(k)])


def _plan(values: list[float], background: float | None = None) -> Any:
    from medimg.tasks.segment.labels import determine_label_encoding
    from medimg.tasks.segment.planning import SegPlan

    encoding = determine_label_encoding(values, background=background)
    names = ["background", *(f"class_{i}" for i in range(1, encoding.num_classes))]
    return SegPlan(num_classes=encoding.num_classes, class_names=names, label_encoding=encoding)


def test_label_values_are_the_training_masks_values_where_they_are_not_the_classes() -> None:
    from medimg.tasks.segment.labels import determine_label_encoding
    from medimg.tasks.segment.masks import label_values

    assert label_values(determine_label_encoding([0, 128, 255])) == [0, 128, 255]
    assert label_values(determine_label_encoding([0, 128, 255], background=255)) == [255, 128, 0]  # REFUGE
    assert label_values(determine_label_encoding([0, 255])) == [0, 255]
    assert label_values(determine_label_encoding([0, 255]).model_dump()) == [0, 255]  # a saved plan's dict
    for values in ([0, 1], [0, 1, 4], [0, 1, 2]):  # label maps: their values are the classes already
        assert label_values(determine_label_encoding(values)) is None
    assert label_values(None) is None


def _png_input(tmp_path: Path) -> Path:
    from PIL import Image

    source = tmp_path / "in" / "scan.png"
    source.parent.mkdir(parents=True)
    Image.fromarray(np.full(LABELS.shape, 90, np.uint8)).save(source)
    return source


def test_pytorch_predict_writes_the_gray_levels_of_the_training_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from medimg.tasks.segment import evaluate

    monkeypatch.setattr(evaluate, "segment_image", lambda *a, **k: (LABELS.copy(), _probabilities(LABELS, 3)))
    source = _png_input(tmp_path)
    predictions, failed = evaluate.predict_files(None, _plan([0, 128, 255]), [source], tmp_path / "out")  # type: ignore[arg-type]
    assert not failed
    written = np.asarray(Image.open(str(predictions[0].mask_path)))
    np.testing.assert_array_equal(written, np.array([0, 128, 255], np.uint8)[LABELS])
    assert predictions[0].voxels == {"background": 7, "class_1": 3, "class_2": 2}  # counts stay per class

    refuge = _plan([0, 128, 255], background=255)  # 255 around every mask: background 255, disc 128, cup 0
    predictions, _ = evaluate.predict_files(None, refuge, [source], tmp_path / "refuge")  # type: ignore[arg-type]
    written = np.asarray(Image.open(str(predictions[0].mask_path)))
    np.testing.assert_array_equal(written, np.array([255, 128, 0], np.uint8)[LABELS])


def test_pytorch_predict_writes_a_0_255_nifti_mask_for_0_255_training_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nibabel as nib

    from medimg.tasks.segment import evaluate

    binary = (LABELS > 0).astype(np.uint8)[..., None].repeat(3, axis=2)
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    source = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(binary.shape, np.float32), affine), source)
    monkeypatch.setattr(evaluate, "segment_image", lambda *a, **k: (binary.copy(), _probabilities(binary, 2)))
    predictions, _ = evaluate.predict_files(None, _plan([0, 255]), [source], tmp_path / "out")  # type: ignore[arg-type]
    mask = nib.load(str(predictions[0].mask_path))
    np.testing.assert_array_equal(np.asarray(mask.dataobj), binary * 255)
    np.testing.assert_allclose(mask.affine, affine)

    # a label map (0/1) is written as before: its values are the classes
    predictions, _ = evaluate.predict_files(None, _plan([0, 1]), [source], tmp_path / "plain")  # type: ignore[arg-type]
    np.testing.assert_array_equal(np.asarray(nib.load(str(predictions[0].mask_path)).dataobj), binary)


def test_the_onnx_export_carries_the_values_and_its_predictor_writes_them(tmp_path: Path) -> None:
    from PIL import Image

    from medimg.export.predictor import OnnxPredictor
    from medimg.export.segment import segment_preprocessing_steps, segment_spec
    from medimg.io import read_image

    plan = _plan([0, 128, 255])
    spec = segment_spec(plan.model_dump())
    assert spec["mask_values"] == [0, 128, 255]
    assert any("[0, 128, 255]" in step for step in segment_preprocessing_steps(spec))
    assert "mask_values" not in segment_spec(_plan([0, 1, 2]).model_dump())  # class indices: nothing to say

    predictor = OnnxPredictor.__new__(OnnxPredictor)  # the writing step alone, without a session
    predictor.preprocessing, predictor.class_names, predictor.mask_colours = spec, plan.class_names, None
    predictor.segment_image = lambda image: (LABELS.copy(), _probabilities(LABELS, 3))  # type: ignore[method-assign]
    image = read_image(_png_input(tmp_path))
    prediction = predictor.segment_images([image], tmp_path / "onnx")[0]
    written = np.asarray(Image.open(str(prediction.mask_path)))
    np.testing.assert_array_equal(written, np.array([0, 128, 255], np.uint8)[LABELS])


def test_one_name_in_two_formats_keeps_both_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``x.png`` and ``x.jpg`` in one folder both made ``x_mask.png``: the second replaced the first's mask (and
    both predictions named the one file). Now the second is ``x_2_mask.png``."""
    from PIL import Image

    from medimg.tasks.segment import evaluate

    monkeypatch.setattr(evaluate, "segment_image", lambda *a, **k: (LABELS.copy(), _probabilities(LABELS, 3)))
    source = _png_input(tmp_path)
    Image.open(source).convert("RGB").save(source.with_suffix(".jpg"))
    files = [source, source.with_suffix(".jpg")]
    predictions, failed = evaluate.predict_files(None, _plan([0, 1, 2]), files, tmp_path / "out")  # type: ignore[arg-type]
    masks = [Path(str(p.mask_path)) for p in predictions]
    assert not failed and len(set(masks)) == 2 and all(m.is_file() for m in masks)
    assert sorted(m.name for m in masks) == ["scan_2_mask.png", "scan_mask.png"]
