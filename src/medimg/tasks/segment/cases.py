"""The pieces of a segmentation fit: read cases, find the label encoding, prepare network-resolution tensors,
predict prepared cases and score validation Dice (the run itself is :func:`medimg.engine.run.fit_run`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from medimg.data.memory import case_memory_budget, nbytes
from medimg.errors import DatasetError, ImageReadError
from medimg.io.formats import is_lossy
from medimg.tasks.segment.class_names import value_names_of
from medimg.tasks.segment.data import SegCase, SegmentationDataset, SegSample
from medimg.tasks.segment.inference import sliding_window_probabilities
from medimg.tasks.segment.labels import (
    LabelEncoding,
    MaskValueSurvey,
    is_colour_mask,
    named_for_instances,
)
from medimg.tasks.segment.planning import (
    SegPlan,
)
from medimg.tasks.segment.preprocess import PreparedCase, decode_labels, prepare_image, prepare_labels
from medimg.tasks.segment.sampling import pad_to
from medimg.tasks.segment.store import CaseStore

logger = logging.getLogger(__name__)


@dataclass
class ReadCases:
    """Samples of the readable cases (in order) and the unreadable ones as ``(path, reason)``."""

    cases: list[SegCase]
    samples: list[SegSample]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def sample_bytes(sample: SegSample) -> int:
    """Bytes a read case holds (image, raw mask, region of interest)."""
    return sum(nbytes(a) for a in (sample.image.array, sample.mask, sample.roi) if a is not None)


class CaseReader:
    """The readable cases of a split, read with threads on each pass over them (``for case, sample in reader``).

    The first full pass finds the unreadable cases (skipped with a warning; an error with ``strict`` or when more
    than half are unreadable) and keeps the samples in memory while they fit ``budget`` bytes (default:
    :func:`~medimg.data.memory.case_memory_budget`); later passes replay them, or read the files again when
    the set is larger, so a set of large volumes is never held whole.
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        cases: Sequence[SegCase],
        *,
        strict: bool = False,
        progress: bool = False,
        desc: str = "reading cases",
        budget: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.cases = list(cases)
        self.strict = strict
        self.progress = progress
        self.desc = desc
        self.budget = case_memory_budget() if budget is None else budget
        self.readable: list[SegCase] | None = None
        self.skipped: list[tuple[str, str]] = []
        self._kept: list[SegSample] | None = None

    def __len__(self) -> int:
        """Readable cases (all cases before the first pass)."""
        return len(self.readable if self.readable is not None else self.cases)

    @property
    def in_memory(self) -> bool:
        """Whether the samples are held (after a first pass that fitted the budget)."""
        return self._kept is not None

    def __iter__(self) -> Iterator[tuple[SegCase, SegSample]]:
        if self.readable is None:
            return self._first_pass()
        if self._kept is not None:
            return iter(zip(self.readable, self._kept, strict=True))
        return self._read_again()

    def _results(self, cases: Sequence[SegCase], desc: str) -> Iterator[tuple[SegCase, SegSample | None, str | None]]:
        from medimg.data.loading import read_ahead

        def read_one(case: SegCase) -> tuple[SegCase, SegSample | None, str | None]:
            try:
                return case, self.dataset.read(case), None
            except ImageReadError as error:
                return case, None, f"{error.path}: {error.reason}"

        return read_ahead(
            cases,
            read_one,
            lambda result: sample_bytes(result[1]) if result[1] is not None else 0,
            progress=self.progress,
            desc=desc,
        )

    def _first_pass(self) -> Iterator[tuple[SegCase, SegSample]]:
        readable: list[SegCase] = []
        skipped: list[tuple[str, str]] = []
        kept: list[SegSample] | None = []
        held = 0
        for case, sample, reason in self._results(self.cases, self.desc):
            if sample is None:
                skipped.append((case.case_id, str(reason)))
                continue
            readable.append(case)
            if kept is not None:
                held += sample_bytes(sample)
                if held <= self.budget:
                    kept.append(sample)
                else:
                    logger.log(
                        logging.INFO if self.budget else logging.DEBUG,
                        "%s: the cases exceed %.0f MB; they are read again when needed instead of held in memory",
                        self.desc,
                        self.budget / 2**20,
                    )
                    kept = None
            yield case, sample
        self._report(skipped)
        self.readable, self.skipped, self._kept = readable, skipped, kept

    def _read_again(self) -> Iterator[tuple[SegCase, SegSample]]:
        assert self.readable is not None
        for case, sample, reason in self._results(self.readable, self.desc):
            if sample is None:
                raise DatasetError(f"{case.case_id} became unreadable during the run: {reason}")
            yield case, sample

    def _report(self, skipped: list[tuple[str, str]]) -> None:
        if not skipped:
            return
        listing = "\n  ".join(f"{c}: {r}" for c, r in skipped[:20])
        if self.strict or len(skipped) > len(self.cases) / 2:
            raise DatasetError(
                f"{len(skipped)} of {len(self.cases)} cases are unreadable:\n  {listing}\n"
                "Remove or replace them" + ("" if self.strict else ", or check the dataset path")
            )
        logger.warning("skipped %d unreadable case(s):\n  %s", len(skipped), listing)


def one_dimensionality(pairs: Iterable[tuple[SegCase, SegSample]]) -> Iterator[tuple[SegCase, SegSample]]:
    """``pairs`` as they come, until a case whose number of spatial axes differs from an earlier case's.

    Raises:
        DatasetError: 2D images and 3D volumes mixed (CAMUS's 2D+time sequences beside its frames), naming a case of
            each and the fix; fingerprinting them failed with a NumPy error.
    """
    from medimg.tasks.segment.quality import mixed_dimensions

    first: dict[int, str] = {}
    for case, sample in pairs:
        first.setdefault(len(sample.image.spatial_shape), case.case_id)
        if len(first) > 1:
            raise DatasetError(mixed_dimensions(first))
        yield case, sample


def read_samples(
    dataset: SegmentationDataset,
    cases: Sequence[SegCase],
    *,
    strict: bool = False,
    progress: bool = False,
    desc: str = "reading cases",
) -> ReadCases:
    """Read all ``cases`` into memory (see :class:`CaseReader` for the skipping rules).

    Size mismatches between an image and its mask always raise :class:`DatasetError` (a pairing problem).
    """
    reader = CaseReader(dataset, cases, strict=strict, progress=progress, desc=desc, budget=0)
    pairs = list(reader)
    return ReadCases([c for c, _ in pairs], [s for _, s in pairs], reader.skipped)


def determine_dataset_encoding(
    dataset: SegmentationDataset, samples: Iterable[SegSample], value_names: Mapping[int, str] | None = None
) -> LabelEncoding:
    """One :class:`LabelEncoding` from the masks of all training ``samples`` (see :mod:`.labels`); ``value_names``:
    :func:`value_names_of` the dataset when the caller has it already (read here otherwise)."""
    has_colour = False
    survey = MaskValueSurvey(lossy=any(is_lossy(case.mask) for case in dataset.cases))
    for sample in samples:
        if sample.mask is None:
            continue
        if is_colour_mask(sample.mask):
            has_colour = True
            continue
        survey.add_mask(sample.mask[0])
        if len(survey.values) > survey.limit:
            break
    named = value_names if value_names is not None else value_names_of(dataset)
    return survey.encoding(
        colour_table=dataset.colour_table,
        has_colour=has_colour,
        named_values=dict(named),
        instance_files=named_for_instances(c.mask for c in dataset.cases if c.mask is not None),
    )


def prepare_cases(
    pairs: Iterable[tuple[SegCase, SegSample]],
    plan: SegPlan,
    *,
    keep_labels: bool = True,
    store: CaseStore | None = None,
    pad_to_patch: bool = False,
) -> tuple[list[PreparedCase], list[np.ndarray]]:
    """Network-resolution tensors of each case, plus its decoded labels at the file's resolution, one case at a
    time; ``store`` keeps them (in memory, or memory-mapped beyond its budget). ``pad_to_patch``: training cases
    smaller than the plan's patch are padded first (:func:`~medimg.tasks.segment.sampling.pad_to`; padded
    labels are ignored), so the sampler takes them as kept."""

    prepared: list[PreparedCase] = []
    originals: list[np.ndarray] = []
    for case, sample in pairs:
        spacing = sample.image.spacing_mm
        image = prepare_image(sample.image.array, spacing, plan, str(case.image), meta=sample.image.meta)
        labels = None
        if sample.mask is not None:
            decoded = decode_labels(sample.mask, sample.roi, plan, str(case.mask))
            labels = prepare_labels(decoded, spacing, plan)
            if pad_to_patch:
                image, labels = pad_to(image, labels, plan.patch_size)
            if keep_labels:
                originals.append(store.keep(decoded) if store is not None else decoded)
            if store is not None:
                labels = store.keep(labels)
        if store is not None:
            image = store.keep(image)
        prepared.append(PreparedCase(case.case_id, image, labels, tuple(sample.image.spatial_shape)))
    return prepared, originals


def predict_prepared(
    network: nn.Module, cases: Sequence[PreparedCase], plan: SegPlan, *, tta: bool | None = None, amp: bool = False
) -> Iterator[tuple[int, torch.Tensor]]:
    """``(index, probabilities (K, *spatial))`` at network resolution for each case, as they are computed
    (same-shape cases batched, so not in order; float32 unless ``amp``, see :func:`sliding_window_probabilities`).
    A generator: the caller reduces each case (labels, Dice) before the next, so a large validation set's
    probabilities are never held together."""
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
                yield i, probs[j]


def validation_dice(network: nn.Module, cases: Sequence[PreparedCase], plan: SegPlan) -> dict[str, float]:
    """Mean foreground Dice over validation cases at network resolution (no test-time augmentation)."""
    from medimg.tasks.segment.metrics import dice_per_class

    by_case: dict[int, float] = {}
    for i, probs in predict_prepared(network, cases, plan, tta=False, amp=True):
        labels = cases[i].labels
        if labels is None:
            continue
        dice = dice_per_class(probs.argmax(0).numpy(), labels.numpy(), plan.num_classes)[1:]
        by_case[i] = float(np.nanmean(dice)) if not np.isnan(dice).all() else np.nan
    scores = [by_case[i] for i in sorted(by_case)]
    return {"dice": float(np.nanmean(scores)) if scores else float("nan")}
