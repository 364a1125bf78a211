"""Image files and labels given as lists: ``Model.fit(paths, labels)`` writes a CSV manifest into the run folder
and reads it as any manifest."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset, Model
from medimg.data.given_files import FILES_TABLE, labels_table
from medimg.errors import ConfigError


def _files(folder: Path, n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` 24 px PNGs (class 1 has a bright square) and their integer labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    paths = []
    for i, label in enumerate(labels):
        pixels = rng.integers(0, 60, (24, 24)).astype(np.uint8)
        if label:
            pixels[6:18, 6:18] = 220
        Image.fromarray(pixels).save(folder / f"{i}.png")
        paths.append(str(folder / f"{i}.png"))
    return paths, labels


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_table_names_classes_splits_and_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths, labels = _files(tmp_path / "images", 6)
    monkeypatch.chdir(tmp_path)
    relative = [str(Path(p).relative_to(tmp_path)) for p in paths]
    table = labels_table(relative, labels, class_names=["normal", "lesion"]).save(tmp_path / "t.csv")
    rows = _rows(table)
    assert [r["label"] for r in rows] == ["normal", "lesion"] * 3 and {r["split"] for r in rows} == {""}
    assert rows[0]["path"] == str(tmp_path / "images" / "0.png")  # read from the current folder, written absolute
    assert Dataset.load(table).class_names == ["normal", "lesion"]
    split = labels_table(paths[:4], labels[:4], validation_data=(paths[4:], ["a", "b"])).save(tmp_path / "s.csv")
    assert [r["split"] for r in _rows(split)] == ["train"] * 4 + ["val"] * 2
    findings = np.array([[1, 1], [0, 0], [0, 1], [1, 0]])
    multi = labels_table(paths[:4], findings, class_names=["mass", "nodule"]).save(tmp_path / "m.csv")
    assert [r["label"] for r in _rows(multi)] == ["mass|nodule", "No Finding", "nodule", "mass"]
    assert [c.findings for c in Dataset.load(multi).cases] == [(0, 1), (), (1,), (0,)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, y: labels_table([*p, "gone.png"], [*y, 0]), r"1 of the files do not exist \(e.g. .*gone.png\)"),
        (lambda p, y: labels_table(p, y[:2]), "has 6 images but its labels have shape"),
        (lambda p, y: labels_table(p, y, class_names=["one"]), "label 1 but class_names names 1 classes"),
        (lambda p, y: labels_table(p, ["a"] * 6, class_names=["b"]), "'a' is not among class_names"),
        (lambda p, y: labels_table(p, y, test_data=(p[0], y)), "as a pair"),
    ],
)
def test_bad_lists_are_refused_saying_what_to_give(call: object, message: str, tmp_path: Path) -> None:
    paths, labels = _files(tmp_path, 6)
    with pytest.raises(ConfigError, match=message):
        call(paths, labels)  # type: ignore[operator]


@pytest.mark.e2e
def test_fit_and_evaluate_files_with_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths, labels = _files(tmp_path / "train", 60)
    model = Model("simple-cnn").fit(paths, labels, class_names=["normal", "lesion"], epochs=2, progress=False)
    run = Path(model.run_dir_)
    assert run.parent == tmp_path / "runs" / "files" and len(_rows(run / FILES_TABLE)) == 60  # held absolute
    assert model.class_names_ == ["normal", "lesion"]
    held_out, truth = _files(tmp_path / "held_out", 20, seed=1)
    assert model.evaluate(held_out, truth).metrics["accuracy"] > 0.8
    assert model.last_report_dir_ == run / "evaluations" / "files-all"
    assert Model.load(run).evaluate().metrics == model.report_.metrics
    with pytest.raises(ConfigError, match=r"a list of files is not data medimg reads: .* with their labels"):
        Model("simple-cnn").fit(paths)
