"""Evaluation figures as PNG files: ROC curves, confusion matrix, reliability diagram, training curves.

Figures are built with :class:`matplotlib.figure.Figure` and rendered by the Agg canvas directly, never
through ``pyplot``: no global state, no display needed, safe to call from several threads. Every file is
written atomically (see :mod:`medimg.fileio`).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import NDArray

from medimg.errors import ConfigError
from medimg.evaluation.calibration import reliability_bins
from medimg.evaluation.inputs import validate_inputs
from medimg.evaluation.metrics import weighted_auc
from medimg.fileio import atomic_write_bytes

__all__ = ["plot_confusion_matrix", "plot_finding_rocs", "plot_reliability", "plot_roc", "plot_training_curves"]

_DPI = 120
_ACCENT = "#1f5f99"
_CHANCE = "#9a9a9a"


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Render ``fig`` with the Agg canvas and write it to ``path`` as PNG, atomically."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", pad_inches=0.1)  # no label cut off
    return atomic_write_bytes(path, buffer.getvalue())


def _roc_points(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """ROC curve vertices ``(fpr, tpr)``, one per distinct threshold, starting at (0, 0)."""
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], positive[order]
    last_of_group = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(pos)[last_of_group]
    fp = np.cumsum(~pos)[last_of_group]
    tpr = np.r_[0.0, tp / max(int(pos.sum()), 1)]
    fpr = np.r_[0.0, fp / max(int((~pos).sum()), 1)]
    return fpr, tpr


def _auc_value(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> float:
    return float(weighted_auc(np.ones((1, scores.size)), positive, scores)[0])


def decision_point(y: NDArray[np.int64], probabilities: NDArray[np.float64]) -> tuple[float, float]:
    """Where a two-class model's decisions sit on its ROC curve: ``(false positive rate, true positive rate)`` of
    the more probable class (the report's decisions: an operating point chosen on validation is folded into the
    probabilities), so the curve shows the operating point the reported sensitivity and specificity belong to."""
    predicted = probabilities.argmax(axis=1) == 1
    positive = y == 1
    return float(predicted[~positive].mean()), float(predicted[positive].mean())


def _square_roc_axes(fig: Figure) -> Any:
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], linestyle="--", color=_CHANCE, linewidth=1, label="chance (AUC = 0.5)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("False positive rate (1 − specificity)")
    ax.set_ylabel("True positive rate (sensitivity)")
    ax.grid(True, alpha=0.3)
    return ax


def plot_roc(y_true: Any, probabilities: Any, class_names: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """Plot ROC curves to a PNG file.

    Binary: one curve for the positive class (column 1) with its AUC in the legend, and a dot at the model's
    decisions (its sensitivity and specificity, as the report's confusion matrix counts them). Multi-class: a
    one-vs-rest curve per class present in ``y_true`` plus the macro-average curve (mean TPR on a common FPR
    grid) labelled with the macro AUC.

    Args:
        y_true: ``(N,)`` int class indices.
        probabilities: ``(N, K)`` float class probabilities.
        class_names: ``K`` class names.
        path: Destination ``.png`` file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: Invalid inputs.
    """
    y, p = validate_inputs(y_true, probabilities, class_names)
    names = [str(c) for c in class_names]
    k = p.shape[1]
    fig = Figure(figsize=(6.0, 6.0))
    ax = _square_roc_axes(fig)
    present = [c for c in range(k) if 0 < int((y == c).sum()) < y.size]
    if k == 2:
        title = f"ROC curve — positive class: {names[1]}"
        if present:
            fpr, tpr = _roc_points(y == 1, p[:, 1])
            auc = _auc_value(y == 1, p[:, 1])
            ax.plot(fpr, tpr, color=_ACCENT, linewidth=2, label=f"{names[1]} (AUC = {auc:.3f})")
            point_fpr, point_tpr = decision_point(y, p)
            ax.plot(
                [point_fpr],
                [point_tpr],
                marker="o",
                markersize=8,
                linestyle="none",
                color=_ACCENT,
                markeredgecolor="black",
                label=f"the model's decisions: sensitivity {point_tpr:.3f}, specificity {1 - point_fpr:.3f}",
            )
    else:
        title = "ROC curves — one-vs-rest"
        colors = _class_colors(k)
        _macro_roc_curves(ax, [(names[c], y == c, p[:, c]) for c in present], [colors[c] for c in present])
    if not present:
        ax.text(0.5, 0.55, "ROC undefined:\nonly one class in y_true", ha="center", va="center", fontsize=12)
    ax.set_title(title, fontsize=11)
    ax.legend(loc="lower right", fontsize=8 if k <= 8 else 6, framealpha=0.9)
    fig.tight_layout()
    return _save(fig, path)


def _macro_roc_curves(
    ax: Any, curves: Sequence[tuple[str, NDArray[np.bool_], NDArray[np.float64]]], colors: Sequence[Any]
) -> None:
    """One ROC curve per ``(name, positive, scores)`` and their macro average (mean TPR on a common FPR grid)."""
    grid = np.linspace(0.0, 1.0, 201)
    tprs, aucs = [], []
    for (name, positive, scores), color in zip(curves, colors, strict=True):
        fpr, tpr = _roc_points(positive, scores)
        auc = _auc_value(positive, scores)
        tprs.append(np.interp(grid, fpr, tpr))
        aucs.append(auc)
        ax.plot(fpr, tpr, color=color, linewidth=1.3, alpha=0.9, label=f"{name} (AUC = {auc:.3f})")
    if tprs:
        mean_tpr = np.mean(tprs, axis=0)
        mean_tpr[0] = 0.0
        ax.plot(grid, mean_tpr, color="black", linewidth=2.4, label=f"macro average (AUC = {np.mean(aucs):.3f})")


def plot_finding_rocs(findings: Any, probabilities: Any, names: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """A multi-label model's ROC curves: one per finding present and absent in the data, and their macro average.

    Args:
        findings: ``(N, K)`` 0/1 findings.
        probabilities: ``(N, K)`` per-finding probabilities.
        names: ``K`` finding names.
        path: Destination ``.png`` file.

    Raises:
        ConfigError: Invalid inputs.
    """
    from medimg.evaluation.multilabel import validate_multilabel

    y, p = validate_multilabel(findings, probabilities, names)
    fig = Figure(figsize=(6.0, 6.0))
    ax = _square_roc_axes(fig)
    present = [j for j in range(y.shape[1]) if 0 < int(y[:, j].sum()) < y.shape[0]]
    colors = _class_colors(len(names))
    _macro_roc_curves(ax, [(str(names[j]), y[:, j], p[:, j]) for j in present], [colors[j] for j in present])
    if not present:
        ax.text(0.5, 0.55, "ROC undefined:\nno finding both present and absent", ha="center", va="center", fontsize=12)
    ax.set_title("ROC curves — one per finding", fontsize=11)
    ax.legend(loc="lower right", fontsize=8 if len(present) <= 8 else 6, framealpha=0.9)
    fig.tight_layout()
    return _save(fig, path)


def _class_colors(k: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def plot_confusion_matrix(
    cm: Any, class_names: Sequence[str], path: str | os.PathLike[str], normalize: bool = True
) -> Path:
    """Plot a confusion matrix as an annotated heat map.

    Each cell shows the count and the row-normalised fraction (share of the true class). The colour encodes
    the row fraction when ``normalize`` is True, the raw count otherwise.

    Args:
        cm: ``(K, K)`` non-negative integer counts, rows = true class, columns = predicted class.
        class_names: ``K`` class names.
        path: Destination ``.png`` file.
        normalize: Colour by row-normalised fraction (True) or by count (False).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: ``cm`` is not a square non-negative matrix matching ``class_names``.
    """
    try:
        counts = np.asarray(cm, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"confusion matrix must be a numeric (K, K) array: {exc}") from exc
    names = [str(c) for c in class_names]
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ConfigError(f"confusion matrix must be square (K, K), got shape {counts.shape}")
    if counts.shape[0] != len(names):
        raise ConfigError(
            f"confusion matrix is {counts.shape[0]}x{counts.shape[0]} but {len(names)} class names were given"
        )
    if not np.all(np.isfinite(counts)) or (counts < 0).any():
        raise ConfigError("confusion matrix must hold finite non-negative counts")
    k = counts.shape[0]
    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    shown = fractions if normalize else counts

    size = min(max(4.5, 0.75 * k + 2.5), 18.0)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot(1, 1, 1)
    vmax = 1.0 if normalize else max(float(counts.max()), 1.0)
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("fraction of true class" if normalize else "cases")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    rotate = k > 4 or max((len(n) for n in names), default=0) > 8
    ax.set_xticklabels(names, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticklabels(names)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title("Confusion matrix (count and row %)", fontsize=11)
    if k <= 30:
        fontsize = 10 if k <= 6 else 8 if k <= 12 else 6
        for i in range(k):
            for j in range(k):
                dark = shown[i, j] / vmax > 0.55
                ax.text(
                    j,
                    i,
                    f"{round(float(counts[i, j]))}\n{100 * fractions[i, j]:.1f}%",
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if dark else "black",
                )
    fig.tight_layout()
    return _save(fig, path)


def plot_reliability(y_true: Any, probabilities: Any, path: str | os.PathLike[str], n_bins: int = 15) -> Path:
    """Plot a reliability diagram (accuracy vs confidence per bin) with a confidence histogram below.

    Args:
        y_true: ``(N,)`` int class indices.
        probabilities: ``(N, K)`` float class probabilities.
        path: Destination ``.png`` file.
        n_bins: Number of equal-width confidence bins.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: Invalid inputs.
    """
    bins = reliability_bins(y_true, probabilities, n_bins)
    width = np.diff(bins.edges)
    left = bins.edges[:-1]
    filled = bins.counts > 0
    fig = Figure(figsize=(6.0, 6.5))
    grid = fig.add_gridspec(2, 1, height_ratios=[3, 1], hspace=0.08)
    ax = fig.add_subplot(grid[0])
    hist = fig.add_subplot(grid[1], sharex=ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color=_CHANCE, linewidth=1, label="perfect calibration")
    ax.bar(
        left[filled],
        bins.accuracy[filled],
        width=width[filled],
        align="edge",
        color=_ACCENT,
        edgecolor="white",
        alpha=0.85,
        label="accuracy in bin",
    )
    gap_bottom = np.minimum(bins.accuracy[filled], bins.mean_confidence[filled])
    gap_height = np.abs(bins.accuracy[filled] - bins.mean_confidence[filled])
    ax.bar(
        left[filled],
        gap_height,
        bottom=gap_bottom,
        width=width[filled],
        align="edge",
        color="#d62728",
        alpha=0.3,
        hatch="//",
        edgecolor="#d62728",
        label="gap to mean confidence",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Accuracy")
    ax.set_title(f"Reliability diagram — ECE = {bins.ece:.3f} ({len(bins.counts)} bins, N = {bins.n})", fontsize=11)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelbottom=False)
    hist.bar(left, bins.counts, width=width, align="edge", color="#7f7f7f", edgecolor="white")
    hist.set_xlabel("Confidence (max predicted probability)")
    hist.set_ylabel("Cases")
    hist.grid(True, axis="y", alpha=0.3)
    fig.subplots_adjust(left=0.13, right=0.96, top=0.93, bottom=0.09)
    return _save(fig, path)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _network_starts(networks: Sequence[Any]) -> list[int]:
    """The row indices where each network's epochs begin."""
    return [i for i, n in enumerate(networks) if i == 0 or n != networks[i - 1]]


def _is_lr_key(key: str) -> bool:
    lowered = key.lower()
    return lowered == "lr" or lowered.startswith("lr_") or "learning_rate" in lowered


def plot_training_curves(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Plot training history: losses in one panel, other metrics in a second, learning rate in a third.

    Every numeric key is plotted except ``"epoch"``, which is the x axis (row number + 1 when absent). Keys
    containing ``"loss"`` go to the loss panel; ``"lr"``/``"lr_*"``/``"*learning_rate*"`` to a log-scale
    learning-rate panel (only drawn when present); all others to the metrics panel. Rows may lack keys or
    hold ``None``/NaN; those points are skipped. Rows of an ensemble carry ``"network"`` (1, 2...): the networks
    are drawn one after another, each curve broken between them, with a line and the network's number at each
    start.

    Args:
        history: One mapping per epoch, e.g. ``{"epoch": 1, "train_loss": .7, "val_loss": .6,
            "val_auc": .8, "lr": 1e-3}``.
        path: Destination ``.png`` file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: ``history`` is empty, not a list of mappings, or holds no numeric series.
    """
    if isinstance(history, Mapping) or not isinstance(history, Sequence) or len(history) == 0:
        raise ConfigError(
            "history must be a non-empty list of dicts, one per epoch (e.g. {'epoch': 1, 'val_loss': .5})"
        )
    for i, row in enumerate(history):
        if not isinstance(row, Mapping):
            raise ConfigError(f"history row {i} is a {type(row).__name__}, expected a dict of metric values")
    networks = [row.get("network", 1) for row in history]
    several = len(set(networks)) > 1
    if several:  # one after another: the x axis counts the epochs of all of them
        xs = [float(i + 1) for i in range(len(history))]
    else:
        xs = [float(row["epoch"]) if _is_number(row.get("epoch")) else float(i + 1) for i, row in enumerate(history)]
    keys: list[str] = []
    for row in history:
        for key, value in row.items():
            if key not in ("epoch", "network") and key not in keys and _is_number(value):
                keys.append(str(key))
    series: dict[str, list[tuple[list[float], list[float]]]] = {}  # key -> one (x, y) segment per network
    for key in keys:
        segments = []
        for network in dict.fromkeys(networks):
            points = [
                (x, float(row[key]))
                for x, row, n in zip(xs, history, networks, strict=True)
                if n == network and _is_number(row.get(key)) and math.isfinite(float(row[key]))
            ]
            if points:
                segments.append(([pt[0] for pt in points], [pt[1] for pt in points]))
        if segments:
            series[key] = segments
    if not series:
        raise ConfigError("history has no numeric values to plot besides 'epoch'")
    losses = [k for k in series if "loss" in k.lower()]
    rates = [k for k in series if k not in losses and _is_lr_key(k)]
    others = [k for k in series if k not in losses and k not in rates]
    panels = [(title, ks) for title, ks in (("Loss", losses), ("Metrics", others)) if ks]
    if rates:
        panels.append(("Learning rate", rates))

    heights = [3.0 if title != "Learning rate" else 1.6 for title, _ in panels]
    fig = Figure(figsize=(8.0, 0.6 + sum(heights)))
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    first_ax = None
    marker = "o" if len(xs) <= 40 else None
    for idx, (title, ks) in enumerate(panels):
        ax = fig.add_subplot(grid[idx], sharex=first_ax) if first_ax is not None else fig.add_subplot(grid[idx])
        first_ax = first_ax or ax
        for key in ks:
            style = "--" if key.lower().startswith(("train", "trn")) else "-"
            colour = None
            for x_values, y_values in series[key]:
                (line,) = ax.plot(
                    x_values,
                    y_values,
                    linestyle=style,
                    marker=marker,
                    markersize=3,
                    linewidth=1.5,
                    label=key if colour is None else "_nolegend_",
                    color=colour,
                )
                colour = line.get_color()
        if several:
            for k, start in enumerate(_network_starts(networks)):
                if k:
                    ax.axvline(start + 0.5, color="0.5", linewidth=0.8, linestyle=":")
                if idx == 0:
                    ax.text(
                        start + 0.5,
                        1.0,
                        f" network {networks[start]}",
                        transform=ax.get_xaxis_transform(),
                        va="top",
                        ha="left",
                        fontsize=8,
                        color="0.35",
                    )
        if title == "Learning rate" and all(v > 0 for k in ks for _, ys in series[k] for v in ys):
            ax.set_yscale("log")
        ax.set_ylabel(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        if idx < len(panels) - 1:
            ax.tick_params(labelbottom=False)
    if first_ax is not None:
        first_ax.set_title("Training curves", fontsize=11)
    fig.axes[-1].set_xlabel("Epoch (the networks one after another)" if several else "Epoch")
    if all(float(x).is_integer() for x in xs):
        fig.axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return _save(fig, path)
