"""read_image dispatch and robustness: whatever the file, only ImageRead/Config errors come out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.errors import ImageReadError
from medimg.io import read_image, write_nifti
from medimg.io.image import ImageData
from medimg.io.raster import _read_pillow

MAGICS = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff\xe0",
    "gif": b"GIF89a",
    "tiff": b"II*\x00",
    "bmp": b"BM" + b"\x00" * 12 + b"\x28\x00\x00\x00",
    "dicom": b"\x00" * 128 + b"DICM",
}


def test_import_is_cheap() -> None:
    code = (
        "import sys, medimg.io\n"
        "heavy = [m for m in ('pydicom', 'nibabel', 'PIL', 'tifffile', 'torch') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("fmt", sorted(MAGICS))
def test_valid_magic_then_garbage(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"bad_{fmt}"
    path.write_bytes(MAGICS[fmt] + bytes(np.random.default_rng(3).integers(0, 256, 600, dtype=np.uint8)))
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)


def _samples(tmp_path: Path, dicom_writer: Callable[..., Path]) -> list[Path]:
    write_nifti(ImageData(array=np.ones((1, 6, 7, 8), np.float32)), tmp_path / "v.nii")
    write_nifti(ImageData(array=np.ones((1, 6, 7, 8), np.float32)), tmp_path / "v.nii.gz")
    dicom_writer("c.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8), slope=1, intercept=-1024)
    Image.fromarray(np.full((12, 12), 9, np.uint8)).save(tmp_path / "g.png")
    return [tmp_path / "v.nii", tmp_path / "v.nii.gz", tmp_path / "c.dcm", tmp_path / "g.png"]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_any_truncation_gives_image_read_error_or_a_valid_image(
    tmp_path: Path, dicom_writer: Callable[..., Path]
) -> None:
    for sample in _samples(tmp_path, dicom_writer):
        blob = sample.read_bytes()
        for n in sorted({0, 1, 3, 64, 131, 132, 200, 347, 352, len(blob) // 3, len(blob) // 2, len(blob) - 1}):
            if n >= len(blob):
                continue
            cut = tmp_path / f"cut_{n}_{sample.name}"
            cut.write_bytes(blob[:n])
            try:
                image = read_image(cut)
            except ImageReadError as exc:
                assert exc.path == str(cut)
                assert "truncated" in exc.reason or "empty" in exc.reason, exc.reason
            else:  # a reader may legitimately accept a file missing only padding; it must then be sane
                assert image.array.dtype == np.float32 and image.array.ndim in (3, 4)


def test_pillow_multipage_tiff_stack(tmp_path: Path) -> None:
    pages = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    frames = [Image.fromarray(p) for p in pages]
    frames[0].save(tmp_path / "s.tif", save_all=True, append_images=frames[1:])
    image = _read_pillow(tmp_path / "s.tif", "tiff", None)
    assert image.array.shape == (1, 3, 4, 5)
    np.testing.assert_array_equal(image.array[0], pages)
    assert image.meta["n_frames"] == 3


def test_window_name_is_validated_before_reading(tmp_path: Path) -> None:
    from medimg.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'brain'"):
        read_image(tmp_path / "does_not_matter.png", window="brian")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_pixels_are_refused_naming_the_file(tmp_path: Path, bad: float) -> None:
    """A NaN/Inf image never reaches a network (it would give NaN probabilities and invalid JSON)."""
    import nibabel as nib

    array = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    array[2:5, 2:5] = bad
    path = tmp_path / "bad.nii.gz"
    nib.save(nib.Nifti1Image(array, np.eye(4)), path)
    with pytest.raises(ImageReadError, match="9 of 256 pixel values are NaN or infinite") as error:
        read_image(path)
    assert "bad.nii.gz" in str(error.value)
