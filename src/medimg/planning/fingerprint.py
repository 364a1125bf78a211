"""Dataset fingerprint: the facts the planner needs (nnU-Net's ``dataset_fingerprint.json``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.planning.domain import TrainingDomain, describe_training_domain


class IntensityStats(BaseModel):
    """Foreground-agnostic intensity statistics over (a sample of) the training images."""

    mean: float
    std: float
    min: float
    max: float
    percentile_00_5: float
    percentile_99_5: float


class Fingerprint(BaseModel):
    """What a dataset looks like. Built by :func:`extract_fingerprint`, saved as ``fingerprint.json``."""

    dataset: str
    num_train_cases: int
    class_names: list[str]
    class_counts: dict[str, int] = Field(description="training images per class")
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


def extract_fingerprint(
    dataset: Dataset,
    cases: Sequence[Case],
    arrays: Sequence[np.ndarray],
    metas: Sequence[dict[str, Any]] | None = None,
    *,
    max_intensity_voxels: int = 2_000_000,
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
    shapes = np.array([a.shape[1:] for a in arrays])
    channel_counts = Counter(int(a.shape[0]) for a in arrays)
    rng = np.random.default_rng(seed)
    per_image = max(1, max_intensity_voxels // len(arrays))
    samples = []
    for a in arrays:
        flat = a.reshape(-1)
        if flat.size > per_image:
            flat = flat[rng.integers(0, flat.size, per_image)]
        samples.append(flat)
    values = np.concatenate(samples).astype(np.float64)
    modalities = Counter(
        str((m or {}).get("modality") or (m or {}).get("format") or "unknown") for m in (metas or [{}] * len(arrays))
    )
    spacings = [m.get("spacing_mm") for m in (metas or []) if m and m.get("spacing_mm")]
    labels = Counter(c.label for c in cases)
    domain = describe_training_domain(arrays, metas, seed=seed)
    content_channels = Counter({int(k): v for k, v in domain.channels.items()})
    return Fingerprint(
        dataset=dataset.name,
        num_train_cases=len(cases),
        class_names=list(dataset.class_names),
        class_counts={n: labels.get(i, 0) for i, n in enumerate(dataset.class_names)},
        spatial_dims=int(shapes.shape[1]),
        channels=content_channels.most_common(1)[0][0],
        channel_counts={str(k): v for k, v in sorted(channel_counts.items())},
        median_shape=[int(v) for v in np.median(shapes, axis=0)],
        min_shape=[int(v) for v in shapes.min(axis=0)],
        max_shape=[int(v) for v in shapes.max(axis=0)],
        median_spacing_mm=[float(v) for v in np.median(np.array(spacings), axis=0)] if spacings else None,
        modality=modalities.most_common(1)[0][0],
        intensity=IntensityStats(
            mean=float(values.mean()),
            std=float(values.std()),
            min=float(values.min()),
            max=float(values.max()),
            percentile_00_5=float(np.percentile(values, 0.5)),
            percentile_99_5=float(np.percentile(values, 99.5)),
        ),
        sampled_images=len(arrays),
        domain=domain,
    )
