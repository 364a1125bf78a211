"""MetaImage and NRRD (SimpleITK): read with the NIfTI reader's axes, spacing and RAS affine, so an image and its
mask read the same in either format; a segmentation run trains on them and writes masks in their geometry (NIfTI;
3D Slicer segmentations for NRRD volumes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ImageReadError
from medimg.io import read_image
from medimg.io.formats import detect_format, is_image_file

sitk = pytest.importorskip("SimpleITK", reason="MetaImage/NRRD reading needs SimpleITK (pip install 'medimg[itk]')")


def _volume(shape_zyx: tuple[int, int, int] = (6, 9, 11), seed: int = 0) -> tuple[np.ndarray, object]:
    values = np.random.default_rng(seed).integers(-1000, 1000, shape_zyx).astype(np.int16)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((-12.0, 30.5, 7.0))
    image.SetDirection((0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0))  # an oblique-free but non-identity layout
    return values, image


@pytest.mark.parametrize("name", ["ct.mha", "ct.nrrd", "ct.mhd"])
def test_reads_like_the_same_volume_saved_as_nifti(tmp_path: Path, name: str) -> None:
    values, image = _volume()
    sitk.WriteImage(image, str(tmp_path / name))
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))  # ITK's own NIfTI writer: the reference geometry
    if name.endswith(".mhd"):
        assert (tmp_path / "ct.raw").is_file() or (tmp_path / "ct.zraw").is_file()
    got, want = read_image(tmp_path / name), read_image(tmp_path / "ct.nii.gz")
    assert got.meta["format"] == ("nrrd" if name.endswith(".nrrd") else "metaimage")
    assert got.array.shape == want.array.shape == (1, 11, 9, 6)  # (C, x, y, z)
    np.testing.assert_array_equal(got.array, want.array)
    np.testing.assert_array_equal(got.array[0], values.transpose(2, 1, 0))
    np.testing.assert_allclose(got.spacing_mm, want.spacing_mm, rtol=1e-6)
    np.testing.assert_allclose(got.affine, want.affine, atol=1e-5)


def test_format_is_found_by_content_and_folders_list_the_files(tmp_path: Path) -> None:
    _, image = _volume()
    sitk.WriteImage(image, str(tmp_path / "scan.mha"))
    renamed = tmp_path / "scan.bin"
    renamed.write_bytes((tmp_path / "scan.mha").read_bytes())
    assert detect_format(renamed) == "metaimage"
    assert is_image_file(tmp_path / "scan.mha") and is_image_file(tmp_path / "x.nrrd")


def test_2d_and_vector_images(tmp_path: Path) -> None:
    plane = sitk.GetImageFromArray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    plane.SetSpacing((0.5, 0.25))
    sitk.WriteImage(plane, str(tmp_path / "plane.mha"))
    read = read_image(tmp_path / "plane.mha")
    assert read.array.shape == (1, 4, 3) and read.spacing_mm == (0.5, 0.25)
    rgb = sitk.GetImageFromArray(np.zeros((3, 4, 3), dtype=np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.nrrd"))
    assert read_image(tmp_path / "rgb.nrrd").array.shape == (3, 4, 3)


def test_a_header_without_its_data_file_is_named(tmp_path: Path) -> None:
    _, image = _volume()
    sitk.WriteImage(image, str(tmp_path / "ct.mhd"))
    for data in tmp_path.glob("ct.*raw"):
        data.unlink()
    with pytest.raises(ImageReadError, match=r"ct\.mhd") as error:
        read_image(tmp_path / "ct.mhd")
    assert "a detached header needs its data file beside it" in str(error.value)


@pytest.mark.parametrize("name", ["ct.mha", "ct.nrrd", "ct.mhd", "ct.nhdr"])
def test_the_data_file_a_header_names(tmp_path: Path, name: str) -> None:
    from medimg.io.formats import read_head
    from medimg.io.itk import detached_data_file

    _, image = _volume()
    sitk.WriteImage(image, str(tmp_path / name))
    named = detached_data_file(read_head(tmp_path / name, 8192))
    data_files = sorted(p.name for p in tmp_path.iterdir() if p.name != name)
    assert named == (data_files[0] if data_files else None)  # .mha/.nrrd hold their pixels (LOCAL): None


def test_segmentation_trains_on_metaimage_pairs_and_writes_nifti_masks(tmp_path: Path) -> None:
    from medimg import Model

    rng = np.random.default_rng(1)
    for folder in ("images", "labels"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    grid = np.indices((12, 16, 16))
    for i in range(8):
        centre = rng.uniform(5, 9, 3)
        labels = (((grid - centre[:, None, None, None]) ** 2).sum(0) <= 12).astype(np.uint8)
        values = (100 + 120 * labels + rng.normal(0, 10, labels.shape)).astype(np.float32)
        for folder, array in (("images", values), ("labels", labels)):
            image = sitk.GetImageFromArray(array)
            image.SetSpacing((1.0, 1.0, 2.0))
            sitk.WriteImage(image, str(tmp_path / "data" / folder / f"case_{i}.mha"))
    fast = {"epochs": 2, "iterations_per_epoch": 4, "batch_size": 2, "channels": [4, 8, 16], "tta": False}
    model = Model("unet", task="segment", amp="none", channels_last=False, **fast).fit(
        tmp_path / "data", run_dir=tmp_path / "run", progress=False
    )
    assert json.loads((tmp_path / "run" / "fingerprint.json").read_text())["median_spacing_mm"] == [1.0, 1.0, 2.0]
    source = tmp_path / "data" / "images" / "case_0.mha"
    prediction = model.predict(source, out_dir=tmp_path / "masks")[0]
    mask = read_image(prediction.mask_path)
    assert Path(prediction.mask_path).name == "case_0_mask.nii.gz"
    assert mask.array.shape == read_image(source).array.shape
    np.testing.assert_allclose(mask.affine, read_image(source).affine, atol=1e-5)
    # an NRRD volume (3D Slicer's format) gets a Slicer segmentation naming the classes, on the same grid
    from medimg.io.slicer_segments import segments_of

    volume = tmp_path / "slicer" / "case_0.nrrd"
    volume.parent.mkdir()
    sitk.WriteImage(sitk.ReadImage(str(source)), str(volume))
    segmentation = model.predict(volume, out_dir=tmp_path / "masks")[0]
    assert Path(segmentation.mask_path).name == "case_0_mask.seg.nrrd"
    assert [(s.name, s.value) for s in segments_of(segmentation.mask_path)] == [(segmentation.class_names[1], 1)]
    written = read_image(segmentation.mask_path)
    np.testing.assert_array_equal(written.array, mask.array)
    np.testing.assert_allclose(written.affine, read_image(volume).affine, atol=1e-5)


def test_without_simpleitk_the_install_command_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from medimg.errors import MissingDependencyError

    _, image = _volume()
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'medimg\[itk\]'"):
        read_image(tmp_path / "ct.nrrd")
