"""Images given as arrays: the layouts :func:`images_from_array` reads, and ``Model.predict(array)`` giving what
the same image as a file gives."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.serve.support import train_tiny_run

from medimg.errors import ConfigError
from medimg.io.arrays import images_from_array, is_array_input


@pytest.mark.parametrize(
    ("shape", "channels", "expected"),
    [
        ((20, 30), 1, [(1, 20, 30)]),
        ((20, 30, 3), 3, [(3, 20, 30)]),  # RGB, channel last (PIL, imageio)
        ((3, 20, 30), 3, [(3, 20, 30)]),
        ((5, 20, 30), 1, [(1, 20, 30)] * 5),  # a batch of grey images
        ((2, 1, 20, 30), 1, [(1, 20, 30)] * 2),
        ((2, 20, 30, 3), 3, [(3, 20, 30)] * 2),
    ],
)
def test_2d_layouts(shape: tuple[int, ...], channels: int, expected: list[tuple[int, ...]]) -> None:
    images = images_from_array(np.zeros(shape, np.uint8), 2, channels)
    assert [i.array.shape for i in images] == expected
    assert [i.source for i in images] == [f"array[{k}]" for k in range(len(expected))]
    assert all(i.array.dtype == np.float32 and "format" not in i.meta for i in images)


def test_3d_layouts_and_errors() -> None:
    assert [i.array.shape for i in images_from_array(np.zeros((8, 9, 10)), 3, 1)] == [(1, 8, 9, 10)]
    assert [i.array.shape for i in images_from_array(np.zeros((2, 8, 9, 10)), 3, 1)] == [(1, 8, 9, 10)] * 2
    with pytest.raises(ConfigError, match=r"shape \(2, 2, 2, 9, 10\) is not a 2D image"):
        images_from_array(np.zeros((2, 2, 2, 9, 10)), 2, 1)
    with pytest.raises(ConfigError, match="is not an image; give numbers"):
        images_from_array(np.array([["a"]]), 2, 1)
    assert is_array_input(Image.new("L", (4, 4))) and not is_array_input("scan.png")


def test_an_array_is_predicted_as_the_same_image_in_a_file(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from medimg import Model

    run = train_tiny_run(tmp_path_factory)
    model = Model.load(run)
    # a training-like image (random pixels are flagged as having no image structure)
    pixels = np.asarray(Image.open(sorted((run.parent / "phantoms" / "normal").glob("*.png"))[0]).convert("L"))
    Image.fromarray(pixels).save(tmp_path / "x.png")
    from_file = model.predict(tmp_path / "x.png")[0]
    from_array, from_pil = model.predict([pixels, Image.fromarray(pixels)])
    assert from_array.source == "array[0]" and from_pil.source == "array[1]"
    for prediction in (from_array, from_pil):
        assert prediction.label == from_file.label
        assert prediction.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
        assert prediction.domain is not None and prediction.domain["in_domain"]
    with pytest.raises(ConfigError, match="either paths or arrays"):
        model.predict([tmp_path / "x.png", pixels])


def test_file_contents_as_bytes_are_predicted_as_the_files(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """``Model.predict(upload.read())``: bytes were iterated as numbers (a TypeError); they are the file's content."""
    from medimg import Model

    model = Model.load(train_tiny_run(tmp_path_factory))
    pixels = np.random.default_rng(1).integers(0, 255, (32, 32)).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    Image.fromarray(pixels).save(tmp_path / "x.bmp")
    from_file = model.predict(tmp_path / "x.png")[0]
    (one,) = model.predict((tmp_path / "x.png").read_bytes())
    assert one.source == "bytes[0]" and one.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
    both = model.predict([(tmp_path / "x.bmp").read_bytes(), b"not an image at all"])
    assert [p.source for p in both] == ["bytes[0]"] and both[0].label == from_file.label
    assert [(path, "unrecognised" in reason) for path, reason in model.failed_] == [("bytes[1]", True)]
    assert [p.source for p in model.predict_iter((tmp_path / "x.png").read_bytes())] == ["bytes[0]"]


def test_an_unreadable_upload_is_logged_by_its_name_not_a_deleted_temporary_file(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """'skipped /tmp/medimg-bytes-rl1711ej/bytes_00000: unrecognised image format' named a file gone by the time
    the user read it; failed_ said bytes[0]."""
    from medimg import Model

    model = Model.load(train_tiny_run(tmp_path_factory))
    with caplog.at_level(logging.WARNING):
        assert model.predict(b"garbage") == []
    said = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert said and all("bytes[0]" in m and "medimg-bytes-" not in m for m in said), said


def test_three_grey_images_read_as_one_colour_image_are_warned_of(caplog: pytest.LogCaptureFixture) -> None:
    import torch

    rng = np.random.default_rng(0)
    greys = rng.integers(60, 200, (3, 20, 20)).astype(np.uint8)
    with caplog.at_level(logging.WARNING, logger="medimg.io.arrays"):
        assert len(images_from_array(greys, 2, 3)) == 1  # the model's channels decide: one image
    assert "array[0]: shape (3, 20, 20) is read as ONE image of 3 channels" in caplog.text
    assert "give them as (3, 20, 20, 1)" in caplog.text
    assert len(images_from_array(greys[..., None], 2, 3)) == 3  # the layout the warning names: three images
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medimg.io.arrays"):
        images_from_array(torch.from_numpy(greys), 2, 3)  # PyTorch's convention is channels first
        images_from_array(np.moveaxis(greys, 0, -1), 2, 3)  # (H, W, 3): one colour image
        images_from_array(np.repeat(greys[:1], 3, axis=0), 2, 3)  # alike channels: a grey image either way
        images_from_array(greys, 2, 1)  # a grey model: three images
    assert caplog.text == ""
