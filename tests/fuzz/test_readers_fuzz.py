"""Fault and fuzz suite: every reader, fed truncated, bit-flipped and random bytes, either reads the file or raises
one of medimg's own errors (:class:`~medimg.errors.MedimgError`), never a library exception, a traceback or an
unbounded allocation.

Seeds are small valid files of each format (PNG grey and colour, JPEG, BMP, TIFF stack, DICOM, NIfTI and
``.nii.gz``, a MedMNIST ``.npz`` and a CSV manifest); Hypothesis mutates them. The examples are derandomised (the
same on every run) and few per format, so the whole suite stays under half a minute.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medimg.errors import MedimgError

BUDGET = 64 << 20  # a corrupted header may claim a huge image: refuse it instead of allocating gigabytes

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _pixels(height: int = 24, width: int = 20, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _pillow_bytes(array: np.ndarray, fmt: str, **options: object) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _tiff_bytes() -> bytes:
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.stack([_pixels().astype(np.uint16) * 10] * 3))
    return buffer.getvalue()


def _dicom_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm", download=False)
    if path is None:
        pytest.skip("pydicom's bundled CT_small.dcm is not available")
    return Path(str(path)).read_bytes()


def _nifti_bytes(gz: bool) -> bytes:
    import gzip

    import nibabel as nib

    image = nib.Nifti1Image(np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4), np.diag([0.5, 0.5, 2.0, 1.0]))
    raw = image.to_bytes()
    return gzip.compress(raw, mtime=0) if gz else raw


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 12), ("val", 4), ("test", 4)):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(n, 1)
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


IMAGE_SEEDS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "png-grey": ("image.png", lambda: _pillow_bytes(_pixels(), "PNG")),
    "png-rgb": ("image.png", lambda: _pillow_bytes(_pixels(channels=3), "PNG")),
    "jpeg": ("image.jpg", lambda: _pillow_bytes(_pixels(channels=3), "JPEG", quality=90)),
    "bmp": ("image.bmp", lambda: _pillow_bytes(_pixels(channels=3), "BMP")),
    "tiff": ("image.tif", _tiff_bytes),
    "dicom": ("image.dcm", _dicom_bytes),
    "nifti": ("image.nii", lambda: _nifti_bytes(gz=False)),
    "nifti-gz": ("image.nii.gz", lambda: _nifti_bytes(gz=True)),
}


@st.composite
def mutations(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed truncated, with a few bits flipped, with a random run of bytes written over it, or random bytes
    behind its first bytes (the format's signature)."""
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "random"]))
    if kind == "truncate":
        return seed[: draw(st.integers(0, len(seed) - 1))]
    if kind == "flip":
        data = bytearray(seed)
        for position, bit in draw(st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 7)), min_size=1)):
            data[position] ^= 1 << bit
        return bytes(data)
    if kind == "overwrite":
        start = draw(st.integers(0, len(seed) - 1))
        patch = draw(st.binary(min_size=1, max_size=64))
        return seed[:start] + patch + seed[start + len(patch) :]
    keep = draw(st.sampled_from([0, 4, 8, 16, 132, 348]))
    return seed[:keep] + draw(st.binary(max_size=1024))


def _assert_clean(read: Callable[[], object]) -> None:
    """``read()`` succeeds or raises a medimg error; anything else fails the test with the library's exception."""
    with suppress(MedimgError):
        read()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("seed_name", sorted(IMAGE_SEEDS))
def test_image_readers_raise_only_medimg_errors(seed_name: str, workdir: Path) -> None:
    from medimg.io import read_image

    file_name, make = IMAGE_SEEDS[seed_name]
    seed = make()
    path = workdir / seed_name / file_name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(seed)
    assert read_image(path, max_bytes=BUDGET).array.size > 0  # the seed itself is valid

    @FUZZ
    @given(data=mutations(seed))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        _assert_clean(lambda: read_image(path, max_bytes=BUDGET))
        _assert_clean(lambda: read_image(path, max_bytes=BUDGET, target_size=(2, 2)))

    check()


def test_npz_reader_raises_only_medimg_errors(workdir: Path) -> None:
    from medimg.data.dataset import Dataset

    seed = _npz_bytes()
    path = workdir / "npz" / "fuzzmnist.npz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(seed)
    assert len(Dataset.load(path).cases) == 20

    @FUZZ
    @given(data=mutations(seed))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        _assert_clean(lambda: Dataset.load(path))

    check()


def test_csv_manifest_reader_raises_only_medimg_errors(workdir: Path) -> None:
    from PIL import Image

    from medimg.data.dataset import Dataset

    folder = workdir / "csv"
    folder.mkdir(exist_ok=True)
    rows = ["path,label"]
    for i in range(8):
        Image.fromarray(_pixels()).save(folder / f"img_{i}.png")
        rows.append(f"img_{i}.png,{'ab'[i % 2]}")
    seed = ("\n".join(rows) + "\n").encode()
    path = folder / "manifest.csv"
    path.write_bytes(seed)
    assert len(Dataset.load(path).cases) == 8

    @FUZZ
    @given(data=mutations(seed))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        _assert_clean(lambda: Dataset.load(path))

    check()
    shutil.rmtree(folder)
