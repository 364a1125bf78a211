"""Classification's ``normalisation: per_image``: each image's own z-score per channel (nnU-Net's MR scheme), chosen
for volumes stored as raw scanner values that are not Hounsfield units, applied alike by training (torch), the
ONNX predictor (numpy) and a fitted run, so one scan saved at another intensity scale is classified the same."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medimg.export.preprocess import preprocess, preprocessing_steps
from medimg.planning.plan import Plan
from medimg.transforms.preprocess import normalise, preprocess_arrays


def _volumes(seed: int = 0) -> list[np.ndarray]:
    base = np.random.default_rng(seed).gamma(2.0, 100.0, (1, 10, 12, 14)).astype(np.float32)
    return [base * gain for gain in (1.0, 7.0, 0.2)]


def test_each_image_channel_gets_its_own_z_score() -> None:
    plan = Plan(spatial_dims=3, in_channels=1, input_size=[8, 8, 8], normalisation="per_image")
    x = torch.from_numpy(np.random.default_rng(1).gamma(2.0, 50.0, (3, 2, 8, 8, 8)).astype(np.float32))
    z = normalise(x, plan)
    assert torch.allclose(z.mean(dim=(2, 3, 4)), torch.zeros(3, 2), atol=1e-5)
    assert torch.allclose(z.std(dim=(2, 3, 4), unbiased=False), torch.ones(3, 2), atol=1e-5)
    assert torch.allclose(normalise(x * 40 + 1000, plan), z, atol=1e-4)  # another scanner's scale and offset
    assert torch.equal(normalise(torch.full((1, 1, 4, 4, 4), 9.0), plan), torch.zeros(1, 1, 4, 4, 4))
    dataset = plan.model_copy(update={"normalisation": "dataset", "clip_high": 255.0})
    assert not torch.allclose(normalise(x * 40, dataset), normalise(x, dataset))


def test_training_and_onnx_preprocessing_agree_and_older_exports_read_as_dataset() -> None:
    arrays = _volumes()
    plan = Plan(spatial_dims=3, in_channels=1, input_size=[8, 8, 8], normalisation="per_image", clip_high=255.0)
    reference = preprocess_arrays(arrays, plan).float().numpy()
    np.testing.assert_allclose(preprocess(arrays, plan.model_dump()), reference, atol=5e-3)
    np.testing.assert_allclose(reference[1], reference[0], atol=2e-2)  # the gain of 7 is gone (float16 rounding)
    assert any("own mean" in step for step in preprocessing_steps(plan.model_dump()))
    older = {k: v for k, v in plan.model_dump().items() if k != "normalisation"}
    dataset = plan.model_copy(update={"normalisation": "dataset"})
    np.testing.assert_allclose(preprocess(arrays, older), preprocess_arrays(arrays, dataset).float().numpy(), atol=5e-3)


def _write_nifti_classes(root: Path, *, offset: float, n: int = 8) -> Path:
    """Two classes of small volumes told apart by a bright blob, each volume at a random scanner gain."""
    rng = np.random.default_rng(0)
    for label in ("control", "lesion"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            volume = rng.normal(100.0, 10.0, (12, 12, 12)).astype(np.float32)
            if label == "lesion":
                volume[4:8, 4:8, 4:8] += 60.0
            gain = float(rng.uniform(0.5, 4.0))
            nib.save(nib.Nifti1Image(volume * gain + offset, np.eye(4)), root / label / f"case{i}.nii.gz")
    return root


def test_the_planner_chooses_per_image_for_mr_like_nifti_and_not_for_ct(tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset
    from medimg.data.loading import read_cases
    from medimg.planning.fingerprint import extract_fingerprint
    from medimg.planning.planner import make_plan

    def planned(root: Path) -> Plan:
        dataset = Dataset.load(root)
        loaded = read_cases(dataset, dataset.cases)
        return make_plan(extract_fingerprint(dataset, loaded.cases, loaded.arrays, loaded.metas))

    plan = planned(_write_nifti_classes(tmp_path / "mr", offset=0.0))
    assert plan.normalisation == "per_image" and "z-score" in plan.reasons["normalisation"]
    ct = planned(_write_nifti_classes(tmp_path / "ct", offset=-1400.0))  # air at about -1000 HU and below
    assert ct.normalisation == "dataset"


def test_a_fitted_run_classifies_a_rescaled_copy_of_a_scan_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Trained on volumes at random scanner gains, the per-image run learns the blob (the dataset range cannot:
    measured, its 8 epochs gave every scan 0.47), and a copy of a scan at 12x the values gets its probabilities,
    without a warning that its intensities lie outside the training range (the network never sees them)."""
    from medimg import Model

    data = _write_nifti_classes(tmp_path / "mr", offset=0.0)
    model = Model("simple-cnn").fit(data, run_dir=tmp_path / "run", epochs=8, seed=0, progress=False, tensorboard=False)
    assert json.loads((tmp_path / "run" / "plan.json").read_text())["normalisation"] == "per_image"
    scan = data / "lesion" / "case0.nii.gz"
    image = nib.load(scan)
    rescaled = tmp_path / "rescaled.nii.gz"  # the same scan exported by another tool at 12x the values
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj, np.float32) * 12.0, image.affine), rescaled)
    with caplog.at_level(logging.WARNING):
        original, copy, control = model.predict([scan, rescaled, data / "control" / "case0.nii.gz"])
    assert "training domain" not in caplog.text
    assert original.probabilities["lesion"] > control.probabilities["lesion"] + 0.2
    for name in original.probabilities:
        assert copy.probabilities[name] == pytest.approx(original.probabilities[name], abs=2e-3)
