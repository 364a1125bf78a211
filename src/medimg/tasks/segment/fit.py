"""The segmentation run: split -> read -> label encoding -> fingerprint -> plan -> prepare -> train ->
post-processing chosen on validation -> bundle. Every artifact is written to the run folder as soon as it exists.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medimg.config import FitOptions
from medimg.data.splits import Splits, make_splits
from medimg.engine.checkpoint import save_checkpoint
from medimg.errors import ConfigError, DatasetError, ImageReadError
from medimg.run_folder import RunFolder
from medimg.tasks.segment.data import SegCase, SegmentationDataset, SegSample
from medimg.tasks.segment.inference import probabilities_at, select_postprocessing, sliding_window_probabilities
from medimg.tasks.segment.labels import LabelEncoding, determine_label_encoding, is_colour_mask, mask_values
from medimg.tasks.segment.networks import build_segmentation_network
from medimg.tasks.segment.planning import (
    SegPlan,
    extract_seg_fingerprint,
    make_seg_plan,
    resolve_seg_plan,
)
from medimg.tasks.segment.preprocess import PreparedCase, decode_labels, prepare_image, prepare_labels

logger = logging.getLogger(__name__)


@dataclass
class SegFitResult:
    """A trained segmentation network and where it lives."""

    network: nn.Module
    plan: SegPlan
    run_dir: Path
    metadata: dict[str, Any]


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


def class_names_for(encoding: LabelEncoding) -> list[str]:
    """Colour-table names, ``background/foreground`` for binary masks, ``background, class_1..`` otherwise."""
    if encoding.colour_table is not None:
        return list(encoding.colour_table.class_names)
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
    network: nn.Module, cases: Sequence[PreparedCase], plan: SegPlan, *, tta: bool | None = None
) -> list[torch.Tensor]:
    """Probabilities ``(K, *spatial)`` at network resolution for each case (same-shape cases batched)."""
    out: list[torch.Tensor | None] = [None] * len(cases)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, case in enumerate(cases):
        by_shape.setdefault(tuple(case.image.shape), []).append(i)
    batch = max(1, plan.sw_batch_size if plan.spatial_dims == 2 else 2)
    for indices in by_shape.values():
        for start in range(0, len(indices), batch):
            chunk = indices[start : start + batch]
            x = torch.stack([cases[i].image for i in chunk])
            probs = sliding_window_probabilities(network, x, plan, tta=tta)
            for j, i in enumerate(chunk):
                out[i] = probs[j]
    return [p for p in out if p is not None]


def validation_dice(network: nn.Module, cases: Sequence[PreparedCase], plan: SegPlan) -> dict[str, float]:
    """Mean foreground Dice over validation cases at network resolution (no test-time flips)."""
    from medimg.tasks.segment.metrics import dice_per_class

    scores = []
    for case, probs in zip(cases, predict_prepared(network, cases, plan, tta=False), strict=True):
        if case.labels is None:
            continue
        dice = dice_per_class(probs.argmax(0).numpy(), case.labels.numpy(), plan.num_classes)[1:]
        scores.append(float(np.nanmean(dice)) if not np.isnan(dice).all() else np.nan)
    return {"dice": float(np.nanmean(scores)) if scores else float("nan")}


def fit_segmentation(
    dataset: SegmentationDataset,
    run_dir: Path,
    options: FitOptions,
    *,
    plan_layers: tuple[dict[str, Any] | None, ...] = (),
    network_name: str | None = None,
) -> SegFitResult:
    """Train one segmentation network on ``dataset`` into ``run_dir``."""
    from medimg.planning.planner import cpu_supports_bf16
    from medimg.tasks.segment.sampling import PatchSampler
    from medimg.tasks.segment.train import train_segmentation

    if options.folds:
        raise ConfigError("cross-validation (--folds) is not available for segmentation yet; train one split")
    torch.set_num_threads(options.num_threads)
    run = RunFolder(run_dir)
    run.ensure_writable(resume=options.resume)
    started = time.perf_counter()
    plain_cases = [c.as_case() for c in dataset.cases]
    if options.resume and run.file("splits.json").is_file():
        splits = Splits.from_dict(run.read_json("splits.json"))
    else:
        splits = make_splits(
            plain_cases, val_fraction=options.val_fraction, test_fraction=options.test_fraction, seed=options.seed
        )
    run.write_json(
        "config.json",
        {
            "task": "segment",
            "data": str(Path(dataset.root).resolve()),
            "dataset_options": dataset.options,
            "options": options.model_dump(),
            "plan_overrides": [layer for layer in plan_layers if layer],
        },
    )
    run.write_json("dataset.json", dataset.describe())
    run.write_json("splits.json", splits.to_dict())
    train_cases = [c for c in dataset.cases if splits.assignment.get(c.case_id) == "train"]
    val_cases = [c for c in dataset.cases if splits.assignment.get(c.case_id) == "val"]
    if not train_cases or not val_cases:
        raise DatasetError(
            f"{dataset.root}: the split left {len(train_cases)} training and {len(val_cases)} validation cases; "
            "add cases or change --val-fraction"
        )
    loaded = read_samples(
        dataset, train_cases, strict=options.strict, progress=options.progress, desc="reading training cases"
    )
    encoding = determine_dataset_encoding(dataset, loaded.samples)
    names = class_names_for(encoding)
    provisional = SegPlan(
        num_classes=encoding.num_classes,
        label_encoding=encoding,
        class_names=names,
        spatial_dims=loaded.samples[0].image.ndim_spatial,
    )
    decoded = [
        decode_labels(s.mask, s.roi, provisional, str(c.mask))
        for c, s in zip(loaded.cases, loaded.samples, strict=True)
        if s.mask is not None
    ]
    fingerprint = extract_seg_fingerprint(
        dataset.name,
        [s.image.array for s in loaded.samples],
        decoded,
        [s.image.spacing_mm for s in loaded.samples],
        [str(s.image.meta.get("modality") or s.image.meta.get("format") or "unknown") for s in loaded.samples],
        encoding,
        names,
        seed=options.seed,
    )
    del decoded
    run.write_json("fingerprint.json", fingerprint.model_dump())
    if options.resume and run.file("plan.json").is_file():
        plan = SegPlan.model_validate(run.read_json("plan.json"))
    else:
        layers = list(plan_layers)
        if network_name:
            layers.insert(0, {"network": network_name})
        plan = resolve_seg_plan(make_seg_plan(fingerprint, bf16_supported=cpu_supports_bf16()), *layers)
    if len(plan.class_names) != plan.num_classes:
        raise ConfigError(f"class_names has {len(plan.class_names)} names for {plan.num_classes} classes")
    run.write_json("plan.json", plan.model_dump())
    train_prepared, _ = prepare_cases(loaded.cases, loaded.samples, plan, keep_labels=False)
    train_skipped = loaded.skipped
    del loaded
    val_loaded = read_samples(
        dataset, val_cases, strict=options.strict, progress=options.progress, desc="reading validation cases"
    )
    val_prepared, val_truths = prepare_cases(val_loaded.cases, val_loaded.samples, plan)
    val_shapes = [tuple(s.image.spatial_shape) for s in val_loaded.samples]
    val_skipped = val_loaded.skipped
    del val_loaded
    sampler = PatchSampler(
        [c.image for c in train_prepared],
        [c.labels for c in train_prepared if c.labels is not None],
        plan.patch_size,
        plan.foreground_fraction,
        plan.augmentation,
        seed=options.seed,
    )
    del train_prepared
    step = max(1, len(val_prepared) / plan.max_val_cases)
    monitored = [val_prepared[int(i * step)] for i in range(min(len(val_prepared), plan.max_val_cases))]
    torch.manual_seed(options.seed)
    network = build_segmentation_network(plan)
    result = train_segmentation(
        network,
        sampler,
        lambda net: validation_dice(net, monitored, plan),
        plan,
        run.path,
        seed=options.seed,
        resume=options.resume,
        progress=options.progress,
        label=dataset.name,
    )
    network.load_state_dict(result.best_state)
    network = network.to(memory_format=torch.contiguous_format)
    network.eval()
    predictions = [
        probabilities_at(p, shape).argmax(0).numpy().astype(np.uint8)
        for p, shape in zip(predict_prepared(network, val_prepared, plan), val_shapes, strict=True)
    ]
    chosen, scores = select_postprocessing(
        predictions, val_truths, plan.num_classes, min_object_fraction=plan.min_object_fraction
    )
    if "postprocessing" not in plan.reasons or plan.reasons["postprocessing"] != "set by user":
        plan = plan.model_copy(
            update={
                "postprocessing": chosen,
                "reasons": {
                    **plan.reasons,
                    "postprocessing": "validation mean Dice: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()),
                },
            }
        )
    run.write_json("plan.json", plan.model_dump())
    save_checkpoint(run.file("model.pt"), {"model": network.state_dict()})
    metadata = {
        "medimg_version": _version(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": "segment",
        "network": plan.network,
        "class_names": list(plan.class_names),
        "input": {
            "spatial_dims": plan.spatial_dims,
            "channels": plan.in_channels,
            "patch_size": plan.patch_size,
            "window": list(dataset.window) if isinstance(dataset.window, tuple) else dataset.window,
        },
        "training": {
            "best_epoch": result.best_epoch,
            "best_val_dice": result.best_metric,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "train_time_s": round(result.train_time_s, 2),
            "total_time_s": round(time.perf_counter() - started, 2),
            "train_cases": len(sampler),
            "val_cases": len(val_prepared),
            "postprocessing_scores": scores,
            "skipped_files": [list(s) for s in (*train_skipped, *val_skipped)],
        },
    }
    run.write_json("metadata.json", metadata)
    return SegFitResult(network, plan, run.path, metadata)


def _version() -> str:
    from medimg import __version__

    return __version__
