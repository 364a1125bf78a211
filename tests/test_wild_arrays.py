"""Arrays in the wild (from a new-user session): Keras's ``(H, W, 1)`` and PIL's grey + alpha are one image to
``predict`` as to ``fit``; ``(N, 2, H, W)`` is two channels, not volumes of two slices; integer labels that do not
start at 0 make no class without images; one class, NaN pixels and classes named without images are said before a
run starts."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.data.given_arrays import ARRAYS_FILE, given_arrays
from medimg.errors import ConfigError
from medimg.io import read_image
from medimg.io.arrays import images_from_array


def squares(n: int = 20, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` grey ``size`` px images; class 1 has a bright square (learnable in one epoch)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.normal(100, 20, (n, size, size))
    images[labels == 1, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] += 80
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.mark.parametrize(
    ("shape", "dims", "channels", "expected"),
    [
        ((32, 32, 1), 2, 1, [(1, 32, 32)]),  # Keras's one grey image (was 32 images of 32 x 1 px)
        ((2, 32, 32, 1), 2, 1, [(1, 32, 32)] * 2),  # a batch of them (was "32 channels")
        ((32, 32, 2), 2, 2, [(2, 32, 32)]),  # grey + alpha, or two modalities
        ((32, 32, 2), 2, 1, [(2, 32, 32)]),  # one image still: the plan's channels then say what does not fit
        ((32, 32), 2, 1, [(1, 32, 32)]),
        ((5, 32, 32), 2, 1, [(1, 32, 32)] * 5),  # a batch of grey images stays one
        ((2, 32, 32), 2, 2, [(2, 32, 32)]),  # the model's channels decide
        ((16, 32, 32), 3, 1, [(1, 16, 32, 32)]),  # a volume is never channels
        ((16, 32, 32, 1), 3, 1, [(1, 16, 32, 32)]),
        ((2, 16, 32, 32), 3, 1, [(1, 16, 32, 32)] * 2),
        ((3, 16, 32, 32, 1), 3, 1, [(1, 16, 32, 32)] * 3),
    ],
)
def test_predict_reads_a_trailing_channel_axis_as_fit_does(
    shape: tuple[int, ...], dims: int, channels: int, expected: list[tuple[int, ...]]
) -> None:
    assert [i.array.shape for i in images_from_array(np.zeros(shape, np.uint8), dims, channels)] == expected


def test_a_pil_image_of_grey_and_alpha_is_its_grey() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    (image,) = images_from_array(Image.fromarray(grey).convert("LA"), 2, 1)
    np.testing.assert_array_equal(image.array[0], grey)


@pytest.mark.parametrize(("mode", "suffix"), [("P", ".png"), ("CMYK", ".jpg"), ("1", ".bmp"), ("RGB", ".png")])
def test_a_pil_image_reads_as_its_file_does(tmp_path: Path, mode: str, suffix: str) -> None:
    """A palette image is its colours (was: its palette indices), CMYK its RGB (was: C, M, Y as RGB), 1-bit 0/1
    (was refused as booleans): the values its file reads as."""
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    given = picture.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else picture.convert(mode)
    given.save(tmp_path / f"x{suffix}", quality=100)
    from_file = read_image(tmp_path / f"x{suffix}").array
    (image,) = images_from_array(Image.open(tmp_path / f"x{suffix}"), 2, from_file.shape[0])
    np.testing.assert_array_equal(image.array, from_file)


@pytest.mark.parametrize(
    ("shape", "dims", "read_as"),
    [
        ((6, 2, 32, 32), 2, (2, 32, 32)),  # two channels (was volumes of depth 2: 16x the work)
        ((6, 32, 32, 2), 2, (2, 32, 32)),
        ((6, 4, 32, 32), 2, (4, 32, 32)),
        ((6, 32, 32, 1), 2, (1, 32, 32)),
        ((6, 16, 32, 32), 3, (1, 16, 32, 32)),  # genuine volumes stay volumes
        ((6, 2, 8, 8), 3, (1, 2, 8, 8)),  # too small beside 2 to be an image of two channels
        ((6, 1, 2, 32, 32), 3, (1, 2, 32, 32)),  # volumes of two slices, as the note says to give them
    ],
)
def test_fit_reads_a_small_axis_beside_an_image_as_channels(
    shape: tuple[int, ...], dims: int, read_as: tuple[int, ...], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="medimg.data.given_arrays"):
        dataset = given_arrays(np.ones(shape, np.uint8), np.arange(6) % 2).dataset(Path(ARRAYS_FILE))
    assert dataset.spatial_dims == dims
    assert dataset.read(dataset.cases[0]).array.shape == read_as
    noted = "read as 2D images of 2 channels" in caplog.text
    assert noted == (shape[1] == 2 and dims == 2)
    if noted:
        assert "(N, 1, 2, H, W)" in caplog.text


def test_integer_labels_make_the_classes_seen_and_no_other() -> None:
    images, labels = squares(8)
    shifted = given_arrays(images, labels + 1)
    assert shifted.class_names == ["1", "2"] and shifted.labels["all"].tolist() == labels.tolist()
    assert shifted.dataset(Path(ARRAYS_FILE)).class_names == ["1", "2"]
    gaps = given_arrays(images, labels * 5)
    assert gaps.class_names == ["0", "5"] and gaps.labels["all"].tolist() == labels.tolist()
    plain = given_arrays(images, labels)  # 0..K-1: named class_0... as before
    assert plain.class_names is None and plain.dataset(Path(ARRAYS_FILE)).class_names == ["class_0", "class_1"]
    # the model of labels 1 and 2 evaluates labels 1 and 2 (even a set of only 1s) by their names
    again = given_arrays(images, labels + 1, class_names=["1", "2"])
    assert again.labels["all"].tolist() == labels.tolist()
    assert given_arrays(images, np.ones(8, int), class_names=["1", "2"]).labels["all"].tolist() == [0] * 8
    # names that are not those values index the classes, as documented
    assert given_arrays(images, labels, class_names=["neg", "pos"]).labels["all"].tolist() == labels.tolist()


def test_classes_named_without_images_are_warned_of_when_a_fit_saves_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    images, labels = squares(8)
    never_neg = given_arrays(images, np.ones(8, int), class_names=["neg", "pos"])
    extra = given_arrays(images, labels, class_names=["a", "b", "c"])
    assert never_neg.unseen == ("neg",) and extra.unseen == ("c",)
    assert given_arrays(images, labels, class_names=["a", "b"]).unseen == ()
    with caplog.at_level(logging.WARNING, logger="medimg.data.given_arrays"):
        extra.dataset(tmp_path / "in_memory.npz")  # evaluate reads without saving: a set may lack a class
        assert not caplog.text
        never_neg.save(tmp_path / ARRAYS_FILE)
    assert "class_names names 'neg', but no image given is labelled so" in caplog.text


@pytest.mark.parametrize("labels", [np.zeros(8, int), ["a"] * 8, np.full(8, 3)])
def test_one_class_is_refused_before_a_run(labels: object) -> None:
    with pytest.raises(ConfigError, match="a classifier needs at least two classes"):
        given_arrays(squares(8)[0], labels)


def test_nan_pixels_are_refused_naming_the_image() -> None:
    images, labels = squares(8)
    floats = images.astype(float)
    floats[3, 0, 0] = np.nan
    with pytest.raises(ConfigError, match=r"X\[3\] holds NaN pixels: replace them \(np.nan_to_num\) or drop"):
        given_arrays(floats, labels)
    with pytest.raises(ConfigError, match=r"X\[3\] holds NaN pixels"):
        given_arrays(list(floats), labels)
    floats[3, 0, 0] = np.inf
    with pytest.raises(ConfigError, match=r"validation_data\[3\] holds infinite pixels"):
        given_arrays(images, labels, validation_data=(floats, labels))


def test_keras_layouts_and_shifted_labels_fit_and_predict(tmp_path: Path) -> None:
    """One real fit: ``(N, H, W, 1)`` images with labels 1 and 2; one class is refused before any run folder."""
    images, labels = squares(20)
    with pytest.raises(ConfigError, match="at least two classes"):
        Model("simple-cnn", epochs=1, progress=False).fit(images, np.zeros(20, int), runs_root=tmp_path / "none")
    assert not (tmp_path / "none").exists()
    model = Model("simple-cnn", epochs=1, progress=False).fit(images[..., None], labels + 1, runs_root=tmp_path)
    assert model.classes_ == ["1", "2"]
    assert len(model.predict(images[0][..., None])) == 1
    assert [p.source for p in model.predict(images[:2, ..., None])] == ["array[0]", "array[1]"]
    assert model.predict_proba(images[:3, ..., None]).shape == (3, 2)
    one = model.predict_proba(images[0][..., None])
    np.testing.assert_allclose(one, model.predict_proba(images[0]), atol=1e-6)
    np.testing.assert_allclose(one, model.predict_proba(Image.fromarray(images[0]).convert("LA")), atol=1e-6)
    assert model.evaluate(images, labels + 1).metrics["accuracy"] >= 0


def test_a_two_channel_run_reads_its_copy_back_as_it_was_given(tmp_path: Path) -> None:
    """(N, 2, H, W) trains as 2D images of two channels; the run's training_data.npz must read back the same way,
    so Model.load(run).evaluate() and --resume see the images fit saw."""
    from medimg import Dataset

    images, labels = squares(20)
    two = np.stack([images, 255 - images], axis=1)
    model = Model("simple-cnn", epochs=1, progress=False).fit(two, labels, runs_root=tmp_path)
    copy = Dataset.load(Path(str(model.run_dir_)) / ARRAYS_FILE)
    assert copy.spatial_dims == 2 and model.plan_.in_channels == 2
    assert Model.load(str(model.run_dir_)).evaluate().metrics["n"] > 0
