"""scikit-learn pipelines of the classical models and their cross-validated hyper-parameter search.

Every pipeline is ``FiniteFeatures -> StandardScaler -> [SelectPercentile] -> classifier``. Class weights
are ``"balanced"`` (imbalanced medical data). The search is a grid search with stratified k-fold
cross-validation on the training split only, grouped by patient when the cases name their patients (the folds
of :func:`medimg.data.splits.kfold_assignments`, as for the deep models' ``--folds``: one patient's images
never sit on both sides of a fold, which would reward memorising patients); the selection score is the ROC AUC
for two classes and the balanced accuracy for more (threshold-free for binary tasks, imbalance-aware for
multi-class ones).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from medimg.errors import ConfigError, DatasetError, did_you_mean

logger = logging.getLogger(__name__)

ESTIMATOR_NAMES = ("decision-tree", "random-forest", "svm", "logistic-regression", "gradient-boosting")


def make_estimator(name: str, random_state: int = 0) -> tuple[Any, dict[str, list[Any]]]:
    """The classifier for ``name`` and its search grid (keys without the ``clf__`` prefix)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    if name == "decision-tree":
        return DecisionTreeClassifier(class_weight="balanced", random_state=random_state), {
            "max_depth": [3, 5, 8, None],
            "min_samples_leaf": [1, 5, 20],
        }
    if name == "random-forest":
        return RandomForestClassifier(
            n_estimators=300, class_weight="balanced_subsample", random_state=random_state, n_jobs=1
        ), {"max_features": ["sqrt", 0.2], "min_samples_leaf": [1, 3]}
    if name == "svm":
        return SVC(kernel="rbf", class_weight="balanced", random_state=random_state), {
            "C": [0.3, 1.0, 3.0, 10.0, 30.0],
            "gamma": ["scale"],
        }
    if name == "logistic-regression":
        return LogisticRegression(class_weight="balanced", max_iter=3000, random_state=random_state), {
            "C": [0.01, 0.1, 1.0, 10.0],
        }
    if name == "gradient-boosting":
        return HistGradientBoostingClassifier(class_weight="balanced", random_state=random_state), {
            "learning_rate": [0.05, 0.1],
            "max_leaf_nodes": [15, 31],
            "max_iter": [200],
        }
    raise ConfigError(f"unknown classical model {name!r}.{did_you_mean(name, ESTIMATOR_NAMES)}")


def make_pipeline(
    name: str, *, n_features: int, select_features: bool = False, random_state: int = 0
) -> tuple[Pipeline, dict[str, list[Any]]]:
    """The unfitted pipeline for ``name`` and its full parameter grid (``step__param`` keys)."""
    from sklearn.feature_selection import SelectPercentile, f_classif
    from sklearn.preprocessing import StandardScaler

    from medimg.features.finite import FiniteFeatures

    estimator, grid = make_estimator(name, random_state)
    steps: list[tuple[str, Any]] = [("finite", FiniteFeatures()), ("scale", StandardScaler())]
    param_grid = {f"clf__{k}": v for k, v in grid.items()}
    if name == "svm":  # gamma around 1 / n_features ("scale" on standardised features)
        param_grid["clf__gamma"] = ["scale", 0.3 / max(1, n_features), 3.0 / max(1, n_features)]
    if select_features:
        steps.append(("select", SelectPercentile(f_classif, percentile=100)))
        param_grid["select__percentile"] = [25, 50, 100]
    steps.append(("clf", estimator))
    return Pipeline(steps), param_grid


@dataclass
class SearchResult:
    """The refitted best pipeline and what the search found."""

    pipeline: Pipeline
    best_params: dict[str, Any]
    cv_score: float
    scoring: str
    cv_folds: int
    candidates: int
    search_time_s: float
    fit_time_s: float


def search_and_fit(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    *,
    cv_folds: int = 5,
    fold_of: Sequence[int] | None = None,
    select_features: bool = False,
    n_jobs: int = 1,
    random_state: int = 0,
    class_names: Sequence[str] | None = None,
) -> SearchResult:
    """Grid-search ``name``'s pipeline with stratified k-fold CV on ``(X, y)`` (the training split only) and
    refit the best configuration on all of ``(X, y)``; the SVM is wrapped in a sigmoid (Platt)
    ``CalibratedClassifierCV`` for probabilities, calibrated on the same folds.

    Args:
        fold_of: the CV fold of each row (e.g. patient-grouped, from
            :func:`~medimg.data.splits.kfold_assignments`); ``None``: stratified k-fold over rows with
            ``min(cv_folds, smallest class)`` folds.
        class_names: names of the label indices, for messages.

    Raises:
        DatasetError: fewer than two classes, or a class with fewer images than two.
    """
    from sklearn.model_selection import GridSearchCV, PredefinedSplit, StratifiedKFold

    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise DatasetError("the training split holds a single class: a classifier needs at least two")
    folds = int(min(cv_folds, counts.min()))
    if folds < 2:
        small = [
            repr(class_names[int(c)]) if class_names is not None and 0 <= int(c) < len(class_names) else f"#{int(c)}"
            for c, n in zip(classes, counts, strict=True)
            if n < 2
        ]
        raise DatasetError(
            f"class {', '.join(small)} has only {counts.min()} training image(s): cross-validation needs at least 2 "
            "per class; add images of that class or leave it out (--exclude)"
        )
    cv: Any = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    if fold_of is not None:
        if len(fold_of) != len(y):
            raise ValueError(f"fold_of has {len(fold_of)} entries for {len(y)} rows")
        cv = PredefinedSplit(np.asarray(fold_of))
        folds = cv.get_n_splits()
    pipeline, grid = make_pipeline(
        name, n_features=X.shape[1], select_features=select_features, random_state=random_state
    )
    scoring = "roc_auc" if classes.size == 2 else "balanced_accuracy"
    started = time.perf_counter()
    search = GridSearchCV(
        pipeline,
        grid,
        scoring=scoring,
        cv=cv,
        n_jobs=n_jobs,
        refit=False,
        error_score="raise",
    )
    search.fit(X, y)
    search_time = time.perf_counter() - started
    best = clone(pipeline).set_params(**search.best_params_)
    if name == "svm":  # probabilities by Platt scaling on cross-validated decision values
        from sklearn.calibration import CalibratedClassifierCV

        best.steps[-1] = ("clf", CalibratedClassifierCV(best.steps[-1][1], method="sigmoid", cv=cv, ensemble=False))
    started = time.perf_counter()
    best.fit(X, y)
    return SearchResult(
        pipeline=best,
        best_params={k: _jsonable(v) for k, v in search.best_params_.items()},
        cv_score=float(search.best_score_),
        scoring=scoring,
        cv_folds=folds,
        candidates=len(search.cv_results_["params"]),
        search_time_s=search_time,
        fit_time_s=time.perf_counter() - started,
    )


def predict_proba_full(pipeline: Pipeline, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``(N, n_classes)`` probabilities, with zero columns for classes absent from training."""
    proba = pipeline.predict_proba(X)
    out = np.zeros((X.shape[0], n_classes), dtype=np.float64)
    out[:, np.asarray(pipeline.classes_, dtype=np.int64)] = proba
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
