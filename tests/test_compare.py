"""``medimg compare`` end to end on tiny data, the paired tests, the comparison page and class grouping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.errors import ConfigError
from medimg.evaluation.paired import delong_test, paired_bootstrap
from tests.conftest import write_npz
from tests.features.conftest import make_cells


def test_compare_deep_and_classical_on_the_same_split(tmp_path: Path) -> None:
    npz = write_npz(tmp_path / "tiny.npz", shape=(16, 16), n=(48, 16, 24))
    arrays = dict(np.load(npz))
    arrays["train_images"][0] = 0  # a blank image: the check leaves it out of every model's data
    np.savez(npz, **arrays)
    out = tmp_path / "cmp"
    result = CliRunner().invoke(
        app,
        ["compare", str(npz), "--models", "simple-cnn,logistic-regression,decision-tree", "--features",
         "first-order", "--epochs", "1", "--cv-folds", "2", "--out", str(out), "--no-progress",
         "--n-resamples", "200", "--timing-images", "8", "--reference", "auto-sklearn:accuracy=0.855,roc_auc=0.942"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((out / "comparison.json").read_text())
    rows = {r["model"]: r for r in record["rows"]}
    assert set(rows) == {"simple-cnn", "logistic-regression", "decision-tree", "auto-sklearn"}
    assert rows["auto-sklearn"]["reference"] and rows["auto-sklearn"]["metrics"]["accuracy"]["value"] == 0.855
    for name in ("simple-cnn", "logistic-regression", "decision-tree"):
        row = rows[name]
        assert row["n_test"] == 24 and row["inference_ms_per_image"] > 0 and row["train_time_s"] is not None
        auc = row["metrics"]["roc_auc"]
        assert auc["low"] <= auc["value"] <= auc["high"]
    methods = {t["method"] for t in record["paired_tests"]}
    assert methods == {"delong", "paired-bootstrap"}
    html = (out / "comparison.html").read_text()
    assert "Paired test" in html and "auto-sklearn" in html and "<script" not in html
    assert (out / "comparison.csv").read_text().count("\n") == 5
    assert "| model |" in result.output
    # every model saw the same split
    trained = [m for m in rows if m != "auto-sklearn"]
    splits = {json.dumps(json.loads((out / m / "splits.json").read_text())["assignment"]) for m in trained}
    assert len(splits) == 1
    assert any("(87 images; 1 left out, see each run's dataset.json" in note for note in record["notes"])


def test_group_classes_into_a_binary_task(tmp_path: Path) -> None:
    from medimg.cli.compare import write_grouped_manifest
    from medimg.data.dataset import Dataset

    cells = make_cells(tmp_path / "cells", n_per_class=4)
    ds = Dataset.load(cells, exclude="*-d.bmp")
    manifest = write_grouped_manifest(ds, ["normal=normal_*", "abnormal=*"], tmp_path / "m.csv")
    grouped = Dataset.load(manifest)
    assert sorted(grouped.class_names) == ["abnormal", "normal"] and len(grouped) == 8
    with pytest.raises(ConfigError, match="matches no"):
        write_grouped_manifest(ds, ["normal=normal_*"], tmp_path / "x.csv")
    with pytest.raises(ConfigError, match="into one"):
        write_grouped_manifest(ds, ["all=*"], tmp_path / "x.csv")


def test_delong_matches_bootstrap_and_detects_a_real_difference() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 150)
    good = y + rng.normal(0, 0.6, y.size)
    bad = y + rng.normal(0, 2.0, y.size)
    result = delong_test(y, good, bad)
    assert result.value_a > result.value_b and result.p_value is not None and result.p_value < 0.01
    assert result.low is not None and result.low > 0
    from sklearn.metrics import roc_auc_score

    assert result.value_a == pytest.approx(roc_auc_score(y, good))
    proba = lambda s: np.column_stack([1 - 1 / (1 + np.exp(-s)), 1 / (1 + np.exp(-s))])  # noqa: E731
    boot = paired_bootstrap(y, proba(good), proba(bad), metric="roc_auc", n_resamples=500)
    assert boot.difference == pytest.approx(result.difference)
    assert boot.p_value is not None and boot.p_value < 0.01
    same = delong_test(y, good, good)
    assert same.difference == 0 and same.p_value is None
    null = delong_test(y, good, good + rng.normal(0, 1e-3, y.size))
    assert null.p_value is not None and null.p_value > 0.05


def test_paired_bootstrap_rejects_mismatched_inputs() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.full((4, 2), 0.5)
    with pytest.raises(ConfigError):
        paired_bootstrap(y, p, np.full((4, 3), 1 / 3))
    with pytest.raises(ConfigError):
        paired_bootstrap(y, p, p, metric="nope")
    with pytest.raises(ConfigError):
        delong_test(np.zeros(4), p[:, 1], p[:, 1])


def test_compare_on_segmentation_data_says_it_compares_classifiers(tmp_path: Path) -> None:
    """`medimg compare seg2d --models unet,basicunet`: "looks like segmentation data ... pass task='segment' (CLI:
    --task segment)", and then "No such option: --task"."""
    from PIL import Image

    for i in range(4):
        for folder in ("images", "masks"):
            (tmp_path / "seg2d" / folder).mkdir(parents=True, exist_ok=True)
            pixels = np.zeros((8, 8), np.uint8)
            pixels[2:6, 2:6] = 1 if folder == "masks" else 200
            Image.fromarray(pixels).save(tmp_path / "seg2d" / folder / f"case_{i}.png")
    from medimg.cli.compare import compare

    with pytest.raises(ConfigError) as refused:
        compare(None, tmp_path / "seg2d", models="unet,basicunet")  # type: ignore[arg-type]
    said = str(refused.value)
    assert "is segmentation data" in said and "compares classifiers" in said and "--task segment" in said
