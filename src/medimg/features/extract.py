"""Feature sets by name, and extraction over a dataset: parallel (joblib), cached per dataset, reported.

Feature spec: comma-separated names, e.g. ``"handcrafted"``, ``"radiomics"``, ``"handcrafted,radiomics"``,
``"embeddings:runs/herlev/exp3"``, or single families ``first-order``, ``glcm``, ``lbp``, ``hog``, ``shape``.
``handcrafted`` = first-order + GLCM + LBP + HOG (2D) + shape (when masks are given).

Extraction reads each case (and its mask), computes its feature row, and stores rows in a cache file
``CACHE/<dataset>-<hash>.npz`` keyed by the feature settings, the dataset's loading options and each file's
(image and mask) size and modification time, so a second run (another model, the evaluation, ``medimg compare``) reads
features instead of recomputing them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import FeatureUnion

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.errors import ConfigError, DatasetError, ImageReadError, did_you_mean
from medimg.features.masks import MaskSpec
from medimg.features.samples import ImageSample, make_sample

logger = logging.getLogger(__name__)

#: training images the extractor is fitted on (channels, names, radiomics' intensity range), spread over the split
FIT_IMAGES = 64

FAMILIES = ("handcrafted", "first-order", "glcm", "lbp", "hog", "shape", "radiomics", "embeddings")


def parse_feature_spec(spec: str | Sequence[str]) -> list[str]:
    """``"handcrafted,radiomics"`` -> ``["handcrafted", "radiomics"]`` (validated; ``embeddings:RUN`` kept whole).

    Raises:
        ConfigError: an unknown family, or ``embeddings`` without a run folder.
    """
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise ConfigError(f"features={spec!r}: name at least one of {', '.join(FAMILIES)}")
    for item in items:
        family = item.split(":", 1)[0].lower()
        if family not in FAMILIES:
            raise ConfigError(
                f"unknown features {item!r}.{did_you_mean(family, FAMILIES)} Available: {', '.join(FAMILIES)}"
            )
        if family == "embeddings" and not item.partition(":")[2]:
            raise ConfigError("features='embeddings:RUN_DIR' needs the run folder of a trained deep model")
    return items


def build_feature_union(
    spec: str | Sequence[str], *, spatial_dims: int = 2, masks: MaskSpec | None = None
) -> FeatureUnion:
    """The unfitted :class:`~sklearn.pipeline.FeatureUnion` of the spec's transformers."""
    from medimg.features.first_order import FirstOrderFeatures
    from medimg.features.shape import ShapeFeatures
    from medimg.features.texture import GLCMFeatures, HOGFeatures, LBPFeatures

    labels = masks.labels if masks is not None else ()
    parts: list[tuple[str, BaseEstimator]] = []

    def add(name: str, transformer: BaseEstimator) -> None:
        if name not in {n for n, _ in parts}:
            parts.append((name, transformer))

    for item in parse_feature_spec(spec):
        family, _, argument = item.partition(":")
        family = family.lower()
        if family in ("handcrafted", "first-order"):
            add("first_order", FirstOrderFeatures(labels=labels))
        if family in ("handcrafted", "glcm"):
            add("glcm", GLCMFeatures())
        if family in ("handcrafted", "lbp"):
            add("lbp", LBPFeatures())
        if family in ("handcrafted", "hog") and spatial_dims == 2:
            add("hog", HOGFeatures())
        if (family == "handcrafted" and masks is not None) or family == "shape":
            add("shape", ShapeFeatures(labels=labels))
        if family == "radiomics":
            from medimg.features.radiomics import RadiomicsFeatures, _extractor_module

            _extractor_module()  # fail now, with the install recipe, when pyradiomics is missing
            add("radiomics", RadiomicsFeatures())
            for label in labels:
                add(f"radiomics_label{label}", RadiomicsFeatures(label=label))
        if family == "embeddings":
            from medimg.features.embeddings import CNNEmbeddings

            add("embeddings", CNNEmbeddings(run_dir=argument))
    return FeatureUnion(parts)


@dataclass
class FeatureMatrix:
    """Features of the readable cases, in case order.

    Attributes:
        X: ``(N, F)`` float64; may hold NaN where a feature is undefined (see ``nonfinite``).
        y: ``(N,)`` int64 labels (``-1`` for unlabelled).
        case_ids: the ``N`` case ids.
        feature_names: the ``F`` column names.
        skipped: ``(file, reason)`` of unreadable images (left out, as in the deep pipeline), images of other
            spatial dimensions than most (a multi-page TIFF among 2D images) included.
        converted: files whose channels were converted to the fitted count (a grey image among RGB ones).
        nonfinite: ``column -> number of non-finite values`` (only columns that have any).
        cached: rows read from the cache; ``seconds``: extraction time of the others.
    """

    X: np.ndarray
    y: np.ndarray
    case_ids: list[str]
    feature_names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
    nonfinite: dict[str, int] = field(default_factory=dict)
    cached: int = 0
    seconds: float = 0.0


def load_sample(dataset: Dataset, case: Case, masks: MaskSpec | None) -> ImageSample:
    """Read one case (and its mask) as a validated :class:`ImageSample`."""
    image = dataset.read(case)
    mask = None
    if masks is not None:
        if case.path is None:
            raise DatasetError(f"case {case.case_id} has no file, so it has no mask file either")
        mask = masks.read(masks.find(case.path), like=image)  # onto the image's grid (RAS+ volumes)
    return make_sample(image.array, mask, source=str(case.path or case.case_id), spacing_mm=image.spacing_mm)


def conform(sample: ImageSample, channels: int, spatial_dims: int) -> ImageSample:
    """``sample`` with the fitted layout, as the deep pipeline reads a dataset: its channels converted to
    ``channels`` (grey -> RGB by repetition, RGB(A) -> grey by luminance, RGBA -> RGB); an image of other
    spatial dimensions (a multi-page TIFF among 2D images) is unreadable for this model.

    Raises:
        ImageReadError: other spatial dimensions, or channels that cannot be converted (the reason says which).
    """
    from medimg.data.loading import other_dimensions
    from medimg.export.preprocess import to_channels

    if sample.spatial_dims != spatial_dims:
        raise ImageReadError(sample.source, other_dimensions(sample.image.shape[1:], spatial_dims))
    if sample.channels == channels:
        return sample
    try:
        image = to_channels(sample.image, channels, sample.source)
    except DatasetError as error:
        raise ImageReadError(sample.source, str(error)) from error
    return replace(sample, image=np.asarray(image, dtype=np.float64))


def _extract_chunk(
    dataset: Dataset,
    cases: Sequence[Case],
    union: FeatureUnion,
    masks: MaskSpec | None,
    layout: tuple[int, int] | None = None,
) -> tuple[list[str], np.ndarray, list[tuple[str, str]], list[str]]:
    """Feature rows of the readable ``cases`` (converted to ``layout``, ``(channels, spatial dims)``), the
    ``(file, reason)`` of the others and the files whose channels were converted."""
    ids, samples, skipped, converted = [], [], [], []
    for case in cases:
        try:
            sample = load_sample(dataset, case, masks)
            if layout is not None:
                conformed = conform(sample, *layout)
                if conformed is not sample:
                    converted.append(sample.source)
                sample = conformed
            samples.append(sample)
            ids.append(case.case_id)
        except ImageReadError as error:
            skipped.append((str(case.path or case.case_id), error.reason))
    rows = union.transform(samples) if samples else np.zeros((0, 0))
    return ids, np.asarray(rows, dtype=np.float64), skipped, converted


class FeatureExtractor:
    """Extract a feature spec from datasets and files.

    Args:
        features: the feature spec (see module docs).
        masks: a mask preset/pattern (``"herlev"``, ``"{stem}_mask.png"``) or ``None`` (whole image).
        n_jobs: joblib workers (``1`` runs in-process; embeddings always run in-process).
        cache_dir: where cached feature files go; ``None`` disables caching.
        progress: show a progress bar.
    """

    def __init__(
        self,
        features: str | Sequence[str] = "handcrafted",
        *,
        masks: str | MaskSpec | None = None,
        n_jobs: int = 1,
        cache_dir: str | Path | None = None,
        progress: bool = False,
    ) -> None:
        self.features = ",".join(parse_feature_spec(features))
        self.masks = MaskSpec.parse(masks)
        self.n_jobs = n_jobs
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.progress = progress
        self.union_: FeatureUnion | None = None

    # ------------------------------------------------------------------ fitting (channels, names)
    def fit_samples(self, samples: Sequence[ImageSample]) -> FeatureExtractor:
        """Build the transformers for the samples' most common dimensionality and channel count (the layout every
        image is converted to, as in the deep pipeline) and learn names and data-dependent settings (radiomics'
        bin width) from the samples of that layout.

        Raises:
            DatasetError: no samples.
        """
        if not samples:
            raise DatasetError("no images to fit the feature extractor on")
        spatial_dims = Counter(s.spatial_dims for s in samples).most_common(1)[0][0]
        channels = Counter(s.channels for s in samples if s.spatial_dims == spatial_dims).most_common(1)[0][0]
        usable = []
        for sample in samples:
            try:
                usable.append(conform(sample, channels, spatial_dims))
            except ImageReadError:
                continue  # extraction lists it as unreadable
        union = build_feature_union(self.features, spatial_dims=spatial_dims, masks=self.masks)
        self.union_ = union.fit(usable)
        return self

    @property
    def layout(self) -> tuple[int, int] | None:
        """``(channels, spatial dims)`` every image is converted to (those the transformers were fitted on)."""
        if self.union_ is None or not self.union_.transformer_list:
            return None
        first = self.union_.transformer_list[0][1]
        if not hasattr(first, "n_channels_"):
            return None
        return int(first.n_channels_), int(first.spatial_dims_)

    @property
    def feature_names(self) -> list[str]:
        if self.union_ is None:
            raise ConfigError("the feature extractor is not fitted")
        return [str(n) for n in self.union_.get_feature_names_out()]

    def settings_record(self) -> dict[str, Any]:
        """JSON record of what is extracted (saved in a run; part of the cache key)."""
        from medimg import __version__

        params = {}
        if self.union_ is not None:
            for key, value in sorted(self.union_.get_params(deep=True).items()):
                if "__" in key and not isinstance(value, BaseEstimator):
                    params[key] = repr(value)
            for name, transformer in self.union_.transformer_list:  # learnt settings (radiomics' bin width)
                for key, value in getattr(transformer, "fitted_settings", dict)().items():
                    params[f"{name}__{key}"] = repr(value)
        return {
            "features": self.features,
            "masks": self.masks.to_json() if self.masks else None,
            "params": params,
            "n_features": len(self.feature_names) if self.union_ is not None else None,
            "medimg_version": __version__,
        }

    # ------------------------------------------------------------------ extraction
    def extract(self, dataset: Dataset, cases: Sequence[Case], *, desc: str = "extracting features") -> FeatureMatrix:
        """Features of ``cases`` (from the cache where present; unreadable images skipped and reported)."""
        cases = list(cases)
        if self.union_ is None:
            self._fit_first(dataset, cases)
        assert self.union_ is not None
        names = self.feature_names
        cache_file, keys = self._cache_file(dataset), [self._row_key(dataset, c) for c in cases]
        cached = _read_cache(cache_file, len(names)) if cache_file else {}
        todo = [c for c, k in zip(cases, keys, strict=True) if k not in cached]
        started = time.perf_counter()
        rows: dict[str, np.ndarray] = {}
        skipped: list[tuple[str, str]] = []
        converted: list[str] = []
        if todo:
            for ids, block, missed, changed in self._run_chunks(dataset, todo, desc):
                rows.update(zip(ids, block, strict=True))
                skipped += missed
                converted += changed
        seconds = time.perf_counter() - started
        if cache_file and rows:
            by_id = {c.case_id: k for c, k in zip(cases, keys, strict=True)}
            _write_cache(cache_file, {**cached, **{by_id[i]: r for i, r in rows.items()}})
        ok_cases, matrix = [], []
        for case, key in zip(cases, keys, strict=True):
            row = cached.get(key)
            if row is None:
                row = rows.get(case.case_id)
            if row is not None:
                ok_cases.append(case)
                matrix.append(row)
        if converted and self.layout is not None:
            logger.warning(
                "images have mixed channel counts: %d converted to the most common count (%d channel(s)): %s",
                len(converted),
                self.layout[0],
                ", ".join(converted[:10]) + (", ..." if len(converted) > 10 else ""),
            )
        if skipped:
            logger.warning(
                "skipped %d unreadable image(s):\n  %s",
                len(skipped),
                "\n  ".join(f"{p}: {r}" for p, r in skipped[:10]) + ("\n  ..." if len(skipped) > 10 else ""),
            )
            if len(skipped) > len(cases) / 2:
                raise DatasetError(f"{len(skipped)} of {len(cases)} images are unreadable; check the dataset path")
        X = np.vstack(matrix) if matrix else np.zeros((0, len(names)))
        bad = (~np.isfinite(X)).sum(axis=0)
        return FeatureMatrix(
            X=X,
            y=np.asarray([c.label if c.label is not None else -1 for c in ok_cases], dtype=np.int64),
            case_ids=[c.case_id for c in ok_cases],
            feature_names=names,
            skipped=skipped,
            converted=converted,
            nonfinite={names[i]: int(bad[i]) for i in np.flatnonzero(bad)},
            cached=len(cases) - len(todo),
            seconds=seconds,
        )

    def extract_samples(self, samples: Sequence[ImageSample]) -> np.ndarray:
        """``(N, F)`` features of samples already in memory (no cache), converted to the fitted channels.

        Raises:
            ImageReadError: a sample of other spatial dimensions than the fitted ones.
        """
        if self.union_ is None:
            self.fit_samples(samples)
        assert self.union_ is not None
        layout = self.layout
        if layout is not None:
            samples = [conform(s, *layout) for s in samples]
        return np.asarray(self.union_.transform(list(samples)), dtype=np.float64)

    def _fit_first(self, dataset: Dataset, cases: Sequence[Case]) -> None:
        """Fit on up to :data:`FIT_IMAGES` readable images spread over ``cases`` (the training split)."""
        if not cases:
            raise DatasetError(f"{dataset.root}: no images to fit the feature extractor on (the split is empty)")
        spread = np.unique(np.linspace(0, len(cases) - 1, min(len(cases), FIT_IMAGES)).astype(int)).tolist()
        chosen = set(spread)
        order = spread + [i for i in range(len(cases)) if i not in chosen]  # more when some are unreadable
        samples = []
        for case in (cases[i] for i in order):
            try:
                samples.append(load_sample(dataset, case, self.masks))
            except ImageReadError:
                continue
            if len(samples) == FIT_IMAGES:
                break
        if not samples:
            raise DatasetError(f"{dataset.root}: none of the {len(cases)} images could be read")
        self.fit_samples(samples)

    def _run_chunks(self, dataset: Dataset, cases: list[Case], desc: str) -> Any:
        from tqdm.auto import tqdm

        from medimg.terminal import show_bars

        assert self.union_ is not None
        in_process = self.n_jobs == 1 or "embeddings" in self.features or len(cases) < 64
        size = 32 if in_process else max(16, min(256, len(cases) // (4 * max(1, abs(self.n_jobs)))))
        chunks = [cases[i : i + size] for i in range(0, len(cases), size)]
        bar = tqdm(total=len(cases), desc=desc, disable=not show_bars(self.progress), leave=False)
        try:
            if in_process:
                for chunk in chunks:
                    yield _extract_chunk(dataset, chunk, self.union_, self.masks, self.layout)
                    bar.update(len(chunk))
            else:
                from joblib import Parallel, delayed

                parallel = Parallel(n_jobs=self.n_jobs, return_as="generator")
                layout = self.layout
                jobs = (delayed(_extract_chunk)(dataset, chunk, self.union_, self.masks, layout) for chunk in chunks)
                for chunk, result in zip(chunks, parallel(jobs), strict=True):
                    yield result
                    bar.update(len(chunk))
        finally:
            bar.close()

    # ------------------------------------------------------------------ cache
    def _cache_file(self, dataset: Dataset) -> Path | None:
        if self.cache_dir is None:
            return None
        record = {
            "settings": self.settings_record(),
            "root": str(Path(dataset.root).resolve()),
            "options": dataset.describe()["options"],
        }
        if "embeddings" in self.features:
            for item in self.features.split(","):
                if item.startswith("embeddings:"):
                    weights = Path(item.partition(":")[2]) / "model.pt"
                    record[item] = _file_stamp(weights) if weights.is_file() else "missing"
        digest = hashlib.sha1(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return self.cache_dir / f"{dataset.name}-{digest}.npz"

    def _row_key(self, dataset: Dataset, case: Case) -> str:
        """``case id|image stamp`` (``|mask stamp`` with masks): a redrawn mask changes the key like an edited image."""
        source = case.path if case.path is not None else Path(dataset.root)
        key = f"{case.case_id}|{_file_stamp(source)}"
        if self.masks is not None and case.path is not None:
            try:
                key += f"|{_file_stamp(self.masks.find(case.path))}"
            except DatasetError:  # no mask: extraction says so
                key += "|missing"
        return key


def _file_stamp(path: Path) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _read_cache(path: Path, n_features: int) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, X = data["keys"], data["X"]
    except (OSError, ValueError, KeyError) as error:
        logger.warning("ignoring unreadable feature cache %s: %s", path, error)
        return {}
    if X.ndim != 2 or X.shape[1] != n_features:
        return {}
    return {str(k): X[i] for i, k in enumerate(keys)}


def _write_cache(path: Path, rows: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = np.asarray(list(rows), dtype=str)
    X = np.vstack(list(rows.values()))
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    os.close(handle)
    try:
        np.savez(tmp, keys=keys, X=X)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
