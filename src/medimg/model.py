"""``Model``: the one object users hold, for every task and backend. It validates, resolves options and
delegates; it does not train.

The task comes from the task registry (:mod:`medimg.tasks.registry`: classify, segment), the backend from the
model name: a torch network (trained by the shared engine) or a scikit-learn estimator on image features
(:class:`~medimg.classical.model.ClassicalModel`). Plan overrides are checked against the task's plan fields
in the constructor, before any image is read.

Example:
    >>> from medimg import Dataset, Model
    >>> ds = Dataset.load("data/herlev", exclude="*-d.bmp")            # doctest: +SKIP
    >>> model = Model("resnet18").fit(ds, epochs=20)                   # doctest: +SKIP
    >>> report = model.evaluate()                                      # doctest: +SKIP
    >>> model.predict("cell.bmp")[0].label                             # doctest: +SKIP
    >>> Model("unet", task="segment").fit("data/drive")                # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medimg.config import CLASSICAL_MODELS, FitOptions, check_overrides, read_config_file
from medimg.errors import (
    ConfigError,
    DatasetError,
    ImageReadError,
    MedimgError,
    NotFittedError,
    RunFolderError,
    did_you_mean,
)
from medimg.io.arrays import holds_arrays, is_array_data
from medimg.io.in_memory import holds_file_bytes, predict_file_bytes
from medimg.io.inputs import shell_quoted

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from medimg.classical.model import ClassicalModel
    from medimg.data.pool import PoolSource
    from medimg.data.quality import CheckReport
    from medimg.evaluation.report import Report
    from medimg.export.onnx_export import ExportResult
    from medimg.io.series_inputs import PredictionInputs
    from medimg.planning.domain import InputReader
    from medimg.tasks.base import Task
    from medimg.tasks.classify.predict import Prediction
    from medimg.tasks.classify.stream import StreamStats
    from medimg.tasks.generate.synthesis import SyntheticSet
    from medimg.tasks.segment.masks import SegmentationPrediction

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test", "all")


def trained_before_evaluation(run_dir: Path, error: Exception | None = None) -> str:
    """What a user is told when the test evaluation after training fails: the trained model is kept. An error that
    asks for ``--mask-labels`` (test masks holding values the training masks do not) gets the evaluate command with
    it: the option is evaluate's, and `medimg fit` has none."""
    option = re.search(r"--mask-labels '[^']*'", str(error or ""))
    if option is not None:
        return (
            f"training finished before this: the model is saved in {run_dir} (`medimg predict "
            f"{shell_quoted(run_dir)} IMAGES` works now); `medimg evaluate {shell_quoted(run_dir)} {option.group(0)}` "
            "scores its test split with the mask values mapped (an option of evaluate, not of fit)"
        )
    return (
        f"training finished before this: the model is saved in {run_dir} (`medimg predict {shell_quoted(run_dir)} "
        f"IMAGES` works now); fix the above, then `medimg evaluate {shell_quoted(run_dir)}` scores its test split"
    )


class Model:
    """A medical image model: ``fit``, ``evaluate``, ``predict``, ``export``, ``load``.

    Args:
        network: a registry name (``"resnet18"``, ``"unet"``...; see ``medimg networks``), a classical model
            (``"random-forest"``...) or ``"auto"`` to let the planner choose.
        task: ``"classify"``, ``"segment"``, ``"detect"`` or ``"generate"`` (see
            :func:`medimg.tasks.registry.list_tasks`).
        **plan_overrides: any field of the task's plan (``epochs=5``, ``learning_rate=1e-3``...) or run option
            (``seed``...), checked now: an unknown name or an invalid value raises :class:`ConfigError`.

    Attributes (after ``fit`` or ``load``):
        network_: the trained ``torch.nn.Module`` (best validation epoch; ``None`` for classical models).
        estimator_, extractor_: classical models: the fitted scikit-learn pipeline and feature extractor.
        plan_: the resolved plan (``None`` for classical models).
        class_names_: label names, index-aligned with the outputs (``classes_``, scikit-learn's name, too). Classes
            named by folders or text labels come in medimg's order: of two, a "normal"-like class first (the
            negative class), else alphabetically; scikit-learn's ``LabelEncoder`` numbers them alphabetically, so
            integer labels given to :meth:`evaluate` must index ``classes_`` (or give the names).
        run_dir_: the run folder holding the bundle.
        metadata_: ``metadata.json`` as a dict.
        report_: the test-split report of ``fit`` (metrics with CIs; also written to ``RUN/report``).
        last_report_dir_: folder of the latest report (after ``evaluate``).
        failed_: unreadable files of the latest ``predict``.
    """

    def __init__(self, network: str = "auto", task: str = "classify", **plan_overrides: Any) -> None:
        from medimg.tasks.registry import get_task

        self._task: Task = get_task(task)
        self.task = self._task.name
        from medimg.registry import spelled_as

        network = spelled_as(network, CLASSICAL_MODELS) or network  # random_forest, RandomForest: random-forest
        self.network = network
        self.backend = "sklearn" if network.lower() in CLASSICAL_MODELS else "torch"
        self._classical: ClassicalModel | None = None
        if self.backend == "sklearn":
            if self.task != "classify":
                raise ConfigError(f"{network!r} is a classical classifier; it cannot serve task={task!r}")
            from medimg.classical.model import ClassicalModel

            self._classical = ClassicalModel(network, **plan_overrides)
        else:
            if network != "auto":
                try:
                    self.network = self._task.check_network(network)
                except ConfigError as error:
                    other = _task_of_network(network, self.task)
                    if other is not None:
                        raise ConfigError(
                            f"{network!r} is a {other} network, not a {self.task} one: Model({network!r}, "
                            f"task={other!r}) (on the command line, --task {other}) reads the data for {other}, or "
                            f"choose a {self.task} network"
                        ) from error
                    if self.task != "classify":
                        raise
                    close = did_you_mean(network, CLASSICAL_MODELS)
                    raise ConfigError(f"{error}{close} Classical models: {', '.join(CLASSICAL_MODELS)}.") from error
            check_overrides(self._task.plan_type, plan_overrides, (*FitOptions.model_fields, *self._task.data_options))
        self.plan_overrides = dict(plan_overrides)
        self.network_: nn.Module | None = None
        self.plan_: Any = None
        self.class_names_: list[str] | None = None
        self.run_dir_: Path | None = None
        self.metadata_: dict[str, Any] = {}
        self.failed_: list[tuple[str, str]] = []
        self.last_report_dir_: Path | None = None
        self._holding_run = False  # fit holds the run folder's lock (claim_run_dir) while it evaluates in it
        self.report_: Report | None = None
        self.cv_summary_: dict[str, Any] | None = None
        self.estimator_: Any = None  # sklearn backend: the fitted pipeline and its feature extractor
        self.extractor_: Any = None
        self._dataset: Any = None

    def __repr__(self) -> str:
        from medimg.run_folder import shown_path

        state = f"run_dir={shown_path(self.run_dir_)!r}" if self.run_dir_ else "not fitted"
        network = getattr(self.plan_, "network", None) or self.network  # what "auto" became, once fitted
        return f"Model(network={network!r}, task={self.task!r}, {state})"

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: Any,
        labels: Any = None,
        *,
        validation_data: tuple[Any, Any] | None = None,
        test_data: tuple[Any, Any] | None = None,
        run_dir: str | Path | None = None,
        runs_root: str | Path = "runs",
        config_file: str | Path | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        window: str | tuple[float, float] | None = None,
        unlabelled: PoolSource | Any = None,
        check: CheckReport | None = None,
        **kwargs: Any,
    ) -> Model:
        """Check, fingerprint, plan and train on ``data``; evaluate on its test split. Returns ``self``.

        Args:
            data: a dataset (:meth:`medimg.Dataset.load`), a path to load one for this task, or (classification)
                images as an array ``X`` of ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or ``(N, D, H, W)``
                (or a list of equally shaped images), or a list of image files, with ``labels``.
            labels: ``y`` for images given as an array or a list of image files: a class per image (``0..K-1``
                named by ``class_names=[...]``, or text), or ``(N, K)`` 0/1 findings. The arrays are written to
                ``RUN/training_data.npz`` (:mod:`medimg.data.given_arrays`), the files' labels to
                ``RUN/training_labels.csv`` (:mod:`medimg.data.given_files`), so the run evaluates and resumes like
                one fitted on a file; medimg makes the split unless ``validation_data``/``test_data`` give
                ``(X, y)`` pairs for those splits.
            validation_data, test_data: ``(X, y)`` of the validation / test split, with ``labels``.
            run_dir: where to write the run (default ``runs/<dataset>/expN``).
            runs_root: parent of automatically named run folders.
            config_file: JSON of plan fields, applied over the plan and under keyword arguments.
            include, exclude, window: loading options when ``data`` is a path.
            unlabelled: an unlabelled pool for semi-supervised training (``plan.semi_supervised``): a folder of
                images, a CSV manifest, ``data`` itself (its rows with an empty label / images without a mask),
                a loaded dataset, a list of image files, cases of ``data``, or (beside images given as an array)
                an array of images shaped like them, ``fit(X, y, unlabelled=X_pool)``, kept in the run's
                ``training_data.npz`` as ``unlabelled_images``. Pool images that are validation or test images are
                dropped; the pool is never evaluated on.
            check: the dataset check of ``data`` already made (``medimg fit`` runs it first): its label conflicts
                are used instead of reading every image again.
            **kwargs: :class:`~medimg.config.FitOptions` fields (``seed``, ``folds``, ``resume``, ``strict``,
                ``keep_conflicts``, ``progress``...), the task's data options (``colour_table``) and plan fields
                (``epochs``...).

        Classification data is searched for identical images with different labels first; every copy is left out
        of training, validation and test (listed in ``dataset.json`` and the training summary) unless
        ``keep_conflicts`` (``strict`` refuses them).

        Under ``torchrun`` every process calls this; the processes train one model together and rank 0 writes
        the run folder and evaluates (the other ranks return with nothing fitted).
        """
        _refuse_two_values(self.plan_overrides, kwargs, skip={*FitOptions.model_fields, *self._task.data_options})
        run_options = self._run_options()  # Model(seed=0) is fit(seed=0); fit's own win
        kwargs = {**run_options, **kwargs}
        refit = self._classical is None and self.run_dir_ is not None
        if refit and "weights_path" not in {*kwargs, *self.plan_overrides}:
            logger.warning(
                "this Model holds the trained run %s: fit trains a new network from scratch (as scikit-learn's "
                "fit does); weights_path=%r starts from its weights instead",
                self.run_dir_,
                str(Path(str(self.run_dir_)) / "model.pt"),
            )
        pooled_arrays = unlabelled is not None and is_array_data(unlabelled)
        given_copy: Path | None = None  # the run folder fit made for data given as arrays or files
        if labels is not None or validation_data is not None or test_data is not None or is_array_data(data):
            made = run_dir is None
            data, run_dir = self._given_data(
                data,
                labels,
                validation_data,
                test_data,
                kwargs.pop("class_names", None),
                run_dir,
                runs_root,
                kwargs,
                unlabelled if pooled_arrays else None,
            )
            given_copy = Path(run_dir) if made else None
            if pooled_arrays:  # the pool is now the run's copy of the arrays' own unlabelled images
                unlabelled = data.root
        try:
            return self._fit_data(
                data, run_dir, runs_root, config_file, include, exclude, window, unlabelled, check, kwargs
            )
        except BaseException:
            if given_copy is not None:  # nothing trained: the run folder made for the arrays' copy goes too
                from medimg.run_folder import discard_unused_copy

                discard_unused_copy(given_copy)
            raise

    def _fit_data(
        self,
        data: Any,
        run_dir: str | Path | None,
        runs_root: str | Path,
        config_file: str | Path | None,
        include: str | Sequence[str] | None,
        exclude: str | Sequence[str] | None,
        window: str | tuple[float, float] | None,
        unlabelled: Any,
        check: CheckReport | None,
        kwargs: dict[str, Any],
    ) -> Model:
        """:meth:`fit` once data given as arrays or files is in its run folder."""
        pooled_arrays = unlabelled is not None and is_array_data(unlabelled)
        if pooled_arrays and not isinstance(unlabelled, Path):
            raise ConfigError(
                "unlabelled= holds images as an array: give it beside images given as an array, fit(X, y, "
                "unlabelled=X_pool); beside a folder or files give the pool as a folder or a list of image files"
            )
        if self._classical is not None:
            from medimg.run_folder import refuse_run_inside_data

            if unlabelled is not None:
                raise ConfigError(f"{self.network} is a classical model: semi-supervised training needs a network")
            if kwargs.get("synthetic"):
                raise ConfigError(f"{self.network} is a classical model: synthetic training images need a network")
            if kwargs.get("teacher"):
                raise ConfigError(f"{self.network} is a classical model: distillation from a teacher needs a network")
            options = FitOptions(**{k: v for k, v in kwargs.items() if k in FitOptions.model_fields})
            label_column = kwargs.pop("label_column", None)
            loaded = self._as_dataset(data, include=include, exclude=exclude, window=window, label_column=label_column)
            refuse_run_inside_data(Path(run_dir or runs_root), Path(loaded.root))
            self._classical.fit(
                self._without_unusable_images(loaded, options, check),
                run_dir=run_dir,
                runs_root=runs_root,
                config_file=config_file,
                include=include,
                exclude=exclude,
                window=window,
                **kwargs,
            )
            self._adopt(self._classical)
            self.report_ = getattr(self._classical, "report_", None)
            return self
        from medimg.engine.distributed import init_distributed
        from medimg.engine.run import check_train_on_all
        from medimg.run_folder import (
            create_run_dir,
            latest_resumable_run,
            looks_like_run,
            refuse_run_inside_data,
        )

        fields = set(FitOptions.model_fields)
        check_overrides(self._task.plan_type, kwargs, (*fields, *self._task.data_options))
        options = FitOptions(**{k: v for k, v in kwargs.items() if k in fields})
        if options.train_on_all:
            check_train_on_all(self._task, options.folds)
        if options.teacher is not None and self._task.name != "classify":
            raise ConfigError(f"--teacher distils a classifier; the {self._task.name} task does not take one")
        data_options = {k: kwargs[k] for k in self._task.data_options if kwargs.get(k) is not None}
        dataset = self._as_dataset(data, include=include, exclude=exclude, window=window, **data_options)
        if getattr(dataset, "multi_label", False) and (unlabelled is not None or options.teacher is not None):
            raise ConfigError(
                f"{dataset.root} lists several findings per image: semi-supervised training (--unlabelled) and "
                "distillation (--teacher) take single-label classification data; train without them"
            )
        refuse_run_inside_data(Path(run_dir or runs_root), Path(dataset.root))  # before any folder is made
        dataset = self._without_unusable_images(dataset, options, check)
        if unlabelled is not None:
            from medimg.data.pool import attach_pool

            dataset, pool_name = attach_pool(dataset, unlabelled)
            options = options.model_copy(update={"unlabelled": pool_name})
        run_options = self._run_options()  # already in kwargs (fit merged them): not plan fields
        overrides = {
            **{k: v for k, v in self.plan_overrides.items() if k not in run_options},
            **{k: v for k, v in kwargs.items() if k not in fields and k not in self._task.data_options},
        }
        if self.network != "auto":
            overrides.setdefault("network", self.network)
        layers: tuple[dict[str, Any] | None, ...] = (read_config_file(config_file) if config_file else None, overrides)
        given = [layer for layer in layers if layer and "reasons" not in layer]  # a saved plan.json holds every field
        if unlabelled is None and not options.resume and any("semi_supervised" in layer for layer in given):
            logger.warning(
                "semi_supervised settings are given, but no unlabelled pool: they apply only with one, and this run "
                "trains on the labelled images alone (add --unlabelled POOL; Python: fit(..., unlabelled=POOL))"
            )
        if options.teacher is not None:  # the student sees its inputs as the teacher does, unless told otherwise
            from medimg.tasks.classify.distillation import teacher_inputs

            layers = (teacher_inputs(options.teacher), *layers)
        dist = init_distributed()
        interrupted = latest_resumable_run(runs_root, dataset.name) if options.resume and not run_dir else None
        if options.resume and run_dir and not looks_like_run(Path(run_dir)):  # a typo must not start afresh
            raise RunFolderError(
                f"--resume: {run_dir} holds no run to continue (no config.json, plan.json or checkpoints/): check "
                "the path, or drop --resume to start a new run there"
            )
        if run_dir or interrupted:
            target = Path(run_dir or str(interrupted))
            if interrupted:
                logger.info("--resume without --run-dir: continuing the latest interrupted run, %s", interrupted)
        else:  # rank 0 creates the folder; the others learn its name
            target = dist.broadcast(create_run_dir(runs_root, dataset.name) if dist.is_main else Path())
        if options.resume:
            options, dataset = _with_interrupted_runs_sources(target, options, dataset)
        self._dataset = dataset
        try:
            return self._fit_in(target, dataset, options, layers, dist)
        except MedimgError:
            if not (run_dir or interrupted) and dist.is_main:  # the expN made here, refused before training: gone
                from medimg.run_folder import discard_unused_copy

                discard_unused_copy(target)
            raise

    def _fit_in(
        self, target: Path, dataset: Any, options: FitOptions, layers: tuple[dict[str, Any] | None, ...], dist: Any
    ) -> Model:
        """Train into the run folder ``target`` (claimed for the whole fit) and evaluate on the test split."""
        from medimg.engine.run import fit_run, without_test_split
        from medimg.run_folder import claim_run_dir

        with claim_run_dir(target, dist):  # one process per run folder, for training and report
            if options.folds:
                from medimg.engine.cross_validation import fit_cross_validation

                first, self.cv_summary_ = fit_cross_validation(
                    self._task, dataset, target, options, plan_layers=layers, distributed=dist, score=self._score
                )
                if first is not None:
                    self._adopt_fit(first)
                    logger.info(
                        "cross-validation: the first fold's network is this Model's (Python; cv_summary_ holds the "
                        "scores); from the command line predict, evaluate and export a fold's run: medimg predict %s "
                        "IMAGES; the folds' scores are in %s; to deploy, train once on all the data without folds",
                        shell_quoted(target / "fold_0"),
                        target / "cv.json",
                    )
                return self
            fit = fit_run(self._task, dataset, target, options, plan_layers=layers, distributed=dist)
            if fit is None:  # a distributed rank other than 0: rank 0 holds the model and writes the report
                return self
            self._adopt_fit(fit)
            self.report_ = None
            if without_test_split(fit.run_dir):  # --test-fraction 0: nothing held out to report on (a note says so)
                return self
            self._holding_run = True
            try:
                self.report_ = self.evaluate(dataset, split="test", strict=options.strict)
            except MedimgError as error:  # a test image or mask only the evaluation reads: the model is not lost
                error.args = (f"{error}\n{trained_before_evaluation(fit.run_dir, error)}",)
                raise
            finally:
                self._holding_run = False
        return self

    def _run_options(self) -> dict[str, Any]:
        """The constructor's run options (``seed``, ``progress``...) and data options: :meth:`fit` takes them, the
        plan does not."""
        names = {*FitOptions.model_fields, *self._task.data_options}
        return {k: v for k, v in self.plan_overrides.items() if k in names}

    def _given_data(
        self,
        images: Any,
        labels: Any,
        validation_data: tuple[Any, Any] | None,
        test_data: tuple[Any, Any] | None,
        class_names: Sequence[str] | None,
        run_dir: str | Path | None,
        runs_root: str | Path,
        options: dict[str, Any],
        unlabelled: Any = None,
    ) -> tuple[Any, Path]:
        """:meth:`fit`'s data given as arrays or as lists of files, with labels: what to train on and the run
        folder, which keeps a copy (``training_data.npz`` of the arrays, read from memory meanwhile; or
        ``training_labels.csv`` naming the files, then read like any CSV manifest), written by rank 0 alone.
        ``unlabelled`` images given as an array go into the arrays' copy as its unlabelled pool."""
        from medimg.data.given_arrays import ARRAYS_FILE, GivenArrays, given_arrays
        from medimg.data.given_files import FILES_TABLE, is_file_list, labels_table
        from medimg.engine.distributed import init_distributed
        from medimg.run_folder import RunFolder, create_run_dir

        if labels is None and not is_array_data(images) and not is_file_list(images):
            raise ConfigError(  # fit("data/train", validation_data="data/val")
                "validation_data and test_data take (X, y) pairs beside fit(X, y) or fit(paths, labels); data from a "
                "folder brings its own parts: train/, val/ and test/ sub-folders, or a split column in a CSV manifest"
            )
        arrays = self._given_as_arrays(images, "fit", getattr(self._task, "data_task", self.task))
        given: dict[str, Any] = {"validation_data": validation_data, "test_data": test_data, "class_names": class_names}
        if unlabelled is not None and not arrays:
            raise ConfigError(
                "unlabelled= holds images as an array but the labelled images are files: give the pool as a list of "
                "image files (or a folder), or give both as arrays"
            )
        gathered = (
            given_arrays(images, labels, unlabelled=unlabelled, **given)
            if arrays
            else labels_table(images, labels, **given)
        )
        dist = init_distributed()
        name = "arrays" if arrays else "files"
        target = (
            Path(run_dir) if run_dir else dist.broadcast(create_run_dir(runs_root, name) if dist.is_main else Path())
        )
        copy = target.absolute() / (ARRAYS_FILE if arrays else FILES_TABLE)  # the data is found after os.chdir
        RunFolder(target).ensure_writable(resume=bool(options.get("resume")))  # never over a finished run's copy
        if dist.is_main:
            gathered.save(copy)
        dist.barrier()  # written before any rank reads it
        return (gathered.dataset(copy) if isinstance(gathered, GivenArrays) else copy), target

    @classmethod
    def load(cls, run_dir: str | Path) -> Model:
        """Load a trained model from its run folder (needs nothing else).

        Raises:
            RunFolderError: the folder is missing files, unreadable, or a cross-validation parent.
        """
        from medimg.bundle import load_bundle
        from medimg.run_folder import RunFolder, run_folder_to_load

        run = RunFolder(run_folder_to_load(run_dir))
        metadata = run.read_json("metadata.json") if run.file("metadata.json").is_file() else {}
        network = str(metadata.get("network", "auto"))
        if network.lower() in CLASSICAL_MODELS:
            from medimg.classical.model import ClassicalModel

            model = cls(network, task=str(metadata.get("task", "classify")))
            return model._adopt(ClassicalModel.load(run.path))
        bundle = load_bundle(run.path)
        model = cls(network or "auto", task=bundle.task)
        model.network_, model.plan_, model.class_names_ = bundle.network_, bundle.plan_, bundle.class_names_
        model.run_dir_, model.metadata_ = bundle.run_dir_, bundle.metadata_
        return model

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        data: Any = None,
        labels: Any = None,
        *,
        split: str = "test",
        out_dir: str | Path | None = None,
        n_resamples: int = 1000,
        strict: bool = False,
        window: str | tuple[float, float] | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        scale: float | None = None,
        mask_labels: str | Path | dict[str, str] | None = None,
        label_column: str | None = None,
    ) -> Report:
        """Evaluate on ``split`` of ``data`` (default: the training dataset and its saved split).

        Writes ``report.json``, ``report.html`` and plots to ``out_dir`` (default ``RUN/report`` for the
        training data's test split, ``RUN/evaluations/<dataset>-<split>`` otherwise). Images are read as the run's
        training data was (its include/exclude/window) unless ``window``/``include``/``exclude`` say otherwise,
        and compared with the training domain (the report's ``domain`` entry; ``strict`` refuses images outside
        it). A classification set holding one class is evaluated with the metrics defined on it.

        ``data`` may be images given as an array or a list of files, with their ``labels`` (``evaluate(X_test,
        y_test)``, as :meth:`fit` takes them; integer labels index this model's classes): all are evaluated.

        Segmentation only: ``scale`` resizes every image by this factor before the network (an external set at
        another pixel scale; predictions come back at the image's size, see :mod:`medimg.tasks.segment.scale`);
        masks in another encoding are mapped to the run's classes, ``mask_labels`` (``"0=background,1=vessel"``,
        a JSON file or a mapping) saying which value is which class where that is ambiguous
        (:mod:`medimg.tasks.segment.external`).

        Classification only: ``label_column`` names the column of classes of ``data``'s label table (the run's, when
        it was trained with one and the table has that column).

        Returns:
            The task's report (:class:`~medimg.evaluation.report.Report`): metrics with confidence intervals.
        """
        from medimg.data.case import normalise_split
        from medimg.evaluation import folders
        from medimg.fileio import atomic_directory

        split = "all" if split.strip().lower() == "all" else normalise_split(split) or split  # "validation": val
        segment_options = self._segmentation_options(scale=scale, mask_labels=mask_labels)
        given_record = None  # what identifies arrays given in memory (they have no path)
        if labels is not None or is_array_data(data):
            data, given_record = self._given_to_evaluate(data, labels)
            split = "all"  # they have no split of their own
        if out_dir is not None:
            folders.check_named_folder(Path(out_dir))
        if self._classical is not None:
            if label_column is not None and isinstance(data, (str, Path)):  # the classical model reads a Dataset too
                options = {**self._dataset_options(data), "label_column": label_column, "min_classes": 1}
                data = self._as_dataset(data, **options)
            with self._hold_run(Path(out_dir) if out_dir else self.run_dir_ or Path("."), "evaluate"):
                report = self._classical.evaluate(
                    data,
                    split=split,
                    out_dir=out_dir,
                    n_resamples=n_resamples,
                    given=given_record,
                    is_training_data=self._is_training_data,
                )
            self.last_report_dir_ = self._classical.last_report_dir_
            return report
        self._require_fitted()
        if split not in SPLIT_NAMES:
            raise ConfigError(f"unknown split {split!r}.{did_you_mean(split, SPLIT_NAMES)}")
        own = data is None or data is self._dataset
        given = {"window": window, "include": include, "exclude": exclude, "label_column": label_column}
        options = {**self._dataset_options(data), **{k: v for k, v in given.items() if v is not None}}
        if self.task == "classify":  # an external test set may hold one class: evaluated with the defined metrics
            options["min_classes"] = 1
        if data is None and any(v is not None for v in given.values()):  # the training data, read differently
            from medimg.run_folder import RunFolder

            data = RunFolder(self.run_dir_ or ".").trained_data()
        dataset = self._training_dataset() if data is None else self._evaluation_dataset(data, options)
        own = own or self._is_training_data(dataset)  # the training data by its path: its saved split, not all of it
        cases = self._cases(dataset, split, own=own)
        if not cases and not own and split == "test" and not any(c.split for c in dataset.cases):
            logger.info("%s has no split of its own: evaluating all of its %d images", dataset.root, len(dataset))
            split = "all"
            cases = self._cases(dataset, split, own=False)
        if not cases and own and split == "test":
            run = self.run_dir_ or "RUN"
            raise DatasetError(
                f"{run} was trained with no test split (--test-fraction 0): its other images trained or chose the "
                f"model; evaluate it on held-out data (medimg evaluate {shell_quoted(run)} DATA)"
            )
        if not cases:
            raise DatasetError(f"{dataset.name} has no {split!r} cases; use --split all for an external set")
        if own and split in ("all", "train", "val"):  # scores of images the model learnt from or was chosen on
            logger.warning(
                "the %r split of %s holds images this model trained on or chose its epoch on: the scores are "
                "optimistic; the test split (the default) is the honest estimate",
                split,
                dataset.name,
            )
        facts = folders.evaluation_facts(getattr(dataset, "root", None), split, given, given_record)
        own_test = own and split == "test" and not any(v is not None for v in given.values())
        target = (
            Path(out_dir)
            if out_dir
            else folders.default_folder(self.run_dir_ or Path("."), dataset.name, facts, own_test=own_test)
        )
        with (
            self._hold_run(target, "evaluate"),  # never while a fit writes the run; alone while writing into it
            atomic_directory(target, replace=out_dir is None) as staging,  # a kill never leaves half a report
        ):
            folders.write_facts(staging, facts, optimistic=own and split in ("all", "train", "val"))
            report = self._task.evaluate(
                self,
                dataset,
                cases,
                split=split,
                out_dir=staging,
                n_resamples=n_resamples,
                strict=strict,
                **segment_options,
                **({"own_data": own} if self.task == "segment" else {}),
            )
        self.last_report_dir_ = target
        return report

    def _given_to_evaluate(self, images: Any, labels: Any) -> tuple[Any, dict[str, Any] | None]:
        """:meth:`evaluate`'s images given with labels (integer labels index this model's classes), and what
        identifies them in the evaluation's record. An array is a dataset in memory, identified by its image count
        and content digest (:meth:`~medimg.data.given_arrays.GivenArrays.record`); a list of files becomes a CSV
        manifest, ``RUN/evaluations/given/<digest>/files.csv``, whose path identifies it: different data never
        shares an evaluation folder (``arrays-all``, ``arrays-all-2``...)."""
        from medimg.data.given_arrays import MODEL_CLASSES, given_arrays
        from medimg.data.given_files import labels_table

        if labels is None:  # evaluate(X): the label_array message would speak of fit(X, y)
            raise ConfigError(
                "evaluate(X, y) scores images against their labels: give y, one label per image "
                "(predict(X) predicts images without labels)"
            )
        arrays = self._given_as_arrays(images, "evaluate", self.task)
        if self._classical is None:
            self._require_fitted()
        _warn_integer_labels_out_of_alphabetical_order(labels, self.class_names_ or [])
        if arrays:
            given = given_arrays(images, labels, class_names=self.class_names_, names_from=MODEL_CLASSES)
            self._warn_learnt_arrays(given)
            return given.dataset(Path("arrays")), given.record()
        table = labels_table(images, labels, class_names=self.class_names_, names_from=MODEL_CLASSES)
        folder = Path(self.run_dir_ or ".") / "evaluations" / "given" / table.digest()[:16]
        return table.save(folder / "files.csv"), None

    def _warn_learnt_arrays(self, given: Any) -> None:
        """Warn when arrays given to :meth:`evaluate` hold images this run trained on or chose its epoch on (its
        copy of the arrays it was fitted on, ``RUN/training_data.npz``): their scores are optimistic, as
        :meth:`_is_training_data` warns of files."""
        from medimg.data.given_arrays import learnt_images
        from medimg.run_folder import ARRAYS_COPY, RunFolder

        run = RunFolder(self.run_dir_ or ".")
        if not run.file("splits.json").is_file():
            return
        assignment = run.read_json("splits.json").get("assignment") or {}
        learnt = learnt_images(given, run.file(ARRAYS_COPY), assignment)
        if learnt:
            logger.warning(
                "%d of the %d images given are this run's training or validation images (the arrays it was fitted "
                "on, %s): their scores are optimistic; evaluate images it never saw (the test split: evaluate())",
                learnt,
                sum(len(images) for images in given.images.values()),
                run.file(ARRAYS_COPY),
            )

    def _given_as_arrays(self, images: Any, verb: str, reads: str) -> bool:
        """Whether the images given to ``fit``/``evaluate`` (``verb``) with labels are arrays (else a file list);
        ``reads``: the task whose data they are (a generator is fitted on a classifier's, evaluated on its own).

        Raises:
            ConfigError: that task reads masks or boxes (from files), or the images are neither.
        """
        from medimg.data.given_files import is_file_list

        if reads != "classify":
            raise ConfigError(
                f"{verb}(X, y) takes images and class labels; the {self.task} task reads its masks or boxes from "
                "files: give the folder or a CSV manifest of the images and their annotations"
            )
        arrays = is_array_data(images)
        if not arrays and not is_file_list(images):
            raise ConfigError(
                f"labels go with images given as an array ({verb}(X, y)) or a list of image files ({verb}(paths, "
                "labels)); a folder or a CSV manifest carries its own labels"
            )
        return arrays

    # ------------------------------------------------------------------ prediction
    def predict(
        self,
        inputs: str | Path | Sequence[str | Path] | Any,
        *,
        explain: str | bool | None = None,
        explain_class: str | int | None = None,
        out_dir: str | Path | None = None,
        window: str | tuple[float, float] | None = None,
        strict: bool = False,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        scale: float | None = None,
    ) -> list[Prediction | SegmentationPrediction]:
        """Predict files and/or folders (PNG, JPEG, BMP, TIFF, DICOM, NIfTI...), file contents as ``bytes`` (one, or a
        list; ``source`` ``bytes[i]``, :mod:`medimg.io.in_memory`), or (classifiers) images given as
        arrays: one NumPy array / PIL image / CPU tensor, or a list of them, each ``(H, W)``, ``(H, W, 3)`` RGB or
        ``(C, H, W)`` (3D: ``(D, H, W)``), holding the values a training file would (0..255, HU...); their
        ``source`` is ``array[i]``.

        Each input is compared with the run's training domain (:mod:`medimg.planning.domain`): an input outside
        it is logged as a warning and its prediction's ``domain`` says why.

        Args:
            inputs: files and/or folders.
            explain: classification: also explain each prediction (``True`` or ``"gradcam"``, ``"gradcam++"``,
                ``"occlusion"``; ``Prediction.heatmap`` and ``Prediction.overlay_png``).
            explain_class: the class (multi-label: the finding) every heatmap shows the evidence for, by name
                (any case) or index into :attr:`classes_`, instead of each image's predicted class (a clinician's
                "where does it see pneumonia?" on an image called normal); implies ``explain=True``.
            out_dir: segmentation: folder for the masks (default ``RUN/predictions``, or ``predictions2``... when
                an earlier call's masks are there), mirroring the input tree.
            window: intensity window instead of the run's (see :func:`medimg.io.read_image`).
            strict: refuse inputs outside the training domain (listed in ``failed_``) instead of warning.
            include, exclude: file-name patterns selecting the files inside folders.
            scale: segmentation: resize every input by this factor before the network (inputs at another pixel
                scale than training; masks come back at the input's size, see :mod:`medimg.tasks.segment.scale`).

        Returns:
            One prediction per readable image (the task's type: label and probabilities, or a mask).
            Unreadable files are logged and listed in ``self.failed_``. A DICOM series in a folder
            (:mod:`medimg.tasks.series_prediction`) gets one prediction of its volume from a 3D model (``source``:
            the folder, ``series``: its UID, slice count...), or from a 2D model one prediction per slice in slice
            order followed by a :class:`~medimg.tasks.series_prediction.SeriesSummary`.
        """
        explain = _explain_method(explain if explain_class is None or explain else True)
        _refuse_other_inputs(inputs, "predict")
        target = self._explained_class(explain_class)
        if holds_arrays(inputs):
            return self._predict_arrays(inputs, explain=explain, explain_class=target, window=window, strict=strict)
        if holds_file_bytes(inputs):  # file contents (an upload's bytes): read as the files they are
            return predict_file_bytes(
                inputs,
                lambda paths: self.predict(
                    paths,
                    explain=explain,
                    explain_class=explain_class,
                    out_dir=out_dir,
                    window=window,
                    strict=strict,
                    scale=scale,
                ),
                self,
            )
        segment_options = self._segmentation_options(scale=scale)
        if self._classical is not None:
            predictions = self._classical.predict(inputs, explain=explain, window=window, strict=strict)
            self.failed_ = self._classical.failed_
            return predictions
        self._require_fitted()
        from medimg.tasks.series_prediction import series_files, with_series

        reader, found, volumetric = self._prediction_inputs(inputs, window, strict, include, exclude)
        if target is not None:
            segment_options["explain_class"] = target  # a classifier's (refused for other tasks above)
        predictions, failed = self._task.predict(
            self,
            series_files(found, volumetric=volumetric, reader=reader),
            explain=explain,
            out_dir=Path(out_dir) if out_dir else None,
            reader=reader,
            **segment_options,
        )
        reader.annotate(predictions)
        predictions = list(with_series(predictions, found, volumetric=volumetric))
        for path, reason in failed if self.task != "classify" else ():  # a classifier's stream said each as read
            logger.warning("skipped %s: %s", path, reason)
        self.failed_ = failed
        return predictions

    def predict_proba(self, inputs: Any, **options: Any) -> np.ndarray:
        """scikit-learn's ``predict_proba``: a classifier's probabilities, ``(N, K)`` with columns in
        :attr:`classes_` order, one row per image :meth:`predict` reads (options as there; a DICOM series'
        summary is not a row). Multi-label: each finding's own probability.

        Raises:
            ConfigError: not a classifier.
        """
        import numpy as np

        if self.task != "classify":
            raise ConfigError(f"predict_proba gives class probabilities; this is a {self.task} model: use predict")
        rows = [p.probabilities for p in self.predict(inputs, **options) if hasattr(p, "probabilities")]
        names = self.class_names_ or []
        return np.array([[row[name] for name in names] for row in rows], dtype=float).reshape(len(rows), len(names))

    def preprocess(self, inputs: Any, *, window: str | tuple[float, float] | None = None) -> torch.Tensor:
        """A classifier's network input for images, made as :meth:`predict` makes it: read with the run's window,
        channels converted, resized, clipped and standardised by the run's plan. For the network in one's own
        code (a custom loop, another explanation library): ``model.network_(model.preprocess(x))`` are the
        logits whose softmax (sigmoid, multi-label) :meth:`predict` reports, less its flip test-time
        augmentation. The network takes nothing else: raw pixel values give meaningless outputs.

        Args:
            inputs: image files and/or folders, or images given as arrays (as :meth:`predict` takes them).
            window: intensity window instead of the run's.

        Returns:
            ``(N, in_channels, *input_size)`` float32 on the CPU, one row per image in input order.

        Raises:
            ConfigError: not a trained deep classifier.
            ImageReadError: an unreadable file (named), an image holding NaN or infinite pixels, or one outside the
                training domain ...
            DatasetError: ... or an image that does not fit the model (2D vs 3D, channels).
        """
        from medimg.io.inputs import expand_inputs
        from medimg.planning.domain import InputReader
        from medimg.transforms.preprocess import preprocess_arrays

        if self.task != "classify" or self._classical is not None:
            raise ConfigError(
                "preprocess makes a deep classifier's network input; this model predicts with predict(...)"
            )
        self._require_fitted()
        assert self.plan_ is not None
        reader = InputReader.for_run(self, window=window)
        if holds_arrays(inputs):
            images, failed = reader.read_arrays(inputs, self.plan_.spatial_dims, self.plan_.in_channels)
            if failed:  # one row per image given: an image that cannot be used is an error, as its file is
                raise ImageReadError(*failed[0])
        else:
            items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
            images = [reader.read(path) for path in expand_inputs(items)]
        sources = [image.source for image in images]
        metas = [image.meta for image in images]
        return preprocess_arrays([image.array for image in images], self.plan_, sources, metas).float()

    @property
    def classes_(self) -> list[str] | None:
        """scikit-learn's name for :attr:`class_names_`: the class (or finding) names, in output order."""
        return self.class_names_

    @property
    def operating_point_(self) -> dict[str, Any] | None:
        """A two-class classifier's operating point chosen on validation (``binary_threshold``) and folded into its
        bias, ``{"rule", "class", "thresholds"}`` (one raw threshold per network): its probabilities are relative to
        it (0.5 = the raw threshold). ``None`` for argmax, multi-label models and other tasks; as
        :attr:`medimg.export.predictor.OnnxPredictor.operating_point`."""
        if self.task != "classify":
            return None
        from medimg.tasks.classify.operating_point_record import run_operating_point

        return run_operating_point(self.plan_, self.metadata_ or {})

    def predict_iter(
        self,
        inputs: str | Path | Sequence[str | Path],
        *,
        explain: str | bool | None = None,
        explain_class: str | int | None = None,
        out_dir: str | Path | None = None,
        window: str | tuple[float, float] | None = None,
        strict: bool = False,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        stats: StreamStats | None = None,
        **stream: Any,
    ) -> Iterator[Prediction | SegmentationPrediction]:
        """:meth:`predict` as a stream, for folders of any size: a classifier (torch network) reads the files in
        chunks with a pool of decode workers while the network runs, and yields predictions in file order with
        memory bounded by a few chunks (:mod:`medimg.tasks.classify.stream`). Other tasks and classical models
        yield :meth:`predict`'s list.

        Args:
            stats: filled in as the stream runs (images, failed files, decode and network seconds).
            stream: ``chunk_size``, ``decode_workers``, ``decode_pool`` (see
                :func:`~medimg.tasks.classify.stream.stream_predictions`). Decode worker processes import the
                calling script again, so by default they start only in a notebook, the REPL or a script guarded
                by ``if __name__ == "__main__":`` (:func:`~medimg.tasks.classify.stream.workers_can_start`); an
                unguarded script reads in its own process unless it passes ``decode_workers=N``.

        ``self.failed_`` lists the unusable files read so far (complete once the iteration ends).
        """
        explain = _explain_method(explain if explain_class is None or explain else True)
        _refuse_other_inputs(inputs, "predict_iter")
        if holds_arrays(inputs) or holds_file_bytes(inputs) or self._classical is not None or self.task != "classify":
            yield from self.predict(
                inputs,
                explain=explain,
                explain_class=explain_class,
                out_dir=out_dir,
                window=window,
                strict=strict,
                include=include,
                exclude=exclude,
            )
            return
        target = self._explained_class(explain_class)
        self._require_fitted()
        from medimg.tasks.classify.predict import iter_predict_files
        from medimg.tasks.classify.stream import StreamStats
        from medimg.tasks.series_prediction import series_files, with_series

        assert self.network_ is not None and self.plan_ is not None
        stats = stats if stats is not None else StreamStats()
        self.failed_ = stats.failed
        reader, found, volumetric = self._prediction_inputs(inputs, window, strict, include, exclude)
        predictions = iter_predict_files(
            self.network_,
            self.plan_,
            self.class_names_ or [],
            series_files(found, volumetric=volumetric, reader=reader),
            reader=reader,
            explain=explain,
            explain_class=target,
            stats=stats,
            **stream,
        )
        yield from with_series(predictions, found, volumetric=volumetric)

    def _explained_class(self, explain_class: str | int | None) -> int | None:
        """``predict``'s ``explain_class`` as an index into :attr:`classes_` (a name matched as the data's class
        names are, whatever its case); ``None`` for the predicted class.

        Raises:
            ConfigError: not a deep classifier, or a class the model does not have (the model's classes named).
        """
        if explain_class is None:
            return None
        if self._classical is not None or self.task != "classify":
            raise ConfigError(f"explain_class={explain_class!r} is for a deep classifier's heatmaps")
        self._require_fitted()
        from medimg.data.labels import class_by_name_or_index

        names = list(self.class_names_ or [])
        found = class_by_name_or_index(explain_class, names)
        if found is not None:
            return found
        raise ConfigError(
            f"explain_class={explain_class!r} is not a class of this model ({', '.join(map(repr, names))}, or an "
            f"index 0..{len(names) - 1}).{did_you_mean(str(explain_class), names)}"
        )

    def _predict_arrays(
        self,
        inputs: Any,
        *,
        explain: str | None,
        window: str | tuple[float, float] | None,
        strict: bool,
        explain_class: int | None = None,
    ) -> list[Prediction | SegmentationPrediction]:
        """:meth:`predict` of images given as arrays (a classifier; see :mod:`medimg.io.arrays` for the layouts)."""
        from medimg.io.arrays import refuse_arrays_unless_classifier
        from medimg.planning.domain import InputReader
        from medimg.tasks.classify.predict import predict_images

        if self._classical is not None:
            if explain:
                raise ConfigError(f"explain={explain!r} needs a deep model; classical models have no saliency maps")
            predictions = self._classical.predict_arrays(inputs)
            self.failed_ = self._classical.failed_
            return list(predictions)
        refuse_arrays_unless_classifier(self.task)
        self._require_fitted()
        assert self.network_ is not None and self.plan_ is not None
        reader = InputReader.for_run(self, window=window, strict=strict)
        images, failed = reader.read_arrays(inputs, self.plan_.spatial_dims, self.plan_.in_channels)
        predictions = predict_images(
            self.network_, self.plan_, self.class_names_ or [], images, explain=explain, explain_class=explain_class
        )
        reader.annotate(predictions)
        self.failed_ = failed
        return list(predictions)

    def _prediction_inputs(
        self,
        inputs: str | Path | Sequence[str | Path],
        window: str | tuple[float, float] | None,
        strict: bool,
        include: str | Sequence[str] | None,
        exclude: str | Sequence[str] | None,
    ) -> tuple[InputReader, PredictionInputs, bool]:
        """What :meth:`predict` and :meth:`predict_iter` read: the run's input reader (window, domain check), the
        files and DICOM series found in ``inputs`` (:func:`medimg.io.series_inputs.expand_prediction_inputs`) and
        whether the model is 3D (a series is then one volume)."""
        from medimg.io.series_inputs import expand_prediction_inputs
        from medimg.planning.domain import InputReader

        items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        reader = InputReader.for_run(self, window=window, strict=strict)
        if include is None and exclude is None and any(Path(item).is_dir() for item in items):
            exclude = self._fit_exclusions()
        found = expand_prediction_inputs(items, include=include, exclude=exclude, leave_out=reader.not_inputs)
        return reader, found, getattr(self.plan_, "spatial_dims", 2) == 3

    def _fit_exclusions(self) -> list[str] | None:
        """The file-name patterns the run's fit left out (``--exclude``, those without a folder), which a folder to
        predict then leaves out too: AutoPET's study folder of ``CT.nii.gz``, ``PET.nii.gz`` and ``SUV.nii.gz``, of
        which a model fit with ``--exclude CT.nii.gz,PET.nii.gz`` knows SUV only, had each segmented."""
        patterns = [p for p in self._dataset_options().get("exclude") or [] if "/" not in p]
        if patterns:
            logger.info(
                "files in folders named as fit left them out (--exclude %s) are left out; give --include or "
                "--exclude to choose otherwise",
                ",".join(patterns),
            )
        return patterns or None

    # ------------------------------------------------------------------ generation
    def generate(self, n: int, *, out_dir: str | Path, class_name: str | None = None, seed: int = 0) -> SyntheticSet:
        """Draw ``n`` images from a generative model (``task="generate"``) into ``out_dir``: class folders in the
        training data's format and size, with ``synthetic.csv`` marking them synthetic (``fit(...,
        synthetic=out_dir)`` adds them to a training split).

        Args:
            n: images to draw (all of ``class_name``, or spread evenly over the classes).
            out_dir: the set's folder (an existing set is added to).
            class_name: the class to draw, or ``None`` for all.
            seed: noise seed (the same seed draws the same images).
        """
        if self.task != "generate":
            raise ConfigError(f"generate needs a generative model (task 'generate'); this one is task {self.task!r}")
        self._require_fitted()
        from medimg.tasks.generate.synthesis import write_synthetic_set

        assert self.network_ is not None
        return write_synthetic_set(
            self.network_, self.plan_, out_dir, n=n, class_name=class_name, seed=seed, run=str(self.run_dir_ or "")
        )

    # ------------------------------------------------------------------ deployment
    def export(
        self,
        path: str | Path | None = None,
        *,
        format: str = "onnx",
        parity_inputs: Sequence[str | Path] | None = None,
        tolerance: float = 1e-4,
    ) -> ExportResult:
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
        if self._classical is not None:
            raise ConfigError(
                f"{self.network} is a scikit-learn model: ONNX export covers torch networks; the run folder "
                f"({self.run_dir_}) is its deployable bundle (Model.load / medimg predict; serve needs a network)"
            )
        self._require_fitted()
        from medimg.export.onnx_export import export_onnx

        return export_onnx(self, path, parity_inputs=parity_inputs, tolerance=tolerance)

    # ------------------------------------------------------------------ helpers
    def _adopt(self, classical: ClassicalModel) -> Model:
        """Take the state of the sklearn backend after its fit or load."""
        self._classical = classical
        if classical.run_dir_ is not None:  # absolute: the run is found again after os.chdir
            classical.run_dir_ = Path(classical.run_dir_).absolute()
        self.estimator_, self.extractor_ = classical.estimator_, classical.extractor_
        self.class_names_ = classical.class_names_
        self.run_dir_, self.metadata_ = classical.run_dir_, classical.metadata_
        self.last_report_dir_ = getattr(classical, "last_report_dir_", None)
        return self

    def _adopt_fit(self, fit: Any) -> None:
        self.network_, self.plan_, self.class_names_ = fit.network, fit.plan, fit.class_names
        # absolute: evaluate/export after os.chdir (a notebook's %cd) use this run, not one under the new folder
        self.run_dir_, self.metadata_ = Path(fit.run_dir).absolute(), fit.metadata.model_dump()

    def _score(self, fit: Any, dataset: Any, cases: Sequence[Any], split: str) -> dict[str, float]:
        """Headline metrics of a cross-validation fold on ``cases`` (its report under ``fold/evaluations``)."""
        fold = Model(self.network, task=self.task)
        fold._adopt_fit(fit)
        report = self._task.evaluate(
            fold,
            dataset,
            cases,
            split=split,
            out_dir=fit.run_dir / "evaluations" / f"cv-{split}",
            n_resamples=200,
            strict=False,
        )
        names = getattr(report, "headline", None) or list(report.metrics)
        return {k: float(report.metrics[k]) for k in names if isinstance(report.metrics.get(k), (int, float))}

    @staticmethod
    def _without_unusable_images(dataset: Any, options: FitOptions, check: CheckReport | None) -> Any:
        """:func:`medimg.data.quality.usable_training_images` with the fit's options."""
        from medimg.data.quality import usable_training_images

        return usable_training_images(
            dataset,
            check,
            strict=options.strict,
            keep_conflicts=options.keep_conflicts,
            progress=options.progress,
            split_options=options.model_dump(include={"val_fraction", "test_fraction", "seed"}),
        )

    def _segmentation_options(self, **options: Any) -> dict[str, Any]:
        """The given segmentation-only inference options (``scale``, ``mask_labels``), for the task's evaluate or
        predict.

        Raises:
            ConfigError: given to a model of another task.
        """
        given = {k: v for k, v in options.items() if v is not None}
        if given and self.task != "segment":
            names = " and ".join(f"--{k.replace('_', '-')}" for k in given)
            raise ConfigError(
                f"{names}: for segmentation models only; this model's task is {self.task!r} (a classifier resizes "
                "every image to its input size, so the pixel scale of its inputs needs no option)"
            )
        return given

    def _hold_run(self, target: Path, doing: str) -> AbstractContextManager[None]:
        """The run folder held while ``doing`` writes ``target`` (:func:`medimg.run_folder.hold_trained_run`);
        nothing more when this model's own fit already holds it."""
        from contextlib import nullcontext

        from medimg.run_folder import hold_trained_run

        return nullcontext() if self._holding_run else hold_trained_run(self.run_dir_, target, doing=doing)

    def _require_fitted(self) -> None:
        if self.network_ is None or self.plan_ is None:
            raise NotFittedError("this Model is not trained: call fit(...) or Model.load(run_dir) first")

    def _evaluation_dataset(self, data: Any, options: dict[str, Any]) -> Any:
        """:meth:`_as_dataset` for ``evaluate``: data of another task is refused naming the run it needs (the
        loader's advice, ``--task``, is fit's)."""
        from medimg.data.layouts import TASK_WORDS
        from medimg.errors import OtherTaskDataError

        try:
            return self._as_dataset(data, **options)
        except OtherTaskDataError as error:
            if error.found_task not in TASK_WORDS or self.task not in TASK_WORDS:
                raise
            found = TASK_WORDS[error.found_task]
            raise DatasetError(
                f"{data} holds {found} data ({error.found}) and {self.run_dir_ or 'this model'} is a "
                f"{TASK_WORDS[self.task]} run: evaluate a {found} run on it, or give this run "
                f"{TASK_WORDS[self.task]} data"
            ) from error

    def _as_dataset(self, data: Any, **options: Any) -> Any:
        if not isinstance(data, (str, Path)) and not hasattr(data, "cases"):
            given = "a list of files" if isinstance(data, list | tuple) else f"a {type(data).__name__}"
            raise ConfigError(
                f"{given} is not data medimg reads: give a folder or a CSV/.npz file (its path), a Dataset, images "
                "as an array with their labels (X, y), or a list of image files with their labels (paths, labels)"
            )
        if not isinstance(data, (str, Path)):
            found = getattr(data, "task", self.task)
            if found not in (self.task, getattr(self._task, "data_task", self.task)):  # generate reads classify data
                raise DatasetError(
                    f"{getattr(data, 'root', data)} holds {found} data, but this model's task is {self.task!r}: "
                    f"use Model(..., task={found!r})"
                )
            return data
        return self._task.load_dataset(data, **{k: v for k, v in options.items() if v is not None})

    def _cases(self, dataset: Any, split: str, *, own: bool) -> list[Any]:
        """Cases of ``split``: the run's saved split for the training data, else the data's own split."""
        from medimg.data.splits import Splits, cases_for
        from medimg.run_folder import RunFolder

        run = RunFolder(self.run_dir_ or ".")
        saved = own and run.file("splits.json").is_file()
        return cases_for(dataset, Splits.from_dict(run.read_json("splits.json")) if saved else None, split)

    def _is_training_data(self, dataset: Any) -> bool:
        """True when ``dataset`` was loaded from the path this run was trained on, or holds the files of its saved
        split under another path (the data moved or copied with the run: scoring all of it would count the
        training images). Names alone do not decide: another hospital's ``class/img0001.png`` share them, so a
        sample of the files is compared with the training data's when that is still where the run recorded it;
        an array's images are named by position (``train/17``) and never match by name."""
        from medimg.run_folder import RunFolder

        run = RunFolder(self.run_dir_ or ".")
        if not run.file("config.json").is_file():
            return False
        original = run.trained_data()
        if original.resolve() == Path(dataset.root).resolve():
            return True
        if not run.file("splits.json").is_file() or any(_case_file(c) is None for c in dataset.cases):
            return False
        # class folders may differ in case (NORMAL/ of normal/), as the class names then match: compare case-folded
        assignment = run.read_json("splits.json").get("assignment") or {}
        saved = {str(k).casefold(): v for k, v in assignment.items()}
        names = {c.case_id.casefold() for c in dataset.cases}
        learnt = sorted(n for n in names if saved.get(n) in {"train", "val"})
        if not learnt:
            _warn_copies_of_training_images(dataset, original, assignment)
            return False
        same = self._same_files(dataset, original, learnt)
        if same is False:  # the same names, other pictures: an external set, unless the pictures are renumbered
            _warn_copies_of_training_images(dataset, original, assignment)
            return False
        how = (
            "its files match the training data's"
            if same
            else f"by their names: the training data is not at {original} to compare"
        )
        if names == set(saved):
            logger.info(
                "%s holds the %d files this run was trained on (%s): its saved split is used",
                dataset.root,
                len(names),
                how,
            )
            return True
        logger.warning(
            "%d of the %d images of %s are this run's training or validation images (e.g. %s; %s): their scores are "
            "optimistic",
            len(learnt),
            len(names),
            dataset.root,
            learnt[0],
            how,
        )
        return False

    def _same_files(self, dataset: Any, original: Path, names: Sequence[str], sample: int = 8) -> bool | None:
        """Whether the files of ``dataset`` named ``names`` (case-folded; a sample of them) have the bytes of the
        training data's files of those names; ``None`` when the training data is not there to compare."""
        from medimg.data.pool import file_digest

        try:
            training = self._as_dataset(original, **self._dataset_options())
        except (MedimgError, OSError):
            return None
        trained = {c.case_id.casefold(): c for c in training.cases}
        given = {c.case_id.casefold(): c for c in dataset.cases}
        step = max(1, len(names) // sample)
        for name in list(names)[::step][:sample]:
            there, here = _case_file(trained.get(name)), _case_file(given.get(name))
            if there is None or here is None:
                return False
            digests = {file_digest(there), file_digest(here)}
            if any(d.startswith("unreadable:") for d in digests):  # a series folder, an unreadable file
                return None
            if len(digests) > 1:
                return False
            if _annotation(trained[name], training) != _annotation(given[name], dataset):
                logger.warning(  # its masks or boxes redrawn: scored apart, the run's own report kept
                    "%s holds this run's training images with other annotations (e.g. %s): scored as another data "
                    "set, the run's own report kept",
                    dataset.root,
                    here,
                )
                return False
        return True

    def _dataset_options(self, data: Any = None) -> dict[str, Any]:
        from medimg.bundle import dataset_options

        return dataset_options(self.run_dir_, data) if self.run_dir_ else {}

    def _training_dataset(self) -> Any:
        if self._dataset is None:
            from medimg.run_folder import RunFolder

            self._dataset = self._as_dataset(RunFolder(self.run_dir_ or ".").trained_data(), **self._dataset_options())
        return self._dataset


def _warn_integer_labels_out_of_alphabetical_order(labels: Any, class_names: Sequence[str]) -> None:
    """Warn when single-label integer labels are given to a model whose classes are not in alphabetical order: they
    index ``classes_``, while scikit-learn's ``LabelEncoder`` (and ``np.unique``) number classes alphabetically, so
    labels encoded so would be read inverted ("abnormal" = 0 scored as "normal") with no other sign."""
    import numpy as np

    if list(class_names) == sorted(class_names):
        return
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError):
        return
    if array.ndim != 1 or array.dtype.kind not in "iu":
        return
    shown = ", ".join(f"{i} = {name!r}" for i, name in enumerate(class_names))
    logger.warning(
        "integer labels index this model's classes_ (%s), not their alphabetical order (scikit-learn's LabelEncoder"
        "'s): if yours were encoded so, give the class names instead, or encode with model.classes_",
        shown,
    )


def _refuse_other_inputs(inputs: Any, verb: str) -> None:
    """Refuse what :meth:`Model.predict` cannot read before it is taken for a list of paths (a dict's keys) or
    raises a ``TypeError`` (``None``, a number). Any other iterable (a list, ``Path.glob(...)``) is read item by
    item.

    Raises:
        ConfigError: ``inputs`` is a dict, or neither a path, bytes, an array nor an iterable of them.
    """
    import os
    from collections.abc import Iterable

    if isinstance(inputs, os.PathLike) or (not isinstance(inputs, dict) and isinstance(inputs, Iterable)):
        return
    if is_array_data(inputs):
        return
    kind = type(inputs).__name__
    raise ConfigError(
        f"{verb} takes image files or folders (paths), file contents (bytes) or images as arrays (NumPy, PIL, CPU "
        f"tensors), one or a list of them; got {'None' if inputs is None else f'a {kind}'}"
        + (": give its values, e.g. list(d.values())" if isinstance(inputs, dict) else "")
    )


def _warn_copies_of_training_images(dataset: Any, original: Path, assignment: dict[str, str]) -> None:
    """Warn when images of an evaluation set named unlike the run's training images are those images: a copy of the
    training folder (``ext/NORMAL/x.jpeg`` copied from ``train/NORMAL/x.jpeg``) or a folder inside the training data
    (``chest_xray/train``); their scores are optimistic and nothing said so. Only files of the same size are read."""
    from medimg.data.format_copies import converted_copies_among
    from medimg.data.identical_files import copies_among

    learnt = [original / case_id for case_id, part in assignment.items() if part in ("train", "val")]
    files = [path for path in learnt if path.is_file()]
    given = [path for path in map(_case_file, dataset.cases) if path is not None]
    pairs = copies_among(given, files)
    copied = {path for path, _ in pairs}
    converted = converted_copies_among([path for path in given if path not in copied], files)
    for found, how in ((pairs, "byte for byte"), (converted, "saved in another format")):
        if found:
            logger.warning(
                "%d of the %d images of %s are this run's training or validation images, %s (e.g. %s is %s): their "
                "scores are optimistic",
                len(found),
                len(given),
                dataset.root,
                how,
                found[0][0],
                found[0][1],
            )


def _case_file(case: Any) -> Path | None:
    """The file a case is read from: a classification/detection case's ``path``, a segmentation case's ``image``;
    ``None`` for an array's image (or no case)."""
    found = getattr(case, "path", None) or getattr(case, "image", None)
    return Path(found) if found is not None else None


def _annotation(case: Any, dataset: Any) -> Any:
    """What a case is scored against, comparable across two readings of it: its mask file's bytes, its boxes with
    their class names, or its class name (a finding's names)."""
    from medimg.data.pool import file_digest

    names = list(getattr(dataset, "class_names", None) or [])

    def named(index: Any) -> str:  # case-folded: a class folder renamed NORMAL/ is the same class
        return str(names[index] if isinstance(index, int) and 0 <= index < len(names) else index).casefold()

    if getattr(case, "mask", None) is not None:
        return file_digest(Path(case.mask))
    if getattr(case, "boxes", None) is not None:
        return sorted((b.x1, b.y1, b.x2, b.y2, b.z1 or 0.0, b.z2 or 0.0, named(b.label)) for b in case.boxes)
    if getattr(case, "findings", None) is not None:
        return sorted(named(i) for i in case.findings)
    return named(getattr(case, "label", None))


def _refuse_two_values(constructor: dict[str, Any], to_fit: dict[str, Any], skip: set[str]) -> None:
    """A plan field given to ``Model(...)`` and to :meth:`Model.fit` with another value: fit's silently won
    (``Model(learning_rate=0.5).fit(data, learning_rate=0.1)`` trained at 0.1); equal values are one value.

    Raises:
        ConfigError: naming both values.
    """
    for key, value in to_fit.items():
        if key in skip or key not in constructor or constructor[key] == value:
            continue
        raise ConfigError(
            f"{key} is given twice: {key}={constructor[key]!r} to Model(...) and {key}={value!r} to fit(): give one "
            "of them"
        )


def _with_interrupted_runs_sources(run_dir: Path, options: FitOptions, dataset: Any) -> tuple[FitOptions, Any]:
    """``--resume`` goes on with the sources the run was started with (``--synthetic``, ``--teacher``,
    ``--unlabelled``, from its ``config.json``) when the command leaves them out: `medimg fit DATA --resume`, as the
    Ctrl-C message says, went on supervised-only and rewrote config.json without them.

    Raises:
        ConfigError: the saved unlabelled pool is no longer where it was (the message names it).
    """
    try:
        saved = json.loads((run_dir / "config.json").read_text()).get("options") or {}
    except (OSError, ValueError):
        return options, dataset
    update: dict[str, Any] = {}
    for name in ("synthetic", "teacher"):
        if getattr(options, name) is None and saved.get(name):
            update[name] = saved[name]
    pool = saved.get("unlabelled")
    if options.unlabelled is None and pool:
        from medimg.data.pool import attach_pool, pool_source

        pool = pool_source(pool, dataset)
        if not Path(pool).exists():
            raise ConfigError(
                f"{run_dir} was trained with the unlabelled pool {pool}, which is not there any more: give it with "
                "--unlabelled POOL to --resume"
            )
        dataset, update["unlabelled"] = attach_pool(dataset, pool)
    if update:
        logger.info(
            "--resume goes on with the run's %s",
            ", ".join(f"--{name} {value}" for name, value in update.items()),
        )
    return options.model_copy(update=update), dataset


def _explain_method(explain: str | bool | None) -> str | None:
    """``predict``'s ``explain``: ``True`` is Grad-CAM (the default method), ``False`` none."""
    if isinstance(explain, bool):
        return "gradcam" if explain else None
    return explain


def _task_of_network(network: str, besides: str) -> str | None:
    """The task other than ``besides`` that has a network named ``network``, if one does."""
    from medimg.tasks.registry import get_task, list_tasks

    for name in list_tasks():
        if name == besides:
            continue
        try:
            get_task(name).check_network(network)
        except ConfigError:
            continue
        return name
    return None
