"""``ClassicalModel``: decision tree, random forest, SVM, logistic regression and gradient boosting on image
features, served through the same facade, run folder, report and prediction types as the deep models.

Example:
    >>> from medimg import Model
    >>> m = Model("random-forest", features="handcrafted", masks="herlev")        # doctest: +SKIP
    >>> m.fit("../shared/data/herlev/data", exclude="*-d.bmp")                    # doctest: +SKIP
    >>> Model.load(m.run_dir_).predict("cell.BMP")[0].label                        # doctest: +SKIP

Run folder (``Model.load`` needs nothing else): ``config.json``, ``dataset.json``, ``splits.json`` (the
same split procedure and seed as the deep models, so the same patients), ``features.json`` (feature settings,
names, imputed values), ``search.json`` (the cross-validated grid search), ``model.joblib`` (the fitted
feature transformers and scikit-learn pipeline), ``metadata.json`` and ``report/``. ``model.joblib`` is a
pickle: load run folders you trust only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from medimg.bundle import dataset_options
from medimg.config import CLASSICAL_MODELS, FitOptions, read_config_file
from medimg.data.dataset import Dataset
from medimg.data.labels import label_map
from medimg.errors import ConfigError, DatasetError, ImageReadError, NotFittedError, RunFolderError, did_you_mean
from medimg.run_folder import RunFolder, RunMetadata

logger = logging.getLogger(__name__)

#: Options of a classical model (keyword arguments of ``Model(name, ...)``, ``--set KEY=VALUE`` on the CLI).
CLASSICAL_OPTIONS: dict[str, str] = {
    "features": "feature set: handcrafted, radiomics, embeddings:RUN_DIR, or single families, comma-combined",
    "masks": "mask preset ('herlev') or file-name pattern beside each image ('{stem}_mask.png'); default none",
    "cv_folds": "cross-validation folds of the hyper-parameter search (on the training split)",
    "select_features": "add univariate feature selection (SelectPercentile) to the search",
    "n_jobs": "parallel workers for feature extraction and the search",
    "cache_dir": "feature cache folder (default: a .feature-cache folder beside the run folder)",
}
BUNDLE = "model.joblib"


class ClassicalModel:
    """A scikit-learn classifier on image features: the sklearn backend behind :class:`medimg.Model`.

    Args:
        network: ``"decision-tree"``, ``"random-forest"``, ``"svm"``, ``"logistic-regression"`` or
            ``"gradient-boosting"``.
        task: ``"classify"``.
        features: see :data:`CLASSICAL_OPTIONS`; default ``"handcrafted"``.
        masks: mask preset or pattern (see :mod:`medimg.features.masks`).
        cv_folds: folds of the grid search (stratified, grouped by patient when known; training split only).
        select_features: also search a univariate feature selection.
        n_jobs: workers for extraction and search.
        cache_dir: feature cache folder.

    Attributes (after ``fit`` or ``load``):
        estimator_: the fitted :class:`sklearn.pipeline.Pipeline`.
        extractor_: the fitted :class:`~medimg.features.extract.FeatureExtractor`.
        class_names_, run_dir_, metadata_: as for deep models; ``network_`` and ``plan_`` stay ``None``.
    """

    def __init__(
        self,
        network: str = "random-forest",
        task: str = "classify",
        *,
        features: str = "handcrafted",
        masks: str | None = None,
        cv_folds: int = 5,
        select_features: bool = False,
        n_jobs: int = 2,
        cache_dir: str | Path | None = None,
        **plan_overrides: Any,
    ) -> None:
        self.network = network
        self.task = task
        self.features = features
        self.masks = masks
        self.cv_folds = cv_folds
        self.select_features = select_features
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.plan_overrides = dict(plan_overrides)
        self.network_ = None
        self.plan_ = None
        self.class_names_: list[str] | None = None
        self.run_dir_: Path | None = None
        self.metadata_: dict[str, Any] = {}
        self.estimator_: Any = None
        self.extractor_: Any = None
        self.failed_: list[tuple[str, str]] = []
        self.last_report_dir_: Path | None = None
        self.report_: Any = None
        self._dataset: Dataset | None = None

    def __repr__(self) -> str:
        state = f"run_dir={str(self.run_dir_)!r}" if self.run_dir_ else "not fitted"
        return f"ClassicalModel(network={self.network!r}, features={self.features!r}, {state})"

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
    ) -> ClassicalModel:
        """Split, extract features (cached), grid-search with CV on the training split, refit, save and
        evaluate on the test split. Returns ``self``.

        Args:
            data, run_dir, runs_root, include, exclude, window: as for deep models.
            config_file: JSON of classical options (``{"features": "radiomics", "cv_folds": 3}``).
            **kwargs: :class:`~medimg.config.FitOptions` fields (``seed``, ``val_fraction``, ``progress``...)
                and classical options (:data:`CLASSICAL_OPTIONS`).

        Raises:
            ConfigError: an unknown model, option or feature set, or a deep-only option (``epochs``...).
        """
        from medimg.run_folder import claim_run_dir, create_run_dir

        if self.task != "classify":
            raise ConfigError(f"classical models classify; task={self.task!r} is not supported")
        name = self.network.lower()
        if name not in CLASSICAL_MODELS:
            raise ConfigError(f"unknown classical model {self.network!r}.{did_you_mean(name, CLASSICAL_MODELS)}")
        option_fields = set(FitOptions.model_fields)
        # run options given to the constructor (Model("svm", progress=False, seed=0), scikit-learn's habit)
        kwargs = {**{k: v for k, v in self.plan_overrides.items() if k in option_fields}, **kwargs}
        options = FitOptions(**{k: v for k, v in kwargs.items() if k in option_fields})
        settings = self._settings(
            read_config_file(config_file) if config_file else {},
            {k: v for k, v in kwargs.items() if k not in option_fields},
        )
        if options.folds:
            raise ConfigError(
                "--folds applies to deep models; classical models already choose hyper-parameters with "
                f"{settings['cv_folds']}-fold cross-validation on the training split (set cv_folds)"
            )
        if options.train_on_all:
            raise ConfigError(
                "--train-on-all applies to deep segmentation models; a classical model chooses its settings by "
                "cross-validation on the training split and has no validation split to join it"
            )
        dataset = (
            data
            if isinstance(data, Dataset)
            else Dataset.load(data, task="classify", include=include, exclude=exclude, window=window)
        )
        if dataset.multi_label:
            raise ConfigError(
                f"{dataset.root} lists several findings per image: the classical baselines are single-label; train a "
                "deep model (medimg fit), which handles multi-label data"
            )
        run = RunFolder(Path(run_dir) if run_dir else create_run_dir(runs_root, dataset.name))
        with claim_run_dir(run.path):  # one process per run folder, for training and report
            return self._fit_into(run, dataset, name, options, settings)

    def _fit_into(
        self, run: RunFolder, dataset: Dataset, name: str, options: FitOptions, settings: dict[str, Any]
    ) -> ClassicalModel:
        """Extract features, search and fit, write the bundle into ``run`` and evaluate on the test split."""
        from medimg.classical.domain import record_training_domain
        from medimg.classical.pipelines import search_and_fit
        from medimg.data.splits import make_splits
        from medimg.features.extract import FeatureExtractor

        if run.file(BUNDLE).is_file() and run.file("metadata.json").is_file():  # never over a trained run
            raise RunFolderError(f"{run.path} already holds a trained run; choose another --run-dir")
        run.ensure_writable(resume=False)  # a run this fit left unfinished is medimg's own (config.json) and redone
        started = time.perf_counter()
        if not dataset.cases:
            raise DatasetError(
                f"{dataset.root}: no images left to train on (every file was left out: the warnings above say why, "
                "e.g. blank images); add usable images"
            )
        splits = make_splits(
            dataset.cases,
            val_fraction=options.val_fraction,
            test_fraction=options.test_fraction,
            seed=options.seed,
            class_names=dataset.class_names,  # warnings name the classes, as a deep fit's
        )
        run.write_json("config.json", self._config_record(dataset, options, settings))
        run.write_json("dataset.json", dataset.describe())
        run.write_json("splits.json", splits.to_dict())
        cache = settings["cache_dir"] or run.path.parent / ".feature-cache"
        extractor = FeatureExtractor(
            settings["features"],
            masks=settings["masks"],
            n_jobs=int(settings["n_jobs"]),
            cache_dir=cache,
            progress=options.progress,
        )
        train = extractor.extract(dataset, splits.cases(dataset.cases, "train"), desc="features (train)")
        record_training_domain(run, dataset, splits.cases(dataset.cases, "train"), seed=options.seed)
        val = extractor.extract(dataset, splits.cases(dataset.cases, "val"), desc="features (val)")
        if len(train.case_ids) == 0:
            raise DatasetError(f"{dataset.root}: the training split is empty")
        fold_of = _patient_folds(dataset, train.case_ids, int(settings["cv_folds"]), options.seed)
        search = search_and_fit(
            name,
            train.X,
            train.y,
            cv_folds=int(settings["cv_folds"]),
            fold_of=fold_of,
            select_features=bool(settings["select_features"]),
            n_jobs=int(settings["n_jobs"]),
            random_state=options.seed,
            class_names=dataset.class_names,
        )
        self.estimator_, self.extractor_ = search.pipeline, extractor
        self.class_names_ = list(dataset.class_names)
        val_metrics = self._val_metrics(val)
        finite = search.pipeline.named_steps["finite"]
        run.write_json(
            "features.json",
            {
                **extractor.settings_record(),
                "feature_names": train.feature_names,
                "nonfinite_train": train.nonfinite,
                "imputation": "non-finite values are replaced by the training median of their column "
                "(FiniteFeatures); columns never finite in training are dropped",
                "dropped_columns": [n for n, keep in zip(train.feature_names, finite.keep_, strict=True) if not keep],
                "train_extraction_s": round(train.seconds, 3),
                "train_rows_from_cache": train.cached,
            },
        )
        run.write_json(
            "search.json",
            {
                "estimator": name,
                "scoring": search.scoring,
                "cv_folds": search.cv_folds,
                "cv_grouped_by": _grouped_by(dataset, train.case_ids) if fold_of is not None else None,
                "candidates": search.candidates,
                "best_params": search.best_params,
                "best_cv_score": search.cv_score,
                "search_time_s": round(search.search_time_s, 3),
                "refit_time_s": round(search.fit_time_s, 3),
            },
        )
        import joblib

        joblib.dump({"pipeline": search.pipeline, "extractor": extractor}, run.file(BUNDLE))
        metadata = RunMetadata.create(
            task="classify",
            backend="sklearn",
            network=name,
            class_names=list(dataset.class_names),
            input_spec={"masks": extractor.masks.to_json() if extractor.masks else None, "window": dataset.window},
            sklearn_version=_sklearn_version(),
            weights_sha256={BUNDLE: run.sha256(BUNDLE)},
            family="classical",
            features=extractor.features,
            training={
                "train_time_s": round(train.seconds + search.search_time_s + search.fit_time_s, 2),
                "feature_extraction_s": round(train.seconds + val.seconds, 2),
                "search_time_s": round(search.search_time_s, 2),
                "total_time_s": round(time.perf_counter() - started, 2),
                "best_params": search.best_params,
                f"cv_{search.scoring}": search.cv_score,
                **{f"val_{k}": v for k, v in val_metrics.items()},
                "train_images": len(train.case_ids),
                "val_images": len(val.case_ids),
                "n_features": len(train.feature_names),
                "nonfinite_values_imputed_train": int(sum(train.nonfinite.values())),
                "skipped_files": [list(s) for s in (*train.skipped, *val.skipped)],
            },
        ).model_dump()
        run.write_json("metadata.json", metadata)
        self.run_dir_, self.metadata_ = run.path, metadata
        self._dataset = dataset
        from medimg.engine.run import without_test_split

        if without_test_split(run.path):  # --test-fraction 0: trained, nothing held out to report on (a note says so)
            self.report_ = None
            return self
        self.report_ = self.evaluate(dataset, split="test", strict=options.strict)
        return self

    def _settings(self, *layers: dict[str, Any]) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "features": self.features,
            "masks": self.masks,
            "cv_folds": self.cv_folds,
            "select_features": self.select_features,
            "n_jobs": self.n_jobs,
            "cache_dir": self.cache_dir,
        }
        own = {k: v for k, v in self.plan_overrides.items() if k not in FitOptions.model_fields}  # not run options
        for layer in (*layers, own):
            for key, value in layer.items():
                if value is None:
                    continue
                if key not in CLASSICAL_OPTIONS:
                    raise ConfigError(
                        f"{key!r} does not apply to the classical model {self.network!r}."
                        f"{did_you_mean(key, CLASSICAL_OPTIONS)} Options: {', '.join(CLASSICAL_OPTIONS)}"
                    )
                settings[key] = value
        from medimg.features.extract import parse_feature_spec
        from medimg.features.masks import MaskSpec

        parse_feature_spec(str(settings["features"]))
        MaskSpec.parse(settings["masks"])
        if int(settings["cv_folds"]) < 2:
            raise ConfigError(f"cv_folds must be at least 2, got {settings['cv_folds']}")
        return settings

    def _config_record(self, dataset: Dataset, options: FitOptions, settings: dict[str, Any]) -> dict[str, Any]:
        return {
            "task": "classify",  # with "data": how medimg knows its own run folder, finished or not
            "data": str(Path(dataset.root).resolve()),
            "dataset_options": dataset.describe()["options"],
            "options": options.model_dump(),
            "classical": {"estimator": self.network.lower(), **{k: _plain(v) for k, v in settings.items()}},
        }

    def _val_metrics(self, val: Any) -> dict[str, float]:
        from medimg.classical.pipelines import predict_proba_full
        from medimg.tasks.classify.step import quick_metrics

        if len(val.case_ids) == 0:
            return {}
        probabilities = predict_proba_full(self.estimator_, val.X, len(self.class_names_ or []))
        return {k: float(v) for k, v in quick_metrics(val.y, probabilities).items()}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, run_dir: str | Path) -> ClassicalModel:
        """Load a classical run folder.

        Raises:
            RunFolderError: the folder is missing, incomplete or not a classical run.
        """
        import joblib

        from medimg.run_folder import RunFolder

        run = RunFolder(run_dir)
        if not run.path.is_dir():
            raise RunFolderError(f"run folder {run.path} does not exist")
        metadata = run.read_json("metadata.json")
        if str(metadata.get("network", "")).lower() not in CLASSICAL_MODELS:
            raise RunFolderError(f"{run.path} is not a classical model run (network {metadata.get('network')!r})")
        if not run.file(BUNDLE).is_file():
            raise RunFolderError(f"{run.path} is incomplete: {BUNDLE} is missing (was fitting interrupted?)")
        run.verify_weights(metadata)
        try:
            bundle = joblib.load(run.file(BUNDLE))
        except Exception as error:  # a corrupt or incompatible pickle: name the file
            raise RunFolderError(f"{run.file(BUNDLE)} cannot be loaded: {error}") from error
        config = run.read_json("config.json").get("classical", {})
        model = cls(
            network=str(metadata["network"]),
            task="classify",
            **{k: v for k, v in config.items() if k in CLASSICAL_OPTIONS},
        )
        model.estimator_, model.extractor_ = bundle["pipeline"], bundle["extractor"]
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
        given: Mapping[str, Any] | None = None,
        is_training_data: Callable[[Dataset], bool] | None = None,
    ) -> Any:
        """Evaluate on ``split`` of ``data`` (default: the training dataset and its saved split); writes
        ``report.json``, ``report.html`` and plots like a deep model, in the folder a deep model's evaluation of
        that data would take (:mod:`medimg.evaluation.folders`: another data set of the same folder name gets
        ``-2``; ``evaluated.json`` records what was scored; ``given``: what identifies data given in memory).
        ``is_training_data``: whether a dataset is the run's training data (then its saved split applies), warning
        of the training images among another's (the facade's check, as for deep models); ``None``: only the dataset
        the model was just fitted on is.
        Returns a ``ClassificationReport``."""
        from medimg.classical.pipelines import predict_proba_full
        from medimg.data.splits import Splits, cases_for
        from medimg.evaluation import folders
        from medimg.evaluation.report import build_classification_report, write_report
        from medimg.fileio import atomic_directory

        class_names = self._require_classical()
        run = RunFolder(self.run_dir_ or ".")
        own_data = data is None or data is getattr(self, "_dataset", None)
        dataset = (
            self._training_dataset()
            if data is None
            else (
                data
                if isinstance(data, Dataset)
                # an external test set may hold one class (evaluated with the defined metrics), as for deep models
                else Dataset.load(data, task="classify", min_classes=1, **dataset_options(self.run_dir_ or ".", data))
            )
        )
        if split not in {"train", "val", "test", "all"}:
            raise ConfigError(f"unknown split {split!r}.{did_you_mean(split, ['train', 'val', 'test', 'all'])}")
        # the training data, moved or not: its saved split
        own_data = own_data or (is_training_data is not None and is_training_data(dataset))
        splits = Splits.from_dict(run.read_json("splits.json")) if own_data else None
        cases = cases_for(dataset, splits, split)
        if not cases and not own_data and split == "test" and not any(c.split for c in dataset.cases):
            logger.info("%s has no split of its own: evaluating all of its %d images", dataset.root, len(dataset))
            split = "all"
            cases = list(dataset.cases)
        if not cases:
            raise DatasetError(f"{dataset.name} has no {split!r} images; use --split all for an external set")
        if own_data and split in ("all", "train", "val"):  # scores of images the model learnt from or was chosen on
            logger.warning(
                "the %r split of %s holds images this model trained on or chose its settings on: the scores are "
                "optimistic; the test split (the default) is the honest estimate",
                split,
                dataset.name,
            )
        remap = label_map(dataset.class_names, class_names, cases)
        matrix = self.extractor_.extract(dataset, cases, desc=f"features ({split})")
        if strict and matrix.skipped:
            raise DatasetError(f"{len(matrix.skipped)} unreadable image(s) (--strict): {matrix.skipped[0][0]} ...")
        y = remap[matrix.y]
        started = time.perf_counter()
        probabilities = predict_proba_full(self.estimator_, matrix.X, len(class_names))
        predict_s = time.perf_counter() - started
        finite = self.estimator_.named_steps.get("finite")
        patients = {c.case_id: c.patient_id for c in cases}
        report = build_classification_report(
            y,
            probabilities,
            class_names,
            split=split,
            model_name=f"{self.network} ({self.extractor_.features} features)",
            dataset_name=dataset.name,
            case_ids=matrix.case_ids,
            patient_ids=[patients.get(i) for i in matrix.case_ids],  # intervals count patients
            extra={
                "run_dir": str(run.path),
                "classical": run.read_json("config.json").get("classical", {})
                if run.file("config.json").is_file()
                else {},
                "training": self.metadata_.get("training", {}),
                "skipped_files": [list(s) for s in matrix.skipped],
                "nonfinite_values_imputed": int(getattr(finite, "last_replaced_", 0)),
                "nonfinite_columns": matrix.nonfinite,
                "feature_extraction_s": round(matrix.seconds, 3),
                "features_from_cache": matrix.cached,
                "classifier_predict_s": round(predict_s, 4),
            },
            n_resamples=n_resamples,
        )
        facts = folders.evaluation_facts(getattr(dataset, "root", None), split, {}, given)
        target = (
            Path(out_dir)
            if out_dir is not None
            else folders.default_folder(run.path, dataset.name, facts, own_test=own_data and split == "test")
        )
        with atomic_directory(target, replace=out_dir is None) as staging:  # a kill never leaves half a report
            folders.write_facts(staging, facts, optimistic=own_data and split in ("all", "train", "val"))
            write_report(report, staging, y_true=y, probabilities=probabilities, history=None)
        self.last_report_dir_ = target
        return report

    # ------------------------------------------------------------------ prediction
    def predict(
        self,
        inputs: str | Path | Sequence[str | Path],
        *,
        explain: str | None = None,
        window: Any = None,
        strict: bool = False,
    ) -> list[Any]:
        """Predict files and/or folders; files that cannot be used are logged and listed in ``self.failed_``
        (``(source, reason)``, as deep predict lists them; ``medimg predict`` then names them and exits 1): unreadable
        files, and with masks a file whose mask is missing, empty or does not match its image. Each input is checked
        against the training domain (:mod:`medimg.classical.domain`): a warning and the prediction's ``domain``, or
        with ``strict`` a file not used. ``window``: the intensity window instead of the run's.

        With masks, each file's mask is looked up beside it with the training mask pattern (and mask
        files themselves are not predicted). A DICOM series in a folder is predicted slice by slice in slice order,
        followed by its :class:`~medimg.tasks.series_prediction.SeriesSummary`, as with a 2D network.
        """
        from medimg.data.layouts.image_mask_pairs import annotation_files
        from medimg.features.extract import conform
        from medimg.features.samples import make_sample
        from medimg.io.series_inputs import expand_prediction_inputs
        from medimg.planning.domain import InputReader, load_training_domain
        from medimg.tasks.series_prediction import series_files, with_series

        self._require_classical()
        if explain:
            raise ConfigError(f"explain={explain!r} needs a deep model; classical models have no saliency maps")
        items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        found = expand_prediction_inputs(items, leave_out=annotation_files)
        files = series_files(found, volumetric=False)
        masks = self.extractor_.masks
        if masks is not None:
            mask_files = set()
            for path in files:
                try:
                    mask_files.add(masks.find(path).resolve())
                except DatasetError:
                    continue
            files = [p for p in files if p.resolve() not in mask_files]
        from medimg.io.windowing import window_from_json

        saved = window_from_json((self.metadata_.get("input") or {}).get("window"))
        # as training read it, each checked against the training domain (a warning per input outside it)
        reader = InputReader(
            window=saved if window is None else window,
            domain=load_training_domain(self.run_dir_),
            strict=strict,
            pictures=True,
        )
        layout = self.extractor_.layout
        samples, failed = [], []
        for path in files:
            try:
                image = reader.read(path)
                mask = masks.read(masks.find(path), like=image) if masks is not None else None
                sample = make_sample(image.array, mask, source=str(path), spacing_mm=image.spacing_mm)
                samples.append(conform(sample, *layout) if layout is not None else sample)
            except ImageReadError as error:  # unreadable, or a multi-page file for a 2D model
                failed.append((str(path), error.reason))
            except DatasetError as error:  # its mask is missing, empty or off its grid: this file only, as deep
                failed.append((str(path), _reason(str(error), path)))  # predict lists a file it cannot use
        for source, reason in failed:
            logger.warning("skipped %s: %s", source, reason)
        self.failed_ = failed
        predictions = self._predicted(samples)
        for prediction in predictions:
            verdict = reader.verdicts.get(prediction.source)
            prediction.domain = verdict.to_dict() if verdict is not None and reader.domain is not None else None
        return list(with_series(predictions, found, volumetric=False))

    def predict_arrays(self, inputs: Any) -> list[Any]:
        """Predict images given as arrays (the layouts of :func:`medimg.io.arrays.images_from_array`; sources
        ``array[i]``).

        Raises:
            ConfigError: the model reads a mask beside each image (arrays come without one), or bad arrays.
        """
        from medimg.features.samples import make_sample
        from medimg.io.arrays import array_images

        self._require_classical()
        if self.extractor_.masks is not None:
            raise ConfigError(
                "this model's features are read inside a mask beside each image: give image files with their masks"
            )
        channels, spatial_dims = self.extractor_.layout or (1, 2)
        # the model's layout reads the arrays, as a deep model's: (3, H, W) is one RGB image for an RGB model (three
        # grey images for a grey one), (D, H, W) one volume for a 3D model
        given = array_images(inputs, spatial_dims, channels)
        self.failed_ = []
        return self._predicted([make_sample(image.array, None, source=image.source) for image in given])

    def _predicted(self, samples: list[Any]) -> list[Any]:
        """The predictions of feature samples, in order."""
        from medimg.classical.pipelines import predict_proba_full
        from medimg.tasks.classify.predict import Prediction

        class_names = self._require_classical()
        if not samples:
            return []
        probabilities = predict_proba_full(self.estimator_, self.extractor_.extract_samples(samples), len(class_names))
        predictions = []
        for sample, row in zip(samples, probabilities, strict=True):
            index = int(row.argmax())
            predictions.append(
                Prediction(
                    source=sample.source,
                    label=class_names[index],
                    label_index=index,
                    probabilities={n: float(p) for n, p in zip(class_names, row, strict=True)},
                )
            )
        return predictions

    # ------------------------------------------------------------------ helpers
    def _training_dataset(self) -> Dataset:
        if self._dataset is None:
            self._dataset = _training_dataset_of(self)
        return self._dataset

    def _require_classical(self) -> list[str]:
        if self.estimator_ is None or self.extractor_ is None or self.class_names_ is None:
            raise NotFittedError("this model is not trained: call fit(...) or Model.load(run_dir) first")
        return self.class_names_


def _patient_folds(dataset: Dataset, case_ids: Sequence[str], cv_folds: int, seed: int) -> list[int] | None:
    """The CV fold of each training row, grouped by patient like the deep models' ``--folds``
    (:func:`~medimg.data.splits.kfold_assignments`), identical copies of an image (``Case.same_image``, as the split
    keeps them together) in one fold too, or ``None`` when the cases name no patients and hold no copies (each image
    is then its own group: plain stratified k-fold). Folds are at most the smallest class's group count, so every
    class can be in every fold.

    Raises:
        DatasetError: a class of the training split holds a single patient (grouped CV needs two).
    """
    from medimg.data.splits import kfold_assignments

    by_id = {c.case_id: c for c in dataset.cases}
    cases = [by_id[i] for i in case_ids]
    if not any(c.patient_id or c.same_image for c in cases):
        return None
    groups: dict[int, set[str]] = {}
    for case in cases:  # copies of one image count once (a copy filed under another patient joins them: fewer)
        groups.setdefault(case.stratum, set()).add(case.patient_id or case.same_image or case.case_id)
    if len(groups) < 2:
        return None  # a single class: search_and_fit says so
    fewest = min(len(g) for g in groups.values())
    if fewest < 2:
        raise DatasetError(
            "a class of the training split holds images of a single patient (or one image and its copies): "
            "cross-validation grouped by patient needs at least 2 patients per class; add patients or leave that "
            "class out"
        )
    return kfold_assignments(cases, min(cv_folds, fewest), seed=seed)


def _grouped_by(dataset: Dataset, case_ids: Sequence[str]) -> str:
    """What the CV folds were grouped by (``search.json``'s ``cv_grouped_by``): ``"patient"`` when the cases name
    patients (identical copies are kept together as well), else ``"identical images"``."""
    chosen = set(case_ids)
    return "patient" if any(c.patient_id for c in dataset.cases if c.case_id in chosen) else "identical images"


def _reason(message: str, path: Path) -> str:
    """An error's message as the reason a file was not used, without the file's name in front (the failure
    listing names it): ``"no mask for a.png: expected ..."`` becomes ``"no mask: expected ..."``."""
    for prefix in (f"{path}: ", f"{path} "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message.replace(f" for {path}:", ":", 1).replace(f" of {path} ", " ", 1)


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def _training_dataset_of(model: ClassicalModel) -> Dataset:
    """The run's training data, loaded as the run loaded it."""
    from medimg.run_folder import RunFolder

    data = RunFolder(model.run_dir_ or ".").trained_data()
    dataset = Dataset.load(data, task="classify", **dataset_options(model.run_dir_ or "."))
    assert isinstance(dataset, Dataset)
    return dataset
