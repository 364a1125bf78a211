from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.errors import ImageReadError
from medimg.io import IMAGE_SUFFIXES, detect_format, is_image_file, read_image

Writer = Callable[..., Path]


def _png(path: Path) -> Path:
    Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).save(path, format="PNG")
    return path


def test_image_suffixes_are_exactly_the_documented_set() -> None:
    assert set(IMAGE_SUFFIXES) == {
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".tif",
        ".tiff",
        ".gif",
        ".dcm",
        ".dicom",
        ".nii",
        ".nii.gz",
        ".hdr",
        ".ima",
        ".mha",
        ".mhd",
        ".nrrd",
        ".nhdr",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".webp",
        ".jp2",
        ".j2k",
        ".j2c",
        ".jpx",
        ".npy",
        ".jpe",
        ".jfif",
        ".dib",
    }


@pytest.mark.parametrize(("fmt", "pil_format", "suffix"), [
    ("png", "PNG", ".png"),
    ("jpeg", "JPEG", ".jpg"),
    ("bmp", "BMP", ".bmp"),
    ("tiff", "TIFF", ".tif"),
    ("gif", "GIF", ".gif"),
    ("pnm", "PPM", ".ppm"),
])  # fmt: skip
def test_detect_raster_formats_from_content(tmp_path: Path, fmt: str, pil_format: str, suffix: str) -> None:
    img = Image.fromarray(np.full((4, 5, 3), 100, dtype=np.uint8))
    path = tmp_path / f"image{suffix}"
    img.save(path, format=pil_format)
    assert detect_format(path) == fmt
    # content wins over a wrong or missing extension
    renamed = tmp_path / "misnamed.dcm"
    shutil.copy(path, renamed)
    assert detect_format(renamed) == fmt
    bare = tmp_path / "noext"
    shutil.copy(path, bare)
    assert detect_format(bare) == fmt


def test_detect_nifti_plain_and_gzipped(tmp_path: Path) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), np.eye(4))
    nib.save(img, tmp_path / "a.nii")
    nib.save(img, tmp_path / "b.nii.gz")
    assert detect_format(tmp_path / "a.nii") == "nifti"
    assert detect_format(tmp_path / "b.nii.gz") == "nifti"
    nib.save(nib.Nifti2Image(np.zeros((3, 4, 5), np.float32), np.eye(4)), tmp_path / "c.nii")
    assert detect_format(tmp_path / "c.nii") == "nifti"
    # a gzip file that is not NIfTI is not mistaken for one
    with gzip.open(tmp_path / "junk.nii.gz", "wb") as fh:
        fh.write(b"hello world" * 100)
    with pytest.raises(ImageReadError, match="unrecognised image format"):
        detect_format(tmp_path / "junk.nii.gz")


def test_detect_dicom_with_and_without_preamble(dicom_writer: Writer, bundled_dicom: Callable[[str], str]) -> None:
    pixels = np.zeros((4, 4), np.uint16)
    with_preamble = dicom_writer("a.dcm", pixels)
    assert with_preamble.read_bytes()[128:132] == b"DICM"
    assert detect_format(with_preamble) == "dicom"
    bare = dicom_writer("bare", pixels, preamble=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    assert detect_format(bare) == "dicom"
    assert read_image(bare).array.shape == (1, 4, 4)
    assert detect_format(bundled_dicom("ExplVR_LitEndNoMeta.dcm")) == "dicom"


def test_text_file_named_png_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    path.write_text("this is not an image\n")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message
    assert "unrecognised image format" in message and "'.png'" in message
    assert "this is not an" in message
    assert info.value.path == str(path)


def test_empty_missing_and_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(empty)
    with pytest.raises(ImageReadError, match="does not exist"):
        detect_format(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="folder"):
        detect_format(tmp_path)


def test_is_image_file(tmp_path: Path, dicom_writer: Writer) -> None:
    assert is_image_file("a/b/scan.PNG")
    assert is_image_file("case.nii.gz")
    assert is_image_file("IMG0001.IMA")
    assert not is_image_file("notes.txt")
    assert not is_image_file("archive.gz")
    assert not is_image_file(".hidden.png")
    dicom_noext = dicom_writer("IM0001", np.zeros((2, 2), np.uint16))
    assert is_image_file(dicom_noext)
    uid_named = dicom_writer("1.2.840.113619.2.55", np.zeros((2, 2), np.uint16))
    assert is_image_file(uid_named)
    index = dicom_writer("DICOMDIR", np.zeros((2, 2), np.uint16))  # a CD export's index: DICM magic, no image
    assert not is_image_file(index)
    text_noext = tmp_path / "README"
    text_noext.write_text("x" * 200)
    assert not is_image_file(text_noext)
    assert not is_image_file(tmp_path / "does_not_exist")
    assert is_image_file(_png(tmp_path / "noext_png_content"))  # a PNG exported without its suffix (was skipped)
    jpeg = tmp_path / "photo"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(jpeg, format="JPEG")
    assert is_image_file(jpeg) and is_image_file("scan.JPE") and is_image_file("x.jfif") and is_image_file("a.dib")
    assert read_image(jpeg).array.shape == (1, 4, 4)


def test_detect_format_uses_the_extension_only_as_tie_breaker(tmp_path: Path, dicom_writer: Writer) -> None:
    # A "dual personality" file: TIFF header in the DICOM preamble.
    dicom = dicom_writer("a.dcm", np.zeros((2, 2), np.uint16))
    data = bytearray(dicom.read_bytes())
    data[:4] = b"II*\x00"
    dual_dcm = tmp_path / "dual.dcm"
    dual_dcm.write_bytes(bytes(data))
    dual_tif = tmp_path / "dual.tif"
    dual_tif.write_bytes(bytes(data))
    assert detect_format(dual_dcm) == "dicom"
    assert detect_format(dual_tif) == "tiff"


@pytest.mark.parametrize(
    ("head", "named"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00", "a ZIP archive"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "a RIFF file that is not WebP (an AVI video, or sound?)"),
        (b"MATLAB 5.0 MAT-file, Platform: GLNXA64", "a MATLAB .mat file"),
        # the figshare brain tumour set's 1.mat given to predict: was "unrecognised ... may be corrupt, truncated"
        (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Tue Apr 14 2015", "a MATLAB .mat file"),
        (b"\x80\x04\x95\x1a\x00\x00", "a Python pickle"),  # KneeMRI's .pck: was "may be corrupt, truncated"
    ],
)
def test_known_formats_medimg_does_not_read_are_named_with_the_conversion(
    tmp_path: Path, head: bytes, named: str
) -> None:
    path = tmp_path / "scan.bin"
    path.write_bytes(head + b"\0" * 200)
    with pytest.raises(ImageReadError, match=re.escape(named) + ", which medimg does not read; "):
        detect_format(path)


def test_a_folder_of_unread_formats_says_what_it_found(tmp_path: Path) -> None:
    from medimg import Dataset
    from medimg.errors import DatasetError

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "case.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(DatasetError, match=r"found 2 HDF5 file\(s\), which medimg does not read"):
        Dataset.load(tmp_path)


def test_webp_and_jpeg2000_are_read_exactly(tmp_path: Path) -> None:
    """Lossless WebP (Kaggle exports; grey is stored as RGB) and JPEG 2000 (JP2 and bare J2K, 16-bit kept)."""
    from PIL import Image

    from medimg.io import read_image

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    deep = rng.integers(0, 4000, (40, 30)).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "a.webp", lossless=True)
    Image.fromarray(deep).save(tmp_path / "b.jp2")
    Image.fromarray(grey).save(tmp_path / "c.j2k")
    (tmp_path / "d.png").write_bytes((tmp_path / "a.webp").read_bytes())  # named wrongly: the content decides
    assert [detect_format(tmp_path / n) for n in ("a.webp", "b.jp2", "c.j2k", "d.png")] == [
        "webp", "jpeg2000", "jpeg2000", "webp",
    ]  # fmt: skip
    webp = read_image(tmp_path / "a.webp")
    assert webp.array.shape == (3, 40, 30) and all(np.array_equal(c, grey) for c in webp.array)
    jp2 = read_image(tmp_path / "b.jp2")
    assert jp2.meta["bits"] == 16 and np.array_equal(jp2.array[0], deep)
    assert np.array_equal(read_image(tmp_path / "c.j2k").array[0], grey)


def test_a_folder_or_file_of_matlab_arrays_says_so(tmp_path: Path) -> None:
    """Figshare's brain tumour set ships ``1.mat``...: "no class sub-folders" / "not a dataset" said nothing of them."""
    from medimg import Dataset
    from medimg.errors import DatasetError

    for i in range(3):
        (tmp_path / "brain" / f"{i + 1}.mat").parent.mkdir(exist_ok=True)
        (tmp_path / "brain" / f"{i + 1}.mat").write_bytes(b"\x89HDF\r\n\x1a\n")  # v7.3: an HDF5 file
    with pytest.raises(DatasetError, match=r"found 3 MATLAB \.mat file\(s\).*scipy\.io\.loadmat"):
        Dataset.load(tmp_path / "brain")
    with pytest.raises(DatasetError, match=r"is not a dataset.*found 1 MATLAB \.mat file"):
        Dataset.load(tmp_path / "brain" / "1.mat")


def test_a_short_text_file_named_dcm_is_not_called_a_truncated_dicom(tmp_path: Path) -> None:
    note = tmp_path / "fake.dcm"
    note.write_text("this is not dicom")
    with pytest.raises(ImageReadError, match=r"unrecognised image format although its name ends with '\.dcm'.*"
                       r"text 'this is not dico'"):  # fmt: skip
        detect_format(note)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(bytes(100))  # the start of a preamble: truncated
    with pytest.raises(ImageReadError, match="truncated: 100 bytes, shorter than the 132-byte DICOM preamble"):
        detect_format(cut)


def test_a_very_short_text_file_named_png_is_text_not_a_truncated_image(tmp_path: Path) -> None:
    """`echo hello > c.png` (6 bytes) was "the file is truncated: only 6 bytes"; longer notes were already text."""
    note = tmp_path / "c.png"
    note.write_bytes(b"hello\n")
    with pytest.raises(ImageReadError, match=r"unrecognised image format although its name ends with '\.png'.*text"):
        detect_format(note)
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r")  # the start of a PNG signature: truncated
    with pytest.raises(ImageReadError, match="truncated"):
        detect_format(tmp_path / "cut.png")


def test_a_table_given_as_an_image_is_named_a_table(tmp_path: Path) -> None:
    """``medimg predict RUN labels.csv``: "unrecognised image format ... The file may be corrupt"; it is a table, and
    evaluate is what scores a model on the images it labels."""
    table = tmp_path / "labels.csv"
    table.write_text("filename,label\r\nimages/case1.png,benign\r\n")
    with pytest.raises(ImageReadError, match=r"it is a table, not an image: .*medimg evaluate RUN labels\.csv"):
        detect_format(table)
