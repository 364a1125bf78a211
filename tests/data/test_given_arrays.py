"""Images and labels given as arrays: ``Model.fit(X, y)`` and ``Model.evaluate(X, y)`` as scikit-learn users write
them; the arrays' run-folder copy loads as the dataset that trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg import Dataset, Model
from medimg.data.given_arrays import ARRAYS_FILE, given_arrays
from medimg.errors import ConfigError, DatasetError, RunFolderError


def two_class_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 24 px grey images: class 1 has a bright square, class 0 none (learnable in one epoch)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (n, 24, 24)).astype(np.uint8)
    labels = np.arange(n) % 2
    images[labels == 1, 6:18, 6:18] = 220
    return images, labels


def _same_dataset(first: Dataset, second: Dataset) -> None:
    assert first.class_names == second.class_names
    assert [(c.case_id, c.label, c.split, c.findings) for c in first.cases] == [
        (c.case_id, c.label, c.split, c.findings) for c in second.cases
    ]
    assert first.spatial_dims == second.spatial_dims
    for case in first.cases[:3]:
        np.testing.assert_array_equal(first.read(case).array, second.read(case).array)


@pytest.mark.parametrize(
    ("images", "labels", "names", "classes", "label_of_first"),
    [
        (np.zeros((6, 8, 8), np.uint8), [0, 1, 2, 0, 1, 2], ["a", "b", "c"], ["a", "b", "c"], 0),
        (np.zeros((4, 8, 8, 3), np.uint8), np.array([[1], [0], [1], [0]]), None, ["class_0", "class_1"], 1),
        (np.zeros((4, 3, 8, 8), np.float32), ["tumour", "normal", "tumour", "normal"], None, ["normal", "tumour"], 1),
        # text labels in class_names' order (not the alphabetical one)
        (torch.zeros(4, 1, 8, 8), ["tumour", "normal"] * 2, ["tumour", "normal"], ["tumour", "normal"], 0),
        # a pandas-like column of numbers held as objects; booleans
        (np.zeros((4, 8, 8)), np.array([1, 0, 1, 0], dtype=object), None, ["class_0", "class_1"], 1),
        (np.zeros((4, 8, 8)), np.array([True, False, True, False]), None, ["class_0", "class_1"], 1),
    ],
)
def test_the_saved_copy_loads_as_the_dataset_in_memory(
    images: object, labels: object, names: list[str] | None, classes: list[str], label_of_first: int, tmp_path: Path
) -> None:
    gathered = given_arrays(images, labels, class_names=names)
    in_memory = gathered.dataset(tmp_path / ARRAYS_FILE)
    assert in_memory.class_names == classes
    assert in_memory.cases[0].label == label_of_first and in_memory.cases[0].split is None
    _same_dataset(in_memory, Dataset.load(gathered.save(tmp_path / ARRAYS_FILE)))


def test_splits_given_and_several_findings(tmp_path: Path) -> None:
    images, labels = two_class_images(8)
    gathered = given_arrays(images, labels, validation_data=(images[:4], labels[:4]), test_data=(images, labels))
    dataset = gathered.dataset(tmp_path / ARRAYS_FILE)
    assert dataset.split_counts() == {"train": 8, "val": 4, "test": 8}
    _same_dataset(dataset, Dataset.load(gathered.save(tmp_path / ARRAYS_FILE)))
    findings = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1]])
    multi = given_arrays(images[:4], findings, class_names=["effusion", "mass", "nodule"])
    dataset = multi.dataset(tmp_path / "multi.npz")
    assert dataset.multi_label and dataset.class_names == ["effusion", "mass", "nodule"]
    assert [c.findings for c in dataset.cases] == [(0, 2), (), (1,), (0, 1, 2)]
    _same_dataset(dataset, Dataset.load(multi.save(tmp_path / "multi.npz")))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x, y: given_arrays(x, y[:5]), r"has 8 images but its labels have shape \(5,\)"),
        (lambda x, y: given_arrays(x, None), "came without labels"),
        (lambda x, y: given_arrays(x, y * 0.5), "hold fractions"),
        (lambda x, y: given_arrays(x, y - 1), "hold -1: class numbers start at 0"),
        (lambda x, y: given_arrays(x, ["a", None] * 4), "label 1 of X is empty"),
        (lambda x, y: given_arrays(x, y, class_names=["only one"]), "names 1 classes .* labels go up to 1"),
        (lambda x, y: given_arrays(x, ["a", "b"] * 4, class_names=["a"]), "'b' are not among class_names"),
        (lambda x, y: given_arrays([x[0], x[1, :10]], y[:2]), r"X\[1\] has shape \(10, 24\) but X\[0\] \(24, 24\)"),
        (lambda x, y: given_arrays(x[0], y), r"X has shape \(24, 24\): give N images"),
        (lambda x, y: given_arrays(x.astype(str), y), "not an image; give numbers"),
        (lambda x, y: given_arrays(x, y, validation_data=(x[:, :10],)), "as a pair"),
        (lambda x, y: given_arrays(x, y, validation_data=(x[:, :10], y)), "different shapes"),
    ],
)
def test_bad_arrays_are_refused_saying_what_to_give(call: object, message: str) -> None:
    images, labels = two_class_images(8)
    with pytest.raises(ConfigError, match=message):
        call(images, labels)  # type: ignore[operator]


def test_an_npz_names_its_classes(tmp_path: Path) -> None:
    images, labels = two_class_images(6)
    np.savez(tmp_path / "x.npz", images=images, labels=labels, class_names=np.array([b"benign", b"malignant"]))
    assert Dataset.load(tmp_path / "x.npz").class_names == ["benign", "malignant"]
    np.savez(tmp_path / "y.npz", images=images, labels=labels, label_names=np.array(["one"]))
    with pytest.raises(DatasetError, match=r"1 class names .* for 2 classes"):
        Dataset.load(tmp_path / "y.npz")


@pytest.mark.e2e
def test_fit_and_evaluate_arrays_like_scikit_learn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    monkeypatch.chdir(tmp_path)
    images, labels = two_class_images(60)
    names = np.array(["normal", "lesion"])[labels]
    model = Model("simple-cnn").fit(images, names, epochs=2, progress=False, seed=0)
    run = Path(model.run_dir_)
    assert run.parent == tmp_path / "runs" / "arrays" and (run / ARRAYS_FILE).is_file()  # held absolute
    assert model.class_names_ == ["normal", "lesion"]
    assert json.loads((run / "config.json").read_text())["data"] == str((run / ARRAYS_FILE).resolve())
    held_out, truth = two_class_images(20, seed=1)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        report = model.evaluate(held_out, truth)  # integers index the model's classes
    assert report.metrics["accuracy"] > 0.8
    assert "training or validation images" not in caplog.text
    assert model.last_report_dir_ == run / "evaluations" / "arrays-all"
    assert model.evaluate(held_out, np.array(["normal", "lesion"])[truth]).metrics == report.metrics
    # the run reloads and re-evaluates its own test split from the copy in its folder
    assert Model.load(run).evaluate().metrics == model.report_.metrics
    with pytest.raises(RunFolderError, match="already holds a trained run"):
        Model("simple-cnn").fit(images[:10], labels[:10], run_dir=run, epochs=1, progress=False)
    assert len(Dataset.load(run / ARRAYS_FILE)) == 60  # the finished run's copy is untouched
    with pytest.raises(ConfigError, match="the segment task reads its masks or boxes from files"):
        Model("unet", task="segment").fit(images, labels)
    with pytest.raises(ConfigError, match="labels go with images given as an array"):
        Model("simple-cnn").fit(str(tmp_path), labels)
    with pytest.raises(ConfigError, match="not among the model's classes"):
        model.evaluate(held_out, ["cyst"] * 20)
    # its own training arrays (as float): a perfect score without a word, where files so given are warned of
    splits = json.loads((run / "splits.json").read_text())["assignment"]
    learnt = sum(splits[f"all/{i}"] in ("train", "val") for i in range(10))
    with caplog.at_level(logging.WARNING, logger="medimg"):
        model.evaluate(images[:10].astype(np.float32), names[:10])
    assert f"{learnt} of the 10 images given are this run's training or validation images" in caplog.text
    for layout in (images[:10, None], images[:10, ..., None], np.repeat(images[:10, ..., None], 3, axis=-1)):
        caplog.clear()  # the same pixels as PyTorch's (N, 1, H, W), Keras' (N, H, W, 1), grey as RGB
        with caplog.at_level(logging.WARNING, logger="medimg"):
            model.evaluate(layout, names[:10])
        assert f"{learnt} of the 10 images given are this run's training" in caplog.text, layout.shape


def test_a_classical_model_fits_and_evaluates_arrays(tmp_path: Path) -> None:
    images, labels = two_class_images(40)
    model = Model("random-forest").fit(
        images, labels, class_names=["normal", "lesion"], run_dir=tmp_path / "run", progress=False
    )
    assert model.class_names_ == ["normal", "lesion"] and (tmp_path / "run" / ARRAYS_FILE).is_file()
    held_out, truth = two_class_images(20, seed=1)
    assert model.evaluate(held_out, truth).metrics["accuracy"] > 0.8
    assert Model.load(tmp_path / "run").evaluate().metrics == model.report_.metrics


def test_text_labels_differing_only_in_case_are_one_class(caplog: pytest.LogCaptureFixture) -> None:
    """fit(X, y) with "Normal" and "normal" made two classes without a word; folders and tables merge them."""
    import logging

    images, _ = two_class_images(12)
    labels = np.array(["Normal", "normal", "Tumour", "tumour"] * 3)
    with caplog.at_level(logging.WARNING):
        given = given_arrays(images, labels)
    assert sorted(set(given.labels["all"].tolist())) == ["Normal", "Tumour"]
    assert "'Normal', 'normal' -> 'Normal'" in caplog.text
    # evaluate(X, ["NORMAL", ...]) on a model of "normal": its classes, as folders and CSV files map them (refused)
    named = given_arrays(images, np.array(["NORMAL", "TUMOUR"] * 6), class_names=["normal", "tumour"])
    assert named.labels["all"].tolist() == [0, 1] * 6


def test_text_labels_joined_by_a_bar_are_findings_not_combination_classes() -> None:
    """fit(X, y) with NIH-style "A|B" and "No Finding" labels made classes "A|B" and "No Finding"; a table with
    the same text is read as findings (the README's multi-label section says never combination classes)."""
    images, _ = two_class_images(8)
    given = given_arrays(images, np.array(["Effusion|Atelectasis", "No Finding", "Effusion", "Atelectasis"] * 2))
    assert given.class_names == ["Atelectasis", "Effusion"]
    assert given.labels["all"].tolist()[:4] == [[1, 1], [0, 0], [0, 1], [1, 0]]


def test_labels_as_lists_of_finding_names_are_findings() -> None:
    """[["Effusion", "Atelectasis"], [], ...] ended in a raw NumPy ValueError (an inhomogeneous array)."""
    images, _ = two_class_images(8)
    given = given_arrays(images, [["Effusion", "Atelectasis"], [], ["Effusion"], ["Atelectasis"]] * 2)
    assert given.class_names == ["Atelectasis", "Effusion"]
    assert given.labels["all"].tolist()[:4] == [[1, 1], [0, 0], [0, 1], [1, 0]]


def test_an_uncertain_finding_says_what_to_decide() -> None:
    """CheXpert's -1 in an (N, K) findings matrix was refused with "class numbers start at 0"."""
    images, _ = two_class_images(4)
    with pytest.raises(ConfigError, match=r"CheXpert's 'uncertain'.*y\[y == -1\] = 1 \(U-Ones\)"):
        given_arrays(images, np.array([[1, 0], [0, -1], [1, 1], [0, 0]]))
