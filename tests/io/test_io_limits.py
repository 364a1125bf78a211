"""The reading budget: decoded sizes from headers, reduced reads (in the file's dtype, geometry kept), refusals
with clear errors, and the block pre-reduction both preprocessing engines share."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.errors import ImageReadError, ImageTooLargeError
from medimg.io import read_image
from medimg.io.limits import (
    MAX_IMAGE_BYTES,
    plan_read,
    reduce_blocks,
    reduced_geometry,
    reduction_factor,
)
from medimg.io.read import read_header

Writer = Callable[..., Path]


def _stripes(height: int, width: int, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return base[..., 0] if channels == 1 else base


@pytest.mark.parametrize(
    ("name", "mode", "shape", "decoded"),
    [
        ("grey.png", "L", (1, 60, 90), 60 * 90),
        ("rgb.png", "RGB", (3, 60, 90), 60 * 90 * 4),  # Pillow holds RGB in 4 bytes per pixel
        ("grey16.png", "I;16", (1, 60, 90), 60 * 90 * 2),
        ("rgb.jpg", "RGB", (3, 60, 90), 60 * 90 * 4),
        ("rgb.bmp", "RGB", (3, 60, 90), 60 * 90 * 4),
    ],
)
def test_pillow_headers_match_what_is_read(tmp_path: Path, name: str, mode: str, shape: tuple, decoded: int) -> None:
    path = tmp_path / name
    pixels = _stripes(60, 90, 3 if mode == "RGB" else 1)
    Image.fromarray(pixels.astype(np.uint16) * 200 if mode == "I;16" else pixels).save(path)
    header = read_header(path)
    assert header.shape == shape == read_image(path).array.shape
    assert header.decoded_bytes == decoded
    assert header.decode_scales == ((1, 2, 4, 8) if name.endswith(".jpg") else (1,))


def test_tiff_dicom_and_nifti_headers_match_what_is_read(tmp_path: Path, dicom_writer: Writer) -> None:
    import nibabel as nib
    import tifffile

    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((5, 40, 30), np.uint16))
    dicom = dicom_writer("ct.dcm", np.zeros((48, 64), np.uint16))
    nib.save(nib.Nifti1Image(np.zeros((20, 30, 10, 2), np.int16), np.eye(4)), tmp_path / "vol.nii.gz")
    for path, decoded in (
        (tmp_path / "stack.tif", 5 * 40 * 30 * 2),
        (dicom, 48 * 64 * 2),
        (tmp_path / "vol.nii.gz", 0),
    ):
        header = read_header(path)
        assert header.shape == read_image(path).array.shape
        if decoded:
            assert header.decoded_bytes == decoded
    assert read_header(tmp_path / "vol.nii.gz").shape == (2, 20, 30, 10)


def test_reduction_keeps_a_margin_over_the_target() -> None:
    assert reduction_factor((8000, 8000), (32, 32)) == 31
    assert reduction_factor((8000, 6000), (224, 224)) == 3  # every side stays >= 8 x 224
    assert reduction_factor((400, 400), (32, 32)) == 1  # less than twice the margin: read as is
    assert reduction_factor((8000, 8000), None) == 1
    assert reduction_factor((64, 8000, 8000), (32, 32)) == 1  # 3D image, 2D target: not for us to decide


def test_block_means_match_pillow_reduce_including_cut_edges() -> None:
    pixels = _stripes(37, 53)
    ours = reduce_blocks(pixels[None], 4)[0]
    pillow = np.asarray(Image.fromarray(pixels).reduce(4), dtype=np.float32)
    assert ours.shape == pillow.shape == (10, 14)
    assert np.abs(ours - pillow).max() <= 0.5  # Pillow rounds to uint8
    assert ours.dtype == np.float32


def test_a_reduced_png_read_never_makes_a_full_size_float_copy(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    pixels = np.zeros((4000, 4000), np.uint8)
    pixels[::97] = 255
    Image.fromarray(pixels).save(path)
    tracemalloc.start()
    image = read_image(path, target_size=(32, 32))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert image.array.shape == (1, 267, 267) and image.meta["reduced_by"] == 15
    assert image.meta["full_shape"] == [1, 4000, 4000]
    assert peak < 8 * 2**20, peak  # the full image as float32 would be 64 MB
    assert abs(float(image.array.mean()) - float(pixels.mean())) < 0.5


def test_a_jpeg_is_decoded_at_a_smaller_scale(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.fromarray(_stripes(2048, 2048, 3)).save(path, quality=90)
    image = read_image(path, target_size=(32, 32))
    assert image.meta["reduced_by"] == 8  # the JPEG decoder's own 1/8 scale
    assert image.array.shape == (3, 256, 256)


def test_a_reduced_tiff_and_its_values(tmp_path: Path) -> None:
    import tifffile

    pixels = (np.arange(1200 * 1000, dtype=np.uint32).reshape(1200, 1000) % 4096).astype(np.uint16)
    tifffile.imwrite(tmp_path / "big.tif", pixels)
    image = read_image(tmp_path / "big.tif", target_size=(32, 32))
    assert image.meta["reduced_by"] == 3 and image.array.shape == (1, 400, 334)
    np.testing.assert_allclose(image.array[0, :2, :2], pixels[:6, :6].reshape(2, 3, 2, 3).mean(axis=(1, 3)))


def test_a_reduced_dicom_keeps_hounsfield_units_and_its_geometry(dicom_writer: Writer) -> None:
    stored = np.full((600, 520), 1000, np.uint16)
    stored[:300] = 2000
    path = dicom_writer(
        "ct.dcm",
        stored,
        slope=1.0,
        intercept=-1024.0,
        position=(10.0, 20.0, 30.0),
        orientation=(1, 0, 0, 0, 1, 0),
        pixel_spacing=(0.5, 0.75),
    )
    full = read_image(path)
    reduced = read_image(path, target_size=(32, 32))
    factor = reduced.meta["reduced_by"]
    assert factor == 2 and reduced.array.shape == (1, 300, 260)
    assert set(np.unique(reduced.array)) == {-24.0, 976.0}  # HU: block means of the rescaled values
    assert reduced.spacing_mm == (1.0, 1.5)
    # the reduced voxel (0, 0) sits at the centre of the full-resolution block it averages
    assert full.affine is not None and reduced.affine is not None
    centre = full.affine @ np.array([0.5, 0.5, 0.0, 1.0])
    np.testing.assert_allclose(reduced.affine @ np.array([0.0, 0.0, 0.0, 1.0]), centre)


def test_a_reduced_nifti_keeps_its_geometry(tmp_path: Path) -> None:
    import nibabel as nib

    affine = np.diag([0.5, 0.8, 1.0, 1.0])
    affine[:3, 3] = (-5.0, 7.0, 0.0)
    data = np.arange(900 * 600, dtype=np.int16).reshape(900, 600) % 100
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "slice.nii.gz")
    full = read_image(tmp_path / "slice.nii.gz")
    reduced = read_image(tmp_path / "slice.nii.gz", target_size=(32, 32))
    assert reduced.meta["reduced_by"] == 2 and reduced.array.shape == (1, 450, 300)
    assert reduced.spacing_mm == pytest.approx((1.0, 1.6))
    assert full.affine is not None and reduced.affine is not None
    np.testing.assert_allclose(reduced.affine @ [1, 1, 0, 1], full.affine @ [2.5, 2.5, 0, 1])


def test_over_the_budget_the_image_is_refused_naming_size_limit_and_remedy(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.fromarray(_stripes(1000, 1000)).save(path)
    with pytest.raises(ImageTooLargeError) as refused:
        read_image(path, max_bytes=1_000_000)  # the float32 image needs 4 MB
    message = str(refused.value)
    assert str(path) in message and "1000 x 1000" in message and "MAX_IMAGE_BYTES" in message
    assert "Downsample" in message and isinstance(refused.value, ImageReadError)
    reduced = read_image(path, max_bytes=1_000_000, target_size=(32, 32))  # fits once reduced
    assert reduced.meta["reduced_by"] == 3


def test_the_decode_itself_must_fit_even_when_reduced(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.fromarray(_stripes(1000, 1000)).save(path)
    header = read_header(path)
    with pytest.raises(ImageTooLargeError, match="even reduced by 3"):
        plan_read(header, path, max_bytes=500_000, target_size=(32, 32))  # 1 MB of 8-bit pixels to decode
    assert plan_read(header, path, max_bytes=None, target_size=(32, 32)) == 3
    assert MAX_IMAGE_BYTES == 2 << 30


def test_the_pixel_guard_covers_dicom_and_nifti_from_the_header(tmp_path: Path, dicom_writer: Writer) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((50, 50, 50), np.uint8), np.eye(4)), tmp_path / "vol.nii")
    dicom = dicom_writer("ct.dcm", np.zeros((100, 100), np.uint16))
    for path in (tmp_path / "vol.nii", dicom):
        with pytest.raises(ImageTooLargeError, match="decompression-bomb"):
            read_image(path, max_pixels=5_000)


def test_reduced_geometry_without_a_factor_is_unchanged() -> None:
    affine = np.eye(4)
    assert reduced_geometry((1.0, 2.0), affine, 1, axes=2) == ((1.0, 2.0), affine)
    spacing, scaled = reduced_geometry((1.0, 2.0, 3.0), np.diag([1.0, 2.0, 3.0, 1.0]), 2, axes=3)
    assert spacing == (2.0, 4.0, 6.0)
    assert scaled is not None
    np.testing.assert_allclose(scaled[:3, 3], [0.5, 1.0, 1.5])


def test_both_preprocessing_engines_shrink_a_huge_image_the_same_way() -> None:
    from medimg.export.preprocess import preprocess
    from medimg.planning.plan import Plan
    from medimg.transforms.preprocess import preprocess_arrays

    plan = Plan(input_size=[16, 16], in_channels=1, clip_low=0.0, clip_high=255.0, norm_mean=100.0, norm_std=50.0)
    image = _stripes(700, 500)[None].astype(np.float32)
    spec = {k: getattr(plan, k) for k in ("spatial_dims", "in_channels", "input_size", "clip_low", "clip_high")}
    spec.update(norm_mean=plan.norm_mean, norm_std=plan.norm_std)
    torch_input = preprocess_arrays([image], plan).float().numpy()
    numpy_input = preprocess([image], spec)
    assert torch_input.shape == numpy_input.shape == (1, 1, 16, 16)
    np.testing.assert_allclose(torch_input, numpy_input, atol=2e-3)


def test_classification_datasets_read_huge_images_reduced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import medimg.data.dataset as dataset_module
    from medimg.data.dataset import Dataset

    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(_stripes(200, 260)).save(tmp_path / "data" / label / f"{i}.png")
    dataset = Dataset.load(tmp_path / "data")
    assert dataset.read(dataset.cases[0]).array.shape == (1, 200, 260)  # far below 8192 px: as it is
    monkeypatch.setattr(dataset_module, "CLASSIFY_READ_SIZE", (8, 8))  # as if the images were huge
    image = dataset.read(dataset.cases[0])
    assert image.meta["reduced_by"] == 3 and image.array.shape == (1, 67, 87)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_prediction_reads_a_large_image_as_training_does(tmp_path: Path, suffix: str) -> None:
    """A 1000 px file for a 40 px classifier: prediction read it reduced for the network (the JPEG decoder's 1/2
    scale where training's block means were of 3, a PNG's means rounded to 8 bits), training and evaluation at full
    size: the same file got probabilities up to 0.008 apart. Now one read; reduced for the network only where
    the budget leaves no other way."""
    from medimg.io.limits import CLASSIFY_READ_SIZE
    from medimg.io.read import read_input
    from medimg.planning.domain import InputReader

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1000, 1000), dtype=np.uint8)).save(tmp_path / f"big{suffix}", quality=90)
    trained = read_image(tmp_path / f"big{suffix}", target_size=CLASSIFY_READ_SIZE).array
    predicted = InputReader(target_size=[40, 40]).read(tmp_path / f"big{suffix}").array
    np.testing.assert_array_equal(predicted, trained)
    tight = read_input(tmp_path / f"big{suffix}", [40, 40], max_bytes=1_000_000)  # 4 MB at full size
    assert tight.meta["reduced_by"] > 1
