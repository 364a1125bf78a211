"""A 2D mask in another axis order than its image: MetaImage/NRRD files are read columns first ``(x, y)`` (as ITK,
3D Slicer and ITK-SNAP store them), pictures (PNG, JPEG, DICOM) rows first. A Slicer-drawn ``.nrrd`` mask of a
square PNG lay transposed on its image, and ``medimg check`` said OK: training learnt misplaced labels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import read_case_mask

sitk = pytest.importorskip("SimpleITK")  # medimg[itk]


def _picture(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(image, mask)`` as a picture's rows and columns: a bright bar near the top right, labelled 1."""
    rng = np.random.default_rng(0)
    image = (rng.random(shape) * 50).astype(np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[2:8, shape[1] - 12 : shape[1] - 2] = 1
    image[mask == 1] = 220
    return image, mask


def _save(array: np.ndarray, path: Path, writer: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if writer == "pillow":
        Image.fromarray(array).save(path)
    elif writer == "itk":  # x = columns: as SimpleITK, 3D Slicer and ITK-SNAP write a picture
        sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    else:  # nibabel with the picture's array as it is: rows first
        import nibabel as nib

        nib.save(nib.Nifti1Image(array, np.eye(4)), str(path))


def _pair(root: Path, shape: tuple[int, int], image_as: tuple[str, str], mask_as: tuple[str, str]) -> Dataset:
    image, mask = _picture(shape)
    for i in range(3):
        _save(image, root / "images" / f"c{i}{image_as[0]}", image_as[1])
        _save(mask, root / "masks" / f"c{i}{mask_as[0]}", mask_as[1])
    return Dataset.load(root)


def _on_the_bar(dataset: Dataset) -> tuple[float, float]:
    """Mean image value under the mask's foreground and elsewhere (220 and ~25 when the mask lies on the bar)."""
    sample = dataset.read(dataset.cases[0])
    image, mask = sample.image.array[0], sample.mask[0]
    assert image.shape == mask.shape
    return float(image[mask > 0].mean()), float(image[mask == 0].mean())


@pytest.mark.parametrize("shape", [(32, 32), (24, 40)])
def test_an_itk_mask_of_a_png_lies_on_the_image_as_drawn(
    tmp_path: Path, shape: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = _pair(tmp_path, shape, (".png", "pillow"), (".nrrd", "itk"))
        inside, outside = _on_the_bar(dataset)
    assert inside == 220 and outside < 60
    assert "stored columns first (x, y)" in caplog.text and "c0.nrrd" in caplog.text
    raw = read_case_mask(dataset.cases[0])  # what the detection layouts derive boxes from
    assert raw is not None and raw.shape[1:] == shape


def test_a_png_mask_of_an_itk_image_lies_on_it_too(tmp_path: Path) -> None:
    inside, outside = _on_the_bar(_pair(tmp_path, (32, 32), (".mha", "itk"), (".png", "pillow")))
    assert inside == 220 and outside < 60


@pytest.mark.parametrize(
    ("image_as", "mask_as"),
    [((".mha", "itk"), (".nrrd", "itk")), ((".png", "pillow"), (".png", "pillow"))],
)
def test_image_and_mask_of_one_axis_order_are_read_as_they_are(
    tmp_path: Path, image_as: tuple[str, str], mask_as: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="medimg"):
        inside, outside = _on_the_bar(_pair(tmp_path, (24, 40), image_as, mask_as))
    assert inside == 220 and outside < 60
    assert "stored columns first" not in caplog.text


def test_a_nifti_mask_of_a_png_is_swapped_only_when_the_sizes_say_so(tmp_path: Path) -> None:
    """nibabel saves a picture's array rows first (square: read as it is); an ITK-written NIfTI of a non-square
    picture has its sides the other way round, which the sizes tell."""
    inside, _ = _on_the_bar(_pair(tmp_path / "nibabel", (32, 32), (".png", "pillow"), (".nii.gz", "nibabel")))
    assert inside == 220
    inside, _ = _on_the_bar(_pair(tmp_path / "itk", (24, 40), (".png", "pillow"), (".nii.gz", "itk")))
    assert inside == 220


def test_two_niftis_of_transposed_sizes_stay_a_size_mismatch(tmp_path: Path) -> None:
    """One format, one axis order: a NIfTI mask whose sides are its NIfTI image's the other way round is a wrong
    pairing, refused as before, not turned onto the image."""
    from medimg.errors import DatasetError

    image, mask = _picture((24, 40))
    _save(image, tmp_path / "images" / "c0.nii.gz", "nibabel")
    _save(mask.T.copy(), tmp_path / "masks" / "c0.nii.gz", "nibabel")
    dataset = Dataset.load(tmp_path)
    with pytest.raises(DatasetError, match="has size"):
        dataset.read(dataset.cases[0])
