"""The 3D detection fingerprint of a training split: volume and box sizes per axis from the annotations, channels,
spacing and intensities from a sample of the volumes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from medimg.data.case import Case
from medimg.data.detection import volume_boxes
from medimg.errors import DatasetError, ImageReadError
from medimg.io.windowing import CT_LOW_HU
from medimg.planning.domain import describe_training_domain
from medimg.tasks.detect.plan3d import AxisSizeStats, Detect3DFingerprint

INTENSITY_SAMPLE = 32
"""Training volumes read for the channel count, spacing and intensity statistics."""


def axis_size_stats(sizes: np.ndarray, images: int) -> AxisSizeStats:
    """Percentiles of box sizes ``(N, 3)`` ``[depth, height, width]`` voxels, per axis."""
    if not len(sizes):
        return AxisSizeStats(boxes=0, images=images)
    return AxisSizeStats(
        boxes=len(sizes),
        images=images,
        median=[float(v) for v in np.median(sizes, axis=0)],
        p10=[float(v) for v in np.percentile(sizes, 10, axis=0)],
        p90=[float(v) for v in np.percentile(sizes, 90, axis=0)],
        shortest_side_p5=float(np.percentile(sizes.min(axis=1), 5)),
    )


def extract_detect3d_fingerprint(dataset: Any, cases: Sequence[Case], *, seed: int = 0) -> Detect3DFingerprint:
    """Fingerprint ``cases`` (the training split) of a 3D detection dataset.

    Raises:
        DatasetError: no case has a box, or none of the sampled volumes is readable or 3D.
    """
    names = list(dataset.class_names)
    sizes_by_class: dict[int, list[np.ndarray]] = {k: [] for k in range(len(names))}
    images_with: Counter[int] = Counter()
    per_image = []
    for case in cases:
        corners, labels = volume_boxes(case)
        per_image.append(len(labels))
        for label in set(labels.tolist()):
            images_with[label] += 1
        for box, label in zip(corners, labels, strict=True):
            sizes_by_class[int(label)].append(box[3:] - box[:3])
    if not any(per_image):
        raise DatasetError(f"{dataset.root}: the training split has no box; a detector needs boxes to learn from")
    shapes = [tuple(dataset.image_sizes[c.case_id]) for c in cases if c.case_id in dataset.image_sizes]
    rng = np.random.default_rng(seed)
    sample = [cases[i] for i in sorted(rng.choice(len(cases), size=min(INTENSITY_SAMPLE, len(cases)), replace=False))]
    arrays, formats, spacings, metas = [], [], [], []
    for case in sample:
        try:
            image = dataset.read(case)
        except ImageReadError:
            continue
        if image.array.ndim != 4:
            raise DatasetError(f"{case.path}: a {image.array.ndim - 1}D image in a 3D detection dataset")
        arrays.append(image.array)
        formats.append(str(image.meta.get("format") or "unknown"))
        metas.append({**image.meta, "spacing_mm": list(image.spacing_mm) if image.spacing_mm else None})
        if image.spacing_mm is not None:
            spacings.append([float(s) for s in image.spacing_mm])
        if not shapes:
            shapes.append(tuple(image.spatial_shape))
    if not arrays:
        raise DatasetError(f"{dataset.root}: none of {len(sample)} sampled training volumes could be read")
    channels = Counter(a.shape[0] for a in arrays).most_common(1)[0][0]
    values = np.concatenate([a.reshape(-1)[:: max(1, a.size // 50000)] for a in arrays])
    low, high = float(np.percentile(values, 0.5)), float(np.percentile(values, 99.5))
    shape_array = np.asarray(shapes, dtype=np.int64)
    all_sizes = [s for k in sizes_by_class for s in sizes_by_class[k]]
    return Detect3DFingerprint(
        dataset=dataset.name,
        num_train_images=len(cases),
        images_without_boxes=sum(1 for n in per_image if n == 0),
        class_names=names,
        median_image_size=[int(v) for v in np.median(shape_array, axis=0)],
        min_image_size=[int(v) for v in shape_array.min(axis=0)],
        max_image_size=[int(v) for v in shape_array.max(axis=0)],
        median_spacing_mm=[float(v) for v in np.median(spacings, axis=0)] if spacings else None,
        channels=int(channels),
        clip_low=low,
        clip_high=high,
        modality=Counter(formats).most_common(1)[0][0],
        ct_like=low < CT_LOW_HU,
        boxes_per_image_mean=float(np.mean(per_image)),
        boxes_per_image_max=int(max(per_image)),
        all_boxes=axis_size_stats(np.asarray(all_sizes).reshape(-1, 3), sum(1 for n in per_image if n)),
        per_class={
            names[k]: axis_size_stats(np.asarray(sizes_by_class[k]).reshape(-1, 3), images_with[k])
            for k in range(len(names))
        },
        domain=describe_training_domain(arrays, metas, seed=seed).model_copy(
            update={
                "min_shape": [int(v) for v in shape_array.min(axis=0)],
                "max_shape": [int(v) for v in shape_array.max(axis=0)],
            }
        ),
    )
