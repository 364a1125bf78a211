"""The Python API used as an installed library (a notebook, a script in another folder): images given in memory are
judged as their files would be, in-memory evaluations keep their own reports, and paths survive ``os.chdir``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from medimg import Dataset, Model
from medimg.errors import ConfigError, ImageReadError
from tests.data.test_given_arrays import two_class_images


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Model]:
    """A small classifier fitted from arrays (one epoch, one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        images, labels = two_class_images(40)
        yield Model("simple-cnn", seed=0, progress=False, epochs=1).fit(
            images, labels, class_names=["normal", "lesion"], run_dir=tmp_path_factory.mktemp("run") / "run"
        )
    finally:
        torch.set_num_threads(before)


def test_nan_or_inf_pixels_in_an_array_are_refused_as_in_a_file(
    fitted: Model, caplog: pytest.LogCaptureFixture
) -> None:
    images = two_class_images(4, seed=1)[0].astype(np.float32)
    images[0, 3, 3] = np.nan
    images[2, 5, 5] = np.inf
    with caplog.at_level(logging.WARNING):
        predictions = fitted.predict(images)
    assert [p.source for p in predictions] == ["array[1]", "array[3]"]
    assert [source for source, _ in fitted.failed_] == ["array[0]", "array[2]"]
    assert "1 of 576 pixel values are NaN or infinite" in fitted.failed_[0][1]
    assert "skipped array[0]: 1 of 576 pixel values are NaN or infinite" in caplog.text
    probabilities = fitted.predict_proba(images)
    assert probabilities.shape == (2, 2) and np.isfinite(probabilities).all()
    with pytest.raises(ImageReadError, match=r"array\[0\]: 1 of 576 pixel values are NaN or infinite"):
        fitted.preprocess(images)
    assert fitted.preprocess(images[1:2]).shape[0] == 1


def test_the_onnx_predictor_refuses_nan_pixels_in_an_array(fitted: Model, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from medimg.export import OnnxPredictor

    images = two_class_images(2, seed=1)[0].astype(np.float32)
    images[0, 3, 3] = np.nan
    predictor = OnnxPredictor(fitted.export(tmp_path / "model.onnx", parity_inputs=[]).path)
    predictions = predictor.predict(images)
    assert [p.source for p in predictions] == ["array[1]"]
    assert [source for source, _ in predictor.failed_] == ["array[0]"]


def test_evaluations_of_other_arrays_or_file_lists_keep_their_own_reports(fitted: Model, tmp_path: Path) -> None:
    first, first_labels = two_class_images(12, seed=11)
    second, second_labels = two_class_images(8, seed=12)
    fitted.evaluate(first, first_labels)
    first_dir = fitted.last_report_dir_
    fitted.evaluate(second, second_labels)
    second_dir = fitted.last_report_dir_
    assert first_dir != second_dir and second_dir.name == f"{first_dir.name}-2"
    assert json.loads((first_dir / "report.json").read_text())["metrics"]["n"] == 12
    recorded = json.loads((first_dir / "evaluated.json").read_text())
    assert recorded["data"] == "arrays given in Python" and recorded["images"] == 12 and len(recorded["sha256"]) == 64
    fitted.evaluate(first, first_labels)  # the same arrays again: their folder, replaced
    assert fitted.last_report_dir_ == first_dir

    paths = []
    for i, image in enumerate(first):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    fitted.evaluate(paths, first_labels)
    all_files = fitted.last_report_dir_
    fitted.evaluate(paths[:6], first_labels[:6])
    some_files = fitted.last_report_dir_
    assert all_files != some_files
    assert json.loads((all_files / "report.json").read_text())["metrics"]["n"] == 12
    listed = Path(json.loads((all_files / "evaluated.json").read_text())["data"])
    assert listed.is_file() and len(listed.read_text().splitlines()) == 13  # the files scored, with a header


def test_a_model_and_a_dataset_keep_their_paths_after_chdir(
    fitted: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Path(fitted.run_dir_)
    monkeypatch.chdir(run.parent.parent)
    loaded = Model.load(Path(run.parent.name) / run.name)  # a relative path, as in a notebook
    assert repr(loaded).endswith(f"run_dir={str(Path(run.parent.name) / run.name)!r})")  # shown short
    data = tmp_path / "data"
    for i, (image, label) in enumerate(zip(*two_class_images(16, seed=5), strict=True)):
        (data / ("normal", "lesion")[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(data / ("normal", "lesion")[label] / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    dataset = Dataset.load("data")
    assert "root='data'" in repr(dataset)  # shown short, held absolute
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert loaded.run_dir_ == run and dataset.root == data
    assert loaded.evaluate().metrics["n"] > 0  # the run's own test split, not "config.json is missing"
    assert loaded.evaluate(dataset, split="all").metrics["n"] == 16
    assert loaded.export().path == run / "model.onnx"
    assert not (elsewhere / "runs").exists() and list(elsewhere.iterdir()) == []


def test_fit_lists_the_unreadable_files_of_a_class_it_leaves_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    images, labels = two_class_images(16)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (tmp_path / "data" / "ab"[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "data" / "ab"[label] / f"{i}.png")
    (tmp_path / "data" / "c").mkdir()
    for i in range(6):
        (tmp_path / "data" / "c" / f"junk{i}.png").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        Model("simple-cnn", epochs=1, progress=False).fit(tmp_path / "data", run_dir=tmp_path / "run")
    assert "class(es) c left out" in caplog.text
    listed = caplog.text[: caplog.text.index("class(es) c left out")]  # above it, as the message says
    assert "unreadable image(s) of c: " in listed and "junk0.png (" in listed and "; and 1 more" in listed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.predict(123), r"predict takes image files .* got a int"),
        (lambda m: m.predict(None), r"predict takes image files .* got None"),
        (lambda m: m.predict({"x": np.zeros((24, 24))}), r"got a dict: give its values, e\.g\. list\(d\.values\(\)\)"),
        (lambda m: list(m.predict_iter(7)), r"predict_iter takes image files"),
        (lambda m: m.evaluate(np.zeros((2, 24, 24))), r"evaluate\(X, y\) scores images against their labels: give y"),
        (lambda m: m.predict(np.zeros((1, 2, 3, 24, 24))), r"give \(H, W\), \(H, W, C\), \(C, H, W\) or a batch"),
    ],
)
def test_python_api_misuse_gets_medimgs_own_message(fitted: Model, call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        call(fitted)
    assert "a batch of those or a batch" not in str(caught.value) and "fit(X, y)" not in str(caught.value)


def test_integer_labels_for_classes_out_of_alphabetical_order_are_warned_of(
    fitted: Model, caplog: pytest.LogCaptureFixture
) -> None:
    images, labels = two_class_images(8, seed=4)
    assert fitted.classes_ == ["normal", "lesion"]  # not alphabetical: LabelEncoder would number lesion 0
    with caplog.at_level(logging.WARNING):
        fitted.evaluate(images, labels)
    assert "integer labels index this model's classes_ (0 = 'normal', 1 = 'lesion')" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fitted.evaluate(images, np.array(["normal", "lesion"])[labels])  # names: nothing to warn of
    assert "integer labels" not in caplog.text
