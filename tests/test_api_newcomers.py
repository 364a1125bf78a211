"""The Python API as users of scikit-learn, Keras, timm and Ultralytics write it in a notebook: their spellings get
medimg's names, options go where they put them, and a misplaced call says what to do instead of a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg import Dataset, Model
from medimg.data.given_arrays import given_arrays
from medimg.errors import ConfigError, RunFolderError
from tests.data.test_given_arrays import two_class_images


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Model, int]]:
    """A planner-chosen network trained with run options given to the constructor, from a session that set one
    torch thread; the thread count torch had after ``fit``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        images, labels = two_class_images(60)
        model = Model(seed=3, progress=False, epochs=2).fit(  # sklearn's habit: settings in the constructor
            images, labels, run_dir=tmp_path_factory.mktemp("run") / "run"
        )
        yield model, torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_constructor_run_options_apply_and_the_threads_are_given_back(fitted: tuple[Model, int]) -> None:
    model, threads_after_fit = fitted
    config = json.loads(Path(model.run_dir_, "config.json").read_text())
    assert config["options"]["seed"] == 3 and config["options"]["progress"] is False
    assert threads_after_fit == 1  # fit trains on its own thread count and restores the caller's
    assert repr(model).startswith(f"Model(network={model.plan_.network!r}") and "'auto'" not in repr(model)


def test_explain_true_is_grad_cam(fitted: tuple[Model, int]) -> None:
    model, _ = fitted
    prediction = model.predict(two_class_images(2)[0], explain=True)[0]
    assert prediction.heatmap is not None and prediction.heatmap.shape == (24, 24)


def test_load_names_what_to_give(fitted: tuple[Model, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = fitted
    run = Path(model.run_dir_)
    assert Model.load(run / "model.pt").run_dir_ == run  # Ultralytics' habit: the weights file
    monkeypatch.setenv("HOME", str(run.parent))
    assert Model.load("~/run").run_dir_ == run
    data = tmp_path / "xrays" / "normal"
    data.mkdir(parents=True)
    with pytest.raises(RunFolderError, match=r"xrays is not a medimg run folder .* runs/<data>/expN"):
        Model.load(tmp_path / "xrays")
    (tmp_path / "runs" / "xrays" / "exp1").mkdir(parents=True)
    (tmp_path / "runs" / "xrays" / "exp1" / "metadata.json").write_text("{}")
    with pytest.raises(RunFolderError, match=r"holds runs, not one: give one of them \(.*exp1\)"):
        Model.load(tmp_path / "runs")


def test_a_classical_model_predicts_arrays(tmp_path: Path) -> None:
    images, labels = two_class_images(40)
    model = Model("random-forest").fit(images, labels, run_dir=tmp_path / "run", progress=False)
    predictions = model.predict(two_class_images(6, seed=1)[0])
    assert [p.source for p in predictions] == [f"array[{i}]" for i in range(6)]
    assert [p.label_index for p in predictions] == [0, 1] * 3


def test_num_classes_other_than_the_data_is_refused_before_training(tmp_path: Path) -> None:
    images, labels = two_class_images(30)
    with pytest.raises(ConfigError, match="num_classes=5, but the data has 2 classes"):
        Model("simple-cnn", num_classes=5).fit(images, labels, run_dir=tmp_path / "run", epochs=1, progress=False)
    assert not (tmp_path / "run" / "model.pt").exists()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Model("simple-cnn", lr=0.1), "unknown plan field 'lr'. medimg calls it 'learning_rate'"),
        (lambda: Model("simple-cnn", imgsz=64), "medimg calls it 'input_size'"),
        (lambda: Model(random_state=0), r"medimg calls it 'seed', a run option \(--seed"),  # not in plan --help
        (lambda: Model(device="cuda"), "chooses the device itself: CUDA when a GPU is present"),
        (
            lambda: Model("unet"),
            r"'unet' is a segment network, not a classify one: Model\('unet', task='segment'\) \(on the command line, "
            "--task segment\\) reads the data for segment, or choose a classify network",
        ),
        (lambda: Model("fcos"), "task='detect'"),
        (lambda: Model().fit("data/train", validation_data="data/val"), "sub-folders, or a split column"),
    ],
)
def test_other_libraries_spellings_get_medimgs(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


def test_one_hot_labels_are_classes_not_findings() -> None:
    images, labels = two_class_images(8)
    gathered = given_arrays(images, np.eye(2, dtype=np.float32)[labels])  # Keras's to_categorical
    dataset = gathered.dataset(Path("x.npz"))
    assert not dataset.multi_label and [c.label for c in dataset.cases] == labels.tolist()
    several = np.eye(3)[np.arange(8) % 3]
    several[0, 1] = 1  # a row with two findings: (N, K) 0/1 columns are findings
    assert given_arrays(images, several).dataset(Path("y.npz")).multi_label


def test_a_dataset_shows_a_summary_not_every_case(tmp_path: Path) -> None:
    images, labels = two_class_images(500)
    dataset = given_arrays(images, np.array(["normal", "tumour"])[labels]).dataset(tmp_path / "cells.npz")
    shown = repr(dataset)
    assert len(shown) < 300, shown
    assert shown.startswith("Dataset('cells', 500 images, 2 classes (normal, tumour), no split of its own")
    assert dataset[0] is dataset.cases[0] and dataset.read(dataset[1]).array.shape == (1, 24, 24)
    assert isinstance(dataset, Dataset)


def test_an_unreadable_file_is_reported_once(
    fitted: tuple[Model, int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model, _ = fitted
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with caplog.at_level("WARNING"):
        assert model.predict(tmp_path / "broken.png") == []
    assert sum("skipped" in r.getMessage() and "broken.png" in r.getMessage() for r in caplog.records) == 1
    assert [path for path, _ in model.failed_] == [str(tmp_path / "broken.png")]


def test_fitting_a_trained_model_again_says_it_starts_from_scratch(
    fitted: tuple[Model, int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = Model.load(fitted[0].run_dir_)
    images, labels = two_class_images(30)
    with caplog.at_level("WARNING"):
        model.fit(images, labels, run_dir=tmp_path / "again", epochs=1, progress=False)
    assert any("trains a new network from scratch" in r.getMessage() for r in caplog.records)
    assert any("weights_path=" in r.getMessage() and "model.pt" in r.getMessage() for r in caplog.records)


def test_predict_proba_and_classes_as_scikit_learn_names_them(fitted: tuple[Model, int]) -> None:
    model, _ = fitted
    images, _ = two_class_images(6, seed=2)
    probabilities = model.predict_proba(images)
    assert model.classes_ == model.class_names_ and probabilities.shape == (6, 2)
    assert np.allclose(probabilities.sum(axis=1), 1)
    labels = [p.label for p in model.predict(images)]
    assert [model.classes_[i] for i in probabilities.argmax(axis=1)] == labels
    with pytest.raises(ConfigError, match="predict_proba gives class probabilities; this is a segment model"):
        Model("unet", task="segment").predict_proba(images)


def test_preprocess_makes_the_networks_input_for_ones_own_code(fitted: tuple[Model, int], tmp_path: Path) -> None:
    """``model.network_`` takes standardised input of the plan's size; raw pixels gave meaningless outputs."""
    from PIL import Image

    model, _ = fitted
    assert model.network_ is not None and model.plan_ is not None
    images, _ = two_class_images(5, seed=4)
    x = model.preprocess(images)
    assert x.dtype == torch.float32 and tuple(x.shape) == (5, model.plan_.in_channels, *model.plan_.input_size)
    model.network_.eval()
    with torch.no_grad():
        own = torch.softmax(model.network_(x).float(), dim=1).numpy()
    assert np.allclose(own, model.predict_proba(images), atol=1e-4)  # the plan has no flip TTA for these
    files = []
    for i, image in enumerate(images):  # the same images as files, read as predict reads them
        files.append(tmp_path / f"image{i}.png")
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(files[-1])
    assert torch.allclose(model.preprocess(files), x, atol=1e-3)
    assert torch.allclose(model.preprocess(tmp_path), x, atol=1e-3)  # a folder, its files in name order
    with pytest.raises(ConfigError, match="preprocess makes a deep classifier's network input"):
        Model("unet", task="segment").preprocess(images)


def test_torchvision_and_timm_spellings_name_medimgs_networks() -> None:
    assert Model("efficientnet_b0").network == "efficientnet-b0"
    assert Model("ResNet-18").network == "resnet18"
    assert Model("random_forest").network == "random-forest" and Model("RandomForest").backend == "sklearn"


def test_training_threads_follow_the_machine_or_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from medimg.config import FitOptions, default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert FitOptions().num_threads == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == len(os.sched_getaffinity(0))  # was 2 whatever the machine


def test_a_second_prediction_call_never_replaces_the_first_ones_masks(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    import shutil

    from tests.serve.support import train_tiny_segmentation_run

    shared = train_tiny_segmentation_run(tmp_path_factory)
    run = Path(shutil.copytree(shared, tmp_path / "run", ignore=shutil.ignore_patterns("predictions*")))
    model = Model.load(run)
    first = model.predict(shared.parent / "discs" / "images" / "case_00.png")[0]
    other = tmp_path / "elsewhere" / "case_00.png"  # another image of the same name
    other.parent.mkdir()
    shutil.copy(shared.parent / "discs" / "images" / "case_01.png", other)
    second = model.predict(other)[0]
    assert Path(first.mask_path).parent == run / "predictions"
    assert Path(second.mask_path).parent == run / "predictions2"
    assert Path(first.mask_path).is_file() and Path(second.mask_path).is_file()
    with pytest.raises(ConfigError, match="--scale"):  # refused before a prediction folder is claimed
        model.predict(other, scale=0)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    assert model.predict(broken) == [] and model.failed_  # every input failed: no empty folder is left
    assert sorted(p.name for p in run.glob("predictions*")) == ["predictions", "predictions2"]
