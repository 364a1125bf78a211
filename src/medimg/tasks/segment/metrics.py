"""Segmentation metrics per class and per case, pooled counts, pixel AUC and bootstrap CIs of means.

Definitions (``P`` prediction, ``T`` reference, both restricted to valid pixels, i.e. not :data:`IGNORE`):

* Dice ``2|P∩T| / (|P| + |T|)``; IoU ``|P∩T| / |P∪T|``; sensitivity ``|P∩T| / |T|``; precision ``|P∩T| / |P|``.
  When both ``P`` and ``T`` are empty, Dice, IoU, sensitivity and precision are undefined (NaN) and left out of
  means (the case has nothing to find); when only ``T`` is empty, Dice and IoU are 0 and sensitivity NaN.
* Surface distances use the voxel spacing (mm; pixels for rasters). A surface voxel is a mask voxel with a
  background face neighbour (MONAI's ``get_mask_edges``; until 2026-12-04 any of the 8/26 neighbours, which marks
  more voxels as surface and gave distances up to 2.8x smaller on thin structures). HD95 is MONAI's: the larger of
  the two directed 95th percentiles
  of surface-to-surface distances. ASSD (average symmetric surface distance) is the mean over both surfaces'
  distances. Both are NaN when either mask is empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.tasks.segment.labels import IGNORE

METRIC_NAMES = ("dice", "iou", "hd95", "assd", "sensitivity", "precision")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def dice_per_class(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """``(num_classes,)`` Dice of each class (NaN when absent from both); ignored pixels left out."""
    valid = truth != IGNORE
    p, t = pred[valid], truth[valid]
    out = np.full(num_classes, math.nan)
    for c in range(num_classes):
        pc, tc = p == c, t == c
        den = pc.sum() + tc.sum()
        out[c] = 2 * np.logical_and(pc, tc).sum() / den if den else math.nan
    return out


def _surface(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(mask.ndim, 1)  # face neighbours, as MONAI's get_mask_edges
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def surface_distances(a: np.ndarray, b: np.ndarray, spacing: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each surface voxel of ``a`` to the surface of ``b``, and from ``b`` to ``a`` (mm/px)."""
    from scipy import ndimage

    sa, sb = _surface(a), _surface(b)
    sampling = tuple(spacing) if spacing else None
    to_b = ndimage.distance_transform_edt(~sb, sampling=sampling)
    to_a = ndimage.distance_transform_edt(~sa, sampling=sampling)
    return to_b[sa], to_a[sb]


def case_metrics(
    pred: np.ndarray, truth: np.ndarray, num_classes: int, spacing: Sequence[float] | None = None
) -> dict[int, dict[str, float]]:
    """Every metric of every foreground class for one case: ``{class: {metric: value, "tp", "fp", "fn"}}``.

    Args:
        pred: ``(*spatial)`` predicted classes.
        truth: ``(*spatial)`` reference classes, :data:`IGNORE` where not evaluated.
        num_classes: classes including background (0, not reported).
        spacing: voxel spacing per axis for surface distances (``None``: 1 per pixel).
    """
    valid = truth != IGNORE
    pred = np.where(valid, pred, 0)
    out: dict[int, dict[str, float]] = {}
    for c in range(1, num_classes):
        p = (pred == c) & valid
        t = (truth == c) & valid
        tp = float(np.logical_and(p, t).sum())
        fp = float(p.sum() - tp)
        fn = float(t.sum() - tp)
        empty_both = not p.any() and not t.any()
        row = {
            "dice": math.nan if empty_both else _ratio(2 * tp, 2 * tp + fp + fn),
            "iou": math.nan if empty_both else _ratio(tp, tp + fp + fn),
            "sensitivity": _ratio(tp, tp + fn),
            "precision": math.nan if empty_both else _ratio(tp, tp + fp),
            "hd95": math.nan,
            "assd": math.nan,
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
        if p.any() and t.any():
            d_pt, d_tp = surface_distances(p, t, spacing)
            row["hd95"] = float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))
            row["assd"] = float((d_pt.sum() + d_tp.sum()) / (d_pt.size + d_tp.size))
        out[c] = row
    return out


def pooled_dice(rows: Sequence[dict[str, float]]) -> float:
    """Dice over all pixels of all cases together (``2 ΣTP / (2 ΣTP + ΣFP + ΣFN)``; DRIVE's "F1")."""
    tp = sum(r["tp"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def pixel_auc(
    scores: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    *,
    weights: Sequence[float] | None = None,
    max_pixels: int = 10_000_000,
    seed: int = 0,
) -> float | None:
    """ROC AUC of foreground scores over the valid pixels of all cases pooled (binary tasks).

    ``weights``: per case, how many pixels each given one stands for (a large case subsampled before pooling keeps
    its share of the pooled pixels). More than ``max_pixels`` pixels are subsampled uniformly (seeded). ``None``
    when one class is absent.
    """
    from sklearn.metrics import roc_auc_score

    s = np.concatenate([sc[t != IGNORE].ravel() for sc, t in zip(scores, truths, strict=True)])
    y = np.concatenate([(t[t != IGNORE] > 0).ravel() for t in truths])
    w = np.concatenate(
        [
            np.full(int((t != IGNORE).sum()), float(weight))
            for t, weight in zip(truths, weights or [1.0] * len(truths), strict=True)
        ]
    )
    if y.all() or not y.any():
        return None
    if s.size > max_pixels:
        keep = np.random.default_rng(seed).choice(s.size, max_pixels, replace=False)
        s, y, w = s[keep], y[keep], w[keep]
    return float(roc_auc_score(y, s, sample_weight=None if np.all(w == 1.0) else w))


def mean_ci(
    values: Sequence[float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Mean of per-case ``values`` (NaN left out) with a percentile-bootstrap CI over cases, or over patients
    with ``groups`` (a patient id per value; the cluster bootstrap: several cases of one patient are drawn
    together, see :mod:`medimg.evaluation.bootstrap`).

    Returns:
        ``{"value", "low", "high", "confidence", "n_resamples", "n", "unit", "n_units"}``: ``n`` values,
        ``n_units`` independent units (patients or cases); bounds ``None`` with fewer than
        :data:`~medimg.evaluation.bootstrap.MIN_PATIENTS` patients or
        :data:`~medimg.evaluation.bootstrap.MIN_IMAGES` cases (then a ``note`` says so).
    """
    from medimg.evaluation.bootstrap import (
        _check_options,
        bootstrap_entry,
        cluster_codes,
        min_units,
        n_units,
        resample_weights,
    )

    _check_options(n_resamples, confidence)
    keep = [i for i, x in enumerate(values) if x is not None and not math.isnan(x)]
    v = np.asarray([values[i] for i in keep], dtype=np.float64)
    ids = None if groups is None else list(groups)
    if ids is not None and len(ids) != len(values):
        raise ConfigError(f"groups has {len(ids)} patient ids but there are {len(values)} values")
    codes = cluster_codes(None if ids is None else [ids[i] for i in keep], v.size)
    units = n_units(codes, v.size)
    result: dict[str, Any] = {
        "value": float(v.mean()) if v.size else None,
        "low": None,
        "high": None,
        "confidence": float(confidence),
        "n_resamples": int(n_resamples),
        "n": int(v.size),
        "unit": "image" if codes is None else "patient",
        "n_units": units,
    }
    means = (
        np.concatenate([w @ v / w.sum(axis=1) for w in resample_weights(v.size, n_resamples, seed, codes)])
        if units >= min_units(result["unit"])
        else np.empty(0)
    )
    # no interval, and a note, with too few units or where every resample agrees (an HD95 of 3 equal values read
    # "95% CI 2.236-2.236")
    entry = bootstrap_entry(means, confidence, "mean", units, result["unit"])
    result.update({key: entry[key] for key in ("low", "high", "note") if key in entry})
    return result
