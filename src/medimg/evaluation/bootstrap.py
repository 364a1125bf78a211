"""Confidence intervals for classification metrics: score intervals where the metric allows one, a percentile
bootstrap for the others; over patients when the cases name their patient.

Headline intervals (:func:`headline_cis`):

* Accuracy, sensitivity and specificity are proportions: the Wilson score interval (Wilson 1927; recommended by
  Brown, Cai & DasGupta 2001), which stays honest where the percentile bootstrap collapses: 7 of 7 test images
  right is "1.000 (0.646-1.000)", not "1.000 (1.000-1.000)".
* Balanced accuracy is the mean of the per-class recalls: the MOVER combination of their Wilson intervals
  (Zou & Donner 2008, "Construction of confidence limits about effect measures: a general approach", Stat Med
  27:1693-1702), so it is never narrower than its parts allow (1 of 1 positive and 1 of 1 negative right:
  "1.000 (0.439-1.000)").
* A binary ROC AUC: Newcombe's (2006) score interval (:mod:`medimg.evaluation.auc_variance`).
* F1 (macro), a multi-class AUC and any metric given to :func:`bootstrap_ci`: the percentile bootstrap. Where
  every resample gives the same value (a perfectly classified or tiny test set) there is no interval and the
  entry says why, rather than a zero-width "1.000-1.000".

Patients. Several images of one patient are not independent trials: counted as such, the intervals cover new
images of the same patients, not new patients, and are too narrow (12 images of 3 patients gave an accuracy
interval of 0.758-1.000; counting patients, 0.438-1.000). With ``groups`` (a patient id per case):

* the bootstrap resamples patients with all their images (the cluster bootstrap; Davison & Hinkley 1997, 3.8;
  Field & Welsh 2007);
* a proportion's Wilson interval is taken at the effective sample size ``n / d``, ``d`` the Rao & Scott (1992,
  "A simple method for the analysis of clustered binary data", Biometrics 48:577-585) design effect: the
  between-patient variance of the proportion over its binomial variance, at least 1. Where every image is right
  (or every one wrong) the data say nothing about how alike a patient's images are, and the design effect of
  identical images (intra-class correlation 1, Kish 1965: ``d = sum(m_i^2) / n``, ``m_i`` images of patient
  ``i``) is used: 12 of 12 images right from 3 patients of 4 images is Wilson's 3 of 3;
* balanced accuracy's MOVER combination takes the between-patient correlation of the recalls into account;
* the AUC's interval uses Obuchowski's (1997) clustered variance.

Without patient ids (or with one image per patient) every image is its own patient: the intervals are those of
independent images. Cases are resampled as draw counts, so the metrics in
:data:`medimg.evaluation.metrics.BATCH_METRIC_NAMES` are evaluated for whole blocks of resamples with array
operations; any other callable is evaluated resample by resample. Resamples where a metric is undefined (e.g.
a single class, for the AUC) are skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medimg.errors import ConfigError
from medimg.evaluation import metrics as _m
from medimg.evaluation.inputs import validate_inputs

__all__ = [
    "bootstrap_ci",
    "cluster_codes",
    "count_patients",
    "design_effect",
    "headline_cis",
    "n_units",
    "resample_weights",
    "wilson_interval",
]

logger = logging.getLogger(__name__)

MetricFn = Callable[[Any, Any], float | None]
Codes = NDArray[np.int64]

#: Upper bound on ``resamples_per_block * N`` so memory stays around a few tens of MB for any N.
_BLOCK_ELEMENTS = 2_000_000


def _check_options(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if not isinstance(confidence, (int, float)) or not 0.0 < float(confidence) < 1.0:
        raise ConfigError(f"confidence must be a number strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def cluster_codes(groups: Sequence[Any] | None, n: int) -> Codes | None:
    """The patient index (0..G-1) of each of ``n`` cases, or ``None`` when every case is its own patient.

    Args:
        groups: ``n`` patient ids (any hashable; ``None``/empty/NaN: a patient of its own), or ``None``.
        n: Number of cases.

    Returns:
        ``(n,)`` int64 codes, or ``None`` when ``groups`` is ``None`` or no patient has two cases (the
        intervals are then those of independent cases).

    Raises:
        ConfigError: ``groups`` has another length than ``n``.
    """
    if groups is None:
        return None
    ids = list(groups)
    if len(ids) != n:
        raise ConfigError(f"groups has {len(ids)} patient ids but there are {n} cases")
    index: dict[Any, int] = {}
    codes = np.empty(n, dtype=np.int64)
    for i, value in enumerate(ids):
        key: Any = ("\0case", i) if _missing(value) else str(value)
        codes[i] = index.setdefault(key, len(index))
    return None if len(index) == n else codes


def count_patients(groups: Sequence[Any] | None, n: int) -> int | None:
    """Number of patients of ``n`` cases (a case without an id is a patient of its own); ``None`` when no case
    names its patient.

    Raises:
        ConfigError: ``groups`` has another length than ``n``.
    """
    if groups is None or all(_missing(v) for v in groups):
        if groups is not None and len(groups) != n:
            raise ConfigError(f"groups has {len(groups)} patient ids but there are {n} cases")
        return None
    return n_units(cluster_codes(groups, n), n)


def n_units(codes: Codes | None, n: int) -> int:
    """Number of independent units: patients with ``codes``, else cases."""
    return n if codes is None or n == 0 else int(codes.max()) + 1


def _resample_blocks(n: int, n_resamples: int, seed: int | None) -> Iterator[NDArray[np.int64]]:
    """Yield ``(b, N)`` int64 index blocks, ``n_resamples`` rows in total, reproducibly for a given seed."""
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, _BLOCK_ELEMENTS // max(n, 1)))
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        yield rng.integers(0, n, size=(b, n), dtype=np.int64)
        done += b


def _draw_counts(indices: NDArray[np.int64], n: int) -> NDArray[np.float64]:
    """Turn ``(b, M)`` resample indices into ``(b, n)`` float64 draw counts per unit."""
    b = indices.shape[0]
    flat = (indices + (np.arange(b, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def resample_weights(
    n: int, n_resamples: int, seed: int | None, codes: Codes | None = None
) -> Iterator[NDArray[np.float64]]:
    """Yield ``(b, N)`` float64 blocks of bootstrap draw counts per case, ``n_resamples`` rows in total.

    Without ``codes`` cases are drawn with replacement; with them patients are drawn with replacement (as many
    as there are) and each case weighs as often as its patient was drawn (the cluster bootstrap).
    """
    if codes is None:
        for indices in _resample_blocks(n, n_resamples, seed):
            yield _draw_counts(indices, n)
        return
    groups = n_units(codes, n)
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, _BLOCK_ELEMENTS // max(n, 1)))
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        yield _draw_counts(rng.integers(0, groups, size=(b, groups), dtype=np.int64), groups)[:, codes]
        done += b


def _interval(values: NDArray[np.float64], confidence: float, label: str) -> tuple[float | None, float | None]:
    valid = values[np.isfinite(values)]
    skipped = values.size - valid.size
    if valid.size == 0:
        logger.warning("bootstrap CI of %s: the metric is undefined in every resample; no interval", label)
        return None, None
    if skipped > 0.1 * values.size:
        logger.warning(
            "bootstrap CI of %s: %d of %d resamples skipped (metric undefined); the interval is less reliable",
            label,
            skipped,
            values.size,
        )
    alpha = 1.0 - float(confidence)
    low, high = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(1.0 - (1.0 - float(confidence)) / 2.0)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion ``successes / n``; ``(None, None)`` when ``n`` is 0.

    ``successes`` and ``n`` may be effective (non-integer) counts, e.g. divided by a design effect.
    """
    if n <= 0:
        return None, None
    z = _z(confidence)
    share = min(max(successes / n, 0.0), 1.0)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    low = 0.0 if share <= 0.0 else max(0.0, centre - half)  # exact ends: 0 of n is 0.000, not 2.8e-17
    high = 1.0 if share >= 1.0 else min(1.0, centre + half)
    return low, high


def _cluster_totals(x: NDArray[np.float64], codes: Codes) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-patient ``(successes, cases)`` of the cases ``x`` (patients without cases dropped)."""
    _, inverse = np.unique(codes, return_inverse=True)
    return np.bincount(inverse, weights=x).astype(np.float64), np.bincount(inverse).astype(np.float64)


def design_effect(x: NDArray[np.float64], codes: Codes | None) -> float:
    """Rao & Scott's (1992) design effect of the proportion ``mean(x)`` of cases clustered by ``codes``.

    The between-patient (ratio-estimator) variance of the proportion over its binomial variance, at least 1 and
    at most ``n``; where the proportion is 0 or 1, or there is one patient, the variance says nothing and the
    bound for identical images within a patient, ``sum(m_i^2) / n``, is used. 1 without ``codes`` or with one
    case per patient.
    """
    n = x.size
    if codes is None or n == 0:
        return 1.0
    totals, sizes = _cluster_totals(x, codes)
    groups = totals.size
    if groups == n:  # one case per patient: independent cases
        return 1.0
    share = float(x.mean())
    if groups < 2 or share <= 0.0 or share >= 1.0:
        deff = float((sizes**2).sum()) / n
    else:
        between = groups / (groups - 1) * float(((totals - share * sizes) ** 2).sum()) / n**2
        deff = between / (share * (1.0 - share) / n)
    return float(min(max(deff, 1.0), n))


def _proportion_entry(x: NDArray[np.float64], codes: Codes | None, confidence: float) -> dict[str, Any]:
    """Wilson interval of ``mean(x)`` at the Rao-Scott effective sample size."""
    deff = design_effect(x, codes)
    low, high = wilson_interval(float(x.sum()) / deff, x.size / deff, confidence)
    entry: dict[str, Any] = {"low": low, "high": high, "method": "wilson"}
    if codes is not None:
        entry["design_effect"] = deff
    return entry


def _balanced_accuracy_entry(
    right: NDArray[np.bool_], y: NDArray[np.int64], k: int, codes: Codes | None, confidence: float
) -> dict[str, Any]:
    """MOVER interval of the mean recall over the classes present (Zou & Donner 2008), from each recall's
    (design-effect adjusted) Wilson interval and, with patients, the between-patient correlation of the
    recalls (without patients the recalls of disjoint image sets are independent)."""
    classes = [c for c in range(k) if (y == c).any()]
    recalls, lows, highs = [], [], []
    for c in classes:
        x = right[y == c].astype(np.float64)
        sub = None if codes is None else codes[y == c]
        deff = design_effect(x, sub)
        low, high = wilson_interval(float(x.sum()) / deff, x.size / deff, confidence)
        recalls.append(float(x.mean()))
        lows.append(float(low or 0.0))
        highs.append(float(high if high is not None else 1.0))
    r, lo, hi = np.array(recalls), np.array(lows), np.array(highs)
    corr = np.eye(len(classes))
    if codes is not None:  # linearised residuals per patient: the covariance of the per-class ratio estimators
        groups = n_units(codes, y.size)
        resid = np.stack(
            [
                np.bincount(codes[y == c], weights=right[y == c] - r[i], minlength=groups) / (y == c).sum()
                for i, c in enumerate(classes)
            ]
        )
        cov = resid @ resid.T
        scale = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            full = cov / np.outer(scale, scale)
        known = np.outer(scale > 0, scale > 0)
        corr = np.where(known, np.clip(full, -1.0, 1.0), corr)
    kk = len(classes)
    value = float(r.mean())
    down, up = r - lo, hi - r
    low = value - math.sqrt(max(float(down @ corr @ down), 0.0)) / kk
    high = value + math.sqrt(max(float(up @ corr @ up), 0.0)) / kk
    return {"low": max(0.0, low), "high": min(1.0, high), "method": "mover-wilson"}


def _bootstrap_named(
    names: Sequence[str],
    y: NDArray[np.int64],
    p: NDArray[np.float64],
    n_resamples: int,
    seed: int | None,
    codes: Codes | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Vectorised resampling: ``{name: (n_resamples,) float64}`` with NaN where undefined."""
    n = y.shape[0]
    chunks: dict[str, list[NDArray[np.float64]]] = {name: [] for name in names}
    for weights in resample_weights(n, n_resamples, seed, codes):
        values = _m.batch_metrics(names, weights, y, p)
        for name in names:
            chunks[name].append(values[name])
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def _bootstrap_callable(
    metric_fn: MetricFn,
    y: NDArray[np.int64],
    p: NDArray[np.float64],
    n_resamples: int,
    seed: int | None,
    codes: Codes | None = None,
) -> NDArray[np.float64]:
    """Evaluate an arbitrary metric resample by resample; NaN where it is undefined or raises ValueError."""
    n = y.shape[0]
    out = np.empty(n_resamples)
    i = 0
    cases = np.arange(n)
    for weights in resample_weights(n, n_resamples, seed, codes):
        for row in weights:
            drawn = np.repeat(cases, row.astype(np.int64))
            try:
                value = metric_fn(y[drawn], p[drawn])
            except ValueError:  # e.g. scikit-learn's "Only one class present in y_true"
                value = None
            out[i] = math.nan if value is None else float(value)
            i += 1
    return out


def bootstrap_ci(
    y_true: Any,
    probabilities: Any,
    metric_fn: MetricFn | str,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Any] | None = None,
) -> tuple[float | None, float | None]:
    """Percentile-bootstrap confidence interval of a metric, resampling cases (or patients) with replacement.

    Args:
        y_true: ``(N,)`` int class indices.
        probabilities: ``(N, K)`` float class probabilities.
        metric_fn: ``f(y_true (M,), probabilities (M, K)) -> float | None``, or a metric name from
            :data:`~medimg.evaluation.metrics.BATCH_METRIC_NAMES`. The functions of
            :mod:`medimg.evaluation.metrics` (``accuracy``, ``roc_auc``, ...) and the names are evaluated
            vectorised (1000 resamples of 1000 cases in milliseconds); other callables run once per resample.
            A resample where the metric returns ``None``/NaN or raises :class:`ValueError` is skipped.
        n_resamples: Number of bootstrap resamples.
        confidence: Coverage of the interval, e.g. 0.95 for the 2.5th-97.5th percentiles.
        seed: Seed of the resampling; the same seed draws the same resamples for every metric.
        groups: Optional ``N`` patient ids: patients are resampled with all their images (cluster bootstrap).

    Returns:
        ``(low, high)`` floats, or ``(None, None)`` when the metric is undefined in every resample.

    Raises:
        ConfigError: Invalid inputs, an unknown metric name or invalid options.
    """
    _check_options(n_resamples, confidence)
    y, p = validate_inputs(y_true, probabilities)
    codes = cluster_codes(groups, y.shape[0])
    name = metric_fn if isinstance(metric_fn, str) else _m.FAST_METRICS.get(metric_fn)
    if name is not None:
        values = _bootstrap_named([name], y, p, int(n_resamples), seed, codes)[name]
        label = name
    elif callable(metric_fn):
        values = _bootstrap_callable(metric_fn, y, p, int(n_resamples), seed, codes)
        label = getattr(metric_fn, "__name__", repr(metric_fn))
    else:
        raise ConfigError(f"metric_fn must be a callable or a metric name, got {metric_fn!r}")
    return _interval(values, confidence, label)


#: fewer patients than this give no cluster-bootstrap interval: resampling 2 patients only reshuffles their two
#: means (a Dice interval from 2 patients was exactly their two means, narrower than the images' own spread)
MIN_PATIENTS = 5
#: ... and fewer images than this (without patients) no bootstrap interval: 2 images' resampled means lie between
#: their two values (a Dice interval from 2 test images read 0.382-0.382)
MIN_IMAGES = 3


def min_units(unit: str) -> int:
    """The fewest independent units (``"patient"``, else images or cases) a bootstrap interval is given from."""
    return MIN_PATIENTS if unit == "patient" else MIN_IMAGES


def too_few_patients_note(units: int, unit: str = "patient") -> str:
    """The note of an interval not given because the bootstrap has too few patients (or images) to resample."""
    why = "; the images of one patient are not independent" if unit == "patient" else ""
    return (
        f"no interval: {units} {unit}{'s are' if units != 1 else ' is'} too few to bootstrap over (at least "
        f"{min_units(unit)}){why}"
    )


def bootstrap_entry(
    samples: NDArray[np.float64], confidence: float, name: str, units: int, unit: str
) -> dict[str, Any]:
    """A percentile-bootstrap interval entry (``low``, ``high``, ``method``) of a metric's resampled ``samples``;
    where every resample gives the same value, or a bootstrap has fewer than :data:`MIN_PATIENTS` patients (or
    :data:`MIN_IMAGES` images), no interval and a ``note`` saying why (a zero-width 1.000-1.000 reads as certainty
    on a handful of cases)."""
    if units < min_units(unit):
        return {"low": None, "high": None, "method": "bootstrap", "note": too_few_patients_note(units, unit)}
    low, high = _interval(samples, confidence, name)
    entry: dict[str, Any] = {"low": low, "high": high, "method": "bootstrap"}
    valid = samples[np.isfinite(samples)]
    if low is not None and valid.size and float(np.ptp(valid)) == 0.0:
        entry.update(
            low=None,
            high=None,
            note=(
                f"no interval: every bootstrap resample of the {units} {unit}s gives {float(valid[0]):.3f} (too few "
                "or perfectly classified cases, or all alike)"
            ),
        )
    return entry


def _undefined_note(name: str, y: NDArray[np.int64], k: int, class_names: Sequence[str]) -> str:
    """Why a headline metric has no value on these cases (a report shows the reason, not a bare dash)."""
    if y.size == 0:
        return f"undefined: no {'' if name == 'accuracy' else 'labelled '}cases"
    if name in ("sensitivity", "specificity"):
        index = 1 if name == "sensitivity" else 0
        kind = "positive" if index == 1 else "negative"
        return f"undefined: no case of the {kind} class {str(class_names[index])!r} in these {y.size} cases"
    present = sorted({int(c) for c in y})
    if name == "roc_auc" and len(present) < 2:
        return (
            f"undefined: every one of the {y.size} cases is of class {str(class_names[present[0]])!r}; an AUC needs "
            "cases of at least two classes"
        )
    return f"undefined on these {y.size} cases of {len(present)} of {k} classes"


#: How :func:`headline_cis` makes the interval of each metric that is not bootstrapped (binary AUC included).
_SCORE_METHODS = {
    "accuracy": "wilson",
    "sensitivity": "wilson",
    "specificity": "wilson",
    "balanced_accuracy": "mover-wilson",
    "roc_auc": "newcombe",
}


def headline_cis(
    y_true: Any,
    probabilities: Any,
    class_names: Sequence[str],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Point estimates and CIs of the headline metrics (methods in the module docstring).

    Metrics: ``accuracy``, ``balanced_accuracy``, ``f1_macro``, ``roc_auc`` and, for binary tasks (class 1
    positive), ``sensitivity`` and ``specificity``. Definitions are those of
    :func:`~medimg.evaluation.metrics.classification_metrics`.

    Args:
        y_true: ``(N,)`` int class indices.
        probabilities: ``(N, K)`` float class probabilities.
        class_names: ``K`` class names (validated against ``K``).
        n_resamples: Number of bootstrap resamples.
        confidence: Coverage of the intervals.
        seed: Resampling seed.
        groups: Optional ``N`` patient ids: the intervals then count patients, not images.

    Returns:
        ``{metric: {"value", "low", "high", "confidence", "n_resamples", "method", "unit", "n_units"}}``: point
        estimate and interval bounds (float, ``None`` where the metric, or its interval, is undefined), the
        coverage, the number of bootstrap resamples, how the interval was made (``"wilson"``,
        ``"mover-wilson"``, ``"newcombe"`` or ``"bootstrap"``), the independent unit (``"patient"`` or
        ``"image"``) and how many of them the cases hold; with patients also ``"design_effect"`` for the
        score intervals; ``"note"`` where there is no interval although there is a value.

    Raises:
        ConfigError: Invalid inputs or options.
    """
    from medimg.evaluation.auc_variance import auc_interval

    _check_options(n_resamples, confidence)
    y, p = validate_inputs(y_true, probabilities, class_names)
    n, k = y.shape[0], p.shape[1]
    codes = cluster_codes(groups, n)
    unit = "patient" if codes is not None else "image"
    units = n_units(codes, n)
    names = ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc"]
    if k == 2:
        names += ["sensitivity", "specificity"]
    point = _m.batch_metrics(names, np.ones((1, n)), y, p)
    right = p.argmax(axis=1) == y
    subsets = {"accuracy": np.ones(n, dtype=bool), "sensitivity": y == 1, "specificity": y == 0}
    bootstrapped = ["f1_macro"] + ([] if k == 2 else ["roc_auc"])
    samples = _bootstrap_named(bootstrapped, y, p, int(n_resamples), seed, codes) if n else {}
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        value = float(point[name][0])
        entry: dict[str, Any]
        if math.isnan(value):
            method = "bootstrap" if name in bootstrapped else _SCORE_METHODS[name]
            entry = {"low": None, "high": None, "method": method, "note": _undefined_note(name, y, k, class_names)}
        elif name in subsets:
            among = subsets[name]
            entry = _proportion_entry(
                right[among].astype(np.float64), None if codes is None else codes[among], confidence
            )
        elif name == "balanced_accuracy":
            entry = _balanced_accuracy_entry(right, y, k, codes, confidence)
        elif name == "roc_auc" and k == 2:
            auc = auc_interval(y == 1, p[:, 1], codes, confidence=confidence)
            entry = {"low": auc["low"], "high": auc["high"], "method": "newcombe"}
            if codes is not None:
                entry["design_effect"] = auc["design_effect"]
        else:
            entry = bootstrap_entry(samples[name], confidence, name, units, unit)
        result[name] = {
            "value": None if math.isnan(value) else value,
            "confidence": float(confidence),
            "n_resamples": int(n_resamples),
            "unit": unit,
            "n_units": units,
            **entry,
        }
    return result
