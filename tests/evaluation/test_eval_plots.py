"""Figures: valid non-empty PNG files, headless and without pyplot."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ConfigError
from medimg.evaluation import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000  # a real rendered figure, not an empty canvas
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def _data(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 4])
def test_roc_and_reliability(tmp_path: Path, k: int) -> None:
    y, p = _data(120, k)
    names = [f"class {i}" for i in range(k)]
    out = plots.plot_roc(y, p, names, tmp_path / "roc.png")
    assert out == tmp_path / "roc.png"
    _assert_png(out)
    _assert_png(plots.plot_reliability(y, p, tmp_path / "rel.png"))


def test_roc_with_a_single_class_still_draws(tmp_path: Path) -> None:
    _assert_png(plots.plot_roc(np.zeros(5, int), np.tile([0.6, 0.4], (5, 1)), ["a", "b"], tmp_path / "r.png"))


@pytest.mark.parametrize("normalize", [True, False])
def test_confusion_matrix(tmp_path: Path, normalize: bool) -> None:
    cm = [[50, 3, 0], [4, 20, 1], [0, 0, 0]]  # an empty row must not divide by zero
    _assert_png(plots.plot_confusion_matrix(cm, ["a", "b", "c"], tmp_path / "cm.png", normalize=normalize))
    with pytest.raises(ConfigError, match="square"):
        plots.plot_confusion_matrix([[1, 2, 3]], ["a"], tmp_path / "bad.png")
    with pytest.raises(ConfigError, match="2 class names"):
        plots.plot_confusion_matrix(cm, ["a", "b"], tmp_path / "bad.png")
    with pytest.raises(ConfigError, match="non-negative"):
        plots.plot_confusion_matrix([[1, -1], [0, 1]], ["a", "b"], tmp_path / "bad.png")


def test_training_curves_with_missing_and_nan_values(tmp_path: Path) -> None:
    history: list[dict[str, object]] = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_auc": 0.6 + 0.03 * e, "lr": 1e-3 / e}
        for e in range(1, 11)
    ]
    history[3]["val_auc"] = float("nan")
    history[4].pop("val_loss")
    history[5]["note"] = "restarted"  # non-numeric values are ignored
    _assert_png(plots.plot_training_curves(history, tmp_path / "curves.png"))
    _assert_png(plots.plot_training_curves([{"val_auc": 0.7}, {"val_auc": 0.8}], tmp_path / "only_metric.png"))


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ([], "non-empty"),
        ({"epoch": 1}, "non-empty"),
        ([{"epoch": 1, "phase": "a"}], "no numeric"),
        ([1], "row 0"),
    ],
)
def test_training_curves_errors(tmp_path: Path, history: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plots.plot_training_curves(history, tmp_path / "x.png")  # type: ignore[arg-type]
    assert not (tmp_path / "x.png").exists()


def test_parallel_plotting_in_threads(tmp_path: Path) -> None:
    y, p = _data(60, 3)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            plots.plot_roc(y, p, ["a", "b", "c"], tmp_path / f"roc{i}.png")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(4):
        _assert_png(tmp_path / f"roc{i}.png")


def test_plots_do_not_import_pyplot_and_need_no_display(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from medimg.evaluation import plots\n"
        "y, p = np.array([0, 1, 1]), np.array([[.8, .2], [.3, .7], [.6, .4]])\n"
        "plots.plot_reliability(y, p, sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.png")], check=True, env=env, timeout=60)
    _assert_png(tmp_path / "r.png")


def test_binary_roc_marks_the_decisions_the_report_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 negatives (one called positive) and 4 positives (three called positive): specificity 0.75, sensitivity 0.75
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    positive = np.array([0.1, 0.2, 0.3, 0.7, 0.4, 0.6, 0.8, 0.9])
    p = np.stack([1 - positive, positive], axis=1)
    figures = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or real_save(fig, path))
    _assert_png(plots.plot_roc(y, p, ["normal", "pneumonia"], tmp_path / "roc.png"))
    ax = figures[0].axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "the model's decisions: sensitivity 0.750, specificity 0.750" in labels
    marker = next(line for line in ax.get_lines() if line.get_label().startswith("the model's decisions"))
    assert (float(marker.get_xdata()[0]), float(marker.get_ydata()[0])) == (0.25, 0.75)
