"""Volumes named as they come from the wild: DICOM UIDs as file and folder names, NIfTI files without their
extension. Each read, and each given its own predicted mask file."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from medimg.io import read_image
from medimg.tasks.segment.masks import mask_path_for

UID = "1.3.6.1.4.1.14519.5.2.1.6279.6001"


def test_series_named_by_uid_get_a_mask_each(tmp_path: Path) -> None:
    folders = [tmp_path / f"{UID}.{n}" for n in ("298806137288633453246975630178", "179049373636438705059720603192")]
    for folder in folders:
        folder.mkdir()
    masks = {mask_path_for(folder, tmp_path / "out", volume=True) for folder in folders}
    assert {m.name for m in masks} == {f"{f.name}_mask.nii.gz" for f in folders}


def test_slices_named_by_uid_or_number_get_a_mask_each(tmp_path: Path) -> None:
    names = [f"1.2.840.113619.2.55.3.604688119.969.1268071029.{n}" for n in (320, 321)] + ["IM.001", "IM.002"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    masks = [mask_path_for(tmp_path / name, tmp_path / "out").name for name in names]
    assert masks == [f"{name}_mask.png" for name in names]
    assert mask_path_for(tmp_path / "IM_0001.dcm", tmp_path / "out").name == "IM_0001_mask.png"  # a type still goes
    assert mask_path_for(tmp_path / "scan.mha", tmp_path / "out").name == "scan_mask.nii.gz"


def test_a_nifti_without_its_extension_is_read_by_content(tmp_path: Path) -> None:
    data = np.arange(8 * 8 * 4, dtype=np.float32).reshape(8, 8, 4)
    affine = np.diag([0.7, 0.7, 5.0, 1.0])
    for name, gz in (("1.2.3.41", False), ("1.2.3.42", True)):
        nib.save(nib.Nifti1Image(data, affine), tmp_path / ("scan.nii.gz" if gz else "scan.nii"))
        (tmp_path / ("scan.nii.gz" if gz else "scan.nii")).rename(tmp_path / name)
        image = read_image(tmp_path / name)
        assert np.array_equal(image.array[0], data) and np.allclose(image.affine, affine), name
