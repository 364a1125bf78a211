"""Cross-validation resumed, summarised and without a test split: a fold model is only ever scored on its own split.

Tiny data (16 px images in patient folders), one epoch of simple-cnn per fold.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.engine import cross_validation
from medimg.errors import ConfigError, DatasetError, RunFolderError

FAST: dict[str, Any] = {"epochs": 1, "progress": False, "tensorboard": False, "num_threads": 1}


def _patients(root: Path, per_class: dict[str, int], images: int = 3, seed: int = 0) -> Path:
    """``root/<class>/pt<c>_<k>/img<i>.png``: ``per_class[class]`` patients of ``images`` 16 px images each."""
    rng = np.random.default_rng(seed)
    for c, (name, patients) in enumerate(per_class.items()):
        for k in range(patients):
            folder = root / name / f"pt{c}_{k:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(images):
                pixels = rng.normal(90 + 60 * c, 20, (16, 16)).clip(0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"img{i}.png")
    return root


def _fit(data: Path, run: Path, **options: Any) -> Model:
    return Model("simple-cnn").fit(data, run_dir=run, **{**FAST, **options})


def _assignment(run: Path, fold: int) -> dict[str, str]:
    return dict(json.loads((run / f"fold_{fold}" / "splits.json").read_text())["assignment"])


def _scored(run: Path, fold: int, split: str) -> int:
    return int(
        json.loads((run / f"fold_{fold}" / "evaluations" / f"cv-{split}" / "report.json").read_text())["metrics"]["n"]
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _patients(tmp_path / "data", {"normal": 8, "pneumonia": 8})


def test_resume_with_other_folds_or_seed_is_refused_and_the_cv_kept(data: Path, tmp_path: Path) -> None:
    """`fit --folds 3 --resume` with --folds 2 or --seed 5 rewrote each fold's splits.json and cv.json and scored
    the 3-fold models on images they trained on; now it is refused, naming what changed, and nothing is rewritten."""
    run = tmp_path / "cv"
    _fit(data, run, folds=3)
    before = {name: (run / name).read_bytes() for name in ("cv.json", "fold_0/splits.json", "fold_0/model.pt")}
    with pytest.raises(ConfigError, match=r"--folds 2 \(saved 3\)"):
        _fit(data, run, folds=2, resume=True)
    with pytest.raises(ConfigError, match=r"--seed 5 \(saved 0\)"):
        _fit(data, run, folds=3, seed=5, resume=True)
    with pytest.raises(ConfigError, match=r"--test-fraction 0.3 \(saved 0.15\)"):
        _fit(data, run, folds=3, test_fraction=0.3, resume=True)
    assert {name: (run / name).read_bytes() for name in before} == before
    assert not (run / "fold_3").exists()


def test_resume_after_the_data_changed_is_refused(data: Path, tmp_path: Path) -> None:
    """Images added before a --resume changed every fold's split under its trained model; now refused."""
    run = tmp_path / "cv"
    _fit(data, run, folds=2)
    kept = _assignment(run, 0)
    _patients(data, {"normal": 10, "pneumonia": 10}, seed=3)  # two more patients (3 images each) per class
    with pytest.raises(DatasetError, match=r"data changed since the cross-validation.*12 image\(s\) new"):
        _fit(data, run, folds=2, resume=True)
    assert _assignment(run, 0) == kept


def test_an_interrupted_cross_validation_resumes_with_its_saved_folds(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CV stopped in its second fold could not be resumed (`holds no run to continue`); now it goes on with the
    folds it began with, keeps the first fold's model, and scores each fold on its own split."""
    run = tmp_path / "cv"
    real = cross_validation.fit_run

    def stop_in_fold_1(task: Any, dataset: Any, run_dir: Path, *args: Any, **kwargs: Any) -> Any:
        if run_dir.name == "fold_1":
            raise KeyboardInterrupt
        return real(task, dataset, run_dir, *args, **kwargs)

    monkeypatch.setattr(cross_validation, "fit_run", stop_in_fold_1)
    with pytest.raises(KeyboardInterrupt):
        _fit(data, run, folds=3)
    monkeypatch.setattr(cross_validation, "fit_run", real)
    saved = json.loads((run / "cv.json").read_text())["splits"]
    first = (run / "fold_0" / "model.pt").read_bytes()
    model = _fit(data, run, folds=3, resume=True)
    summary = model.cv_summary_
    assert summary is not None and summary["complete"] and summary["splits"] == saved
    assert (run / "fold_0" / "model.pt").read_bytes() == first
    for fold in range(3):
        own = _assignment(run, fold)
        assert sorted(k for k, v in own.items() if v == "val") == sorted(saved["folds"][fold])
        for split in ("val", "test"):
            assert _scored(run, fold, split) == sum(v == split for v in own.values())
    # pooled out-of-fold: every train+val image once, predicted by the fold model that did not train on it
    rows = [
        row
        for fold in range(3)
        for row in json.loads((run / f"fold_{fold}/evaluations/cv-val/report.json").read_text())["predictions"]
    ]
    pooled = summary["pooled_val"]
    assert pooled["n"] == len(rows) == sum(len(members) for members in saved["folds"])
    assert pooled["accuracy"] == pytest.approx(np.mean([row["correct"] for row in rows]))
    assert any(line.startswith("pooled out-of-fold validation") for line in cross_validation.summary_lines(summary))


def test_a_fold_folder_of_another_fold_count_is_refused(data: Path, tmp_path: Path) -> None:
    """A fold_2 left beside a 2-fold cross-validation (by an earlier --folds 3) is refused, not left among it."""
    run = tmp_path / "cv"
    _fit(data, run, folds=2)
    shutil.copytree(run / "fold_1", run / "fold_2")
    with pytest.raises(RunFolderError, match="fold_2, which is not one of the folds"):
        _fit(data, run, folds=2, resume=True)


def test_a_cv_json_without_saved_folds_is_checked_against_each_folds_split(data: Path, tmp_path: Path) -> None:
    """A cross-validation saved before cv.json recorded its folds: resuming with another --seed is refused by the
    first fold's options, and data that would split otherwise by each fold's splits.json."""
    run = tmp_path / "cv"
    _fit(data, run, folds=2)
    summary = json.loads((run / "cv.json").read_text())
    old = {k: summary[k] for k in ("folds", "per_fold", "mean", "sd")}
    (run / "cv.json").write_text(json.dumps(old))
    with pytest.raises(ConfigError, match=r"--seed 4 \(saved 0\)"):
        _fit(data, run, folds=2, seed=4, resume=True)
    (data / "normal" / "pt0_00" / "img0.png").unlink()
    with pytest.raises(DatasetError, match=r"1 image\(s\) gone"):
        _fit(data, run, folds=2, resume=True)


def test_a_new_cross_validation_into_a_finished_one_is_refused(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "cv"
    _fit(data, run, folds=2)
    with pytest.raises(RunFolderError, match="already holds"):
        _fit(data, run, folds=2)


def test_a_cross_validation_stopped_before_any_fold_trained_starts_afresh(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cv.json is written before the first fold: a fit refused there (a bad option) holds nothing to resume, so the
    corrected command, with other options and without --resume, runs there."""
    run = tmp_path / "cv"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ConfigError("a bad option")

    monkeypatch.setattr(cross_validation, "fit_run", refuse)
    with pytest.raises(ConfigError, match="a bad option"):
        _fit(data, run, folds=3)
    monkeypatch.undo()
    model = _fit(data, run, folds=2)
    assert model.cv_summary_ is not None and model.cv_summary_["folds"] == 2


def test_metrics_say_over_how_many_folds_and_one_class_folds_are_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With more folds than the smallest class has patients, some validation folds hold one class: their AUC is
    undefined. cv.json averaged each metric over a different, unstated subset of folds, without a warning; now each
    metric names its number of folds, and the fit warns."""
    data = _patients(tmp_path / "data", {"normal": 12, "pneumonia": 3})
    with caplog.at_level(logging.WARNING):
        model = _fit(data, tmp_path / "cv", folds=4, test_fraction=0.0)
    summary = model.cv_summary_
    assert summary is not None
    defined = [row for row in summary["per_fold"] if isinstance(row.get("val_roc_auc"), float)]
    assert 0 < len(defined) < 4  # the premise: some folds hold one class
    assert summary["n_folds"]["val_roc_auc"] == len(defined)
    assert summary["n_folds"]["val_accuracy"] == 4
    assert (
        "validation folds (fold_" in caplog.text
        and "lack a class" in caplog.text
        and "--folds 3 or fewer" in caplog.text
    )
    lines = cross_validation.summary_lines(summary)
    assert any(line.startswith("val_roc_auc") and f"({len(defined)} of 4 folds" in line for line in lines)
    assert any(line.startswith("note:") and "optimistic" in line for line in lines)
    # the page a reader opens (cv.json alone was for scripts): every fold, the means and where they are defined
    page = (tmp_path / "cv" / "cv.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Mean over the folds" in page and "Each fold" in page
    assert f"{len(defined)} of 4" in page and f"{summary['mean']['val_accuracy']:.4f}" in page
    assert "optimistic" in page


def test_resume_without_a_run_folder_finds_an_interrupted_cross_validation(tmp_path: Path) -> None:
    """`fit DATA --folds K --resume` without --run-dir looked for expN/checkpoints/last.pt, which a cross-validation
    keeps under fold_k: it started a new run instead of going on."""
    from medimg.run_folder import latest_resumable_run

    for number, complete in ((1, False), (2, True)):
        run = tmp_path / "runs" / "data" / f"exp{number}"
        run.mkdir(parents=True)
        (run / "cv.json").write_text(json.dumps({"folds": 3, "complete": complete}))
    assert latest_resumable_run(tmp_path / "runs", "data") == tmp_path / "runs" / "data" / "exp1"
    (tmp_path / "runs" / "data" / "exp1" / "cv.json").write_text("{damaged")
    assert latest_resumable_run(tmp_path / "runs", "data") is None
