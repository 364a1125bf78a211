"""Classification data as tensors: read and preprocess one split to the plan's input."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.loading import LoadedImages, iter_images, other_dimensions, read_case_chunks, report_skipped
from medimg.data.memory import MEMORY_ENV, case_memory_budget
from medimg.errors import DatasetError
from medimg.planning.fingerprint import (
    MAX_INTENSITY_VOXELS,
    Fingerprint,
    ImageSummariser,
    ImageSummary,
    fingerprint_summaries,
)
from medimg.planning.plan import Plan
from medimg.transforms.preprocess import preprocess_arrays

logger = logging.getLogger(__name__)


@dataclass
class PreparedSplit:
    """Preprocessed tensors of one split: ``x`` ``(N, C, *input_size)`` float16, ``y`` ``(N,)`` int64 class indices
    (multi-label: ``(N, K)`` float32 multi-hot findings)."""

    x: torch.Tensor
    y: torch.Tensor
    case_ids: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.case_ids)


def fingerprint_training_images(
    dataset: Dataset, cases: Sequence[Case], *, strict: bool = False, progress: bool = False, seed: int = 0
) -> tuple[Fingerprint, LoadedImages]:
    """Fingerprint the training images, reading each once; they are kept for training while they fit the
    case-memory budget (:func:`~medimg.data.memory.case_memory_budget`), else read again by
    :func:`prepare_training` (a folder of full-size radiographs is never held whole).

    As :func:`~medimg.data.loading.read_cases`: an image of other dimensions than most (a multi-page TIFF among
    2D images) is skipped with the reason, and unreadable files are skipped with a warning.

    Raises:
        DatasetError: ``strict`` and a file is unreadable, more than half are unreadable, or none is readable.
    """
    budget = case_memory_budget()
    summarise = ImageSummariser(MAX_INTENSITY_VOXELS // max(1, len(cases)), seed)
    summaries: list[tuple[Case, ImageSummary]] = []
    held: LoadedImages | None = LoadedImages(cases=[], arrays=[], metas=[])
    skipped: list[tuple[str, str]] = []
    total = 0
    for case, array, meta, reason in iter_images(dataset, cases, progress=progress, desc="reading training images"):
        if array is None:
            skipped.append((str(case.path or case.case_id), str(reason)))
            continue
        summaries.append((case, summarise(array, meta)))
        if held is not None:
            total += int(array.nbytes)
            if total > budget:
                logger.info(
                    "the training images exceed %.0f MB (%s): they are read again for training instead of held",
                    budget / 2**20,
                    MEMORY_ENV,
                )
                held = None
            else:
                held.cases.append(case)
                held.arrays.append(array)
                held.metas.append(meta)
    dims = Counter(len(s.shape) for _, s in summaries)
    expected = dims.most_common(1)[0][0] if dims else None
    skipped += [
        (str(c.path or c.case_id), other_dimensions(s.shape, expected))
        for c, s in summaries
        if len(s.shape) != expected
    ]
    summaries = [(c, s) for c, s in summaries if len(s.shape) == expected]
    report_skipped(skipped, len(cases), strict=strict)
    if not summaries:
        raise DatasetError(f"{dataset.root}: none of the {len(cases)} training images is readable")
    kept_cases = [c for c, _ in summaries]
    _warn_untrained_classes(dataset, kept_cases)
    if held is None:
        loaded = LoadedImages(cases=kept_cases, arrays=[], metas=[], skipped=skipped, held=False)
    else:
        keep = [i for i, a in enumerate(held.arrays) if a.ndim - 1 == expected]
        loaded = LoadedImages(
            cases=[held.cases[i] for i in keep],
            arrays=[held.arrays[i] for i in keep],
            metas=[held.metas[i] for i in keep],
            skipped=skipped,
        )
    return fingerprint_summaries(dataset, kept_cases, [s for _, s in summaries]), loaded


def _warn_untrained_classes(dataset: Dataset, training: Sequence[Case]) -> None:
    """A warning naming the classes no training image shows (a MedMNIST file whose class has test images only): the
    model cannot predict them, and their other images are scored as its errors."""
    if dataset.multi_label:
        return
    trained = {case.label for case in training}
    elsewhere = Counter(case.label for case in dataset.cases if case.label is not None and case.label not in trained)
    if not elsewhere:
        return
    shown = [f"{dataset.class_names[label]} ({count})" for label, count in sorted(elsewhere.items())]
    logger.warning(
        "%d class(es) have no training image, only images in the other splits: %s. The model cannot predict them "
        "and their images are scored as its errors: give each some training images, or leave its images out",
        len(shown),
        ", ".join(shown),
    )


def prepare_split(
    dataset: Dataset, cases: Sequence[Case], plan: Plan, *, strict: bool = False, progress: bool = False
) -> PreparedSplit:
    """Read and preprocess ``cases`` to the plan's input, a chunk at a time (only the preprocessed tensors of the
    whole split are held); unreadable files skipped and reported."""
    parts = [
        prepare_loaded(chunk, plan)
        for chunk in read_case_chunks(dataset, cases, spatial_dims=plan.spatial_dims, strict=strict, progress=progress)
    ]
    return join_splits(parts, plan)


def join_splits(parts: Sequence[PreparedSplit], plan: Plan) -> PreparedSplit:
    """One split of consecutive prepared chunks (an empty split of the plan's shape when there are none)."""
    if not parts:
        empty = torch.zeros((0, plan.in_channels, *plan.input_size), dtype=torch.float16)
        return PreparedSplit(x=empty, y=_targets([], plan), case_ids=[])
    if len(parts) == 1:
        return parts[0]
    return PreparedSplit(
        x=torch.cat([p.x for p in parts]),
        y=torch.cat([p.y for p in parts]),
        case_ids=[c for p in parts for c in p.case_ids],
        skipped=[s for p in parts for s in p.skipped],
    )


def prepare_training(
    dataset: Dataset, loaded: LoadedImages, plan: Plan, *, strict: bool = False, progress: bool = False
) -> PreparedSplit:
    """The training split from what :func:`fingerprint_training_images` read: its images when it kept them, else
    the same cases read again a chunk at a time."""
    if loaded.held:
        return prepare_loaded(loaded, plan)
    prepared = prepare_split(dataset, loaded.cases, plan, strict=strict, progress=progress)
    prepared.skipped = [*loaded.skipped, *prepared.skipped]
    return prepared


def prepare_loaded(loaded: LoadedImages, plan: Plan) -> PreparedSplit:
    """Preprocess images already read (e.g. the training split, read once for the fingerprint too)."""
    metas = loaded.metas if len(loaded.metas) == len(loaded.arrays) else None
    x = preprocess_arrays(loaded.arrays, plan, [str(c.path or c.case_id) for c in loaded.cases], metas)
    return PreparedSplit(
        x=x, y=_targets(loaded.cases, plan), case_ids=[c.case_id for c in loaded.cases], skipped=loaded.skipped
    )


def _targets(cases: Sequence[Case], plan: Plan) -> torch.Tensor:
    """Class indices ``(N,)`` (-1 for an unlabelled case), or for a multi-label plan the multi-hot findings
    ``(N, K)`` (:func:`~medimg.data.labels.findings_matrix`)."""
    if plan.multi_label:
        from medimg.data.labels import findings_matrix

        return torch.from_numpy(findings_matrix(cases, plan.num_classes))
    return torch.tensor([c.label if c.label is not None else -1 for c in cases], dtype=torch.long)
