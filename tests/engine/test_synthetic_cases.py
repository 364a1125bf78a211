"""``fit --synthetic``: a synthetic set never brings the run's validation or test images into training: copies of
them are dropped (as from an unlabelled pool), and a generator that trained on them is named in a warning."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import pytest

from medimg.data.dataset import Dataset
from medimg.data.splits import Splits, make_splits
from medimg.data.synthetic import make_phantom_dataset
from medimg.engine.run import synthetic_cases
from medimg.errors import DatasetError


@pytest.fixture
def data(tmp_path: Path) -> tuple[Dataset, Splits]:
    root = make_phantom_dataset(tmp_path / "phantoms", n_per_class=10, size=16, seed=0)
    dataset = Dataset.load(root, task="classify")
    return dataset, make_splits(dataset.cases, seed=0)


def _write_set(folder: Path, files: list[tuple[Path, str]], run: str = "") -> None:
    """A synthetic set of ``(source image, class)``, each copied to ``folder/<class>/synthetic_s0_<i>.png``."""
    rows = []
    for i, (source, label) in enumerate(files):
        target = folder / label / f"synthetic_s0_{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        rows.append({"path": f"{label}/{target.name}", "label": label, "synthetic": "1", "run": run, "seed": "0"})
    with (folder / "synthetic.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "synthetic", "run", "seed"])
        writer.writeheader()
        writer.writerows(rows)


def test_copies_of_validation_and_test_images_are_dropped_with_a_warning(
    data: tuple[Dataset, Splits], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dataset, splits = data
    train = [c for c in dataset.cases if splits.assignment[c.case_id] == "train"]
    held_out = [c for c in dataset.cases if splits.assignment[c.case_id] != "train"]
    names = dataset.class_names
    files = [(Path(str(c.path)), names[int(str(c.label))]) for c in [*held_out, *train[:2]]]
    _write_set(tmp_path / "synth", files)
    with caplog.at_level(logging.WARNING):
        cases = synthetic_cases(dataset, str(tmp_path / "synth"), splits)
    assert len(cases) == 2  # the copies of training images may stay: they leak nothing
    assert f"{len(held_out)} image(s) are copies of validation/test images" in caplog.text

    _write_set(tmp_path / "only", files[: len(held_out)])
    with pytest.raises(DatasetError, match="every image is a copy of a validation/test image"):
        synthetic_cases(dataset, str(tmp_path / "only"), splits)


def test_a_generator_trained_on_this_runs_evaluation_images_is_warned_about(
    data: tuple[Dataset, Splits], tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, splits = data
    generator = tmp_path / "runs" / "gen"
    generator.mkdir(parents=True)
    other = make_splits(dataset.cases, seed=1)  # the generator's own split: another --seed
    (generator / "splits.json").write_text(json.dumps(other.to_dict()))
    leaked = [c for c, part in splits.assignment.items() if part != "train" and other.assignment[c] == "train"]
    assert leaked
    fresh = tmp_path / "fresh.png"
    shutil.copy(Path(str(dataset.cases[0].path)), fresh)
    fresh.write_bytes(fresh.read_bytes() + b"\0")  # not a copy of any image of the data
    monkeypatch.chdir(tmp_path)
    _write_set(tmp_path / "synth", [(fresh, dataset.class_names[0])], run="runs/gen")  # relative, as once written
    with caplog.at_level(logging.WARNING):
        assert len(synthetic_cases(dataset, str(tmp_path / "synth"), splits)) == 1
    assert f"which trained on {len(leaked)} of this run's validation/test images" in caplog.text
    assert str(generator.resolve()) in caplog.text

    caplog.clear()
    (generator / "splits.json").write_text(json.dumps(splits.to_dict()))  # the same split: nothing to say
    with caplog.at_level(logging.WARNING):
        synthetic_cases(dataset, str(tmp_path / "synth"), splits)
    assert "trained on" not in caplog.text

    _write_set(tmp_path / "lost", [(fresh, dataset.class_names[0])], run=str(tmp_path / "moved"))
    with caplog.at_level(logging.WARNING):
        synthetic_cases(dataset, str(tmp_path / "lost"), splits)
    assert "is not found" in caplog.text
