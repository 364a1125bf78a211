"""Report building, JSON round trip, self-contained HTML and write_report."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ConfigError, MedimgError
from medimg.evaluation.report import ClassificationReport, build_classification_report, write_report

NAMES = ["normal", "<b>dysplasia</b> & co", 'carcinoma "in situ"']


def _data(n: int = 90, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def _report(k: int = 3, names: list[str] | None = None) -> tuple[ClassificationReport, np.ndarray, np.ndarray]:
    y, p = _data(k=k)
    report = build_classification_report(
        y,
        p,
        names or NAMES[:k],
        split="test",
        model_name="resnet18 <v2>",
        dataset_name="Herlev & friends",
        case_ids=[f"case-{i}" for i in range(len(y))],
        extra={
            "training_time_s": 12.5,
            "plan": {"image_size": np.array([224, 224])},
            "note": "<script>x</script>",
        },
        n_resamples=200,
    )
    return report, y, p


def test_build_report_contents() -> None:
    report, y, p = _report()
    assert report.metrics["n"] == len(y)
    assert set(report.confidence_intervals) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}
    assert report.split == "test" and report.created.endswith("+00:00")
    assert report.predictions is not None and len(report.predictions) == len(y)
    row = report.predictions[0]
    assert row["case_id"] == "case-0"
    assert row["true_label"] == NAMES[y[0]]
    assert row["predicted_label"] == NAMES[int(p[0].argmax())]
    assert row["probabilities"][NAMES[1]] == pytest.approx(p[0, 1])
    with pytest.raises(ConfigError, match="case_ids"):
        build_classification_report(y, p, NAMES, split="t", model_name="m", dataset_name="d", case_ids=["a"])


def test_json_round_trip(tmp_path: Path) -> None:
    report, _, _ = _report()
    path = report.save_json(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["format"] == "medimg.classification_report"
    assert data["extra"]["plan"]["image_size"] == [224, 224]  # numpy converted
    loaded = ClassificationReport.from_json(path)
    report.extra["plan"]["image_size"] = [224, 224]
    assert loaded == report
    assert loaded.to_json() == report.to_json()


def test_from_json_errors(tmp_path: Path) -> None:
    with pytest.raises(MedimgError, match="does not exist"):
        ClassificationReport.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MedimgError, match="cannot read report"):
        ClassificationReport.from_json(bad)
    bad.write_text(json.dumps({"metrics": {}}))
    with pytest.raises(MedimgError, match="lacks required field"):
        ClassificationReport.from_json(bad)


def test_html_is_escaped_self_contained_and_shows_cis(tmp_path: Path) -> None:
    report, y, p = _report()
    paths = write_report(report, tmp_path, y_true=y, probabilities=p, history=[{"epoch": 1, "val_loss": 0.5}])
    page = paths["html"].read_text(encoding="utf-8")
    # escaped user strings, never raw
    assert "&lt;b&gt;dysplasia&lt;/b&gt; &amp; co" in page
    assert "<b>dysplasia" not in page
    assert "carcinoma &quot;in situ&quot;" in page
    assert "resnet18 &lt;v2&gt;" in page and "Herlev &amp; friends" in page
    assert "<script" not in page.lower()  # also: no JavaScript at all
    # self-contained: images embedded, no external resources
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@media print" in page
    # headline values with CIs, formatted as in the table
    ci = report.confidence_intervals["accuracy"]
    assert f"{ci['value']:.3f}" in page and f"{ci['low']:.3f} – {ci['high']:.3f}" in page
    auc = report.confidence_intervals["roc_auc"]
    assert f"{auc['low']:.3f} – {auc['high']:.3f}" in page
    assert "95% CI" in page
    assert "not a medical device" in page and "How to read this" in page
    for key in ("Precision", "Recall (sensitivity)", "Specificity", "Support"):
        assert key in page


def test_html_binary_mentions_positive_class_and_handles_undefined_auc() -> None:
    y = np.zeros(6, dtype=int)
    p = np.tile([0.8, 0.2], (6, 1))
    report = build_classification_report(
        y, p, ["benign", "malignant"], split="val", model_name="m", dataset_name="d", n_resamples=20
    )
    page = report.to_html()
    assert "Positive class: <strong>malignant</strong>" in page
    assert "ROC AUC is undefined" in page
    assert "data:image" not in page  # no figures given


def test_write_report_files_and_atomicity(tmp_path: Path) -> None:
    report, y, p = _report(k=2, names=["neg", "pos"])
    out = tmp_path / "eval"
    paths = write_report(report, out, y_true=y, probabilities=p)
    assert set(paths) == {"json", "html", "roc", "confusion_matrix", "reliability", "predictions"}
    assert sorted(f.name for f in out.iterdir()) == sorted(
        ["report.json", "report.html", "roc.png", "confusion_matrix.png", "reliability.png", "predictions.csv"]
    )
    assert ClassificationReport.from_json(paths["json"]).metrics == report.metrics
    with pytest.raises(ConfigError, match="cases"):
        write_report(report, out, y_true=y[:-1], probabilities=p[:-1])


def test_failed_save_keeps_previous_report(tmp_path: Path) -> None:
    report, _, _ = _report()
    path = report.save_json(tmp_path / "report.json")
    before = path.read_bytes()
    report.extra["bad"] = object()
    with pytest.raises(ConfigError, match=r"\$\.extra\.bad"):
        report.save_json(path)
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["report.json"]


def test_the_per_image_predictions_are_a_csv_beside_the_report(tmp_path: Path) -> None:
    """Researchers had the per-image predictions only inside report.json (segmentation wrote per_case.csv)."""
    import csv

    report, y, p = _report()
    paths = write_report(report, tmp_path, y_true=y, probabilities=p)
    rows = list(csv.DictReader(paths["predictions"].open(encoding="utf-8")))
    names = report.metrics["class_names"]
    assert len(rows) == len(y) == report.metrics["n"]
    for row, true, chances in zip(rows, y, p, strict=True):
        assert row["true_label"] == names[int(true)] and row["predicted_label"] == names[int(chances.argmax())]
        assert row["correct"] == str(int(true == chances.argmax()))
        assert [float(row[f"p_{n}"]) for n in names] == pytest.approx(list(chances), abs=1e-6)
