"""Pixel scale at inference: compare each input's scale with the training images' and say when it differs.

A segmentation network learns structures at the size, in pixels, it saw them in training: a vessel model trained
on 565 px fundus photographs sees vessels twice as thick in a 1130 px photograph of the same field, and misses
them. Where the scale comes from:

* images with a pixel spacing (DICOM, NIfTI): 3D volumes are resampled to the plan's target spacing from their
  own spacing, nothing to do; 2D images are compared by spacing with the training images' median spacing;
* rasters (PNG, JPEG, TIFF, ...) carry no pixel size, and the size of the structures in them is not knowable
  without segmenting them, so their size is compared with the training images' sizes: an input more than
  :data:`SCALE_TOLERANCE` times larger than the largest or smaller than the smallest training image is reported,
  with the factor that brings it to the training images' median size (it may also show a wider field of view, so
  this is a warning, not a correction).

``scale`` (``medimg evaluate/predict --scale FACTOR``) resizes every input by ``FACTOR`` before the network
(``0.5``: half the width and height; on top of any spacing-based resampling); the prediction is resampled back to
the input's own size, and evaluation compares it with the reference mask at its native resolution.
:class:`ScaleMonitor` compares the inputs *after* ``scale``, so the right factor silences the warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.io.image import ImageData
from medimg.planning.domain import SIZE_FACTOR

#: An input whose scale differs from training by more than this factor (either way) is reported: the input-domain
#: check's size tolerance, so the scale warning and the domain verdict judge sizes alike.
SCALE_TOLERANCE = SIZE_FACTOR


def validate_scale(scale: float | None) -> float:
    """``scale`` as a float (1.0 when ``None``).

    Raises:
        ConfigError: not a positive factor of at most 8 (and at least 1/8).
    """
    if scale is None:
        return 1.0
    value = float(scale)
    if not math.isfinite(value) or not 0.125 <= value <= 8:
        raise ConfigError(
            f"--scale {scale!r}: expected a resize factor between 0.125 and 8 (0.5 halves the width and height "
            "of each input before the network)"
        )
    return value


@dataclass(frozen=True)
class TrainingScale:
    """What the run's training images looked like, from its ``fingerprint.json``.

    Attributes:
        median_shape: median spatial size in pixels/voxels.
        median_spacing_mm: median spacing, ``None`` for rasters.
        resampled_by_spacing: True for 3D plans with a target spacing (inputs are resampled by their spacing).
        min_shape, max_shape: the smallest and largest training sizes per axis (default: the median).
    """

    median_shape: tuple[int, ...] | None
    median_spacing_mm: tuple[float, ...] | None = None
    resampled_by_spacing: bool = False
    min_shape: tuple[int, ...] | None = None
    max_shape: tuple[int, ...] | None = None

    @classmethod
    def from_fingerprint(cls, fingerprint: Mapping[str, Any], *, resampled_by_spacing: bool = False) -> TrainingScale:
        def ints(key: str) -> tuple[int, ...] | None:
            value = fingerprint.get(key) or fingerprint.get("median_shape")
            return tuple(int(v) for v in value) if value else None

        spacing = fingerprint.get("median_spacing_mm")
        return cls(
            median_shape=ints("median_shape"),
            median_spacing_mm=tuple(float(v) for v in spacing) if spacing else None,
            resampled_by_spacing=resampled_by_spacing,
            min_shape=ints("min_shape"),
            max_shape=ints("max_shape"),
        )


def load_training_scale(run_dir: str | Path | None, *, resampled_by_spacing: bool = False) -> TrainingScale | None:
    """The run's :class:`TrainingScale`, or ``None`` when it has no fingerprint."""
    if run_dir is None or not (Path(run_dir) / "fingerprint.json").is_file():
        return None
    from medimg.run_folder import RunFolder

    fingerprint = RunFolder(run_dir).read_json("fingerprint.json")
    return TrainingScale.from_fingerprint(fingerprint, resampled_by_spacing=resampled_by_spacing)


def _mean_ratio(values: Sequence[float], reference: Sequence[float]) -> float:
    """Geometric mean of ``values / reference`` over the axes."""
    return float(np.exp(np.mean([np.log(v / r) for v, r in zip(values, reference, strict=True)])))


def relative_scale(image: ImageData, training: TrainingScale, scale: float = 1.0) -> tuple[float, bool, str] | None:
    """The input's scale after ``scale`` relative to training.

    Returns:
        ``(ratio, differs, seen)``: how many times finer than the median training image the input is (2.0: twice
        the pixels per structure), whether it is beyond :data:`SCALE_TOLERANCE` (by spacing, or for rasters by
        size outside the training sizes), and what was compared; ``None`` when nothing can be compared (a volume
        resampled by its spacing, another dimensionality, nothing known about training).
    """
    shape = tuple(float(n) * scale for n in image.spatial_shape)
    spacing = image.spacing_mm
    if spacing is not None and training.median_spacing_mm is not None:
        if training.resampled_by_spacing or len(spacing) != len(training.median_spacing_mm) or min(spacing) <= 0:
            return None
        ratio = _mean_ratio(training.median_spacing_mm, [s / scale for s in spacing])
        differs = not 1 / SCALE_TOLERANCE <= ratio <= SCALE_TOLERANCE
        return ratio, differs, f"spacing {' x '.join(f'{v:.3g}' for v in spacing)} mm"
    median, low, high = training.median_shape, training.min_shape, training.max_shape
    if median is None or len(shape) != len(median) or min(median) <= 0:
        return None
    ratio = _mean_ratio(shape, median)
    smaller = _mean_ratio(shape, low or median) < 1 / SCALE_TOLERANCE
    larger = _mean_ratio(shape, high or median) > SCALE_TOLERANCE
    return ratio, smaller or larger, f"{'x'.join(str(n) for n in image.spatial_shape)} px"


@dataclass
class ScaleMonitor:
    """Collects the inputs whose scale differs from training (see the module docstring) for one warning.

    Attributes:
        training: the run's training scale (``None``: nothing is checked).
        scale: the resize factor applied to the inputs.
        checked: inputs compared.
        differing: ``(source, relative scale, what was compared)`` of the inputs beyond :data:`SCALE_TOLERANCE`.
    """

    training: TrainingScale | None
    scale: float = 1.0
    checked: int = 0
    differing: list[tuple[str, float, str]] = field(default_factory=list)

    def check(self, image: ImageData) -> float | None:
        """Compare one input; returns its relative scale (``None`` when not comparable)."""
        if self.training is None:
            return None
        found = relative_scale(image, self.training, self.scale)
        if found is None:
            return None
        self.checked += 1
        ratio, differs, seen = found
        if differs:
            self.differing.append((str(image.source or "image"), ratio, seen))
        return ratio

    def suggested_scale(self) -> float | None:
        """The factor that would bring the differing inputs to the training scale (2 significant digits); ``None``
        when they are at scales too unlike each other for one factor (more than :data:`SCALE_TOLERANCE` apart)."""
        if not self.differing or self._spread() > SCALE_TOLERANCE:
            return None
        ratio = float(np.median([r for _, r, _ in self.differing]))
        return float(f"{self.scale / ratio:.2g}")

    def _spread(self) -> float:
        """How far apart the differing inputs' scales are (largest over smallest relative scale)."""
        ratios = [r for _, r, _ in self.differing if r > 0]
        return max(ratios) / min(ratios) if ratios else 1.0

    def warning(self) -> str | None:
        """One sentence naming the differing inputs and the ``--scale`` to try, or ``None``."""
        if not self.differing or self.training is None:
            return None
        ratio = float(np.median([r for _, r, _ in self.differing]))
        if self.training.median_spacing_mm is not None and not self.training.resampled_by_spacing:
            seen = f"median spacing {' x '.join(f'{v:.3g}' for v in self.training.median_spacing_mm)} mm"
        else:
            seen = f"median size {'x'.join(map(str, self.training.median_shape or ()))} px"
            if self.training.min_shape != self.training.max_shape:
                low, high = ("x".join(map(str, s or ())) for s in (self.training.min_shape, self.training.max_shape))
                seen += f", {low} to {high} px"
        examples = ", ".join(f"{Path(s).name} ({t})" for s, _, t in self.differing[:3])
        more = f" and {len(self.differing) - 3} more" if len(self.differing) > 3 else ""
        applied = f" after --scale {self.scale:g}" if self.scale != 1 else ""
        suggested = self.suggested_scale()
        if suggested is None:  # one --scale cannot serve them all
            ratios = [r for _, r, _ in self.differing]
            return (
                f"{len(self.differing)} of {self.checked} input(s) are at {min(ratios):.2g}x to {max(ratios):.2g}x "
                f"the training images' resolution{applied} (training {seen}): {examples}{more}. --scale applies one "
                "factor to every input: predict inputs of one scale together, each group with its own --scale"
            )
        return (
            f"{len(self.differing)} of {self.checked} input(s) are at about {ratio:.2g}x the training images' "
            f"resolution{applied} (training {seen}): {examples}{more}. If they show the same structures at another "
            f"pixel scale, rerun with --scale {suggested:g} (masks come back at the input's size)"
        )

    def summary(self) -> dict[str, Any]:
        """For a report: the factor applied, inputs compared, those differing (first 20) and the suggestion."""
        return {
            "scale": self.scale,
            "checked": self.checked,
            "differing": len(self.differing),
            "examples": [{"source": s, "relative_scale": round(r, 3), "seen": t} for s, r, t in self.differing[:20]],
            "suggested_scale": self.suggested_scale(),
        }
