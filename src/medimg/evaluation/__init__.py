"""Classification evaluation: metrics, bootstrap confidence intervals, calibration, figures and reports.

Typical use::

    from medimg.evaluation import build_classification_report, write_report

    report = build_classification_report(y_true, probabilities, class_names,
                                         split="test", model_name="resnet18", dataset_name="herlev")
    paths = write_report(report, "runs/exp1/eval", y_true=y_true, probabilities=probabilities)

Submodules load on first use, so importing this package does not import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ClassificationReport",
    "bootstrap_ci",
    "build_classification_report",
    "classification_metrics",
    "expected_calibration_error",
    "headline_cis",
    "plot_confusion_matrix",
    "plot_reliability",
    "plot_roc",
    "plot_training_curves",
    "reliability_bins",
    "write_report",
]

_LOCATIONS: dict[str, str] = {
    "classification_metrics": "metrics",
    "bootstrap_ci": "bootstrap",
    "headline_cis": "bootstrap",
    "expected_calibration_error": "calibration",
    "reliability_bins": "calibration",
    "plot_roc": "plots",
    "plot_confusion_matrix": "plots",
    "plot_reliability": "plots",
    "plot_training_curves": "plots",
    "ClassificationReport": "report",
    "build_classification_report": "report",
    "write_report": "report",
}

if TYPE_CHECKING:
    from medimg.evaluation.bootstrap import bootstrap_ci, headline_cis
    from medimg.evaluation.calibration import expected_calibration_error, reliability_bins
    from medimg.evaluation.metrics import classification_metrics
    from medimg.evaluation.plots import (
        plot_confusion_matrix,
        plot_reliability,
        plot_roc,
        plot_training_curves,
    )
    from medimg.evaluation.report import ClassificationReport, build_classification_report, write_report


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'medimg.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"medimg.evaluation.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
