from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.errors import ConfigError, ImageReadError
from medimg.io import read_dicom_series, read_image, read_nifti, write_nifti
from medimg.io.image import ImageData
from medimg.io.nifti import nifti_header

RNG = np.random.default_rng(1)


def _oblique_affine() -> np.ndarray:
    """Rotation about z by 30 degrees, spacing (0.8, 1.2, 2.5) mm, an offset: a non-trivial affine."""
    theta = np.deg2rad(30)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([0.8, 1.2, 2.5])
    affine[:3, 3] = [-90.0, 12.5, 40.0]
    return affine


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_3d_round_trip(tmp_path: Path, suffix: str) -> None:
    array = RNG.normal(size=(1, 5, 6, 7)).astype(np.float32)
    affine = _oblique_affine()
    path = write_nifti(ImageData(array=array, affine=affine), tmp_path / f"vol{suffix}")
    image = read_image(path)
    assert image.meta["format"] == "nifti"
    assert image.array.shape == (1, 5, 6, 7)
    np.testing.assert_array_equal(image.array, array)
    np.testing.assert_allclose(image.affine, affine, atol=1e-5)
    assert image.spacing_mm == pytest.approx((0.8, 1.2, 2.5), abs=1e-6)
    # nibabel agrees on the voxel order: array[0, i, j, k] is voxel (i, j, k)
    np.testing.assert_array_equal(np.asarray(nib.load(str(path)).dataobj)[1, 2, 3], array[0, 1, 2, 3])


def test_4d_round_trip_channels_first(tmp_path: Path) -> None:
    array = RNG.normal(size=(3, 4, 5, 6)).astype(np.float32)
    affine = _oblique_affine()
    write_nifti(ImageData(array=array, affine=affine), tmp_path / "multi.nii.gz")
    on_disk = np.asarray(nib.load(str(tmp_path / "multi.nii.gz")).dataobj)
    assert on_disk.shape == (4, 5, 6, 3)
    np.testing.assert_array_equal(on_disk[..., 2], array[2])
    image = read_nifti(tmp_path / "multi.nii.gz")
    assert image.array.shape == (3, 4, 5, 6)
    np.testing.assert_array_equal(image.array, array)
    np.testing.assert_allclose(image.affine, affine, atol=1e-5)


def test_2d_stays_2d(tmp_path: Path) -> None:
    array = RNG.normal(size=(1, 8, 9)).astype(np.float32)
    write_nifti(ImageData(array=array, spacing_mm=(0.5, 0.25)), tmp_path / "flat.nii")
    image = read_nifti(tmp_path / "flat.nii")
    assert image.array.shape == (1, 8, 9)
    np.testing.assert_array_equal(image.array, array)
    assert image.spacing_mm == pytest.approx((0.5, 0.25))
    # a volume with a single slice (X, Y, 1) is squeezed to 2D and says so
    nib.save(nib.Nifti1Image(array[0][..., None], np.diag([0.5, 0.25, 3.0, 1.0])), tmp_path / "z1.nii.gz")
    squeezed = read_nifti(tmp_path / "z1.nii.gz")
    assert squeezed.array.shape == (1, 8, 9)
    assert squeezed.meta["squeezed_z"] is True
    assert squeezed.spacing_mm == pytest.approx((0.5, 0.25))
    # 2D with channels round trips too
    rgb = RNG.normal(size=(3, 8, 9)).astype(np.float32)
    write_nifti(ImageData(array=rgb), tmp_path / "rgb.nii")
    np.testing.assert_array_equal(read_nifti(tmp_path / "rgb.nii").array, rgb)


def test_label_map_written_as_uint8(tmp_path: Path) -> None:
    labels = RNG.integers(0, 3, size=(1, 4, 4, 4)).astype(np.float32)
    write_nifti(ImageData(array=labels, affine=_oblique_affine()), tmp_path / "seg.nii.gz", dtype=np.uint8)
    assert nib.load(str(tmp_path / "seg.nii.gz")).get_data_dtype() == np.uint8
    image = read_nifti(tmp_path / "seg.nii.gz")
    np.testing.assert_array_equal(image.array, labels)
    assert image.meta["dtype"] == "uint8"
    with pytest.raises(ConfigError, match="do not fit"):
        write_nifti(ImageData(array=labels * 1000), tmp_path / "bad.nii", dtype=np.uint8)


def test_scaling_and_units_from_header(tmp_path: Path) -> None:
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(data, np.diag([0.001, 0.002, 0.003, 1.0]))
    img.header.set_slope_inter(2.0, -5.0)
    img.header.set_xyzt_units("meter")
    nib.save(img, tmp_path / "m.nii")
    image = read_nifti(tmp_path / "m.nii")
    np.testing.assert_array_equal(image.array[0], data * 2.0 - 5.0)
    assert image.spacing_mm == pytest.approx((1.0, 2.0, 3.0))
    np.testing.assert_allclose(np.diag(image.affine)[:3], [1.0, 2.0, 3.0])


def test_write_nifti_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.nii"):
        write_nifti(ImageData(array=np.zeros((1, 2, 2), np.float32)), tmp_path / "x.png")
    with pytest.raises(ConfigError, match="channel-first"):
        write_nifti(ImageData(array=np.zeros((2, 2), np.float32)), tmp_path / "x.nii")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_truncated_nifti(tmp_path: Path, suffix: str) -> None:
    write_nifti(ImageData(array=RNG.normal(size=(1, 20, 20, 20)).astype(np.float32)), tmp_path / f"a{suffix}")
    blob = (tmp_path / f"a{suffix}").read_bytes()
    for n in (400, len(blob) // 2):
        cut = tmp_path / f"cut{n}{suffix}"
        cut.write_bytes(blob[:n])
        with pytest.raises(ImageReadError) as info:
            read_image(cut)
        assert str(cut) in str(info.value)


def test_dicom_series_to_nifti_keeps_geometry(dicom_writer: Callable[..., Path], tmp_path: Path) -> None:
    orientation = (1.0, 0.0, 0.0, 0.0, np.cos(0.2), np.sin(0.2))
    normal = np.cross(orientation[:3], orientation[3:])
    for k in range(3):
        dicom_writer(
            f"ser/{k}.dcm", np.full((4, 5), k, np.uint16), series_uid="9.9", slope=1, intercept=-1024,
            position=tuple(np.array([5.0, -3.0, 1.0]) + normal * 1.5 * k), orientation=orientation,
        )  # fmt: skip
    series = read_dicom_series(tmp_path / "ser")
    write_nifti(series, tmp_path / "ser.nii.gz")
    back = read_nifti(tmp_path / "ser.nii.gz")
    np.testing.assert_array_equal(back.array, series.array)
    np.testing.assert_allclose(back.affine, series.affine, atol=1e-5)
    assert back.spacing_mm == pytest.approx(series.spacing_mm, abs=1e-5)


def test_analyze_and_nifti_pairs_are_read_through_their_header(tmp_path: Path) -> None:
    """Analyze 7.5 (OASIS, SPM-era and IBSR sets ship ``.hdr`` + ``.img``) was "unrecognised image format", and a
    folder of ``.hdr`` files held no images; a NIfTI pair (``ni1``) read only when named."""
    from medimg import Dataset
    from medimg.io.formats import detect_format

    volume = np.arange(8 * 9 * 5, dtype=np.int16).reshape(8, 9, 5)
    for cls, k in (("AD", 0), ("AD", 1), ("CN", 2), ("CN", 3)):
        (tmp_path / cls).mkdir(exist_ok=True)
        nib.save(nib.AnalyzeImage(volume + k, np.diag([1.5, 1.5, 3.0, 1.0])), tmp_path / cls / f"OAS1_{k:04d}.hdr")
    nib.save(nib.Nifti1Pair(volume, np.eye(4)), tmp_path / "pair.hdr")
    for header in (tmp_path / "AD" / "OAS1_0000.hdr", tmp_path / "pair.hdr"):
        assert detect_format(header) == "nifti"
        image = read_image(header)
        assert image.array.shape == (1, 8, 9, 5) and image.array[0, 1, 2, 3] == 58
    assert read_image(tmp_path / "AD" / "OAS1_0000.hdr").spacing_mm == pytest.approx((1.5, 1.5, 3.0))
    with pytest.raises(ImageReadError, match=r"holds the pixels of OAS1_0000\.hdr.*pass .*OAS1_0000\.hdr"):
        read_image(tmp_path / "AD" / "OAS1_0000.img")  # the pixel file named instead of its header
    dataset = Dataset.load(tmp_path, task="classify")
    assert sorted(c.path.name for c in dataset.cases if c.path) == [f"OAS1_{k:04d}.hdr" for k in range(4)]


@pytest.mark.parametrize("kind", ["Nifti1Image", "Nifti2Image"])
def test_an_uncompressed_nifti_named_nii_gz_is_read_by_content(tmp_path: Path, kind: str) -> None:
    """Browsers unpack a downloaded .nii.gz and keep its name: the file is a plain NIfTI named .nii.gz."""
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    plain = tmp_path / "v.nii"
    nib.save(getattr(nib, kind)(volume, np.diag([2.0, 1.0, 1.5, 1.0])), plain)
    misnamed = tmp_path / "v.nii.gz"
    misnamed.write_bytes(plain.read_bytes())
    image = read_nifti(misnamed)
    assert np.array_equal(image.array[0], volume)
    assert image.spacing_mm == pytest.approx((2.0, 1.0, 1.5))
    assert nifti_header(misnamed).shape == (1, 4, 5, 6)


def test_spacing_is_that_of_the_affine_when_the_sform_and_pixdim_disagree(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A tool that rewrote the sform alone: the image is placed (and its masks written) with the sform, so its
    spacing (and every volume in mm) must come from the sform too, not from pixdim."""
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), None)
    img.header.set_zooms((1.5, 1.5, 2.0))
    img.set_qform(np.diag([1.5, 1.5, 2.0, 1.0]), code=1)
    img.set_sform(np.diag([3.0, 3.0, 4.0, 1.0]), code=2)
    nib.save(img, tmp_path / "s.nii.gz")
    with caplog.at_level("WARNING", logger="medimg.io.nifti"):
        image = read_nifti(tmp_path / "s.nii.gz")
    np.testing.assert_allclose(image.affine, np.diag([3.0, 3.0, 4.0, 1.0]))
    assert image.spacing_mm == pytest.approx((3.0, 3.0, 4.0))
    assert "disagree with its sform" in caplog.text and "1.5 x 1.5 x 2" in caplog.text
    assert read_nifti(tmp_path / "s.nii.gz", reduce=2).spacing_mm == pytest.approx((6.0, 6.0, 8.0))
    caplog.clear()
    oblique = tmp_path / "o.nii"
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.float32), _oblique_affine()), oblique)
    with caplog.at_level("WARNING", logger="medimg.io.nifti"):
        assert read_nifti(oblique).spacing_mm == pytest.approx((0.8, 1.2, 2.5))
    assert "disagree" not in caplog.text  # a consistent oblique file is not warned about


def test_a_gzipped_nifti_named_nii_is_read_by_content(tmp_path: Path) -> None:
    """A .nii.gz renamed .nii (or compressed by a tool that kept the name) was refused as corrupt."""
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    packed = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.diag([2.0, 1.0, 1.5, 1.0])), packed)
    misnamed = tmp_path / "v.nii"
    misnamed.write_bytes(packed.read_bytes())
    image = read_image(misnamed)
    assert np.array_equal(image.array[0], volume)
    assert image.spacing_mm == pytest.approx((2.0, 1.0, 1.5))
    assert nifti_header(misnamed).shape == (1, 4, 5, 6)
    misnamed.write_bytes(packed.read_bytes()[:60])  # a truncated gzip stream is still said to be one
    with pytest.raises(ImageReadError, match="corrupt or truncated"):
        read_nifti(misnamed)


def test_a_sheared_affine_is_written_as_the_sform_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A gantry-tilted CT's grid is sheared; a qform cannot hold that, and its rotated approximation (code 1) made
    ITK-based viewers place the mask on a rotated grid."""
    tilted = np.array([[0, 0, -0.8, 100], [-0.67, -0.7, 0, 120], [2.5, 0, 0, 0], [0, 0, 0, 1.0]])
    mask = ImageData(array=np.zeros((1, 4, 5, 6), np.float32), spacing_mm=(2.5, 0.7, 0.8), affine=tilted)
    with caplog.at_level("WARNING", logger="medimg.io.nifti"):
        path = write_nifti(mask, tmp_path / "tilt_mask.nii.gz", dtype=np.uint8)
    assert "sheared" in caplog.text and "qform code 0" in caplog.text
    written = nib.load(path)
    assert int(written.header["qform_code"]) == 0 and int(written.header["sform_code"]) == 1
    np.testing.assert_allclose(written.affine, tilted, atol=1e-5)
    np.testing.assert_allclose(read_nifti(path).affine, tilted, atol=1e-5)
    # an oblique but orthogonal grid keeps its exact qform
    caplog.clear()
    with caplog.at_level("WARNING", logger="medimg.io.nifti"):
        path = write_nifti(ImageData(array=mask.array, affine=_oblique_affine()), tmp_path / "oblique.nii.gz")
    written = nib.load(path)
    assert int(written.header["qform_code"]) == 1
    np.testing.assert_allclose(written.get_qform(), _oblique_affine(), atol=1e-5)
    assert "sheared" not in caplog.text


def test_a_mask_carries_its_inputs_qform_and_sform_as_the_input_has_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An input whose qform (code 1, RAS) and sform (code 2, x flipped) disagree: the mask was written with the sform
    in both fields (code 1), so ITK-based viewers (qform unless the sform code is 1) showed it mirrored over the
    input. Now the mask carries both forms and codes as the input has them, and reading the input warns."""
    from medimg.tasks.segment.masks import write_mask

    qform = np.diag([0.8, 0.8, 5.0, 1.0])
    sform = qform.copy()
    sform[0, 0], sform[0, 3] = -0.8, 21.6
    img = nib.Nifti1Image(np.zeros((28, 6, 4), np.float32), None)
    img.set_qform(qform, code=1)
    img.set_sform(sform, code=2)
    nib.save(img, tmp_path / "in.nii.gz")
    with caplog.at_level("WARNING", logger="medimg.io.nifti"):
        image = read_nifti(tmp_path / "in.nii.gz")
        read_nifti(tmp_path / "in.nii.gz")  # a training set is read many times: said once
    assert caplog.text.count("place the voxels differently") == 1
    assert (
        "medimg uses the sform" in caplog.text
        and "not named" in caplog.text
        and "RAS" in caplog.text
        and "LAS" in caplog.text
    )
    labels = np.zeros((28, 6, 4), np.uint8)
    labels[:3] = 1
    path = write_mask(
        labels,
        tmp_path / "in_mask.nii.gz",
        affine=image.affine,
        spacing_mm=image.spacing_mm,
        num_classes=2,
        nifti_geometry=image.meta["nifti_geometry"],
    )
    written = nib.load(path).header
    assert (int(written["qform_code"]), int(written["sform_code"])) == (1, 2)
    np.testing.assert_allclose(written.get_qform(), qform, atol=1e-5)
    np.testing.assert_allclose(written.get_sform(), sform, atol=1e-5)
    # a consistent input keeps both as they are too (here the sform alone: qform code 0)
    alone = nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), None)
    alone.set_sform(_oblique_affine(), code=2)
    alone.set_qform(None, code=0)
    nib.save(alone, tmp_path / "alone.nii.gz")
    read = read_nifti(tmp_path / "alone.nii.gz")
    out = write_nifti(
        ImageData(array=np.zeros((1, 4, 5, 6), np.float32), affine=read.affine, meta=dict(read.meta)),
        tmp_path / "alone_mask.nii.gz",
    )
    header = nib.load(out).header
    assert (int(header["qform_code"]), int(header["sform_code"])) == (0, 2)
    np.testing.assert_allclose(header.get_sform(), _oblique_affine(), atol=1e-5)
