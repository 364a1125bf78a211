"""The pieces of a segmentation fit: read cases, find the label encoding, prepare network-resolution tensors,
predict prepared cases and score validation Dice (the run itself is :func:`medimg.engine.run.fit_run`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from medimg.errors import DatasetError, ImageReadError
from medimg.tasks.segment.data import SegCase, SegmentationDataset, SegSample
from medimg.tasks.segment.inference import sliding_window_probabilities
from medimg.tasks.segment.labels import LabelEncoding, determine_label_encoding, is_colour_mask, mask_values
from medimg.tasks.segment.planning import (
    SegPlan,
)
from medimg.tasks.segment.preprocess import PreparedCase, decode_labels, prepare_image, prepare_labels

logger = logging.getLogger(__name__)


@dataclass
class ReadCases:
    """Samples of the readable cases (in order) and the unreadable ones as ``(path, reason)``."""

    cases: list[SegCase]
    samples: list[SegSample]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def read_samples(
    dataset: SegmentationDataset,
    cases: Sequence[SegCase],
    *,
    strict: bool = False,
    progress: bool = False,
    desc: str = "reading cases",
) -> ReadCases:
    """Read cases with threads; unreadable files are skipped with a warning (an error with ``strict``).

    Size mismatches between an image and its mask always raise :class:`DatasetError` (a pairing problem).
    """
    from tqdm.auto import tqdm

    def read_one(case: SegCase) -> tuple[SegCase, SegSample | None, str | None]:
        try:
            return case, dataset.read(case), None
        except ImageReadError as error:
            return case, None, f"{error.path}: {error.reason}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(tqdm(pool.map(read_one, cases), total=len(cases), desc=desc, disable=not progress, leave=False))
    out = ReadCases([], [])
    for case, sample, reason in results:
        if sample is None:
            out.skipped.append((case.case_id, str(reason)))
        else:
            out.cases.append(case)
            out.samples.append(sample)
    if out.skipped:
        listing = "\n  ".join(f"{c}: {r}" for c, r in out.skipped[:20])
        if strict or len(out.skipped) > len(cases) / 2:
            raise DatasetError(
                f"{len(out.skipped)} of {len(cases)} cases are unreadable:\n  {listing}\n"
                "Remove or replace them" + ("" if strict else ", or check the dataset path")
            )
        logger.warning("skipped %d unreadable case(s):\n  %s", len(out.skipped), listing)
    return out


def determine_dataset_encoding(dataset: SegmentationDataset, samples: Sequence[SegSample]) -> LabelEncoding:
    """One :class:`LabelEncoding` from the masks of all training ``samples`` (see :mod:`.labels`)."""
    has_colour = False
    values: set[float] = set()
    for sample in samples:
        if sample.mask is None:
            continue
        if is_colour_mask(sample.mask):
            has_colour = True
            continue
        values.update(float(v) for v in mask_values(sample.mask[0]))
        if len(values) > 1024:
            break
    return determine_label_encoding(values, colour_table=dataset.colour_table, has_colour=has_colour)


def class_names_for(encoding: LabelEncoding, value_names: Mapping[int, str] | None = None) -> list[str]:
    """Colour-table names; else the names the data's ``dataset.json`` gives each class's raw value (``value_names``,
    MSD's ``{"0": "background", ...}`` or nnU-Net's ``{"background": 0, ...}``) when it names every class once;
    else ``background/foreground`` for binary masks, ``background, class_1..`` otherwise."""
    if encoding.colour_table is not None:
        return list(encoding.colour_table.class_names)
    raw_values: list[float] = []
    if encoding.kind == "identity":
        raw_values = list(range(encoding.num_classes))
    elif encoding.kind == "values":
        raw_values = list(encoding.values)
    named = [value_names.get(int(v)) if value_names and float(v).is_integer() else None for v in raw_values]
    if raw_values and all(named) and len(set(named)) == len(named):
        return [str(n) for n in named]
    if encoding.num_classes == 2:
        return ["background", "foreground"]
    return ["background", *[f"class_{i}" for i in range(1, encoding.num_classes)]]


def prepare_cases(
    cases: Sequence[SegCase], samples: Sequence[SegSample], plan: SegPlan, *, keep_labels: bool = True
) -> tuple[list[PreparedCase], list[np.ndarray]]:
    """Network-resolution tensors of each case, plus its decoded labels at the file's resolution."""
    prepared: list[PreparedCase] = []
    originals: list[np.ndarray] = []
    for case, sample in zip(cases, samples, strict=True):
        spacing = sample.image.spacing_mm
        image = prepare_image(sample.image.array, spacing, plan, str(case.image))
        labels = None
        if sample.mask is not None:
            decoded = decode_labels(sample.mask, sample.roi, plan, str(case.mask))
            labels = prepare_labels(decoded, spacing, plan)
            if keep_labels:
                originals.append(decoded)
        prepared.append(PreparedCase(case.case_id, image, labels, tuple(sample.image.spatial_shape)))
    return prepared, originals


def predict_prepared(
    network: nn.Module, cases: Sequence[PreparedCase], plan: SegPlan, *, tta: bool | None = None, amp: bool = False
) -> list[torch.Tensor]:
    """Probabilities ``(K, *spatial)`` at network resolution for each case (same-shape cases batched; float32
    unless ``amp``, see :func:`sliding_window_probabilities`)."""
    out: list[torch.Tensor | None] = [None] * len(cases)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, case in enumerate(cases):
        by_shape.setdefault(tuple(case.image.shape), []).append(i)
    batch = max(1, plan.sw_batch_size if plan.spatial_dims == 2 else 2)
    for indices in by_shape.values():
        for start in range(0, len(indices), batch):
            chunk = indices[start : start + batch]
            x = torch.stack([cases[i].image for i in chunk])
            probs = sliding_window_probabilities(network, x, plan, tta=tta, amp=amp)
            for j, i in enumerate(chunk):
                out[i] = probs[j]
    return [p for p in out if p is not None]


def validation_dice(network: nn.Module, cases: Sequence[PreparedCase], plan: SegPlan) -> dict[str, float]:
    """Mean foreground Dice over validation cases at network resolution (no test-time flips)."""
    from medimg.tasks.segment.metrics import dice_per_class

    scores = []
    for case, probs in zip(cases, predict_prepared(network, cases, plan, tta=False, amp=True), strict=True):
        if case.labels is None:
            continue
        dice = dice_per_class(probs.argmax(0).numpy(), case.labels.numpy(), plan.num_classes)[1:]
        scores.append(float(np.nanmean(dice)) if not np.isnan(dice).all() else np.nan)
    return {"dice": float(np.nanmean(scores)) if scores else float("nan")}
