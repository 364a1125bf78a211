"""Where evaluations go: two sites' ``external`` folders no longer share one report folder (the second replaced the
first), a filtered evaluation of the training data no longer replaces the fit's own test report, each folder says
what it scored, and a user's ``--out`` folder of other files is refused instead of having its ``roc.png`` replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medimg import Model
from medimg.data.synthetic import make_phantom_dataset
from medimg.errors import ConfigError
from medimg.evaluation.folders import check_named_folder, default_folder, evaluation_facts


def test_a_folder_of_other_data_is_kept_and_the_same_data_replaces_its_own(tmp_path: Path) -> None:
    run = tmp_path / "run"
    site_a = evaluation_facts(tmp_path / "siteA" / "external", "all", {})
    site_b = evaluation_facts(tmp_path / "siteB" / "external", "all", {})
    first = default_folder(run, "external", site_a, own_test=False)
    assert first == run / "evaluations" / "external-all"
    first.mkdir(parents=True)
    (first / "evaluated.json").write_text(json.dumps(site_a))
    assert default_folder(run, "external", site_a, own_test=False) == first  # re-evaluated: replaced
    assert default_folder(run, "external", site_b, own_test=False) == run / "evaluations" / "external-all-2"
    windowed = evaluation_facts(tmp_path / "siteA" / "external", "all", {"window": ("40", "400"), "include": None})
    assert windowed["window"] == ["40", "400"] and "include" not in windowed  # as it reads back from JSON
    assert default_folder(run, "data", site_a, own_test=True) == run / "report"


def test_a_named_folder_of_other_files_is_refused(tmp_path: Path) -> None:
    check_named_folder(tmp_path / "new")  # new: made
    (tmp_path / "paper").mkdir()
    check_named_folder(tmp_path / "paper")  # empty
    (tmp_path / "paper" / "roc.png").write_text("my figure")
    with pytest.raises(ConfigError, match=r"holds other files \(roc.png\) and no earlier evaluation"):
        check_named_folder(tmp_path / "paper")
    (tmp_path / "paper" / "report.json").write_text("{}")
    check_named_folder(tmp_path / "paper")  # an earlier evaluation's folder: written over, as asked


def test_two_sites_named_alike_get_two_reports_and_the_fits_own_stays(tmp_path: Path) -> None:
    data = make_phantom_dataset(tmp_path / "phantoms", n_per_class=16, size=24, seed=1)
    model = Model("simple-cnn", epochs=1, progress=False, tensorboard=False).fit(data, run_dir=tmp_path / "run")
    own = json.loads((tmp_path / "run" / "report" / "report.json").read_text())["metrics"]["n"]
    for seed, site in enumerate(("siteA", "siteB"), start=2):  # other images, one folder name
        make_phantom_dataset(tmp_path / site / "external", n_per_class=4 * seed, size=24, seed=seed)
    model.evaluate(tmp_path / "siteA" / "external")
    model.evaluate(tmp_path / "siteB" / "external")
    folders = sorted(p.name for p in (tmp_path / "run" / "evaluations").iterdir() if not p.name.startswith("."))
    assert folders == ["external-all", "external-all-2"]
    recorded = [json.loads((tmp_path / "run" / "evaluations" / f / "evaluated.json").read_text()) for f in folders]
    assert [Path(r["data"]).parent.name for r in recorded] == ["siteA", "siteB"]
    model.evaluate(include="*_000*.png")  # the training data filtered: not the fit's own test report
    assert json.loads((tmp_path / "run" / "report" / "report.json").read_text())["metrics"]["n"] == own
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "roc.png").write_text("my figure")
    with pytest.raises(ConfigError, match="holds other files"):
        model.evaluate(tmp_path / "siteB" / "external", out_dir=tmp_path / "mine")
    assert (tmp_path / "mine" / "roc.png").read_text() == "my figure"


def test_the_training_images_with_other_masks_are_another_data_set(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """``medimg evaluate RUN OTHER`` where OTHER holds the run's training images with redrawn masks: taken for the
    run's own data (its images matched), its scores replaced the fit's test report and the service's model card."""
    import logging
    import shutil

    import numpy as np
    from PIL import Image
    from tests.serve.support import train_tiny_segmentation_run

    run = train_tiny_segmentation_run(tmp_path_factory)
    own = (run / "report" / "report.json").read_text()
    other = tmp_path / "discs_redrawn"
    shutil.copytree(run.parent / "discs", other)
    for mask in (other / "masks").iterdir():
        Image.fromarray(np.roll(np.asarray(Image.open(mask)), 12, axis=1)).save(mask)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        Model.load(run).evaluate(other)
    assert "holds this run's training images with other annotations" in caplog.text
    assert (run / "report" / "report.json").read_text() == own
    assert (run / "evaluations" / "discs_redrawn-all" / "report.json").is_file()
