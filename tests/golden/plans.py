"""The plan a default ``fit`` run computes, without training: the one place the golden tests reach into the package.

Each function follows the fit run step by step with default options (``FitOptions()``: seed 0, default
val/test fractions, no config file, no overrides) and stops where the run writes ``plan.json`` for the first time.
When the code moves, re-point the imports and calls here; the golden files and the test stay as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def classify_plan(path: str | Path, **load_options: Any) -> dict[str, Any]:
    """``plan.json`` of ``Model("auto").fit(path, **load_options)`` (medimg.tasks.classify.run.fit_classifier)."""
    from medimg.config import FitOptions, resolve_plan
    from medimg.data.dataset import Dataset
    from medimg.data.loading import read_cases
    from medimg.data.splits import make_splits
    from medimg.planning.fingerprint import extract_fingerprint
    from medimg.planning.planner import cpu_supports_bf16, make_plan

    options = FitOptions()
    dataset = Dataset.load(path, **load_options)
    splits = make_splits(
        dataset.cases, val_fraction=options.val_fraction, test_fraction=options.test_fraction, seed=options.seed
    )
    loaded = read_cases(dataset, splits.cases(dataset.cases, "train"), strict=options.strict, progress=False)
    fingerprint = extract_fingerprint(dataset, loaded.cases, loaded.arrays, loaded.metas, seed=options.seed)
    # Model.fit passes two layers: the config file (none) and the keyword overrides (none).
    plan = resolve_plan(make_plan(fingerprint, bf16_supported=cpu_supports_bf16()), None, {})
    return plan.model_dump()


def segment_plan(path: str | Path) -> dict[str, Any]:
    """``plan.json`` of ``Model("auto", task="segment").fit(path)`` as first written by
    medimg.tasks.segment.fit.fit_segmentation (before post-processing is chosen on validation)."""
    from medimg.config import FitOptions
    from medimg.data.splits import make_splits
    from medimg.planning.planner import cpu_supports_bf16
    from medimg.tasks.segment.data import SegmentationDataset
    from medimg.tasks.segment.fit import class_names_for, determine_dataset_encoding, read_samples
    from medimg.tasks.segment.planning import SegPlan, extract_seg_fingerprint, make_seg_plan, resolve_seg_plan
    from medimg.tasks.segment.preprocess import decode_labels

    options = FitOptions()
    dataset = SegmentationDataset.load(path, strict=options.strict)
    splits = make_splits(
        [c.as_case() for c in dataset.cases],
        val_fraction=options.val_fraction,
        test_fraction=options.test_fraction,
        seed=options.seed,
    )
    train_cases = [c for c in dataset.cases if splits.assignment.get(c.case_id) == "train"]
    loaded = read_samples(dataset, train_cases, strict=options.strict, progress=False)
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
    plan = resolve_seg_plan(make_seg_plan(fingerprint, bf16_supported=cpu_supports_bf16()), None, {})
    return plan.model_dump()
