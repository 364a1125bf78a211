"""``Model``: the one object users hold. It validates, resolves options and delegates; it does not train.

Example:
    >>> from medimg import Dataset, Model
    >>> ds = Dataset.load("data/herlev", exclude="*-d.bmp")            # doctest: +SKIP
    >>> model = Model("resnet18").fit(ds, epochs=20)                   # doctest: +SKIP
    >>> report = model.evaluate()                                      # doctest: +SKIP
    >>> model.predict("cell.bmp")[0].label                             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from medimg.config import FitOptions, read_config_file
from medimg.data.dataset import Dataset
from medimg.errors import ConfigError, DatasetError, NotFittedError, did_you_mean
from medimg.planning.plan import Plan

logger = logging.getLogger(__name__)

TASKS = ("classify", "segment")
# Classical (feature-based, scikit-learn) estimators served through the same facade; see medimg.classical.
CLASSICAL_MODELS = ("decision-tree", "random-forest", "svm", "logistic-regression", "gradient-boosting")


def model_class(network: str, task: str) -> type[Model]:
    """The ``Model`` subclass that serves ``network`` for ``task`` (one dispatch place for the facade)."""
    if task == "segment":
        from medimg.tasks.segment.model import SegmentationModel

        return SegmentationModel
    if network.lower() in CLASSICAL_MODELS:
        from medimg.classical.model import ClassicalModel

        return ClassicalModel
    return Model


CURVE_KEYS = ("epoch", "train_loss", "val_loss", "val_auc", "val_balanced_accuracy", "lr")


class Model:
    """A medical image model: ``fit``, ``evaluate``, ``predict``, ``load``.

    Args:
        network: a registry name (``"resnet18"``, ``"simple-cnn"``...; see ``medimg networks``) or ``"auto"``
            to let the planner choose.
        task: ``"classify"`` (segmentation and detection share this facade as they land).
        **plan_overrides: any plan field (``epochs=5``, ``learning_rate=1e-3``...), applied over the plan.

    Attributes (after ``fit`` or ``load``):
        network_: the trained ``torch.nn.Module`` (best validation epoch).
        plan_: the resolved :class:`~medimg.planning.plan.Plan`.
        class_names_: label names, index-aligned with the probabilities.
        run_dir_: the run folder holding the bundle.
    """

    def __new__(cls, network: str = "auto", task: str = "classify", **plan_overrides: Any) -> Model:
        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r}.{did_you_mean(task, TASKS)} Available: {', '.join(TASKS)}.")
        if cls is Model:
            cls = model_class(network, task)
        return super().__new__(cls)

    def __init__(self, network: str = "auto", task: str = "classify", **plan_overrides: Any) -> None:
        if network != "auto":
            from medimg.networks import list_networks

            if network.lower() not in list_networks():
                choices = [*list_networks(), *CLASSICAL_MODELS]
                raise ConfigError(
                    f"unknown model {network!r}.{did_you_mean(network, choices)} Available: {', '.join(choices)}."
                )
        self.network = network
        self.task = task
        self.plan_overrides = dict(plan_overrides)
        self.network_: nn.Module | None = None
        self.plan_: Plan | None = None
        self.class_names_: list[str] | None = None
        self.run_dir_: Path | None = None
        self.metadata_: dict[str, Any] = {}

    def __repr__(self) -> str:
        state = f"run_dir={str(self.run_dir_)!r}" if self.run_dir_ else "not fitted"
        return f"Model(network={self.network!r}, task={self.task!r}, {state})"

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: Dataset | str | Path,
        *,
        run_dir: str | Path | None = None,
        runs_root: str | Path = "runs",
        config_file: str | Path | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: str | tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Model:
        """Check, fingerprint, plan and train on ``data``; evaluate on its test split. Returns ``self``.

        Args:
            data: a :class:`Dataset` or a path for :meth:`Dataset.load`.
            run_dir: where to write the run (default ``runs/<dataset>/expN``).
            runs_root: parent of automatically named run folders.
            config_file: JSON of plan fields, applied over the plan and under keyword arguments.
            include, exclude, window: passed to :meth:`Dataset.load` when ``data`` is a path.
            **kwargs: :class:`~medimg.config.FitOptions` fields (``seed``, ``folds``, ``resume``, ``strict``,
                ``progress``...) and plan fields (``epochs``, ``batch_size``...).
        """
        from medimg.run_folder import new_run_dir
        from medimg.tasks.classify.run import fit_classifier, fit_cross_validation

        dataset = (
            data if isinstance(data, Dataset) else Dataset.load(data, include=include, exclude=exclude, window=window)
        )
        option_fields = set(FitOptions.model_fields)
        options = FitOptions(**{k: v for k, v in kwargs.items() if k in option_fields})
        overrides = {**self.plan_overrides, **{k: v for k, v in kwargs.items() if k not in option_fields}}
        if self.network != "auto":
            overrides.setdefault("network", self.network)
        layers = (read_config_file(config_file) if config_file else None, overrides)
        target = Path(run_dir) if run_dir else new_run_dir(runs_root, dataset.name)
        if options.folds:
            results, summary = fit_cross_validation(dataset, target, options, plan_layers=layers)
            fit = results[0]
            logger.info("cross-validation summary written to %s", target / "cv.json")
            self.cv_summary_ = summary
        else:
            fit = fit_classifier(dataset, target, options, plan_layers=layers)
        self.network_, self.plan_, self.class_names_ = fit.network, fit.plan, fit.class_names
        self.run_dir_, self.metadata_ = fit.run_dir, fit.metadata
        self._dataset = dataset
        if not options.folds:
            self.evaluate(dataset, split="test", strict=options.strict)
        return self

    @classmethod
    def load(cls, run_dir: str | Path) -> Model:
        """Load a trained model from its run folder (needs nothing else).

        Raises:
            RunFolderError: the folder is missing files or unreadable.
        """
        from medimg.engine.checkpoint import load_checkpoint
        from medimg.errors import RunFolderError
        from medimg.run_folder import RunFolder
        from medimg.tasks.classify.run import build_network

        run = RunFolder(run_dir)
        if not run.path.is_dir():
            raise RunFolderError(f"run folder {run.path} does not exist")
        if run.file("cv.json").is_file() and not run.file("metadata.json").is_file():
            raise RunFolderError(f"{run.path} is a cross-validation run; load one fold, e.g. {run.path / 'fold_0'}")
        metadata = run.read_json("metadata.json")
        served_by = model_class(str(metadata.get("network", "auto")), str(metadata.get("task", "classify")))
        if cls is Model and served_by is not Model:
            return served_by.load(run_dir)
        plan = Plan.model_validate(run.read_json("plan.json"))
        network = build_network(plan.model_copy(update={"weights_path": None}))
        state = load_checkpoint(run.file("model.pt"))
        try:
            network.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as error:
            raise RunFolderError(f"{run.file('model.pt')} does not match plan.json: {error}") from error
        network.eval()
        model = cls(network=plan.network, task=metadata.get("task", "classify"))
        model.network_, model.plan_ = network, plan
        model.class_names_ = list(metadata["class_names"])
        model.run_dir_, model.metadata_ = run.path, metadata
        return model

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        data: Dataset | str | Path | None = None,
        *,
        split: str = "test",
        out_dir: str | Path | None = None,
        n_resamples: int = 1000,
        strict: bool = False,
    ) -> Any:
        """Evaluate on ``split`` of ``data`` (default: the training dataset and its saved split).

        Writes ``report.json``, ``report.html`` and plots to ``out_dir`` (default ``RUN/report`` for the
        training data's test split, ``RUN/evaluations/<dataset>-<split>`` otherwise).

        Returns:
            :class:`~medimg.evaluation.report.ClassificationReport`.
        """
        from medimg.data.splits import Splits
        from medimg.evaluation.report import build_classification_report, write_report
        from medimg.run_folder import RunFolder
        from medimg.tasks.classify.data import prepare_split
        from medimg.tasks.classify.inference import predict_proba

        network, plan, class_names = self._require_fitted()
        run = RunFolder(self.run_dir_ or ".")
        own_data = data is None or data is getattr(self, "_dataset", None)
        dataset = (
            self._training_dataset()
            if data is None
            else (data if isinstance(data, Dataset) else Dataset.load(data, **self._dataset_options()))
        )
        splits = Splits.from_dict(run.read_json("splits.json")) if own_data else None
        from medimg.tasks.classify.run import cases_for

        if split not in {"train", "val", "test", "all"}:
            raise ConfigError(f"unknown split {split!r}.{did_you_mean(split, ['train', 'val', 'test', 'all'])}")
        cases = cases_for(dataset, splits, split)
        if not cases:
            raise DatasetError(f"{dataset.name} has no {split!r} images; use --split all for an external set")
        remap = self._label_map(dataset.class_names, class_names)
        prepared = prepare_split(dataset, cases, plan, strict=strict, progress=False)
        y = remap[prepared.y.numpy()]
        probabilities = predict_proba(network, prepared.x, plan)
        history = [
            {k: v for k, v in row.items() if k in CURVE_KEYS} for row in _read_history(run.file("metrics.jsonl"))
        ]
        report = build_classification_report(
            y,
            probabilities,
            class_names,
            split=split,
            model_name=f"{plan.network} (width {plan.width})",
            dataset_name=dataset.name,
            case_ids=prepared.case_ids,
            extra={
                "run_dir": str(run.path),
                "plan": {k: v for k, v in plan.model_dump().items() if k != "reasons"},
                "training": self.metadata_.get("training", {}),
                "skipped_files": [list(s) for s in prepared.skipped],
            },
            n_resamples=n_resamples,
        )
        if out_dir is None:
            out_dir = (
                run.file("report")
                if own_data and split == "test"
                else (run.file("evaluations") / f"{dataset.name}-{split}")
            )
        write_report(report, Path(out_dir), y_true=y, probabilities=probabilities, history=history or None)
        self.last_report_dir_ = Path(out_dir)
        return report

    # ------------------------------------------------------------------ prediction
    def predict(self, inputs: str | Path | Sequence[str | Path], *, explain: str | None = None) -> list[Any]:
        """Predict files and/or folders (PNG, JPEG, BMP, TIFF, DICOM, NIfTI).

        Args:
            inputs: files and/or folders.
            explain: also explain each prediction: ``"gradcam"``, ``"gradcam++"`` or ``"occlusion"``
                (``Prediction.heatmap`` and ``Prediction.overlay_png``).

        Returns:
            One :class:`~medimg.tasks.classify.predict.Prediction` per readable image. Unreadable files are logged and
            listed in ``self.failed_``.
        """
        from medimg.io.inputs import expand_inputs
        from medimg.tasks.classify.predict import predict_files

        network, plan, class_names = self._require_fitted()
        items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        files = expand_inputs(items)
        window = _window_from_json((self.metadata_.get("input") or {}).get("window"))
        predictions, failed = predict_files(network, plan, class_names, files, window=window, explain=explain)
        for path, reason in failed:
            logger.warning("skipped %s: %s", path, reason)
        self.failed_ = failed
        return predictions

    # ------------------------------------------------------------------ deployment
    def export(
        self,
        path: str | Path | None = None,
        *,
        format: str = "onnx",
        parity_inputs: Sequence[str | Path] | None = None,
        tolerance: float = 1e-4,
    ) -> Any:
        """Export for deployment, checked against PyTorch on real inputs (default: the run's test split).

        Args:
            path: output file (default ``RUN/model.onnx``).
            format: ``"onnx"`` (the only one so far).
            parity_inputs: image files/folders for the parity check.
            tolerance: the check fails above this max |PyTorch - ONNX Runtime| difference (float32).

        Returns:
            :class:`~medimg.export.onnx_export.ExportResult` (path, max_abs_diff, ...).

        Raises:
            ExportError: the export failed or does not match PyTorch.
        """
        if format.lower() != "onnx":
            raise ConfigError(f"unknown export format {format!r}.{did_you_mean(format, ['onnx'])} Available: onnx.")
        from medimg.export.onnx_export import export_onnx

        return export_onnx(self, path, parity_inputs=parity_inputs, tolerance=tolerance)

    # ------------------------------------------------------------------ helpers
    def _require_fitted(self) -> tuple[nn.Module, Plan, list[str]]:
        if self.network_ is None or self.plan_ is None or self.class_names_ is None:
            raise NotFittedError("this Model is not trained: call fit(...) or Model.load(run_dir) first")
        return self.network_, self.plan_, self.class_names_

    def _dataset_options(self) -> dict[str, Any]:
        if self.run_dir_ is None:
            return {}
        from medimg.run_folder import RunFolder

        config = RunFolder(self.run_dir_).read_json("config.json")
        options = config.get("dataset_options", {})
        return {
            "include": options.get("include") or None,
            "exclude": options.get("exclude") or None,
            "window": _window_from_json(options.get("window")),
        }

    def _training_dataset(self) -> Dataset:
        cached = getattr(self, "_dataset", None)
        if cached is not None:
            return cached
        from medimg.run_folder import RunFolder

        config = RunFolder(self.run_dir_ or ".").read_json("config.json")
        self._dataset = Dataset.load(config["data"], **self._dataset_options())
        return self._dataset

    @staticmethod
    def _label_map(data_classes: Sequence[str], model_classes: Sequence[str]) -> Any:
        import numpy as np

        unknown = [c for c in data_classes if c not in model_classes]
        if unknown:
            raise DatasetError(
                f"the data has classes the model does not know: {', '.join(unknown)} "
                f"(model classes: {', '.join(model_classes)})"
            )
        return np.array([list(model_classes).index(c) for c in data_classes], dtype=np.int64)


def _window_from_json(value: Any) -> str | tuple[float, float] | None:
    """A window as saved in JSON (preset name or ``[center, width]``) back to the reader's form."""
    return (float(value[0]), float(value[1])) if isinstance(value, list) else value


def _read_history(path: Path) -> list[dict[str, float]]:
    import json

    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
