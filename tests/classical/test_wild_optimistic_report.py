"""An evaluation of the images a model trained on warned on the console only: its report.json and report.html,
the files a researcher keeps and shares, read like an honest estimate. Now they say the scores are optimistic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from medimg import Model
from medimg.evaluation import folders
from medimg.evaluation.report import build_classification_report, write_report


def _data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name, mean in (("a", 90), ("b", 150)):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(rng.normal(mean, 40, (12, 12)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}{i}.png")
    return root


def test_the_training_split_report_says_its_scores_are_optimistic(tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(data, run_dir=tmp_path / "run", progress=False)
    loaded = Model.load(tmp_path / "run")
    honest = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    assert "optimistic" not in honest["extra"]
    loaded.evaluate(data, split="train", n_resamples=20)
    folder = loaded.last_report_dir_
    report = json.loads((folder / "report.json").read_text())
    assert "optimistic" in report["extra"]["optimistic"] and report["split"] == "train"
    assert "Optimistic scores" in (folder / "report.html").read_text(encoding="utf-8")
    loaded.evaluate(data, split="train", n_resamples=20)  # the same evaluation again: the same folder, replaced
    assert loaded.last_report_dir_ == folder


def test_write_report_states_what_the_evaluation_folder_records(tmp_path: Path) -> None:
    y = np.array([0, 1, 0, 1, 1])
    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.55, 0.45]])
    for optimistic in (True, False):
        out = tmp_path / str(optimistic)
        out.mkdir()
        folders.write_facts(out, {"data": "x", "split": "val"}, optimistic=optimistic)
        report = build_classification_report(y, p, ["n", "t"], split="val", model_name="m", dataset_name="d")
        write_report(report, out, y_true=y, probabilities=p)
        page = (out / "report.html").read_text(encoding="utf-8")
        assert ("Optimistic scores" in page) is optimistic
        assert ("optimistic" in json.loads((out / "report.json").read_text())["extra"]) is optimistic
