"""Test-time augmentation of segmentation: the symmetries the network was trained with (torch-free).

A prediction is averaged over transformed copies of the input, each mapped back: every combination of the
mirrored axes (nnU-Net's mirroring: 4 passes in 2D, 8 in 3D), and, for a 2D network trained with 90-degree
rotations, the 8 symmetries of the square (4 rotations, each unflipped and mirrored). On DRIVE (BasicUNet +
CLAHE, seed 0) validation Dice pooled over pixels went 0.8229 / 0.8233 / 0.8236 with 3 passes (no flip, each axis
alone) / 4 mirrors / the 8 square symmetries; the README has the measurement.

The PyTorch path (:mod:`medimg.tasks.segment.inference`) and the ONNX predictor (:mod:`medimg.export.segment`)
both take their passes from :func:`tta_passes`; an export records them as ``tta_passes`` in its metadata.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TTAPass = tuple[tuple[int, ...], int]
"""``(spatial axes mirrored, quarter turns)``: mirror first, then rotate in the plane of the last two axes."""


def tta_passes(spatial_dims: int, flip_axes: Iterable[int], rotate90: bool, enabled: bool = True) -> list[TTAPass]:
    """The test-time passes of a network trained with mirroring on ``flip_axes`` and, if ``rotate90``, random
    quarter turns (2D only); the identity first. One pass (the identity) when not ``enabled``."""
    if not enabled:
        return [((), 0)]
    axes = sorted({int(a) for a in flip_axes if 0 <= int(a) < spatial_dims})
    if rotate90 and spatial_dims == 2:
        mirrors: list[tuple[int, ...]] = [(), (axes[0],)] if axes else [()]  # other mirrors are turns of this one
        return [(mirror, turns) for mirror in mirrors for turns in range(4)]
    return [(subset, 0) for size in range(len(axes) + 1) for subset in itertools.combinations(axes, size)]


def plan_tta_passes(plan: Mapping[str, Any]) -> list[TTAPass]:
    """:func:`tta_passes` of a segmentation plan as a dict (``SegPlan.model_dump()``, which holds every field)."""
    augmentation = plan["augmentation"]
    return tta_passes(
        int(plan["spatial_dims"]), augmentation["flip_axes"], bool(augmentation["rotate90"]), bool(plan["tta"])
    )


def passes_from_spec(spec: Mapping[str, Any]) -> list[TTAPass]:
    """The passes an export's metadata records: ``tta_passes``, or an older export's ``tta_flip_axes`` (the
    identity, then each axis mirrored alone)."""
    if "tta_passes" in spec:
        return [(tuple(int(a) for a in axes), int(turns)) for axes, turns in spec["tta_passes"]]
    return [((), 0), *[((int(a),), 0) for a in spec.get("tta_flip_axes", [])]]


def passes_to_spec(passes: Sequence[TTAPass]) -> list[list[Any]]:
    """``passes`` as JSON (``[[axes], turns], ...``)."""
    return [[list(axes), turns] for axes, turns in passes]
