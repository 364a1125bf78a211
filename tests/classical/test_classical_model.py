"""ClassicalModel through the facade: fit/save/load/evaluate/predict, CLI, options and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.classical.model import ClassicalModel
from medimg.classical.pipelines import ESTIMATOR_NAMES, make_pipeline, search_and_fit
from medimg.errors import ConfigError, DatasetError, NotFittedError
from medimg.model import CLASSICAL_MODELS
from tests.conftest import write_npz
from tests.features.conftest import make_cells, make_rgb_with_odd_files


def test_registry_names_match_the_facade():
    assert set(ESTIMATOR_NAMES) == set(CLASSICAL_MODELS)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_every_pipeline_learns_a_separable_problem(name):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)  # gradient boosting's leaves hold 20 samples: give each fold enough
    X = rng.normal(size=(120, 6)) + y[:, None] * 2.0
    X[3, 2] = np.nan  # a NaN feature never reaches the classifier
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # no OpenMP oversubscription on a shared CPU
        result = search_and_fit(name, X, y, cv_folds=2)
    proba = result.pipeline.predict_proba(X)
    assert np.isfinite(proba).all() and ((proba[:, 1] > 0.5) == y).mean() > 0.9
    assert result.candidates >= 1 and 0.5 < result.cv_score <= 1.0


def test_feature_selection_is_searched():
    pipeline, grid = make_pipeline("logistic-regression", n_features=10, select_features=True)
    assert "select" in pipeline.named_steps and grid["select__percentile"] == [25, 50, 100]


def test_search_needs_two_classes_with_two_images():
    with pytest.raises(DatasetError, match="single class"):
        search_and_fit("svm", np.zeros((5, 2)), np.zeros(5, int))
    with pytest.raises(DatasetError, match="only 1 training image"):
        search_and_fit("svm", np.zeros((5, 2)), np.array([0, 0, 0, 0, 1]))


def test_fit_load_evaluate_predict_like_a_deep_model(tmp_path):
    cells = make_cells(tmp_path / "cells", n_per_class=20)
    model = Model("decision-tree", features="handcrafted", masks="herlev", cv_folds=3, n_jobs=1)
    assert model.backend == "sklearn" and isinstance(model._classical, ClassicalModel)  # the one facade
    model.fit(cells, exclude="*-d.bmp", run_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.json", "splits.json", "metadata.json", "features.json", "search.json", "model.joblib"):
        assert (run / name).is_file(), name
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["network"] == "decision-tree" and metadata["task"] == "classify"
    report = json.loads((run / "report" / "report.json").read_text())
    assert (run / "report" / "report.html").is_file() and report["metrics"]["accuracy"] >= 0.8
    loaded = Model.load(run)
    assert loaded.backend == "sklearn" and loaded.class_names_ == model.class_names_
    assert loaded.estimator_ is not None and loaded.extractor_ is not None
    val = loaded.evaluate(split="val")
    assert val.split == "val" and "roc_auc" in val.confidence_intervals
    predictions = loaded.predict(cells / "abnormal_cell")
    assert len(predictions) == 20  # mask files next to the images are not predicted themselves
    assert sum(p.label == "abnormal_cell" for p in predictions) >= 16
    assert abs(sum(predictions[0].probabilities.values()) - 1) < 1e-6
    with pytest.raises(ConfigError, match="deep model"):
        loaded.predict(cells / "abnormal_cell", explain="gradcam")
    # `medimg export` of it says a classical model has no ONNX export (was: "load it with medimg.Model.load")
    from medimg.bundle import load_bundle
    from medimg.errors import RunFolderError

    with pytest.raises(RunFolderError, match=r"a classical model .* has no ONNX export"):
        load_bundle(run)


def test_same_splits_as_the_deep_models(tmp_path):
    from medimg.data.dataset import Dataset
    from medimg.data.splits import make_splits

    cells = make_cells(tmp_path / "cells", n_per_class=12)
    Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1).fit(
        cells, exclude="*-d.bmp", run_dir=tmp_path / "run", progress=False, seed=3
    )
    saved = json.loads((tmp_path / "run" / "splits.json").read_text())["assignment"]
    ds = Dataset.load(cells, exclude="*-d.bmp")
    assert saved == make_splits(ds.cases, seed=3).assignment


def test_npz_dataset_and_cli_fit_evaluate_predict(tmp_path):
    from typer.testing import CliRunner

    from medimg.cli.app import app

    npz = write_npz(tmp_path / "tiny.npz", shape=(16, 16), n=(40, 12, 12))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "fit",
            str(npz),
            "--model",
            "svm",
            "--features",
            "first-order,glcm",
            "--set",
            "cv_folds=3",
            "--run-dir",
            str(tmp_path / "svm"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "svm"), "--split", "val"])
    assert result.exit_code == 0, result.output
    from PIL import Image

    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(tmp_path / "bright.png")
    result = runner.invoke(app, ["predict", str(tmp_path / "svm"), str(tmp_path / "bright.png")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["label"] == "class_1"


def test_bad_options_are_clear_errors(tmp_path):
    npz = write_npz(tmp_path / "tiny.npz", shape=(16, 16), n=(20, 6, 6))
    with pytest.raises(ConfigError, match="does not apply"):
        Model("svm", epochs=3).fit(npz, run_dir=tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="unknown features"):
        Model("svm", features="radiomix").fit(npz, run_dir=tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="folds"):
        Model("svm").fit(npz, run_dir=tmp_path / "c", progress=False, folds=3)
    with pytest.raises(NotFittedError):
        Model("svm").predict(tmp_path / "x.png")


def test_a_nan_feature_is_imputed_and_reported(tmp_path):
    cells = make_cells(tmp_path / "cells", n_per_class=12)
    # one cell without nucleus pixels: its nucleus features are undefined (NaN) and must be imputed
    from PIL import Image

    mask_file = cells / "abnormal_cell" / "cell000-d.bmp"
    mask = np.asarray(Image.open(mask_file).convert("RGB")).copy()
    mask[np.all(mask == (0, 0, 255), axis=-1)] = (255, 0, 0)
    Image.fromarray(mask).save(mask_file)
    model = Model("logistic-regression", features="first-order,shape", masks="herlev", cv_folds=2, n_jobs=1)
    model.fit(cells, exclude="*-d.bmp", run_dir=tmp_path / "run", progress=False, test_fraction=0.3)
    features = json.loads((tmp_path / "run" / "features.json").read_text())
    report = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    total = sum(features["nonfinite_train"].values()) + sum(report["extra"]["nonfinite_columns"].values())
    assert total > 0 and "imputation" in features
    assert all(np.isfinite(p) for row in report["predictions"] for p in row["probabilities"].values())


def _patients_csv(root, n_patients=32, per_patient=4, seed=8):
    """Several near-identical images per patient; labels drawn per patient, unrelated to the pixels."""
    import csv

    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for p in range(n_patients):
        label = ("benign", "malignant")[p % 2]
        base = rng.normal(120, 30, (16, 16)) * rng.uniform(0.5, 1.5) + rng.uniform(-40, 40)
        for k in range(per_patient):
            image = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
            name = f"images/scan_{p:03d}_{k}.png"
            Image.fromarray(image).save(root / name)
            rows.append([name, label, f"PT{p:03d}"])
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "patient_id"])
        writer.writerows(rows)
    return root / "labels.csv"


def test_cv_search_is_grouped_by_patient(tmp_path):
    # images of one patient on both sides of a CV fold reward memorising patients: the search then reported a
    # CV ROC AUC near 1 on data with no signal at all and chose the least regularised settings
    from threadpoolctl import threadpool_limits

    csv_file = _patients_csv(tmp_path / "data")
    with threadpool_limits(limits=1):
        Model("logistic-regression", features="first-order,glcm", cv_folds=3, n_jobs=1).fit(
            csv_file, run_dir=tmp_path / "run", progress=False, seed=0
        )
    search = json.loads((tmp_path / "run" / "search.json").read_text())
    assert search["cv_grouped_by"] == "patient"
    assert search["best_cv_score"] < 0.7, search  # chance level (ungrouped: about 0.9)


def test_search_uses_the_given_folds_for_the_search_and_the_svm_calibration():
    from sklearn.model_selection import PredefinedSplit

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    X = rng.normal(size=(24, 3)) + y[:, None]
    fold_of = np.arange(24) % 3
    result = search_and_fit("svm", X, y, cv_folds=5, fold_of=fold_of)
    assert result.cv_folds == 3
    calibration = result.pipeline.named_steps["clf"]
    assert isinstance(calibration.cv, PredefinedSplit)
    assert (calibration.cv.test_fold == fold_of).all()


def test_fit_converts_odd_channels_and_skips_other_dimensions_like_deep_fit(tmp_path):
    # a grey image among RGB ones (sorting first) aborted the fit, blaming a normal RGB file, and a multi-page
    # TIFF among 2D images aborted it in the test evaluation; check and deep fit convert / skip them
    data = make_rgb_with_odd_files(tmp_path / "data")
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(data, run_dir=tmp_path / "run", progress=False)
    training = json.loads((tmp_path / "run" / "metadata.json").read_text())["training"]
    report = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    skipped = [path for path, _ in training["skipped_files"] + report["extra"]["skipped_files"]]
    assert [p.rsplit("/", 1)[-1] for p in skipped] == ["stack.tif"]
    predictions = model.predict([data / "a" / "000.png", data / "b" / "stack.tif"])
    assert [p.source.rsplit("/", 1)[-1] for p in predictions] == ["000.png"]
    assert [p.rsplit("/", 1)[-1] for p, _ in model.failed_] == ["stack.tif"]


def test_a_failed_fit_can_be_rerun_into_its_run_folder_and_a_trained_one_is_kept(tmp_path):
    # a fit that failed after writing config.json, dataset.json and splits.json left a folder medimg then refused
    # as "not a medimg run" (its config.json lacked the keys medimg knows its runs by); a trained run was
    # silently overwritten
    from PIL import Image

    from medimg.errors import RunFolderError

    cells = make_cells(tmp_path / "cells", n_per_class=8)
    good = {path: path.read_bytes() for path in (cells / "normal_cell").glob("*-d.bmp")}
    for path in good:  # masks of the wrong size: the training split's extraction fails
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    model = Model("logistic-regression", features="first-order", masks="herlev", cv_folds=2, n_jobs=1)
    run = tmp_path / "run"
    with pytest.raises(DatasetError, match="must match its image"):
        model.fit(cells, exclude="*-d.bmp", run_dir=run, progress=False)
    assert (run / "config.json").is_file() and not (run / "metadata.json").exists()
    for path, content in good.items():  # the user fixes the data and runs the same command again
        path.write_bytes(content)
    model.fit(cells, exclude="*-d.bmp", run_dir=run, progress=False)
    assert (run / "report" / "report.json").is_file()
    with pytest.raises(RunFolderError, match="already holds a trained run"):
        model.fit(cells, exclude="*-d.bmp", run_dir=run, progress=False)


def test_evaluations_of_two_sites_of_one_folder_name_keep_both_reports(tmp_path):
    """A classical model's evaluation of siteB/external replaced siteA/external's report (one folder,
    evaluations/external-all) and wrote no evaluated.json; evaluate(X, y) of other arrays did the same."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = (rng.normal(60, 10, (40, 16, 16)) + y[:, None, None] * 80).clip(0, 255).astype(np.uint8)
    model = Model("decision-tree", cv_folds=2, n_jobs=1)
    model.fit(X, y, class_names=["normal", "lesion"], run_dir=tmp_path / "run", progress=False)
    for site, n in (("siteA", 6), ("siteB", 10)):
        for label in ("normal", "lesion"):
            folder = tmp_path / site / "external" / label
            folder.mkdir(parents=True)
            for i in range(n // 2):
                value = 60 + 80 * (label == "lesion")
                Image.fromarray(np.full((16, 16), value, np.uint8)).save(folder / f"{i}.png")
    model.evaluate(tmp_path / "siteA" / "external", split="all")
    first = model.last_report_dir_
    model.evaluate(tmp_path / "siteB" / "external", split="all")
    second = model.last_report_dir_
    assert first != second and second.name == "external-all-2"
    assert len(json.loads((first / "report.json").read_text())["predictions"]) == 6
    recorded = json.loads((second / "evaluated.json").read_text())
    assert recorded["data"].endswith("siteB/external") and recorded["split"] == "all"
    model.evaluate(X[:10], y[:10])
    arrays_first = model.last_report_dir_
    model.evaluate(X[10:], y[10:])
    assert model.last_report_dir_ != arrays_first and (arrays_first / "report.json").is_file()


def test_evaluating_a_copy_holding_training_images_warns_as_for_a_deep_model(tmp_path, caplog):
    """``medimg evaluate RUN OTHER`` of an SVM whose OTHER folder held 20 of its training images: accuracy 1.0 and
    no word (a deep model's run warns "20 of the 24 images ... are this run's training or validation images")."""
    import logging
    import shutil

    cells = make_cells(tmp_path / "cells", n_per_class=12)
    model = Model("svm", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(cells, exclude="*-d.bmp", run_dir=tmp_path / "run", progress=False)
    assignment = json.loads((tmp_path / "run" / "splits.json").read_text())["assignment"]
    other = tmp_path / "other"
    learnt = [name for name, split in assignment.items() if split == "train"][:6]
    for name in learnt:
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(cells / name, other / name)
    for k, name in enumerate(("normal_cell", "abnormal_cell")):
        (other / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((24, 24, 3), 90 + 40 * k, np.uint8)).save(other / name / "new_one.bmp")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        Model.load(tmp_path / "run").evaluate(other, exclude="*-d.bmp", out_dir=tmp_path / "report")
    assert f"{len(learnt)} of the {len(learnt) + 2} images of {other} are this run's training" in caplog.text


def test_a_classical_model_checks_each_input_against_its_training_domain(tmp_path, caplog):
    """``medimg predict SVM_RUN gray16.png tiny.png``: both got the same confident "benign 0.88", no word and no
    in_domain column, where a deep model's run flags both."""
    import logging

    cells = make_cells(tmp_path / "cells", n_per_class=12)
    model = Model("svm", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(cells, exclude="*-d.bmp", run_dir=tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "fingerprint.json").read_text())["domain"]["channels"]
    noise = tmp_path / "noise16.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 65535, (10, 10)).astype(np.uint16)).save(noise)
    loaded = Model.load(tmp_path / "run")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        outside, inside = loaded.predict([noise, cells / "normal_cell" / "cell000.bmp"])
    assert outside.domain is not None and outside.domain["in_domain"] is False and outside.domain["reasons"]
    assert inside.domain == {"in_domain": True, "reasons": []}
    assert "noise16.png is outside the model's training domain" in caplog.text
    assert loaded.predict([noise], strict=True) == [] and "refused by --strict" in loaded.failed_[0][1]
