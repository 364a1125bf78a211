"""The field of view of images whose training masks came with one, found again in new images.

A fundus photograph (DRIVE, STARE, CHASE) shows the retina in a bright disc on a dark surround, and its dataset
gives that disc as a field-of-view (region-of-interest) mask: training and evaluation count only the pixels inside
it (:func:`medimg.tasks.segment.preprocess.decode_labels`). Outside it the network's output was never trained, and
``predict`` has no mask to cut it away: a tester's vessel model drew "vessel" over much of the black surround.

Such a field of view is the image's bright region, and the training masks say how bright. Per training case the
learner (:class:`FieldOfViewLearner`) outlines the bright region (:func:`bright_region`: the largest connected
component above a threshold, its holes filled) at thresholds a ``fraction`` of the way from the image's
1st percentile to its Otsu threshold, and scores each against the case's mask (intersection over union). The
fraction that agrees best over all cases becomes the rule (:class:`FieldOfViewRule`), kept only when it agrees with
every case (``MIN_AGREEMENT``) and on average (``MIN_MEAN_AGREEMENT``); masks that are not an image's bright
region (a drawn region of interest, ignored colours) give no rule. The plan carries the rule
(``SegPlan.field_of_view``) and every inference path, the service and the ONNX predictor included, labels the
outside of each image's bright region background (:func:`field_of_view_of`).

An image that does not show a dark surround like the training images' (a photograph cropped inside its field of
view, another kind of image) is segmented everywhere, with a warning: its outside would not be a field of view's.
Measured on DRIVE's 40 photographs (the rule learned from the 20 training images: fraction 0.25): IoU with the
given masks 0.998 on average and at least 0.989 on the training images, at least 0.9845 on the 20 test images.
"""

from __future__ import annotations

import logging

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

FRACTIONS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0)
"""Thresholds tried, as the fraction of the way from an image's 1st percentile to its Otsu threshold."""
MIN_AGREEMENT = 0.95
"""Every training case's mask must agree this well (IoU) with its bright region for a rule to be kept ..."""
MIN_MEAN_AGREEMENT = 0.98
"""... and this well on average."""
MAX_LEARNING_VOXELS = 4_000_000
"""Larger images and volumes are learned from every n-th voxel along each axis (the rule does not change with it)."""
SURROUND_SLACK = 3.0
"""An image's surround may cover up to this factor less or more of it than the training images' did ..."""
MAX_SURROUND_CONTRAST = 0.35
"""... and its median may lie at most this far from the dark end to the inside's median (training: near 0)."""


class FieldOfViewRule(BaseModel):
    """How the training images' field-of-view masks are found again: their bright region (:func:`bright_region`)."""

    model_config = ConfigDict(extra="forbid")

    fraction: float = Field(gt=0, le=1, description="threshold: this far from the 1st percentile to Otsu's")
    mean_agreement: float = Field(ge=0, le=1, description="mean IoU of the region with the training masks")
    min_agreement: float = Field(ge=0, le=1, description="the lowest IoU over the training cases")
    cases: int = Field(ge=1, description="training cases the rule was learned from")
    surround_share: list[float] = Field(
        min_length=2,
        max_length=2,
        description="the smallest and largest share of a training image outside its field of view",
    )
    surround_contrast: float = Field(
        ge=0,
        description="the largest over training images of (surround median - 1st percentile) / "
        "(inside median - 1st percentile)",
    )

    def describe(self) -> str:
        low, high = self.surround_share
        return (
            f"outside the images' bright region (threshold {self.fraction:g} of the way from the 1st percentile to "
            f"Otsu's; the region agrees with the {self.cases} training cases' field-of-view masks: IoU "
            f"{self.mean_agreement:.3f} on average, at least {self.min_agreement:.3f}; their surround covered "
            f"{low:.0%}-{high:.0%} of an image)"
        )


def intensity_of(image: np.ndarray) -> np.ndarray:
    """``(C, *spatial)`` -> ``(*spatial)`` float: the brightest channel at each pixel."""
    return np.asarray(image, dtype=np.float32).max(axis=0)


def levels_of(intensity: np.ndarray) -> tuple[float, float]:
    """``(1st percentile, Otsu threshold)`` of an image's intensities (scikit-image's Otsu; the percentile twice
    for a constant image): every threshold tried, and the surround's contrast, are measured from them."""
    from skimage.filters import threshold_otsu

    low = float(np.percentile(intensity, 1))
    return low, float(threshold_otsu(intensity)) if float(intensity.max()) > low else low


def bright_region(intensity: np.ndarray, fraction: float, levels: tuple[float, float] | None = None) -> np.ndarray:
    """The largest connected region brighter than ``fraction`` of the way from the 1st percentile to the Otsu
    threshold (``levels``: :func:`levels_of`, computed when not given), its holes filled; all True for a constant
    image."""
    from scipy import ndimage

    low, otsu = levels if levels is not None else levels_of(intensity)
    if float(intensity.max()) <= low:
        return np.ones(intensity.shape, dtype=bool)
    above = intensity > low + fraction * (otsu - low)
    components, count = ndimage.label(above)
    if count > 1:
        sizes = np.bincount(components.ravel())[1:]
        above = components == 1 + int(np.argmax(sizes))
    return np.asarray(ndimage.binary_fill_holes(above), dtype=bool)


def surround_contrast(intensity: np.ndarray, region: np.ndarray, low: float) -> float:
    """How far the surround's median lies from the image's dark end ``low`` (its 1st percentile) towards the
    inside's median (0: at the dark end; 1: as bright as the inside); 1.0 when either side is empty."""
    if region.all() or not region.any():
        return 1.0
    inside = float(np.median(intensity[region])) - low
    return max(0.0, float(np.median(intensity[~region])) - low) / inside if inside > 0 else 1.0


def _strided(array: np.ndarray) -> np.ndarray:
    stride = max(1, int(np.ceil((array.size / MAX_LEARNING_VOXELS) ** (1 / array.ndim))))
    return array[(slice(None, None, stride),) * array.ndim] if stride > 1 else array


class FieldOfViewLearner:
    """Scores each threshold fraction against the training cases' field-of-view masks, one case at a time."""

    def __init__(self) -> None:
        self._agreements: list[list[float]] = []
        self._shares: list[float] = []
        self._contrasts: list[float] = []
        self._with_mask = 0

    @property
    def cases_with_mask(self) -> int:
        """How many cases came with a region-of-interest mask (whole-image masks included)."""
        return self._with_mask

    def add(self, image: np.ndarray, roi: np.ndarray | None) -> None:
        """One training case: its image ``(C, *spatial)`` and its field-of-view mask (``None``, or a mask covering
        the whole image, teach nothing)."""
        if roi is None:
            return
        self._with_mask += 1
        roi = _strided(np.asarray(roi, dtype=bool))
        if roi.all():
            return
        intensity = _strided(intensity_of(image))
        if intensity.shape != roi.shape:
            return  # a mask at another resolution: the case reader warns about it
        levels = levels_of(intensity)  # the same for every fraction
        agreements = []
        for fraction in FRACTIONS:
            region = bright_region(intensity, fraction, levels)
            union = int((region | roi).sum())
            agreements.append(int((region & roi).sum()) / union if union else 0.0)
        self._agreements.append(agreements)
        self._shares.append(float(1.0 - roi.mean()))
        self._contrasts.append(surround_contrast(intensity, roi, levels[0]))

    def rule(self) -> FieldOfViewRule | None:
        """The best-agreeing fraction, or ``None`` when no case had a field of view or none agrees well enough."""
        if not self._agreements:
            return None
        scores = np.array(self._agreements)
        means, lows = scores.mean(axis=0), scores.min(axis=0)
        best = int(np.argmax(means + 1e-6 * lows))
        if means[best] < MIN_MEAN_AGREEMENT or lows[best] < MIN_AGREEMENT:
            logger.info(
                "the training cases' region-of-interest masks are not their images' bright region (best IoU %.3f on "
                "average, %.3f at worst): predictions are not cut to a field of view",
                means[best],
                lows[best],
            )
            return None
        return FieldOfViewRule(
            fraction=FRACTIONS[best],
            mean_agreement=round(float(means[best]), 4),
            min_agreement=round(float(lows[best]), 4),
            cases=len(self._agreements),
            surround_share=[round(min(self._shares), 4), round(max(self._shares), 4)],
            surround_contrast=round(max(self._contrasts), 4),
        )


def field_of_view_of(rule: FieldOfViewRule | None, image: np.ndarray, source: str = "") -> np.ndarray | None:
    """The field of view of one image ``(C, *spatial)`` by ``rule``: ``None`` without a rule, or with a warning
    naming ``source`` when the image shows no dark surround like the training images' (it is segmented
    everywhere)."""
    if rule is None:
        return None
    intensity = intensity_of(image)
    levels = levels_of(intensity)
    region = bright_region(intensity, rule.fraction, levels)
    share = float(1.0 - region.mean())
    low, high = rule.surround_share
    contrast = surround_contrast(intensity, region, levels[0])
    if low / SURROUND_SLACK <= share <= min(0.95, high * SURROUND_SLACK) and contrast <= MAX_SURROUND_CONTRAST:
        return region
    logger.warning(
        "%s: no dark surround like the training images' field of view (its darkest border region covers %.0f%% of "
        "it, the training images' %.0f%%-%.0f%%): it is segmented everywhere. A photograph cropped inside its field "
        "of view needs no cutting; another kind of image needs another model",
        source or "an image",
        100 * share,
        100 * low,
        100 * high,
    )
    return None
