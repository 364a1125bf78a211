"""Classification data as tensors: read and preprocess one split to the plan's input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.loading import LoadedImages, read_cases
from medimg.planning.plan import Plan
from medimg.transforms.preprocess import preprocess_arrays


@dataclass
class PreparedSplit:
    """Preprocessed tensors of one split: ``x`` ``(N, C, *input_size)`` float16, ``y`` ``(N,)`` int64."""

    x: torch.Tensor
    y: torch.Tensor
    case_ids: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.case_ids)


def prepare_split(
    dataset: Dataset, cases: Sequence[Case], plan: Plan, *, strict: bool = False, progress: bool = False
) -> PreparedSplit:
    """Read and preprocess ``cases`` to the plan's input (unreadable files skipped and reported)."""
    loaded = read_cases(dataset, cases, strict=strict, progress=progress, spatial_dims=plan.spatial_dims)
    return prepare_loaded(loaded, plan)


def prepare_loaded(loaded: LoadedImages, plan: Plan) -> PreparedSplit:
    """Preprocess images already read (e.g. the training split, read once for the fingerprint too)."""
    x = preprocess_arrays(loaded.arrays, plan, [str(c.path or c.case_id) for c in loaded.cases])
    y = torch.tensor([c.label if c.label is not None else -1 for c in loaded.cases], dtype=torch.long)
    return PreparedSplit(x=x, y=y, case_ids=[c.case_id for c in loaded.cases], skipped=loaded.skipped)
