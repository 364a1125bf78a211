"""The detection fingerprint of a training split: image and box sizes from the annotations, channels and
intensities from a sample of the images."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from medimg.data.case import Case
from medimg.data.detection import image_size
from medimg.errors import DatasetError, ImageReadError
from medimg.planning.domain import describe_training_domain
from medimg.tasks.detect.plan import DetectFingerprint, box_size_stats

INTENSITY_SAMPLE = 32
"""Training images read for the channel count and intensity statistics."""


def extract_detect_fingerprint(dataset: Any, cases: Sequence[Case], *, seed: int = 0) -> DetectFingerprint:
    """Fingerprint ``cases`` (the training split) of a detection dataset.

    Raises:
        DatasetError: no case has a box, or none of the sampled images is readable.
    """
    names = list(dataset.class_names)
    sizes: list[tuple[int, int]] = []
    for case in cases:
        size = dataset.image_sizes.get(case.case_id) if hasattr(dataset, "image_sizes") else None
        size = size or (image_size(case.path) if case.path is not None else None)
        if size is not None:
            sizes.append(size)
    widths: dict[int, list[float]] = {k: [] for k in range(len(names))}
    heights: dict[int, list[float]] = {k: [] for k in range(len(names))}
    images_with: Counter[int] = Counter()
    per_image = []
    for case in cases:
        boxes = case.boxes or ()
        per_image.append(len(boxes))
        for label in {b.label for b in boxes}:
            images_with[label] += 1
        for box in boxes:
            widths[box.label].append(box.x2 - box.x1)
            heights[box.label].append(box.y2 - box.y1)
    if not any(per_image):
        raise DatasetError(f"{dataset.root}: the training split has no box; a detector needs boxes to learn from")
    rng = np.random.default_rng(seed)
    sample = [cases[i] for i in sorted(rng.choice(len(cases), size=min(INTENSITY_SAMPLE, len(cases)), replace=False))]
    arrays, formats, metas = [], [], []
    for case in sample:
        try:
            image = dataset.read(case)
        except ImageReadError:
            continue
        arrays.append(image.array)
        formats.append(str(image.meta.get("format") or "unknown"))
        metas.append({**image.meta, "spacing_mm": list(image.spacing_mm) if image.spacing_mm else None})
        if not sizes:
            sizes.append((int(image.spatial_shape[-2]), int(image.spatial_shape[-1])))
    if not arrays:
        raise DatasetError(f"{dataset.root}: none of {len(sample)} sampled training images could be read")
    channels = Counter(min(a.shape[0], 3) for a in arrays).most_common(1)[0][0]
    eight_bit = all(a.min() >= 0 and a.max() <= 255 for a in arrays)
    values = np.concatenate([a.reshape(a.shape[0], -1)[:, :: max(1, a[0].size // 20000)].ravel() for a in arrays])
    low, high = (0.0, 255.0) if eight_bit else (float(np.percentile(values, 0.5)), float(np.percentile(values, 99.5)))
    span = max(high - low, 1e-6)
    unit = [np.clip((_channels(a, channels) - low) / span, 0, 1) for a in arrays]
    means = [float(np.mean([u[c].mean() for u in unit])) for c in range(channels)]
    stds = [float(np.sqrt(np.mean([u[c].var() for u in unit]))) for c in range(channels)]
    heights_all = [s[0] for s in sizes]
    widths_all = [s[1] for s in sizes]
    all_w = [w for k in widths for w in widths[k]]
    all_h = [h for k in heights for h in heights[k]]
    return DetectFingerprint(
        dataset=dataset.name,
        num_train_images=len(cases),
        images_without_boxes=sum(1 for n in per_image if n == 0),
        class_names=names,
        median_image_size=[int(np.median(heights_all)), int(np.median(widths_all))],
        min_image_size=[int(min(heights_all)), int(min(widths_all))],
        max_image_size=[int(max(heights_all)), int(max(widths_all))],
        channels=int(channels),
        clip_low=low,
        clip_high=high,
        channel_mean=means,
        channel_std=stds,
        boxes_per_image_mean=float(np.mean(per_image)),
        boxes_per_image_max=int(max(per_image)),
        all_boxes=box_size_stats(all_w, all_h, sum(1 for n in per_image if n)),
        per_class={names[k]: box_size_stats(widths[k], heights[k], images_with[k]) for k in range(len(names))},
        modality=Counter(formats).most_common(1)[0][0],
        domain=describe_training_domain(arrays, metas, seed=seed).model_copy(
            update={"min_shape": [min(heights_all), min(widths_all)], "max_shape": [max(heights_all), max(widths_all)]}
        ),
    )


def _channels(array: np.ndarray, channels: int) -> np.ndarray:
    if array.shape[0] == channels:
        return array
    if array.shape[0] == 1:
        return np.repeat(array, channels, axis=0)
    return array[:channels] if channels == 3 else array.mean(0, keepdims=True)
