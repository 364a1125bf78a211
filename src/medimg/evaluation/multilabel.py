"""Multi-label metrics: each image shows any number of findings (ChestMNIST, NIH ChestX-ray14, CheXpert).

Conventions: ``findings`` is an ``(N, K)`` 0/1 array (one column per finding, a row of zeros for an image without
any) and ``probabilities`` an ``(N, K)`` array of independent per-finding probabilities (sigmoids; rows need not
sum to 1). A finding is predicted present when its probability reaches 0.5: a model trained by medimg has each
finding's operating point folded into its output (see :func:`choose_thresholds`).

Per finding: ROC AUC, average precision, sensitivity, specificity, precision and F1 at 0.5. Summaries: the macro
AUC (mean over the findings both present and absent in the data, the figure ChestMNIST and CheXpert papers
report), the micro AUC (every image-finding pair pooled), the mean average precision, macro sensitivity,
specificity and F1, the label-wise accuracy and the exact-match ratio (every finding of the image right).
Undefined values are ``None`` (a finding without positives has no AUC; one without negatives no AUC and no
average precision, which would be 1 whatever the scores); the findings left out of the macro AUC so are named
(``findings_without_auc``). The summaries' bootstrap intervals resample images (all
their findings together) and use the weighted, exact ROC AUC of :func:`medimg.evaluation.metrics.weighted_auc`,
so 1,000 resamples of a 20,000-image test split with 14 findings take seconds; each finding's AUC has Newcombe's
score interval (:func:`medimg.evaluation.auc_variance.auc_interval`), which stays honest for a rare finding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medimg.errors import ConfigError
from medimg.evaluation.auc_variance import auc_interval
from medimg.evaluation.bootstrap import bootstrap_entry, cluster_codes, n_units, resample_weights
from medimg.evaluation.metrics import weighted_auc

__all__ = ["choose_thresholds", "multilabel_cis", "multilabel_metrics", "validate_multilabel", "validation_summaries"]

FloatArray = NDArray[np.float64]

#: the summary metrics with bootstrap intervals, in the order reports print them
MULTILABEL_HEADLINE = (
    "macro_auc",
    "micro_auc",
    "mean_average_precision",
    "macro_sensitivity",
    "macro_specificity",
    "macro_f1",
)


def validate_multilabel(
    findings: Any, probabilities: Any, names: Sequence[str] | None = None
) -> tuple[NDArray[np.bool_], FloatArray]:
    """``(findings as bool (N, K), probabilities as float64 (N, K))``.

    Raises:
        ConfigError: shapes differ, values are not 0/1 or probabilities fall outside [0, 1].
    """
    y = np.asarray(findings)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.ndim != 2 or p.shape != y.shape:
        raise ConfigError(f"multi-label findings {y.shape} and probabilities {p.shape} must both be (N, K)")
    if names is not None and len(names) != y.shape[1]:
        raise ConfigError(f"{len(names)} finding names for {y.shape[1]} columns")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ConfigError("multi-label findings must be 0/1")
    if p.size and (not np.isfinite(p).all() or p.min() < 0 or p.max() > 1):
        raise ConfigError("multi-label probabilities must lie in [0, 1] (apply a sigmoid to logits first)")
    return y.astype(bool), p


def _weighted_counts(weights: FloatArray, y: NDArray[np.bool_], predicted: NDArray[np.bool_]) -> dict[str, FloatArray]:
    """``tp, fp, fn, tn`` ``(B, K)`` under case weights ``(B, N)``."""
    return {
        "tp": weights @ (y & predicted).astype(np.float64),
        "fp": weights @ (~y & predicted).astype(np.float64),
        "fn": weights @ (y & ~predicted).astype(np.float64),
        "tn": weights @ (~y & ~predicted).astype(np.float64),
    }


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def _nanmean(values: FloatArray) -> FloatArray:
    """Mean over the last axis ignoring NaN (NaN where every value is)."""
    valid = ~np.isnan(values)
    count = valid.sum(axis=-1)
    total = np.where(valid, values, 0.0).sum(axis=-1)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def _batch(weights: FloatArray, y: NDArray[np.bool_], p: FloatArray, *, micro: bool = True) -> dict[str, FloatArray]:
    """Per-finding ``(B, K)`` and summary ``(B,)`` metrics for ``B`` weightings of the same images (``micro``:
    also the micro AUC, which pools ``N * K`` pairs: the bootstrap leaves it out to bound its memory)."""
    k = y.shape[1]
    auc = np.stack([weighted_auc(weights, y[:, j], p[:, j]) for j in range(k)], axis=1)
    counts = _weighted_counts(weights, y, p >= 0.5)
    sensitivity = _ratio(counts["tp"], counts["tp"] + counts["fn"])
    specificity = _ratio(counts["tn"], counts["tn"] + counts["fp"])
    precision = _ratio(counts["tp"], counts["tp"] + counts["fp"])
    f1 = _ratio(2 * counts["tp"], 2 * counts["tp"] + counts["fp"] + counts["fn"])
    pooled = weighted_auc(np.repeat(weights, k, axis=1), y.reshape(-1), p.reshape(-1)) if micro else None
    has_positive = counts["tp"] + counts["fn"] > 0
    return {
        "auc": auc,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "precision": precision,
        "f1": np.where(has_positive, f1, np.nan),
        "macro_auc": _nanmean(auc),
        **({"micro_auc": pooled} if pooled is not None else {}),
        "macro_sensitivity": _nanmean(sensitivity),
        "macro_specificity": _nanmean(specificity),
        "macro_f1": _nanmean(np.where(has_positive, f1, np.nan)),
    }


def _average_precision(y: NDArray[np.bool_], scores: FloatArray) -> float | None:
    """``None`` without positives, and without negatives: every image positive gives 1 whatever the scores."""
    if not y.any() or y.all():
        return None
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, scores))


def _value(x: float) -> float | None:
    return None if math.isnan(float(x)) else float(x)


def validation_summaries(findings: Any, probabilities: Any) -> dict[str, float]:
    """What model selection reads each epoch, without the per-finding table, average precision or micro AUC of
    :func:`multilabel_metrics`: the macro AUC, macro sensitivity and specificity at 0.5 and the label-wise accuracy
    (NaN where undefined).

    Raises:
        ConfigError: invalid inputs (see :func:`validate_multilabel`).
    """
    y, p = validate_multilabel(findings, probabilities)
    batch = _batch(np.ones((1, y.shape[0])), y, p, micro=False)
    summaries = {key: float(batch[key][0]) for key in ("macro_auc", "macro_sensitivity", "macro_specificity")}
    return {**summaries, "label_accuracy": float(((p >= 0.5) == y).mean()) if y.size else math.nan}


def multilabel_metrics(findings: Any, probabilities: Any, names: Sequence[str]) -> dict[str, Any]:
    """Point estimates: ``per_finding`` ``{name: {positives, prevalence, roc_auc, average_precision, sensitivity,
    specificity, precision, f1}}`` and the summaries of the module docstring.

    Raises:
        ConfigError: invalid inputs (see :func:`validate_multilabel`).
    """
    y, p = validate_multilabel(findings, probabilities, names)
    n, k = y.shape
    batch = _batch(np.ones((1, n)), y, p)
    per_finding: dict[str, dict[str, Any]] = {}
    aps: list[float] = []
    for j, name in enumerate(names):
        ap = _average_precision(y[:, j], p[:, j])
        if ap is not None:
            aps.append(ap)
        per_finding[str(name)] = {
            "positives": int(y[:, j].sum()),
            "prevalence": float(y[:, j].mean()) if n else None,
            "predicted": int((p[:, j] >= 0.5).sum()),
            "roc_auc": _value(batch["auc"][0, j]),
            "average_precision": ap,
            "sensitivity": _value(batch["sensitivity"][0, j]),
            "specificity": _value(batch["specificity"][0, j]),
            "precision": _value(batch["precision"][0, j]),
            "f1": _value(batch["f1"][0, j]),
        }
    predicted = p >= 0.5
    return {
        "n": int(n),
        "n_findings": int(k),
        "class_names": [str(c) for c in names],
        "multi_label": True,
        "images_without_findings": int((~y.any(axis=1)).sum()),
        "per_finding": per_finding,
        # left out of the macro AUC (no image with them, or none without them): named, never a silent 0.5
        "findings_without_auc": [str(name) for name in names if per_finding[str(name)]["roc_auc"] is None],
        **{
            key: _value(batch[key][0])
            for key in ("macro_auc", "micro_auc", "macro_sensitivity", "macro_specificity", "macro_f1")
        },
        "mean_average_precision": float(np.mean(aps)) if aps else None,
        "label_accuracy": float((predicted == y).mean()) if y.size else None,
        "exact_match": float((predicted == y).all(axis=1).mean()) if n else None,
    }


def multilabel_cis(
    findings: Any,
    probabilities: Any,
    names: Sequence[str],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Percentile-bootstrap intervals over images (over patients with ``groups``, a patient id per image: the
    cluster bootstrap) of the macro summaries (the macro AUC, sensitivity, specificity
    and F1; the micro AUC and mean average precision are point estimates), and Newcombe's score interval of each
    finding's AUC (``"auc/<finding>"``, with Obuchowski's design effect over patients); each ``{"value", "low",
    "high", "method", "confidence", "n_resamples", "unit", "n_units"}``."""
    y, p = validate_multilabel(findings, probabilities, names)
    n = y.shape[0]
    codes = cluster_codes(groups, n)
    unit, units = ("image" if codes is None else "patient"), n_units(codes, n)
    keys = ("macro_auc", "macro_sensitivity", "macro_specificity", "macro_f1")
    point = _batch(np.ones((1, n)), y, p, micro=False)
    if n == 0:
        return {}
    parts: dict[str, list[FloatArray]] = {key: [] for key in keys}
    for weights in resample_weights(n, n_resamples, seed, codes):
        values = _batch(weights, y, p, micro=False)
        for key in keys:
            parts[key].append(values[key])
    cis: dict[str, Any] = {}

    def entry(label: str, value: float, samples: FloatArray) -> dict[str, Any]:
        return {
            "value": _value(value),
            **bootstrap_entry(samples, confidence, label, units, unit),
            "confidence": confidence,
            "n_resamples": n_resamples,
            "unit": unit,
            "n_units": units,
        }

    for key in keys:
        if not math.isnan(float(point[key][0])):
            cis[key] = entry(key, point[key][0], np.concatenate(parts[key]))
    for j, name in enumerate(names):
        if not math.isnan(float(point["auc"][0, j])):
            cis[f"auc/{name}"] = _finding_auc_entry(y[:, j], p[:, j], codes, confidence, n_resamples, unit, units)
    return cis


def _finding_auc_entry(
    positive: NDArray[np.bool_],
    score: FloatArray,
    codes: NDArray[np.int64] | None,
    confidence: float,
    n_resamples: int,
    unit: str,
    units: int,
) -> dict[str, Any]:
    """A finding's AUC with Newcombe's score interval (Obuchowski's design effect with patients), as the binary
    headline AUC has: the percentile bootstrap of a rare finding's AUC collapses onto the few positives it holds
    (1 positive of 50 ranked first: 0.936-1.000, where the score interval says 0.413-1.000)."""
    auc = auc_interval(positive, score, codes, confidence=confidence)
    return {
        "value": float(auc["value"]),
        "low": float(auc["low"]),
        "high": float(auc["high"]),
        "method": "newcombe",
        **({"design_effect": float(auc["design_effect"])} if codes is not None else {}),
        "confidence": confidence,
        "n_resamples": n_resamples,
        "unit": unit,
        "n_units": units,
    }


ThresholdRule = str
"""``"youden"``, ``"f1"``, ``"fixed"`` (multi-label), ``"argmax"`` (two classes), or a screening operating point
``"specificity:0.9"`` / ``"sensitivity:0.95"`` (:func:`target_of_rule`)."""

#: the rules that hold a target rate: ``"specificity:X"`` and ``"sensitivity:X"``
TARGET_RULES = ("specificity", "sensitivity")


def target_of_rule(rule: str) -> tuple[str, float] | None:
    """``("specificity", 0.9)`` for ``"specificity:0.9"`` (also ``"sensitivity:95%"``); ``None`` for a named
    rule (youden, f1...).

    Raises:
        ValueError: a target rule whose rate is not a number strictly between 0 and 1.
    """
    name, colon, value = str(rule).strip().partition(":")
    if not colon:
        return None
    name = name.strip().lower()
    if name not in TARGET_RULES:
        raise ValueError(f"unknown operating point {rule!r}: give specificity:X or sensitivity:X (X in 0..1)")
    text = value.strip()
    try:
        rate = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        rate = math.nan
    if not 0 < rate <= 1:
        raise ValueError(f"{rule!r}: the {name} to reach must be above 0 and at most 1 (e.g. {name}:0.9), got {text!r}")
    return name, rate


def choose_thresholds(findings: Any, probabilities: Any, rule: ThresholdRule) -> list[float]:
    """Each finding's operating point on validation data: the probability that maximises sensitivity +
    specificity (``"youden"``) or F1 (``"f1"``); for ``"specificity:X"`` the lowest threshold whose validation
    specificity is at least ``X`` (the most sensitive such point: a screening test's "sensitivity at 90%
    specificity"), for ``"sensitivity:X"`` the highest threshold whose sensitivity is at least ``X``; 0.5 for
    ``"fixed"`` and for a finding the validation split cannot judge (no positive or no negative image).

    A threshold is the midpoint between two neighbouring distinct scores, so it separates the validation images
    as chosen without sitting on one of them.
    """
    target = target_of_rule(rule)
    y, p = validate_multilabel(findings, probabilities)
    thresholds: list[float] = []
    for j in range(y.shape[1]):
        positives, negatives = int(y[:, j].sum()), int((~y[:, j]).sum())
        if rule == "fixed" or positives == 0 or negatives == 0:
            thresholds.append(0.5)
            continue
        order = np.argsort(-p[:, j], kind="stable")
        scores, truth = p[order, j], y[order, j]
        last = np.r_[scores[1:] != scores[:-1], True]  # cut after each group of equal scores
        tp = np.cumsum(truth)[last].astype(np.float64)
        fp = np.cumsum(~truth)[last].astype(np.float64)
        distinct = scores[last]
        if target is not None:
            best = _cut_reaching(target, tp / positives, 1 - fp / negatives)
            if best < 0:  # not even the highest score reaches the specificity: call nothing present
                thresholds.append(float((distinct[0] + 1.0) / 2))
                continue
        else:
            youden = tp / positives - fp / negatives
            gain = youden if rule == "youden" else 2 * tp / (2 * tp + fp + (positives - tp))
            best = int(np.argmax(gain))
        below = distinct[best + 1] if best + 1 < len(distinct) else 0.0
        thresholds.append(float((distinct[best] + below) / 2))
    return thresholds


def _cut_reaching(target: tuple[str, float], sensitivity: np.ndarray, specificity: np.ndarray) -> int:
    """The cut (index into the descending distinct scores; everything at or above it is called present) that
    reaches ``target``: for a specificity the last cut keeping it (the most sensitive), for a sensitivity the first
    cut reaching it (the most specific); ``-1`` when no cut keeps the specificity."""
    name, rate = target
    tolerance = 1e-12  # 9 of 10 is a specificity of 0.9 exactly
    if name == "specificity":
        keeping = np.flatnonzero(specificity >= rate - tolerance)
        return int(keeping[-1]) if len(keeping) else -1
    return int(np.flatnonzero(sensitivity >= rate - tolerance)[0])
