"""A service report says what the model was trained on and how it measured on its own held-out test split (before:
the clinician saw a prediction and a heatmap with nothing to judge the model by)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from medimg.serve import model_card
from tests.serve.support import phantom_file, service_client


def test_a_report_states_the_training_size_and_the_tested_performance(deploy_run: Path, tmp_path: Path) -> None:
    own = json.loads((deploy_run / "report" / "report.json").read_text())
    training = json.loads((deploy_run / "metadata.json").read_text())["training"]
    with service_client(deploy_run, tmp_path / "reports.db") as (client, headers):
        sent = {"file": ("image.png", phantom_file(deploy_run).read_bytes(), "application/octet-stream")}
        report = client.post("/v1/predictions", headers=headers, files=sent).json()
        page = client.get(f"/v1/reports/{report['id']}?format=html", headers=headers).text
        listed = client.get("/v1/models", headers=headers).json()
    performance = report["model"]["performance"]
    assert performance["n"] == own["metrics"]["n"] and performance["split"] == "test"
    assert performance["metrics"]["accuracy"]["value"] == own["metrics"]["accuracy"]
    assert performance["metrics"]["accuracy"]["low"] == own["confidence_intervals"]["accuracy"]["low"]
    assert report["model"]["training_counts"] == {
        "train_images": training["train_images"],
        "val_images": training["val_images"],
    }
    assert "About the model" in page
    assert f"Trained on {training['train_images']:,} images ({training['val_images']:,} more for validation)" in page
    assert f"On its {own['metrics']['n']:,} held-out test images" in page
    assert f"accuracy {own['metrics']['accuracy']:.3f}" in page
    assert json.dumps(listed).count('"performance"') >= 1  # GET /v1/models shows it too


def test_a_run_without_a_test_report_or_with_an_unreadable_one_states_only_its_training(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    assert model_card.tested_performance(run) is None
    (run / "report").mkdir()
    (run / "report" / "report.json").write_text("{not json")
    assert model_card.tested_performance(run) is None
    info = {"training_counts": model_card.training_counts({"train_images": 120, "val_images": "x"})}
    assert model_card.performance_text(info) == "Trained on 120 images."
    assert model_card.performance_text({}) is None  # reports stored before this was recorded


def test_undefined_metrics_are_left_out_and_missing_intervals_not_invented(deploy_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(deploy_run / "report", run / "report")
    path = run / "report" / "report.json"
    report = json.loads(path.read_text())
    report["metrics"]["roc_auc"] = None  # one class in the test split
    report["confidence_intervals"].pop("accuracy", None)
    path.write_text(json.dumps(report))
    performance = model_card.tested_performance(run)
    assert performance is not None and "roc_auc" not in performance["metrics"]
    text = model_card.performance_text({"performance": performance}) or ""
    assert f"accuracy {report['metrics']['accuracy']:.3f}," in text or text.endswith(
        f"accuracy {report['metrics']['accuracy']:.3f} (95% intervals). Measured on images from the same source as"
        " the training images; images from other scanners or sites may score lower."
    )
    assert "ROC AUC" not in text
