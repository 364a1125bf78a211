"""A 2D MetaImage/NRRD picture (x, the columns, stored first: as SimpleITK, 3D Slicer and ITK-SNAP write it) is the
same picture to a classifier as the PNG it was made from. It was read ``(x, y)``: a PNG-trained model predicted an
``.mha`` copy of its own training image as the transposed picture, and a folder mixing both trained on both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.serve.support import train_tiny_run

from medimg.io import read_image

sitk = pytest.importorskip("SimpleITK")  # medimg[itk]


def _picture(shape: tuple[int, int] = (24, 40)) -> np.ndarray:
    """Not symmetric under transposition: a bar along the top and a gradient across."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    picture = (xx * 4 + yy).astype(np.uint8)
    picture[2:5, :] = 250
    return picture


def _itk(picture: np.ndarray, path: Path, spacing: tuple[float, float] = (0.5, 0.8)) -> Path:
    image = sitk.GetImageFromArray(picture)
    image.SetSpacing(spacing)  # (x, y): columns 0.5 mm apart, rows 0.8 mm
    sitk.WriteImage(image, str(path))
    return path


@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])
def test_a_2d_itk_picture_in_picture_order_is_its_png(tmp_path: Path, suffix: str) -> None:
    from medimg.io.orientation import picture_order

    picture = _picture()
    read = read_image(_itk(picture, tmp_path / f"p{suffix}"))
    assert read.array.shape == (1, 40, 24)  # as stored: (x, y)
    ordered = picture_order(read)
    assert np.array_equal(ordered.array[0], picture) and ordered.meta["picture_order"]
    assert ordered.spacing_mm == pytest.approx((0.8, 0.5))  # rows, then columns
    Image.fromarray(picture).save(tmp_path / "p.png")
    png = read_image(tmp_path / "p.png")
    assert picture_order(png) is png  # a PNG, a volume: as they are


def test_a_classifier_sees_an_mha_copy_as_the_png(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    from medimg import Dataset, Model

    run = train_tiny_run(tmp_path_factory)
    source = sorted((run.parent / "phantoms" / "lesion").glob("*.png"))[0]
    picture = np.asarray(Image.open(source))
    copy = _itk(picture, tmp_path / "copy.mha", spacing=(1.0, 1.0))
    png_pred, mha_pred = Model.load(run).predict([source, copy])
    assert mha_pred.probabilities == pytest.approx(png_pred.probabilities, abs=1e-5)
    # training reads it so too: a class folder mixing both
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(picture).save(tmp_path / "data" / name / "one.png")
        _itk(picture, tmp_path / "data" / name / "two.mha")
    dataset = Dataset.load(tmp_path / "data")
    arrays = {case.path.name: dataset.read(case).array for case in dataset.cases if case.path.parent.name == "a"}
    assert np.array_equal(arrays["one.png"], arrays["two.mha"])
