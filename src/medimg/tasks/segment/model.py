"""``SegmentationModel``: the :class:`~medimg.model.Model` facade for ``task="segment"``.

Example:
    >>> from medimg import Model
    >>> model = Model("unet", task="segment").fit("../shared/data/drive")        # doctest: +SKIP
    >>> model.evaluate().metrics["dice_pooled"]                                  # doctest: +SKIP
    >>> model.predict("fundus.tif")[0].mask_path                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from medimg.config import FitOptions, read_config_file
from medimg.errors import ConfigError, DatasetError, NotFittedError, RunFolderError, did_you_mean
from medimg.model import Model
from medimg.tasks.segment.data import SegmentationDataset
from medimg.tasks.segment.planning import SegPlan

logger = logging.getLogger(__name__)

#: ``fit`` keyword arguments that describe how to read the data (not plan fields, not run options).
DATA_OPTIONS = ("colour_table",)


class SegmentationModel(Model):
    """Segmentation through the same facade: ``fit``, ``evaluate``, ``predict``, ``load``.

    Args:
        network: ``unet`` (default for ``auto``), ``basicunet``, ``attention-unet``, ``segresnet`` or ``vnet``.
        task: ``"segment"``.
        **plan_overrides: any :class:`~medimg.tasks.segment.planning.SegPlan` field (``epochs=20``,
            ``loss="dice_focal"``, ``class_names=[...]``...).

    Attributes (after ``fit`` or ``load``):
        network_: the trained network (best validation epoch).
        plan_: the resolved :class:`SegPlan`.
        class_names_: class names, class 0 first (background).
        run_dir_: the run folder.
        last_report_dir_: folder of the latest report (after ``evaluate``).
        failed_: unreadable files of the latest ``predict``.
    """

    plan_: SegPlan | None  # type: ignore[assignment]

    def __init__(self, network: str = "auto", task: str = "segment", **plan_overrides: Any) -> None:
        from medimg.tasks.segment.networks import check_network_name

        if task != "segment":
            raise ConfigError(f"SegmentationModel serves task='segment', not {task!r}")
        self.network = network
        self.task = task
        self._network_key = check_network_name(network)
        self.plan_overrides = dict(plan_overrides)
        self.network_: nn.Module | None = None
        self.plan_ = None
        self.class_names_: list[str] | None = None
        self.run_dir_: Path | None = None
        self.metadata_: dict[str, Any] = {}
        self.failed_: list[tuple[str, str]] = []
        self._seg_dataset: SegmentationDataset | None = None

    # ------------------------------------------------------------------ training
    def fit(  # type: ignore[override]
        self,
        data: SegmentationDataset | str | Path,
        *,
        run_dir: str | Path | None = None,
        runs_root: str | Path = "runs",
        config_file: str | Path | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: str | tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> SegmentationModel:
        """Pair, fingerprint, plan and train on ``data``; evaluate on its test split. Returns ``self``.

        Args:
            data: a :class:`SegmentationDataset` or a path for :meth:`SegmentationDataset.load`.
            run_dir: where to write the run (default ``runs/<dataset>/expN``).
            runs_root: parent of automatically named run folders.
            config_file: JSON of plan fields, applied over the plan and under keyword arguments.
            include, exclude, window: passed to :meth:`SegmentationDataset.load`.
            **kwargs: :class:`~medimg.config.FitOptions` fields (``seed``, ``test_fraction``, ``resume``...),
                ``colour_table`` (for colour-coded masks) and plan fields (``epochs``, ``patch_size``...).
        """
        from medimg.run_folder import new_run_dir
        from medimg.tasks.segment.fit import fit_segmentation

        option_fields = set(FitOptions.model_fields)
        options = FitOptions(**{k: v for k, v in kwargs.items() if k in option_fields})
        if isinstance(data, SegmentationDataset):
            dataset = data
        else:
            dataset = SegmentationDataset.load(
                data,
                colour_table=kwargs.get("colour_table"),
                include=include,
                exclude=exclude,
                window=window,
                strict=options.strict,
            )
        overrides = {
            **self.plan_overrides,
            **{k: v for k, v in kwargs.items() if k not in option_fields and k not in DATA_OPTIONS},
        }
        if self.network != "auto":
            overrides.setdefault("network", self._network_key)
        layers = (read_config_file(config_file) if config_file else None, overrides)
        target = Path(run_dir) if run_dir else new_run_dir(runs_root, dataset.name)
        result = fit_segmentation(dataset, target, options, plan_layers=layers)
        self.network_, self.plan_ = result.network, result.plan
        self.class_names_ = list(result.plan.class_names)
        self.run_dir_, self.metadata_ = result.run_dir, result.metadata
        self._seg_dataset = dataset
        self.evaluate(dataset, split="test", strict=options.strict)
        return self

    @classmethod
    def load(cls, run_dir: str | Path) -> SegmentationModel:
        """Load a trained segmentation model from its run folder (needs nothing else).

        Raises:
            RunFolderError: the folder is missing files, or holds another task's model.
        """
        from medimg.engine.checkpoint import load_checkpoint
        from medimg.run_folder import RunFolder
        from medimg.tasks.segment.evaluate import load_network

        run = RunFolder(run_dir)
        if not run.path.is_dir():
            raise RunFolderError(f"run folder {run.path} does not exist")
        metadata = run.read_json("metadata.json")
        if metadata.get("task") != "segment":
            raise RunFolderError(f"{run.path} holds a {metadata.get('task', 'classify')!r} model; use Model.load")
        plan = SegPlan.model_validate(run.read_json("plan.json"))
        try:
            network = load_network(plan, load_checkpoint(run.file("model.pt"))["model"])
        except (RuntimeError, KeyError) as error:
            raise RunFolderError(f"{run.file('model.pt')} does not match plan.json: {error}") from error
        model = cls(network=plan.network, task="segment")
        model.network_, model.plan_ = network, plan
        model.class_names_ = list(plan.class_names)
        model.run_dir_, model.metadata_ = run.path, metadata
        return model

    # ------------------------------------------------------------------ evaluation
    def evaluate(  # type: ignore[override]
        self,
        data: SegmentationDataset | str | Path | None = None,
        *,
        split: str = "test",
        out_dir: str | Path | None = None,
        n_resamples: int = 1000,
        strict: bool = False,
    ) -> Any:
        """Evaluate on ``split`` of ``data`` (default: the training data with its saved split).

        Writes ``report.json``, ``report.html`` (with overlays) and ``per_case.csv`` to ``out_dir`` (default
        ``RUN/report`` for the training data's test split, ``RUN/evaluations/<dataset>-<split>`` otherwise).

        Returns:
            :class:`~medimg.tasks.segment.report.SegmentationReport`.
        """
        from medimg.data.splits import Splits
        from medimg.run_folder import RunFolder
        from medimg.tasks.segment.evaluate import evaluate_cases

        network, plan = self._require_seg_fitted()
        run = RunFolder(self.run_dir_ or ".")
        if split not in {"train", "val", "test", "all"}:
            raise ConfigError(f"unknown split {split!r}.{did_you_mean(split, ['train', 'val', 'test', 'all'])}")
        own = data is None or data is self._seg_dataset
        if data is None:
            dataset = self._training_seg_dataset()
        elif isinstance(data, SegmentationDataset):
            dataset = data
        else:
            dataset = SegmentationDataset.load(data, **self._seg_dataset_options())
        if split == "all":
            cases = list(dataset.cases)
        elif own and run.file("splits.json").is_file():
            splits = Splits.from_dict(run.read_json("splits.json"))
            cases = [c for c in dataset.cases if splits.assignment.get(c.case_id) == split]
        else:
            cases = [c for c in dataset.cases if c.split == split]
        if not cases:
            raise DatasetError(f"{dataset.name} has no {split!r} cases; use split='all' for an external set")
        target = (
            Path(out_dir)
            if out_dir
            else (
                run.file("report") if own and split == "test" else run.file("evaluations") / f"{dataset.name}-{split}"
            )
        )
        report = evaluate_cases(
            network,
            plan,
            dataset,
            cases,
            split=split,
            out_dir=target,
            n_resamples=n_resamples,
            strict=strict,
            extra={
                "run_dir": str(run.path),
                "plan": {k: v for k, v in plan.model_dump().items() if k not in {"reasons", "label_encoding"}},
                "training": self.metadata_.get("training", {}),
            },
        )
        self.last_report_dir_ = target
        return report

    # ------------------------------------------------------------------ prediction
    def predict(
        self,
        inputs: str | Path | Sequence[str | Path],
        *,
        explain: str | None = None,
        out_dir: str | Path | None = None,
    ) -> list[Any]:
        """Segment files and/or folders; write one mask per input in its own format and geometry.

        Args:
            inputs: image files or folders (PNG, JPEG, BMP, TIFF, DICOM, NIfTI).
            explain: not available for segmentation (the mask is the explanation); must be ``None``.
            out_dir: folder for the masks (default ``RUN/predictions``): ``<name>_mask.nii.gz`` with the
                input's affine for NIfTI, ``<name>_mask.png`` at the original size otherwise.

        Returns:
            One :class:`~medimg.tasks.segment.evaluate.SegmentationPrediction` per readable file; unreadable files
            are logged and listed in ``self.failed_``.
        """
        from medimg.io.inputs import expand_inputs
        from medimg.tasks.segment.evaluate import predict_files

        if explain is not None:
            raise ConfigError("explain is not available for segmentation models: the predicted mask is the output")
        network, plan = self._require_seg_fitted()
        items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        files = expand_inputs(items)
        target = Path(out_dir) if out_dir else (self.run_dir_ or Path(".")) / "predictions"
        window = (self.metadata_.get("input") or {}).get("window")
        colours = None
        table = plan.label_encoding.colour_table
        if table is not None:
            colours = {label: colour for colour, label in table.lookup().items() if label < plan.num_classes}
            colours = {label: colours[label] for label in sorted(colours)}
        predictions, failed = predict_files(
            network, plan, files, target, window=tuple(window) if isinstance(window, list) else window, colours=colours
        )
        for path, reason in failed:
            logger.warning("skipped %s: %s", path, reason)
        self.failed_ = failed
        return predictions

    # ------------------------------------------------------------------ helpers
    def _require_seg_fitted(self) -> tuple[nn.Module, SegPlan]:
        if self.network_ is None or self.plan_ is None:
            raise NotFittedError("this model is not trained: call fit(...) or Model.load(run_dir) first")
        return self.network_, self.plan_

    def _seg_dataset_options(self) -> dict[str, Any]:
        if self.run_dir_ is None:
            return {}
        from medimg.run_folder import RunFolder

        options = RunFolder(self.run_dir_).read_json("config.json").get("dataset_options", {})
        window = options.get("window")
        return {
            "include": options.get("include") or None,
            "exclude": options.get("exclude") or None,
            "window": tuple(window) if isinstance(window, list) else window,
            "colour_table": options.get("colour_table"),
        }

    def _training_seg_dataset(self) -> SegmentationDataset:
        if self._seg_dataset is not None:
            return self._seg_dataset
        from medimg.run_folder import RunFolder

        config = RunFolder(self.run_dir_ or ".").read_json("config.json")
        dataset = SegmentationDataset.load(config["data"], **self._seg_dataset_options())
        self._seg_dataset = dataset
        return dataset
