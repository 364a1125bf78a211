"""Apply a trained network to whole files: evaluation on a split (metrics, report, overlays) and prediction of
new files (masks written in the input's format and geometry).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from medimg.io.image import ImageData
from medimg.io.orientation import in_canonical_orientation
from medimg.planning.domain import TrainingDomain
from medimg.tasks.segment.data import SegCase, SegmentationDataset
from medimg.tasks.segment.field_of_view import field_of_view_of
from medimg.tasks.segment.inference import probabilities_at, sliding_window_probabilities
from medimg.tasks.segment.labels import IGNORE, unused_classes
from medimg.tasks.segment.masks import (
    SegmentationPrediction,
    label_values,
    mask_path_for,
    postprocess,
    predicted_labels,
    summarise,
    write_mask,
)
from medimg.tasks.segment.planning import SegPlan
from medimg.tasks.segment.preprocess import decode_labels, prepare_image
from medimg.tasks.segment.report import (
    SegmentationReport,
    build_segmentation_report,
    plot_overlay,
    write_segmentation_report,
)
from medimg.tasks.segment.scale import ScaleMonitor, TrainingScale

logger = logging.getLogger(__name__)

AUC_PIXELS_PER_CASE = 400_000


def segment_image(
    network: nn.Module, plan: SegPlan, image: ImageData, roi: np.ndarray | None = None, *, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Segment one image/volume at its own size (``scale``: resized by this factor before the network, see
    :mod:`medimg.tasks.segment.scale`; the result comes back at the file's size).

    Returns:
        ``(labels (*spatial) uint8, probabilities (K, *spatial) float32)`` in the file's geometry; labels are
        post-processed with the plan's method and 0 outside ``roi`` (default: the image's field of view by the
        plan's rule, :func:`~medimg.tasks.segment.field_of_view.field_of_view_of`).
    """

    def run(one: ImageData) -> tuple[np.ndarray, np.ndarray]:
        x = prepare_image(one.array, one.spacing_mm, plan, one.source, scale, one.meta)[None]
        probs = probabilities_at(sliding_window_probabilities(network, x, plan)[0], one.spatial_shape)
        labels = predicted_labels(probs.numpy(), unused_classes(plan.label_encoding))
        labels = postprocess(
            labels, plan.postprocessing, plan.num_classes, min_object_fraction=plan.min_object_fraction
        )
        return labels, probs.numpy()

    labels, probs = in_canonical_orientation(image, run) if plan.canonical_orientation else run(image)
    if roi is None:
        roi = field_of_view_of(plan.field_of_view, image.array, image.source)
    if roi is not None:
        labels = np.where(roi, labels, 0).astype(np.uint8)
    return labels, probs


def segment_sections(
    network: nn.Module, plan: SegPlan, image: ImageData, *, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """A stack of sections (a multi-page TIFF, :func:`medimg.data.tiff_stacks.is_stack`) for a 2D model: each
    section segmented on its own (:func:`segment_image`); ``(labels (D, H, W), probabilities (K, D, H, W))``."""
    from medimg.data.tiff_stacks import by_sections

    return by_sections(image, lambda one: segment_image(network, plan, one, scale=scale))


def evaluate_cases(
    network: nn.Module,
    plan: SegPlan,
    dataset: SegmentationDataset,
    cases: Sequence[SegCase],
    *,
    split: str,
    out_dir: Path,
    n_resamples: int = 1000,
    strict: bool = False,
    progress: bool = False,
    extra: dict[str, Any] | None = None,
    overlays: int = 6,
    domain: TrainingDomain | None = None,
    training_scale: TrainingScale | None = None,
    scale: float = 1.0,
    mask_labels: Mapping[str, str] | None = None,
    own_data: bool = False,
) -> SegmentationReport:
    """Segment every case, compute per-case metrics at the files' resolution, and write the report.

    Args:
        domain: the run's training domain: each image is compared with it (size and spacing: a pixel scale that
            differs from training) and the report's ``domain`` entry summarises them (``strict`` refuses them).
        training_scale: the training images' size/spacing: inputs at another pixel scale (after ``scale``) get
            one warning suggesting ``--scale`` and the report's ``scale`` entry (:mod:`.scale`).
        scale: resize factor applied to every image before the network; predictions come back at the image's
            size and are compared with its mask at the mask's native resolution.
        mask_labels: ``{raw mask value: class name}`` for masks the run's encoding does not cover.
        own_data: ``cases`` are of the run's training data (numbered as its masks are).

    The masks of the set are read with the encoding :func:`~medimg.tasks.segment.external.external_label_encoding`
    decides for the whole set: the run's when they fit it, else mapped to the run's class names (by the names the
    data gives, else by rank of values), with a warning that says which mapping was used.
    """
    from tqdm.auto import tqdm

    from medimg.planning.domain import InputReader
    from medimg.tasks.segment.cases import CaseReader
    from medimg.tasks.segment.metrics import case_metrics, pixel_auc
    from medimg.terminal import show_bars

    network.eval()
    labels_plan = mask_encoding_plan(plan, dataset, cases, mask_labels, own_data=own_data)
    monitor = ScaleMonitor(training_scale, scale)
    per_case: list[dict[int, dict[str, float]]] = []
    case_ids: list[str] = []
    kept: list[SegCase] = []
    scores: list[np.ndarray] = []
    truths: list[np.ndarray] = []
    weights: list[float] = []  # per case: how many of its pixels each kept one stands for
    skipped: list[tuple[str, str]] = []
    spacing_known = False
    rng = np.random.default_rng(0)
    reader = InputReader(domain=domain, strict=strict, warn_each=False, scale=scale)
    cases_read = CaseReader(dataset, cases, strict=strict, budget=0)  # one case at a time (large volumes)
    bar = tqdm(total=len(cases), desc=f"evaluating {split}", disable=not show_bars(progress), leave=False)
    for case, sample in cases_read:
        if sample.mask is None:
            continue
        sample.image.source = str(case.image)
        reader.check(sample.image)
        truth = decode_labels(sample.mask, sample.roi, labels_plan, str(case.mask))
        labels, probs = segment_image(network, plan, sample.image, scale=scale)
        monitor.check(sample.image, labels)
        spacing = sample.image.spacing_mm
        spacing_known = spacing_known or spacing is not None
        per_case.append(case_metrics(labels, truth, plan.num_classes, spacing))
        case_ids.append(case.case_id)
        kept.append(case)
        if plan.num_classes == 2:
            valid = truth != IGNORE
            s, t = probs[1][valid], truth[valid]
            weight = 1.0
            if s.size > AUC_PIXELS_PER_CASE:  # a large case's kept pixels each stand for several: weighted
                weight = s.size / AUC_PIXELS_PER_CASE
                pick = rng.choice(s.size, AUC_PIXELS_PER_CASE, replace=False)
                s, t = s[pick], t[pick]
            scores.append(s.astype(np.float32))
            truths.append(t)
            weights.append(weight)
        bar.update(1)
    bar.close()
    skipped += cases_read.skipped
    if not per_case:
        from medimg.errors import DatasetError

        raise DatasetError(f"no readable labelled cases in the {split!r} split of {dataset.name}")
    if (warning := monitor.warning()) is not None:
        logger.warning("%s", warning)
    if (note := monitor.note()) is not None:
        logger.info("%s", note)
    auc = pixel_auc(scores, truths, weights=weights) if scores else None
    report = build_segmentation_report(
        per_case,
        case_ids,
        plan.class_names,
        split=split,
        model_name=f"{plan.network} {plan.spatial_dims}D (features {plan.channels})",
        dataset_name=dataset.name,
        pixel_auc=auc,
        postprocessing=plan.postprocessing,
        n_resamples=n_resamples,
        patient_ids=[case.patient_id for case in kept],  # intervals count patients
        extra={
            **(extra or {}),
            "spacing_known": spacing_known,
            "skipped_files": [list(s) for s in skipped],
            **({"domain": reader.summary()} if domain is not None else {}),
            **({"scale": monitor.summary()} if training_scale is not None or scale != 1 else {}),
            **({"label_mapping": labels_plan.label_encoding.note} if labels_plan is not plan else {}),
        },
    )
    images = _overlays(network, plan, labels_plan, dataset, kept, report, out_dir / "overlays", overlays, scale)
    write_segmentation_report(report, out_dir, overlays=images)
    return report


def mask_encoding_plan(
    plan: SegPlan,
    dataset: SegmentationDataset,
    cases: Sequence[SegCase],
    mask_labels: Mapping[str, str] | None = None,
    *,
    own_data: bool = False,
) -> SegPlan:
    """``plan`` itself when the masks of ``cases`` fit its encoding, else a copy whose ``label_encoding`` maps them
    to the run's classes (:func:`~medimg.tasks.segment.external.external_label_encoding`; the mapping is logged).

    Raises:
        DatasetError: the mapping is ambiguous (the message names a file and the fix).
    """
    from medimg.data.layouts.mask_boxes import read_label_map
    from medimg.tasks.segment.external import external_label_encoding, survey_masks

    masks = [Path(case.mask) for case in cases if case.mask is not None]
    if not masks:
        return plan
    encoding = external_label_encoding(
        survey_masks(cases, palette_indices=dataset.colour_table is None),
        plan.label_encoding,
        plan.class_names,
        colour_table=dataset.colour_table,
        value_names=dataset.value_names or read_label_map(masks[0].parent),
        mask_labels=mask_labels,
        dataset_name=dataset.name,
        own_data=own_data,
    )
    if encoding is plan.label_encoding:
        return plan
    logger.warning("%s", encoding.note)
    return plan.model_copy(update={"label_encoding": encoding})


def _overlays(
    network: nn.Module,
    plan: SegPlan,
    labels_plan: SegPlan,
    dataset: SegmentationDataset,
    cases: Sequence[SegCase],
    report: SegmentationReport,
    folder: Path,
    count: int,
    scale: float = 1.0,
) -> dict[str, Path]:
    """Overlays of the worst half, a median and the best cases by Dice (re-segmented: cheap for a few; masks
    decoded with ``labels_plan``'s encoding, images segmented at ``scale``)."""
    rows = [(i, r["dice_mean"]) for i, r in enumerate(report.cases) if not math.isnan(r["dice_mean"])]
    if not rows or count <= 0:
        return {}
    rows.sort(key=lambda t: t[1])
    n_worst = max(1, count // 2)
    picks = [*rows[:n_worst], rows[len(rows) // 2], *rows[-max(1, count - n_worst - 1) :]]
    chosen: list[int] = []
    for i, _ in picks:
        if i not in chosen:
            chosen.append(i)
    images: dict[str, Path] = {}
    for rank, i in enumerate(chosen):
        case = cases[i]
        sample = dataset.read(case)
        if sample.mask is None:
            continue
        truth = decode_labels(sample.mask, sample.roi, labels_plan, str(case.mask))
        labels, _ = segment_image(network, plan, sample.image, sample.roi, scale=scale)
        title = f"{case.case_id}  Dice {report.cases[i]['dice_mean']:.3f}"
        images[title] = plot_overlay(sample.image.array, truth, labels, title, folder / f"overlay_{rank:02d}.png")
    return images


def predict_files(
    network: nn.Module,
    plan: SegPlan,
    files: Sequence[Path],
    out_dir: Path | None,
    *,
    window: str | tuple[float, float] | None = None,
    colours: dict[int, tuple[int, int, int]] | None = None,
    read: Callable[[Path], ImageData] | None = None,
    scale: float = 1.0,
    training_scale: TrainingScale | None = None,
) -> tuple[list[SegmentationPrediction], list[tuple[str, str]]]:
    """Segment files; write ``<out_dir>/<sub-folders>/<name>_mask.png|.nii.gz`` per input (a case read from several
    channel files: ``<case>_mask.nii.gz``, :func:`~medimg.tasks.segment.masks.mask_path_for`), the sub-folders
    mirroring the inputs' tree below their common folder (so same-named inputs from different folders never
    overwrite each other; nothing written when ``out_dir`` is None). Returns the predictions and the unreadable
    files as ``(path, reason)``.

    Args:
        read: how each file is read (e.g. :meth:`medimg.planning.domain.InputReader.read`, which also checks the
            training domain); default :func:`medimg.io.read_image` with ``window``.
        scale: resize factor applied to every input before the network (masks come back at the input's size).
        training_scale: the training images' size/spacing: inputs at another pixel scale get one warning that
            suggests ``--scale`` (:mod:`medimg.tasks.segment.scale`).
    """
    from medimg.data.tiff_stacks import is_stack, section
    from medimg.errors import DatasetError, ImageReadError
    from medimg.io import read_image
    from medimg.io.inputs import common_root, mirrored_folder

    predictions: list[SegmentationPrediction] = []
    failed: list[tuple[str, str]] = []
    root = common_root(files)
    monitor = ScaleMonitor(training_scale, scale)
    values = label_values(plan.label_encoding)  # the training masks' value of each class, where not its index
    written: set[Path] = set()
    for path in files:
        try:
            image = read(path) if read is not None else read_image(path, window=window)
            if plan.spatial_dims == 2 and is_stack(image):  # a 2D model's stack: section by section
                monitor.check(section(image, 0))
                labels, probs = segment_sections(network, plan, image, scale=scale)
            else:
                labels, probs = segment_image(network, plan, image, scale=scale)
                monitor.check(image, labels)
        except (ImageReadError, DatasetError) as error:
            failed.append((str(path), str(error)))
            continue
        mask_path = None
        if out_dir is not None:
            mask_path = str(
                write_mask(
                    labels,
                    mask_path_for(
                        path,
                        mirrored_folder(path, root, out_dir),
                        volume=labels.ndim == 3,
                        case=image.meta.get("case_name"),
                        taken=written,
                    ),
                    affine=image.affine,
                    spacing_mm=image.spacing_mm,
                    colours=colours,
                    num_classes=plan.num_classes,
                    squeezed_z=bool(image.meta.get("squeezed_z")),
                    nifti_geometry=image.meta.get("nifti_geometry"),
                    values=values,
                    class_names=plan.class_names,
                )
            )
        predictions.append(
            summarise(labels, probs, plan.class_names, image.spacing_mm, str(path), mask_path, keep_mask=False)
        )
    if (warning := monitor.warning()) is not None:
        logger.warning("%s", warning)
    if (note := monitor.note()) is not None:
        logger.info("%s", note)
    return predictions, failed
