"""A 4D volume's frames (time points, echoes: NIfTI ``(X, Y, Z, K)``) are not a picture's colours: given to a
one-channel model they were averaged into one frame (segmentation: a mask was written; classification: luminance),
and a classification check promised to "convert" a 2-frame volume that fit then stopped at, after training. They
are refused, naming the file and the fix; real colour images are still converted."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.errors import DatasetError
from medimg.io import read_image

SETTINGS = {"spatial_dims": 3, "in_channels": 1, "normalisation": "zscore"}


def _volume(path: Path, frames: int = 0, seed: int = 0) -> Path:
    """A tiny 8x8x4 NIfTI volume, 4D with ``frames`` frames when given."""
    rng = np.random.default_rng(seed)
    shape = (8, 8, 4, frames) if frames else (8, 8, 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(rng.normal(100, 20, shape).astype(np.float32), np.eye(4)), path)
    return path


def test_segmentation_input_refuses_frames_of_a_4d_volume(tmp_path: Path) -> None:
    from medimg.tasks.segment.preprocess import prepare_image

    image = read_image(_volume(tmp_path / "four3.nii.gz", frames=3))
    assert image.channels == 3
    with pytest.raises(DatasetError, match=r"four3\.nii\.gz: 3 frames .*save the frame you mean"):
        prepare_image(image.array, image.spacing_mm, SETTINGS, image.source, meta=image.meta)  # type: ignore[arg-type]


def test_segmentation_input_still_averages_colour() -> None:
    from medimg.tasks.segment.arrays import match_channels, network_input

    volume = np.stack([np.full((8, 8, 4), v, np.float32) for v in (0.0, 3.0, 6.0)])
    grey = match_channels(volume, 1, "rgb24.nii.gz", {"format": "nifti", "rgb": True})
    assert grey.shape == (1, 8, 8, 4) and np.allclose(grey, 3.0)
    picture = np.stack([np.full((8, 8), v, np.float32) for v in (0.0, 3.0, 6.0)])
    assert network_input(picture, None, {**SETTINGS, "spatial_dims": 2}, "a.png", meta={"format": "png"})[0].shape == (
        1,
        8,
        8,
    )
    with pytest.raises(DatasetError, match="frames"):  # an array volume, no format: frames
        network_input(volume, None, SETTINGS, "volume")


def test_classification_input_refuses_frames_of_a_4d_volume(tmp_path: Path) -> None:
    from medimg.transforms.preprocess import to_channels

    image = read_image(_volume(tmp_path / "four3.nii.gz", frames=3))
    for meta in (image.meta, None):
        with pytest.raises(DatasetError, match=r"four3\.nii\.gz: 3 frames .*--exclude 'four3\.nii\.gz'"):
            to_channels(image.array, 1, image.source, meta)
    colour = to_channels(image.array, 1, "rgb24.nii.gz", {**image.meta, "rgb": True})
    assert colour.shape == (1, 8, 8, 4)


@pytest.fixture
def class_folders_with_a_4d_volume(tmp_path: Path) -> Path:
    root = tmp_path / "cls"
    for label in ("a", "b"):
        for i in range(3):
            _volume(root / label / f"{label}{i}.nii.gz", seed=ord(label) * 10 + i)
    _volume(root / "a" / "a1.nii.gz", frames=2, seed=7)
    return root


def test_check_reports_an_unconvertible_volume_and_fit_refuses_before_training(
    class_folders_with_a_4d_volume: Path, tmp_path: Path
) -> None:
    from medimg import Model
    from medimg.data.dataset import Dataset
    from medimg.data.quality import check_dataset

    dataset = Dataset.load(class_folders_with_a_4d_volume, task="classify")
    report = check_dataset(dataset)  # type: ignore[arg-type]
    assert not report.ok
    assert [item["path"] for item in report.unconvertible] == [str(class_folders_with_a_4d_volume / "a/a1.nii.gz")]
    assert "--exclude 'a1.nii.gz'" in report.summary()
    assert not any("are converted to" in w for w in report.warnings)
    with pytest.raises(DatasetError, match=r"a1\.nii\.gz: 2 frames .*--exclude 'a1\.nii\.gz'"):
        Model("simple-cnn", progress=False).fit(class_folders_with_a_4d_volume, epochs=1, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "model.pt").exists()  # refused before training
