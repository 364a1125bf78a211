"""A predicted mask keeps its input's NIfTI shape and affine (found by a new-user session with SimpleITK)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


def test_a_2d_nifti_slice_stored_h_w_1_gets_a_mask_of_that_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the mask of a (64, 80, 1) input was written (64, 80): ITK readers put it at z = 0 without its slice
    thickness, off its image, and ``mask.shape == image.shape`` failed."""
    import nibabel as nib

    from medimg.tasks.segment import evaluate
    from medimg.tasks.segment.planning import SegPlan

    affine = np.diag([-0.5, -1.5, 3.0, 1.0])
    affine[:3, 3] = [10, 20, 30]
    source = tmp_path / "t0.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((6, 8, 1), np.float32), affine), source)
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((6, 8), np.float32), affine), flat)

    def segment(network: object, plan: SegPlan, image: object, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        labels = np.zeros((6, 8), np.uint8)
        labels[2:4, 3:6] = 1
        return labels, np.stack([1.0 - labels, labels.astype(np.float64)])

    monkeypatch.setattr(evaluate, "segment_image", segment)
    plan = SegPlan(num_classes=2, class_names=["background", "foreground"])
    predictions, failed = evaluate.predict_files(None, plan, [source, flat], tmp_path / "out")  # type: ignore[arg-type]
    assert not failed
    written: list[Any] = [nib.load(str(p.mask_path)) for p in predictions]
    assert written[0].shape == (6, 8, 1) and written[1].shape == (6, 8)  # each as its input
    for mask in written:
        np.testing.assert_allclose(mask.affine, affine)
    assert int(np.asarray(written[0].dataobj)[2, 3, 0]) == 1
