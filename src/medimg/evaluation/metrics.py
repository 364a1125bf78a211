"""Classification metrics computed from predicted class probabilities.

Conventions used throughout :mod:`medimg.evaluation`:

* ``y_true`` is an ``(N,)`` integer array of class indices in ``[0, K)``; ``probabilities`` is an ``(N, K)``
  float array (one column per class, rows normally summing to 1). Predictions are
  ``probabilities.argmax(axis=1)``.
* In the binary case (``K == 2``) class index 1 is the *positive* class: sensitivity is its recall,
  specificity the recall of class 0, and the ROC AUC uses column 1 as the score.
* Per-class precision, recall, specificity and F1 (``per_class`` of :func:`classification_metrics`) are
  ``None`` where undefined: the recall of a class with no cases, the F1 of a class neither in ``y_true`` nor
  predicted (a class with no cases that is predicted has F1 0, ``2TP / (2TP + FP + FN)``, the value its macro F1
  averages in), the precision of a class never predicted,
  the specificity of a class every case belongs to (an external set of one class: scikit-learn's
  ``zero_division=0`` reported 0.000, beside a headline that said "undefined"). The macro averages keep
  scikit-learn's ``zero_division=0``.
* Macro averages (precision, recall, specificity, F1) are taken over the classes that occur in ``y_true`` or
  in the predictions, as scikit-learn does by default (specificity over those of them with negative cases: a
  class every case belongs to has no specificity); balanced accuracy is the mean recall over the classes
  present in ``y_true``.
* Metrics that are mathematically undefined (a ROC AUC when ``y_true`` holds a single class, the binary
  sensitivity when there are no positive cases) are ``None``, never NaN, so the output is strict JSON.

All metrics are computed from *case weights* so that the same code evaluates the data set itself (weights of
1) and thousands of bootstrap resamples at once (weights = how often each case was drawn); see
:func:`batch_metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medimg.errors import ConfigError
from medimg.evaluation.calibration import expected_calibration_error
from medimg.evaluation.inputs import FloatArray, IntArray, validate_inputs

__all__ = [
    "BATCH_METRIC_NAMES",
    "accuracy",
    "balanced_accuracy",
    "batch_metrics",
    "classification_metrics",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "sensitivity",
    "specificity",
    "specificity_macro",
    "weighted_auc",
]

#: Metric names :func:`batch_metrics` can compute for many resamples at once.
BATCH_METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "specificity_macro",
    "f1_macro",
    "roc_auc",
    "sensitivity",
    "specificity",
)
_BINARY_ONLY = frozenset({"sensitivity", "specificity"})


# ------------------------------------------------------------------------------------- batched machinery
def _group_sums(weights: FloatArray, keys: IntArray) -> tuple[IntArray, FloatArray]:
    """Sum ``weights`` (B, N) over cases sharing a key; returns sorted unique keys (G,) and sums (B, G)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sums = np.add.reduceat(weights[:, order], starts, axis=1)
    return sorted_keys[starts], sums


def _safe_div(num: FloatArray, den: FloatArray) -> FloatArray:
    """``num / den`` with 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def confusion_batch(weights: FloatArray, y: IntArray, pred: IntArray, n_classes: int) -> FloatArray:
    """Weighted confusion matrices.

    Args:
        weights: ``(B, N)`` float case weights (1 for the data itself, draw counts for bootstrap resamples).
        y: ``(N,)`` int true classes.
        pred: ``(N,)`` int predicted classes.
        n_classes: ``K``.

    Returns:
        ``(B, K, K)`` float64 matrices, rows = true class, columns = predicted class.
    """
    keys, sums = _group_sums(weights, y * n_classes + pred)
    cm = np.zeros((weights.shape[0], n_classes * n_classes))
    cm[:, keys] = sums
    return cm.reshape(weights.shape[0], n_classes, n_classes)


def weighted_auc(weights: FloatArray, positive: NDArray[np.bool_], scores: FloatArray) -> FloatArray:
    """ROC AUC (Mann-Whitney U with ties counted as 1/2) for many weightings of the same cases.

    Exact for integer weights: a bootstrap resample is the data set weighted by how often each case was drawn.
    Cost is one sort plus ``O(B * N)``.

    Args:
        weights: ``(B, N)`` float case weights.
        positive: ``(N,)`` bool, True for cases of the positive class.
        scores: ``(N,)`` float scores, higher meaning more likely positive.

    Returns:
        ``(B,)`` float64 AUCs; NaN where a weighting has no positive or no negative case.
    """
    _, groups = np.unique(scores, return_inverse=True)
    groups = groups.reshape(-1).astype(np.int64)
    _, pos = _group_sums(weights * positive, groups)
    _, neg = _group_sums(weights * ~positive, groups)
    neg_below = np.cumsum(neg, axis=1) - neg
    numerator = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    return np.divide(numerator, denominator, out=np.full(weights.shape[0], np.nan), where=denominator > 0)


def _per_class_auc(weights: FloatArray, y: IntArray, p: FloatArray) -> FloatArray:
    """One-vs-rest AUC per class: ``(B, K)`` float64, NaN where undefined."""
    return np.stack([weighted_auc(weights, y == c, p[:, c]) for c in range(p.shape[1])], axis=1)


def _nanmean_rows(values: FloatArray) -> FloatArray:
    valid = ~np.isnan(values)
    count = valid.sum(axis=1)
    total = np.where(valid, values, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(values.shape[0], np.nan), where=count > 0)


def _confusion_rates(cm: FloatArray) -> dict[str, FloatArray]:
    """Per-class counts and rates from ``(B, K, K)`` confusion matrices; every entry is ``(B, K)``."""
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    total = cm.sum(axis=(1, 2))[:, None]
    negatives = total - support
    fp = predicted - tp
    return {
        "tp": tp,
        "support": support,
        "predicted": predicted,
        "precision": _safe_div(tp, predicted),
        "recall": _safe_div(tp, support),
        "specificity": _safe_div(negatives - fp, negatives),
        "f1": _safe_div(2 * tp, support + predicted),
    }


def batch_metrics(names: Sequence[str], weights: FloatArray, y: IntArray, p: FloatArray) -> dict[str, FloatArray]:
    """Compute several metrics for many case weightings at once (the engine behind bootstrap CIs).

    Args:
        names: Metric names from :data:`BATCH_METRIC_NAMES`.
        weights: ``(B, N)`` float64 case weights (non-negative, each row with a positive sum).
        y: ``(N,)`` int64 validated labels.
        p: ``(N, K)`` float64 validated probabilities.

    Returns:
        ``{name: (B,) float64}``; NaN marks a weighting where the metric is undefined.

    Raises:
        ConfigError: An unknown name, or sensitivity/specificity asked for a task that is not binary.
    """
    unknown = [n for n in names if n not in BATCH_METRIC_NAMES]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}; choose from {list(BATCH_METRIC_NAMES)}")
    k = p.shape[1]
    if k != 2 and _BINARY_ONLY.intersection(names):
        raise ConfigError(
            "sensitivity and specificity of a positive class are defined for binary tasks only; "
            f"this task has {k} classes: use recall_macro / specificity_macro or the per-class values"
        )
    out: dict[str, FloatArray] = {}
    needs_cm = [n for n in names if n != "roc_auc"]
    if needs_cm:
        rates = _confusion_rates(confusion_batch(weights, y, p.argmax(axis=1), k))
        support, predicted = rates["support"], rates["predicted"]
        in_play = (support > 0) | (predicted > 0)
        n_in_play = in_play.sum(axis=1)
        present = support > 0
        for name in needs_cm:
            if name == "accuracy":
                out[name] = rates["tp"].sum(axis=1) / support.sum(axis=1)
            elif name == "balanced_accuracy":
                out[name] = (rates["recall"] * present).sum(axis=1) / present.sum(axis=1)
            elif name == "sensitivity":
                out[name] = np.where(present[:, 1], rates["recall"][:, 1], np.nan)
            elif name == "specificity":
                out[name] = np.where(present[:, 0], rates["recall"][:, 0], np.nan)
            elif name == "specificity_macro":  # over the classes with negatives: one every case belongs to has none
                negatives = in_play & (support < support.sum(axis=1, keepdims=True))
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[name] = (rates["specificity"] * negatives).sum(axis=1) / negatives.sum(axis=1)
            else:  # precision_macro, recall_macro, f1_macro
                per_class = rates[name.removesuffix("_macro")]
                out[name] = (per_class * in_play).sum(axis=1) / n_in_play
    if "roc_auc" in names:
        if k == 2:
            out["roc_auc"] = weighted_auc(weights, y == 1, p[:, 1])
        else:
            out["roc_auc"] = _nanmean_rows(_per_class_auc(weights, y, p))
    return out


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _point(name: str, y_true: Any, probabilities: Any) -> float | None:
    y, p = validate_inputs(y_true, probabilities)
    return _none_if_nan(float(batch_metrics([name], np.ones((1, y.shape[0])), y, p)[name][0]))


# ------------------------------------------------------------------------------------ single-metric API
def accuracy(y_true: Any, probabilities: Any) -> float | None:
    """Fraction of cases whose argmax prediction equals the label. ``(N,)`` int, ``(N, K)`` float -> float."""
    return _point("accuracy", y_true, probabilities)


def balanced_accuracy(y_true: Any, probabilities: Any) -> float | None:
    """Mean recall over the classes present in ``y_true``."""
    return _point("balanced_accuracy", y_true, probabilities)


def precision_macro(y_true: Any, probabilities: Any) -> float | None:
    """Macro precision over classes present in ``y_true`` or the predictions (``zero_division=0``)."""
    return _point("precision_macro", y_true, probabilities)


def recall_macro(y_true: Any, probabilities: Any) -> float | None:
    """Macro recall (sensitivity) over classes present in ``y_true`` or the predictions."""
    return _point("recall_macro", y_true, probabilities)


def specificity_macro(y_true: Any, probabilities: Any) -> float | None:
    """Macro one-vs-rest specificity over classes present in ``y_true`` or the predictions."""
    return _point("specificity_macro", y_true, probabilities)


def f1_macro(y_true: Any, probabilities: Any) -> float | None:
    """Macro F1 over classes present in ``y_true`` or the predictions (``zero_division=0``)."""
    return _point("f1_macro", y_true, probabilities)


def roc_auc(y_true: Any, probabilities: Any) -> float | None:
    """Binary: AUC of column 1. Multi-class: macro one-vs-rest AUC over classes present. None if undefined."""
    return _point("roc_auc", y_true, probabilities)


def sensitivity(y_true: Any, probabilities: Any) -> float | None:
    """Binary only: recall of the positive class (index 1); None when ``y_true`` has no positive case."""
    return _point("sensitivity", y_true, probabilities)


def specificity(y_true: Any, probabilities: Any) -> float | None:
    """Binary only: recall of the negative class (index 0); None when ``y_true`` has no negative case."""
    return _point("specificity", y_true, probabilities)


#: The public single-metric functions :mod:`medimg.evaluation.bootstrap` can vectorise, by function object.
FAST_METRICS: dict[Callable[[Any, Any], float | None], str] = {
    accuracy: "accuracy",
    balanced_accuracy: "balanced_accuracy",
    precision_macro: "precision_macro",
    recall_macro: "recall_macro",
    specificity_macro: "specificity_macro",
    f1_macro: "f1_macro",
    roc_auc: "roc_auc",
    sensitivity: "sensitivity",
    specificity: "specificity",
}


# -------------------------------------------------------------------------------------------- full table
def classification_metrics(y_true: Any, probabilities: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """All headline and per-class classification metrics as a JSON-serialisable dict.

    Args:
        y_true: ``(N,)`` int class indices in ``[0, K)``.
        probabilities: ``(N, K)`` float class probabilities; predictions are their argmax.
        class_names: ``K`` unique names, in column order.

    Returns:
        A dict with plain Python values (no NaN; ``None`` marks an undefined value):

        * ``"n"`` (int), ``"n_classes"`` (int), ``"class_names"`` (list of str);
        * ``"accuracy"``, ``"balanced_accuracy"``, ``"precision_macro"``, ``"recall_macro"`` (= macro
          sensitivity), ``"specificity_macro"``, ``"f1_macro"`` (floats; macro over the classes present in
          ``y_true`` or the predictions);
        * ``"roc_auc"``: binary -> AUC of column 1; multi-class -> macro one-vs-rest AUC over the classes
          present in ``y_true``; ``None`` if undefined. ``"roc_auc_note"`` explains a ``None`` or a partial
          average, else is ``None``;
        * ``"ece"``: expected calibration error, 15 equal-width bins on the max probability;
        * binary only: ``"sensitivity"``, ``"specificity"`` (``None`` when there are no positive / negative
          cases) and ``"positive_class"`` (the name of class 1);
        * ``"per_class"``: ``{name: {"precision", "recall", "specificity", "f1", "support", "roc_auc"}}``;
          each ``None`` where undefined (see the module notes); ``roc_auc`` (one-vs-rest) is ``None`` for a
          class absent from ``y_true``;
        * ``"confusion_matrix"``: ``K x K`` list of int lists, rows = true, columns = predicted.

    Raises:
        ConfigError: Invalid inputs (see :func:`validate_inputs`).
    """
    y, p = validate_inputs(y_true, probabilities, class_names)
    names = [str(c) for c in class_names]
    n, k = p.shape
    ones = np.ones((1, n))
    pred = p.argmax(axis=1)
    cm = confusion_batch(ones, y, pred, k)
    rates = {key: value[0] for key, value in _confusion_rates(cm).items()}
    headline = [m for m in BATCH_METRIC_NAMES if m not in _BINARY_ONLY or k == 2]
    values = {key: _none_if_nan(float(v[0])) for key, v in batch_metrics(headline, ones, y, p).items()}
    class_auc = _per_class_auc(ones, y, p)[0]

    present = [c for c in range(k) if rates["support"][c] > 0]
    note: str | None = None
    if len(present) < 2:
        only = names[present[0]] if present else "?"
        note = f"ROC AUC is undefined: y_true contains only class {only!r}; at least two classes are needed"
    elif k > 2 and len(present) < k:
        absent = [names[c] for c in range(k) if c not in present]
        note = f"macro average over the {len(present)} of {k} classes present in y_true (absent: {absent})"

    result: dict[str, Any] = {
        "n": int(n),
        "n_classes": int(k),
        "class_names": names,
        "accuracy": values["accuracy"],
        "balanced_accuracy": values["balanced_accuracy"],
        "precision_macro": values["precision_macro"],
        "recall_macro": values["recall_macro"],
        "specificity_macro": values["specificity_macro"],
        "f1_macro": values["f1_macro"],
        "roc_auc": values["roc_auc"],
        "roc_auc_note": note,
        "ece": float(expected_calibration_error(y, p, n_bins=15)),
    }
    if k == 2:
        result["sensitivity"] = values["sensitivity"]
        result["specificity"] = values["specificity"]
        result["positive_class"] = names[1]

    def defined(value: float, denominator: float) -> float | None:
        return float(value) if denominator > 0 else None

    result["per_class"] = {
        names[c]: {
            "precision": defined(rates["precision"][c], rates["predicted"][c]),
            "recall": defined(rates["recall"][c], rates["support"][c]),
            "specificity": defined(rates["specificity"][c], n - rates["support"][c]),
            "f1": defined(rates["f1"][c], rates["support"][c] + rates["predicted"][c]),
            "support": int(rates["support"][c]),
            "roc_auc": _none_if_nan(float(class_auc[c])),
        }
        for c in range(k)
    }
    result["confusion_matrix"] = cm[0].round().astype(np.int64).tolist()
    return result
