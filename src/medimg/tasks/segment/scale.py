"""Pixel scale at inference: compare each input's scale with the training images' and say when it differs.

A segmentation network learns structures at the size, in pixels, it saw them in training: a vessel model trained
on 565 px fundus photographs sees vessels twice as thick in a 1130 px photograph of the same field, and misses
them. Where the scale comes from:

* images with a pixel spacing (DICOM, NIfTI): 3D volumes are resampled to the plan's target spacing from their
  own spacing, nothing to do; 2D images are compared by spacing with the training images' median spacing;
* rasters (PNG, JPEG, TIFF, ...) carry no pixel size, so their size is compared with the training images' sizes
  first: an input more than :data:`SCALE_TOLERANCE` times larger than the largest or smaller than the smallest
  training image is a candidate. Its size alone cannot tell a larger field of view at the training magnification (a
  whole slide tile against training patches: nothing to correct, the network slides over it) from the same field
  at a finer resolution. Where the input has been segmented, the thickness of the structures found is compared
  with the training masks' (the fingerprint's ``foreground_thickness_px``): structures as thick as in training mean
  the same scale (a larger field of view, said as a note), other thicknesses give the factor. Where nothing was
  found, the warning says that it cannot tell and what each case needs.

A suggested ``--scale`` is always one :func:`validate_scale` accepts (:data:`MIN_SCALE` to :data:`MAX_SCALE`);
a factor beyond them is said to be beyond what ``--scale`` can bridge.

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


#: the resize factors ``--scale`` accepts
MIN_SCALE, MAX_SCALE = 0.125, 8.0


def validate_scale(scale: float | None) -> float:
    """``scale`` as a float (1.0 when ``None``).

    Raises:
        ConfigError: not a positive factor of at most :data:`MAX_SCALE` (and at least :data:`MIN_SCALE`).
    """
    if scale is None:
        return 1.0
    value = float(scale)
    if not math.isfinite(value) or not MIN_SCALE <= value <= MAX_SCALE:
        raise ConfigError(
            f"--scale {scale!r}: expected a resize factor between {MIN_SCALE:g} and {MAX_SCALE:g} (0.5 halves the "
            "width and height of each input before the network)"
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
        structure_px: the training masks' median structure thickness in pixels (``None``: unknown).
    """

    median_shape: tuple[int, ...] | None
    median_spacing_mm: tuple[float, ...] | None = None
    resampled_by_spacing: bool = False
    min_shape: tuple[int, ...] | None = None
    max_shape: tuple[int, ...] | None = None
    structure_px: float | None = None

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
            structure_px=float(fingerprint.get("foreground_thickness_px") or 0.0) or None,
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
        differing: ``(source, relative scale, what was compared)`` of the inputs beyond :data:`SCALE_TOLERANCE`
            (by spacing, by their structures' thickness, or by size alone where neither is known).
        by_size_only: how many of ``differing`` were judged by their size alone (a larger field of view or a finer
            resolution: unknowable).
        wider_view: the inputs larger or smaller than the training images whose segmented structures are as thick
            as the training masks': another field of view at the training scale.
    """

    training: TrainingScale | None
    scale: float = 1.0
    checked: int = 0
    differing: list[tuple[str, float, str]] = field(default_factory=list)
    by_size_only: int = 0
    wider_view: list[str] = field(default_factory=list)

    def check(self, image: ImageData, labels: np.ndarray | None = None) -> float | None:
        """Compare one input (``labels``: its segmentation at its own size, when done); returns its relative scale
        (``None`` when not comparable)."""
        if self.training is None:
            return None
        found = relative_scale(image, self.training, self.scale)
        if found is None:
            return None
        self.checked += 1
        ratio, differs, seen = found
        if not differs:
            return ratio
        source = str(image.source or "image")
        if image.spacing_mm is not None and self.training.median_spacing_mm is not None:
            self.differing.append((source, ratio, seen))
            return ratio
        thickness = self._structure_thickness(labels)
        if thickness is None or not self.training.structure_px:  # by size alone
            self.differing.append((source, ratio, seen))
            self.by_size_only += 1
            return ratio
        structures = thickness / self.training.structure_px
        if 1 / SCALE_TOLERANCE <= structures <= SCALE_TOLERANCE:
            self.wider_view.append(source)
            return 1.0
        seen += f", structures {thickness:.3g} px thick against {self.training.structure_px:.3g} px in training"
        self.differing.append((source, structures, seen))
        return structures

    def _structure_thickness(self, labels: np.ndarray | None) -> float | None:
        """The mean thickness of the structures found in ``labels``, in the network's pixels (after ``scale``)."""
        if labels is None:
            return None
        from medimg.tasks.segment.planning import mean_thickness, sampled_foreground

        foreground, stride = sampled_foreground(np.asarray(labels) > 0)
        if not foreground.any():
            return None
        return stride * mean_thickness(foreground) * self.scale

    def _needed_scale(self) -> float | None:
        """The factor that would bring the differing inputs to the training scale, unrounded; ``None`` when they are
        at scales too unlike each other for one factor (more than :data:`SCALE_TOLERANCE` apart)."""
        if not self.differing or self._spread() > SCALE_TOLERANCE:
            return None
        return self.scale / float(np.median([r for _, r, _ in self.differing]))

    def suggested_scale(self) -> float | None:
        """The ``--scale`` that would bring the differing inputs to the training scale (2 significant digits, always
        one :func:`validate_scale` accepts); ``None`` when one factor cannot serve them all or the factor needed is
        beyond :data:`MIN_SCALE` to :data:`MAX_SCALE`."""
        needed = self._needed_scale()
        if needed is None:
            return None
        rounded = float(f"{needed:.2g}")
        return rounded if MIN_SCALE <= rounded <= MAX_SCALE else None

    def _spread(self) -> float:
        """How far apart the differing inputs' scales are (largest over smallest relative scale)."""
        ratios = [r for _, r, _ in self.differing if r > 0]
        return max(ratios) / min(ratios) if ratios else 1.0

    def note(self) -> str | None:
        """A sentence about the inputs of another size whose structures are at the training scale, or ``None``."""
        if not self.wider_view:
            return None
        examples = ", ".join(Path(s).name for s in self.wider_view[:3])
        more = f" and {len(self.wider_view) - 3} more" if len(self.wider_view) > 3 else ""
        return (
            f"{len(self.wider_view)} input(s) are of another size than the training images but their segmented "
            f"structures are as thick as the training masks' ({examples}{more}): another field of view at the "
            "training scale, no --scale needed"
        )

    def warning(self) -> str | None:
        """One sentence naming the differing inputs and what to do (a ``--scale`` to try when one can help), or
        ``None``."""
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
        needed = self._needed_scale()
        if needed is None:  # one --scale cannot serve them all
            ratios = [r for _, r, _ in self.differing]
            return (
                f"{len(self.differing)} of {self.checked} input(s) are at {min(ratios):.2g}x to {max(ratios):.2g}x "
                f"the training images' scale{applied} (training {seen}): {examples}{more}. --scale applies one "
                "factor to every input: predict inputs of one scale together, each group with its own --scale"
            )
        only_size = self.by_size_only == len(self.differing)
        what = "size" if only_size else "resolution"
        head = (
            f"{len(self.differing)} of {self.checked} input(s) are at about {ratio:.2g}x the training images' {what}"
            f"{applied} (training {seen}): {examples}{more}. "
        )
        suggested = self.suggested_scale()
        if suggested is None:
            fix = (
                f"The factor that would match the training images, {needed:.2g}, is beyond what --scale can bridge "
                f"({MIN_SCALE:g} to {MAX_SCALE:g}): "
            )
            if only_size:
                fix += (
                    "if they show the training magnification, they are a larger (or smaller) field of view, which "
                    "needs no --scale; otherwise resample them to the training images' resolution before predicting"
                )
            else:
                fix += "resample them to the training images' resolution before predicting"
            return head + fix
        if only_size:
            return head + (
                "Their size alone cannot tell a larger field of view at the training magnification (nothing to do: "
                "the network slides over it) from the same field at another resolution: if their structures look "
                f"{1 / needed:.2g}x as large as in the training images, rerun with --scale {suggested:g} (masks come "
                "back at the input's size)"
            )
        return head + f"Rerun with --scale {suggested:g} (masks come back at the input's size)"

    def summary(self) -> dict[str, Any]:
        """For a report: the factor applied, inputs compared, those differing (first 20), the suggestion and the
        inputs at the training scale over another field of view."""
        return {
            "scale": self.scale,
            "checked": self.checked,
            "differing": len(self.differing),
            "examples": [{"source": s, "relative_scale": round(r, 3), "seen": t} for s, r, t in self.differing[:20]],
            "suggested_scale": self.suggested_scale(),
            "other_field_of_view": len(self.wider_view),
        }
