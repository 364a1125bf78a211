"""Dataset fingerprint: the facts the planner needs (nnU-Net's ``dataset_fingerprint.json``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.planning.domain import ImageFacts, TrainingDomain, domain_from_facts, image_facts


class IntensityStats(BaseModel):
    """Foreground-agnostic intensity statistics over (a sample of) the training images."""

    mean: float
    std: float
    min: float
    max: float
    percentile_00_5: float
    percentile_99_5: float

    @classmethod
    def of(cls, samples: Sequence[np.ndarray]) -> IntensityStats:
        """The statistics of the intensity ``samples`` of all images (:attr:`ImageSummary.intensities`)."""
        values = np.concatenate(list(samples)).astype(np.float64)
        return cls(
            mean=float(values.mean()),
            std=float(values.std()),
            min=float(values.min()),
            max=float(values.max()),
            percentile_00_5=float(np.percentile(values, 0.5)),
            percentile_99_5=float(np.percentile(values, 99.5)),
        )


class Fingerprint(BaseModel):
    """What a dataset looks like. Built by :func:`extract_fingerprint`, saved as ``fingerprint.json``."""

    dataset: str
    num_train_cases: int
    class_names: list[str]
    class_counts: dict[str, int] = Field(description="training images per class (multi-label: showing each finding)")
    multi_label: bool = Field(False, description="each image shows any number of the classes (findings)")
    spatial_dims: int = Field(description="2 for images, 3 for volumes")
    channels: int = Field(
        description="most common channel count by content: grey images stored as RGB count as 1 (planned as grey)"
    )
    channel_counts: dict[str, int] = Field(description="how many images have each stored channel count")
    median_shape: list[int]
    min_shape: list[int]
    max_shape: list[int]
    median_spacing_mm: list[float] | None = None
    modality: str = Field(description="DICOM modality (CT, MR, CR...) or the raster format")
    intensity: IntensityStats
    sampled_images: int = Field(description="images the intensity statistics were computed from")
    domain: TrainingDomain | None = Field(
        None, description="what inference inputs are compared with (absent in runs trained before it was saved)"
    )

    @property
    def imbalance_ratio(self) -> float:
        counts = [c for c in self.class_counts.values() if c > 0]
        return max(counts) / min(counts) if counts else 1.0


MAX_INTENSITY_VOXELS = 2_000_000
"""Intensity values sampled over the training images (each gives its share)."""


@dataclass(frozen=True)
class ImageSummary:
    """What a fingerprint keeps of one training image (classification and segmentation): a large set is
    summarised one image at a time."""

    shape: tuple[int, ...]
    channels: int
    intensities: np.ndarray
    facts: ImageFacts
    meta: dict[str, Any]


class ImageSummariser:
    """Summarise training images in order (``per_image`` intensity values each; ``seed`` fixes the samples)."""

    def __init__(self, per_image: int, seed: int = 0) -> None:
        self.per_image = max(1, per_image)
        self._rng = np.random.default_rng(seed)
        self._domain_rng = np.random.default_rng(seed)

    def __call__(self, array: np.ndarray, meta: Mapping[str, Any] | None) -> ImageSummary:
        flat = array.reshape(-1)
        sample = flat[self._rng.integers(0, flat.size, self.per_image)] if flat.size > self.per_image else flat.copy()
        return ImageSummary(
            shape=tuple(int(v) for v in array.shape[1:]),
            channels=int(array.shape[0]),
            intensities=sample,
            facts=image_facts(array, self._domain_rng),
            meta=dict(meta or {}),
        )


def extract_fingerprint(
    dataset: Dataset,
    cases: Sequence[Case],
    arrays: Sequence[np.ndarray],
    metas: Sequence[dict[str, Any]] | None = None,
    *,
    max_intensity_voxels: int = MAX_INTENSITY_VOXELS,
    seed: int = 0,
) -> Fingerprint:
    """Fingerprint the training ``cases`` whose pixels are ``arrays`` (channel-first float32, one per case).

    Intensity statistics use a random subsample of at most ``max_intensity_voxels`` values so large
    datasets fingerprint in seconds; shapes, channels and classes use every case. ``domain`` records what
    inference inputs are checked against (:mod:`medimg.planning.domain`); images stored as RGB whose channels
    are equal count as grey in ``channels``.
    """
    if not arrays:
        raise ValueError("cannot fingerprint an empty training set")
    summarise = ImageSummariser(max_intensity_voxels // len(arrays), seed)
    metas = metas or [{}] * len(arrays)
    return fingerprint_summaries(dataset, cases, [summarise(a, m) for a, m in zip(arrays, metas, strict=True)])


def fingerprint_summaries(dataset: Dataset, cases: Sequence[Case], summaries: Sequence[ImageSummary]) -> Fingerprint:
    """The fingerprint of training ``cases`` summarised by :class:`ImageSummariser` (one summary per case; see
    :func:`extract_fingerprint`)."""
    if not summaries:
        raise ValueError("cannot fingerprint an empty training set")
    shapes = np.array([s.shape for s in summaries])
    channel_counts = Counter(s.channels for s in summaries)
    metas = [s.meta for s in summaries]
    modalities = Counter(str(m.get("modality") or m.get("format") or "unknown") for m in metas)
    spacings = [m.get("spacing_mm") for m in metas if m.get("spacing_mm")]
    labels = (
        Counter(i for c in cases for i in c.findings or ()) if dataset.multi_label else Counter(c.label for c in cases)
    )
    domain = domain_from_facts([s.facts for s in summaries], metas)
    content_channels = Counter({int(k): v for k, v in domain.channels.items()})
    return Fingerprint(
        dataset=dataset.name,
        num_train_cases=len(summaries),
        class_names=list(dataset.class_names),
        class_counts={n: labels.get(i, 0) for i, n in enumerate(dataset.class_names)},
        multi_label=dataset.multi_label,
        spatial_dims=int(shapes.shape[1]),
        channels=content_channels.most_common(1)[0][0],
        channel_counts={str(k): v for k, v in sorted(channel_counts.items())},
        median_shape=[int(v) for v in np.median(shapes, axis=0)],
        min_shape=[int(v) for v in shapes.min(axis=0)],
        max_shape=[int(v) for v in shapes.max(axis=0)],
        median_spacing_mm=[float(v) for v in np.median(np.array(spacings), axis=0)] if spacings else None,
        modality=modalities.most_common(1)[0][0],
        intensity=IntensityStats.of([s.intensities for s in summaries]),
        sampled_images=len(summaries),
        domain=domain,
    )
