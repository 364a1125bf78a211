"""3D volumes as they come from the wild: masks saved as floats, NIfTI files without a qform or sform, MetaImage files
cut short. Each read as a user expects, or refused with the file and the fix."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medimg.data.dataset import SegmentationDataset
from medimg.errors import ImageReadError
from medimg.io import read_image, read_mask
from medimg.io.nifti import read_nifti
from medimg.tasks.segment.masks import write_mask
from medimg.tasks.segment.quality import check_segmentation

RNG = np.random.default_rng(3)


def _labels() -> np.ndarray:
    labels = np.zeros((8, 8, 4), np.uint8)
    labels[1:4, 2:6, 1:3] = 1
    labels[5:7, 1:3, 2:4] = 2
    return labels


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha"])
def test_a_float_mask_of_0_999999_reads_as_its_whole_labels(tmp_path: Path, suffix: str) -> None:
    stored = _labels().astype(np.float32) * np.float32(0.999999)  # 0, 0.999999, 1.999998: a tool's float label map
    path = tmp_path / f"mask{suffix}"
    if suffix == ".mha":
        sitk.WriteImage(sitk.GetImageFromArray(stored.transpose(2, 1, 0).copy()), str(path))
    else:
        nib.save(nib.Nifti1Image(stored, np.diag([0.7, 0.7, 5.0, 1.0])), path)
    mask = read_mask(path)
    assert sorted(np.unique(mask.array).tolist()) == [0.0, 1.0, 2.0]
    assert np.array_equal(mask.array[0], _labels())


def test_images_between_whole_numbers_or_in_tiny_units_are_left_alone(tmp_path: Path) -> None:
    image = RNG.normal(100, 20, (8, 8, 4)).astype(np.float32)
    adc = np.full((8, 8, 4), 2e-9, np.float32)  # an ADC map in m^2/s: every value within 1e-4 of 0
    counts = np.rint(image)  # whole numbers stored as floats: nothing to round
    for name, array in (("image", image), ("adc", adc), ("counts", counts)):
        nib.save(nib.Nifti1Image(array, np.eye(4)), tmp_path / f"{name}.nii.gz")
        read = read_nifti(tmp_path / f"{name}.nii.gz")
        assert np.array_equal(read.array[0], array) and "snapped_to_integers" not in read.meta, name


def test_a_float_mask_keeps_the_class_names_of_its_dataset_json(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for folder in ("imagesTr", "labelsTr"):
        (root / folder).mkdir(parents=True)
    for i in range(3):
        labels = np.zeros((8, 8, 4), np.float32)
        labels[1 + i : 4 + i, 2:6, 1:3] = 0.999999
        affine = np.diag([0.7, 0.7, 5.0, 1.0])
        nib.save(
            nib.Nifti1Image(RNG.normal(size=(8, 8, 4)).astype(np.float32), affine),
            root / "imagesTr" / f"c{i}_0000.nii.gz",
        )
        nib.save(nib.Nifti1Image(labels, affine), root / "labelsTr" / f"c{i}.nii.gz")
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1}, "numTraining": 3}
    (root / "dataset.json").write_text(json.dumps({**meta, "file_ending": ".nii.gz"}))
    report = check_segmentation(SegmentationDataset.load(root))
    said = "\n".join(report.warnings)
    assert "0.999999" not in said and "generic class names" not in said, said
    assert report.class_names == ["background", "liver"]


def test_a_mask_of_a_nifti_without_qform_or_sform_is_placed_as_its_input(tmp_path: Path) -> None:
    source = tmp_path / "scan.nii.gz"
    img = nib.Nifti1Image(RNG.normal(size=(8, 8, 4)).astype(np.float32), None)  # codes 0: placed by its voxel sizes
    img.header.set_zooms((0.8, 0.8, 2.5))
    nib.save(img, source)
    image = read_nifti(source)
    out = write_mask(
        _labels(),
        tmp_path / "out" / "scan_mask.nii.gz",
        affine=image.affine,
        spacing_mm=image.spacing_mm,
        nifti_geometry=image.meta["nifti_geometry"],
    )
    written = nib.load(out)
    assert int(written.header["qform_code"]) == 0 and int(written.header["sform_code"]) == 0
    assert np.allclose(written.affine, nib.load(source).affine)  # nibabel, FSL: where they show the input
    itk_in, itk_out = sitk.ReadImage(str(source)), sitk.ReadImage(str(out))  # ITK-SNAP, 3D Slicer: where they show it
    assert np.allclose(itk_out.GetOrigin(), itk_in.GetOrigin())
    assert np.allclose(itk_out.GetDirection(), itk_in.GetDirection())
    assert np.allclose(itk_out.GetSpacing(), itk_in.GetSpacing())


def test_a_truncated_metaimage_is_said_to_be_truncated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "scan.mha"
    sitk.WriteImage(sitk.GetImageFromArray(RNG.normal(size=(4, 8, 8)).astype(np.float32)), str(path))
    path.write_bytes(path.read_bytes()[:-100])
    with caplog.at_level(logging.WARNING), pytest.raises(ImageReadError) as error:
        read_image(path)
    said = str(error.value)
    assert "scan.mha" in said and "truncated" in said and "re-copy or re-export" in said
    assert "data file beside it" not in said and "No such file" not in said


def test_a_metaimage_header_without_its_data_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "scan.mhd"
    sitk.WriteImage(sitk.GetImageFromArray(RNG.normal(size=(4, 8, 8)).astype(np.float32)), str(path))
    (tmp_path / "scan.raw").unlink()
    with pytest.raises(ImageReadError, match=r"scan\.mhd.*scan\.raw.*put scan\.raw next to scan\.mhd"):
        read_image(path)


def test_complex_voxels_are_refused_not_cut_to_their_real_part(tmp_path: Path) -> None:
    real = RNG.normal(size=(8, 8, 4))
    path = tmp_path / "kspace.nii.gz"
    nib.save(nib.Nifti1Image((real + 1j * real).astype(np.complex64), np.eye(4)), path)
    with pytest.raises(ImageReadError, match=r"kspace\.nii\.gz.*complex.*save the magnitude"):
        read_image(path)


@pytest.mark.parametrize("shape", [(8, 8, 4), (4000, 4000, 3000)])
def test_a_nifti_holding_fewer_bytes_than_its_header_says_is_said_to_be_truncated(
    tmp_path: Path, shape: tuple[int, ...]
) -> None:
    path = tmp_path / "scan.nii"
    img = nib.Nifti1Image(RNG.normal(size=(8, 8, 4)).astype(np.float32), np.eye(4))
    nib.save(img, path)
    header = img.header.copy()
    header.set_data_shape(shape)  # a header claiming 48e9 voxels, or an interrupted copy of the file
    with path.open("wb") as handle:
        header.write_to(handle)
        handle.write(b"\0" * 600)
    with pytest.raises(ImageReadError) as error:
        read_image(path)
    said = str(error.value)
    assert "scan.nii" in said and "truncated" in said and "re-copy or re-export" in said
    assert "max_pixels" not in said and f"{' x '.join(map(str, shape))} voxels of float32" in said


def test_a_nifti_gz_too_small_for_its_header_is_said_to_be_truncated(tmp_path: Path) -> None:
    path = tmp_path / "scan.nii.gz"
    img = nib.Nifti1Image(RNG.normal(size=(8, 8, 4)).astype(np.float32), np.eye(4))
    img.header.set_data_shape((4000, 4000, 3000))  # a corrupt header: 192 GB of voxels in a file of a few bytes
    with gzip.open(path, "wb") as handle:
        img.header.write_to(handle)
        handle.write(b"\0" * 600)
    with pytest.raises(ImageReadError) as error:
        read_image(path)
    said = str(error.value)
    assert "scan.nii.gz" in said and "truncated" in said and "max_pixels" not in said
