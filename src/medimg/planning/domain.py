"""Input domain: what a model was trained on, and whether an image given at inference lies inside it.

A network answers confidently on anything; a model trained on 8-bit JPEG slices labels raw 16-bit MR values as
chest X-rays at 0.998. So the run's ``fingerprint.json`` records the training domain (:class:`TrainingDomain`:
file formats, DICOM modalities, stored bit depth, channels, intensity range after the input spec, size and
spacing), and every image read for prediction or evaluation is compared with it
(:func:`check_input_domain`). An out-of-domain image gets a warning naming the file and each mismatch, a
``"domain": {"in_domain": false, "reasons": [...]}`` entry in the prediction's JSON, and is refused in strict
mode (:class:`~medimg.errors.OutOfDomainError`).

Runs trained before the domain was recorded still load: :func:`domain_from_fingerprint` rebuilds what their
fingerprint holds (modality or format, channels, intensity range, sizes, median spacing) and checks only that.

Tolerances (each a module constant, chosen to flag a different kind of image, not a different patient):

* intensity: the image's 99.5th percentile more than half the training range above the training maximum, or
  (when per-image levels are known) below a tenth of the darkest training image's (0..1 values into a 0..255
  model), or its minimum more than half the range below the training minimum;
* size: a spatial axis below 1/1.5 of the smallest or above 1.5 times the largest training size (a retinal set
  at twice the resolution of the training one is flagged);
* spacing: a pixel/voxel spacing below 1/1.5 or above 1.5 times the training spacings (a different scale);
* formats: rasters (PNG, JPEG, BMP, TIFF, GIF) are one family; DICOM is compared by modality; NIfTI apart;
* blank: an image whose values (0.5th to 99.5th percentile) span at most a fiftieth of the training range and of
  its own level (an all-black, all-white or constant image: a failed export), unless training images were blank
  too (empty slices of volumes) or all one value;
* structure: an image whose neighbouring pixels correlate :data:`NOISE_MARGIN` less than the least correlated
  training image's (pure noise or a screenshot of text given to a model trained on anatomy; runs trained since the
  training images' ``min_texture`` is recorded).

Example:
    >>> reader = InputReader.for_run(Model.load("runs/demo/run"))                   # doctest: +SKIP
    >>> image = reader.read("mr.dcm")                                               # warns: outside the domain
    >>> reader.verdicts["mr.dcm"].reasons                                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from medimg.errors import OutOfDomainError
from medimg.io.channels import CaseFiles, channel_order, find_case_files, names_of_suffixes, stack_channels
from medimg.io.formats import VOLUME_FILE_FORMATS
from medimg.io.read_notes import ReadNotes
from medimg.io.windowing import CALIBRATED_MODALITIES

if TYPE_CHECKING:
    from medimg.io.image import ImageData
    from medimg.io.series_inputs import SeriesInput

logger = logging.getLogger(__name__)

__all__ = [
    "DomainVerdict",
    "ImageFacts",
    "InputReader",
    "LoadedDomainCheck",
    "TrainingDomain",
    "check_input_domain",
    "check_loaded_domain",
    "describe_training_domain",
    "domain_from_facts",
    "domain_from_fingerprint",
    "effective_channels",
    "image_facts",
    "load_training_domain",
]

#: Raster formats: one family (a JPEG given to a PNG-trained model is not out of domain by its format). MedMNIST
#: ``.npz`` images are 8-bit rasters too: their PNG exports are the same kind of input.
RASTER_FORMATS = frozenset({"png", "jpeg", "bmp", "tiff", "gif", "pnm", "webp", "jpeg2000", "medmnist"})
#: Saved arrays: one family (a model trained on TransUNet's ``.npz`` slices is given its ``.h5`` test volumes).
ARRAY_FORMATS = frozenset({"npy", "npz", "hdf5", "medmnist"})  # a MedMNIST image is an array too (np.save of one)
#: Intensity tolerance, as a fraction of the training range (max - min).
INTENSITY_TOLERANCE = 0.5
#: An image whose 99.5th percentile lies below this fraction of the darkest training image's (above the training
#: minimum) has another intensity range (0..1 values given to a 0..255 model), not just a dark picture.
DARK_FRACTION = 0.1
#: Size tolerance: an axis outside [smallest / SIZE_FACTOR, largest * SIZE_FACTOR] of training.
SIZE_FACTOR = 1.5
#: Spacing tolerance: a spacing outside [smallest / SPACING_FACTOR, largest * SPACING_FACTOR] of training.
SPACING_FACTOR = 1.5
#: Two channels of an RGB image count as equal when they differ by at most this fraction of the value range.
GREY_TOLERANCE = 1.0 / 255.0
#: An RGB image is grey when at most this share of its pixels have unequal channels: burned-in colour annotations
#: (a red side marker, a ruler, coloured text on a radiograph) do not make it a colour image.
COLOUR_PIXELS_MIN = 0.01
#: Values sampled per image for its percentiles.
SAMPLE_VALUES = 200_000
#: An image whose 0.5th..99.5th percentile values span at most this fraction of the training range is blank (a
#: constant or nearly constant image: a failed export, a black frame); the network still answers on it.
BLANK_FRACTION = 0.02
#: An image whose neighbouring pixels correlate this much less than the least correlated training image's is
#: noise-like (pure noise, a corrupted decode) for a model trained on images with structure.
NOISE_MARGIN = 0.4


PER_IMAGE_NORMALISATIONS = frozenset({"per_image", "zscore"})
"""A plan's ``normalisation`` values that map each image by its own statistics (classification and detection
``per_image``, segmentation ``zscore``)."""


class TrainingDomain(BaseModel):
    """What the training images were, as the network saw them (saved in ``fingerprint.json`` as ``domain``)."""

    formats: dict[str, int] = Field(default_factory=dict, description="images per file format (png, dicom, nifti...)")
    modalities: dict[str, int] = Field(default_factory=dict, description="DICOM images per modality (CT, MR...)")
    bits: dict[str, int] = Field(default_factory=dict, description="images per stored bit depth (8, 16...)")
    channels: dict[str, int] = Field(
        default_factory=dict, description="images per channel count by content (grey stored as RGB counts as 1)"
    )
    grey_as_rgb: int = Field(0, description="training images stored as RGB whose three channels are equal")
    spatial_dims: int | None = Field(None, description="2 for images, 3 for volumes")
    min_shape: list[int] | None = None
    max_shape: list[int] | None = None
    min_spacing_mm: list[float] | None = None
    max_spacing_mm: list[float] | None = None
    intensity_min: float | None = Field(None, description="lowest value after the input spec (window, scaling)")
    intensity_max: float | None = Field(None, description="highest value after the input spec")
    image_high: list[float] | None = Field(
        None, description="[lowest, highest] per-image 99.5th percentile after the input spec"
    )
    dicom_display: bool = Field(
        True, description="non-CT DICOM was mapped to 0..255 by its own window when read (False: raw values)"
    )
    blank_images: int | None = Field(
        None,
        description="training images that were blank (constant or nearly: empty slices of a volume); when any were, "
        "a blank input is not flagged. None in runs trained before it was recorded",
    )
    min_texture: float | None = Field(
        None,
        description="the lowest correlation of neighbouring pixels over the training images (near 1 for anatomy, "
        "near 0 for noise); None in runs trained before it was recorded",
    )
    resampled_spacing_mm: list[float] | None = Field(
        None,
        description="3D segmentation: volumes are resampled to this spacing and cut into sliding windows before the "
        "network (the plan's target_spacing_mm), so another spacing or size does not change what it sees",
    )
    scale_free_intensities: bool = Field(
        False,
        description="the network sees each image by its own statistics (the plan's per-image z-score or percentiles: "
        "MR), so values beyond the training range are not judged (another scanner's scale is expected)",
    )
    channel_suffixes: list[str] | None = Field(
        None,
        description="each training case's channels came from files with these name endings, first to last "
        "(nnU-Net's 0000.nii.gz, 0001.nii.gz; BraTS's flair.nii.gz, t1.nii.gz...): an input named like the first is "
        "read with the others",
    )
    channel_names: list[str] | None = Field(
        None,
        description="each channel's name, first to last (the training dataset.json's channel_names or modality, else "
        "the names in the channel file endings: flair, t1...); inputs whose channels are named otherwise are put in "
        "this order, or refused",
    )


@dataclass
class DomainVerdict:
    """Whether one image lies inside the training domain, and why not."""

    source: str
    reasons: list[str] = field(default_factory=list)

    @property
    def in_domain(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"in_domain": bool, "reasons": [...]}``."""
        return {"in_domain": self.in_domain, "reasons": list(self.reasons)}


# --------------------------------------------------------------------------------------------- image facts
def effective_channels(array: np.ndarray) -> int:
    """Channels by content: a 3-channel image (or 4 with a constant alpha) whose colour channels are equal counts as
    1 (grey), else 3 (colour); other counts (MR modalities stacked from separate files) count as they are. Equal but
    for at most :data:`COLOUR_PIXELS_MIN` of the pixels is grey: a chest X-ray with a red side marker planned as
    colour got flips and any rotation, swapping its sides."""
    channels = int(array.shape[0])
    alpha = channels == 4 and float(np.nanmax(array[3]) - np.nanmin(array[3])) == 0.0
    if channels != 3 and not alpha:
        return channels
    rgb = array[:3]
    span = float(np.nanmax(rgb) - np.nanmin(rgb)) if rgb.size else 0.0
    tolerance = max(span, 1.0) * GREY_TOLERANCE
    coloured = (np.abs(rgb[0] - rgb[1]) > tolerance) | (np.abs(rgb[0] - rgb[2]) > tolerance)
    return 1 if float(np.mean(coloured)) <= COLOUR_PIXELS_MIN else 3


def _bits(meta: Mapping[str, Any]) -> int | None:
    value = meta.get("bits_stored") or meta.get("bits")
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _high(array: np.ndarray, rng: np.random.Generator | None = None) -> float:
    """The 99.5th percentile of an image's finite values (on a sample for large images)."""
    return _spread(array, rng)[1]


def _spread(array: np.ndarray, rng: np.random.Generator | None = None) -> tuple[float, float]:
    """The 0.5th and 99.5th percentiles of an image's finite values (on a sample for large images)."""
    flat = array.reshape(-1)
    if flat.size > SAMPLE_VALUES:
        flat = flat[(rng or np.random.default_rng(0)).integers(0, flat.size, SAMPLE_VALUES)]
    flat = flat[np.isfinite(flat)]
    if not flat.size:
        return 0.0, 0.0
    low, high = np.percentile(flat, [0.5, 99.5])
    return float(low), float(high)


def texture(array: np.ndarray) -> float | None:
    """How alike neighbouring pixels are: the correlation of each pixel with the next one along the last spatial
    axis (on at most :data:`SAMPLE_VALUES` pairs of evenly spaced rows). Near 1 for images with structure, near 0
    for pure noise; ``None`` for a constant image or one too small to tell."""
    if array.ndim < 2 or array.shape[-1] < 2:
        return None
    rows = array.reshape(-1, array.shape[-1])
    step = max(1, (rows.shape[0] * rows.shape[1]) // SAMPLE_VALUES)
    rows = rows[::step].astype(np.float64)
    left, right = rows[:, :-1].reshape(-1), rows[:, 1:].reshape(-1)
    finite = np.isfinite(left) & np.isfinite(right)
    left, right = left[finite], right[finite]
    if left.size < 16:
        return None
    left, right = left - left.mean(), right - right.mean()
    norm = float(np.sqrt(np.sum(left * left) * np.sum(right * right)))
    if norm <= 0.0:
        return None
    return float(np.sum(left * right) / norm)


def _family(fmt: str | None, modality: str | None) -> str:
    """How an input is described in a reason: ``"DICOM MR"``, ``"NIfTI"``, ``"raster (png)"``."""
    if fmt == "dicom":
        return f"DICOM {modality}" if modality else "DICOM"
    if fmt == "nifti":
        return "NIfTI"
    return f"{fmt or 'unknown'}"


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(k for k, _ in sorted(counts.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------------------------------- training domain
@dataclass(frozen=True)
class ImageFacts:
    """What the training domain keeps of one training image (so a large set can be described one image at a
    time, without holding the arrays): its shape, channels by content and intensity range."""

    shape: tuple[int, ...]
    channels: int
    content_channels: int
    high: float
    low: float | None
    top: float | None
    texture: float | None = None
    percentiles: tuple[float, float] | None = None


def image_facts(array: np.ndarray, rng: np.random.Generator) -> ImageFacts:
    """The :class:`ImageFacts` of a ``(C, *spatial)`` image as read (``rng``: for the 99.5th percentile sample)."""
    return ImageFacts(
        shape=tuple(int(s) for s in array.shape[1:]),
        channels=int(array.shape[0]),
        content_channels=effective_channels(array),
        high=_high(array, rng),
        low=float(np.nanmin(array)) if array.size else None,
        top=float(np.nanmax(array)) if array.size else None,
        texture=texture(array),
        percentiles=_spread(array) if array.size else None,  # its own sample: the shared rng draws as before
    )


def describe_training_domain(
    arrays: Sequence[np.ndarray], metas: Sequence[Mapping[str, Any]] | None = None, *, seed: int = 0
) -> TrainingDomain:
    """The domain of training images as read (channel-first float32, after the window / display scaling).

    Args:
        arrays: ``(C, *spatial)`` per image.
        metas: each image's ``ImageData.meta`` (``format``, ``modality``, ``bits``...) with ``spacing_mm``.
    """
    rng = np.random.default_rng(seed)
    return domain_from_facts([image_facts(a, rng) for a in arrays], metas)


def domain_from_facts(facts: Sequence[ImageFacts], metas: Sequence[Mapping[str, Any]] | None = None) -> TrainingDomain:
    """The training domain of images described by their :class:`ImageFacts` and ``metas`` (as
    :func:`describe_training_domain`)."""
    metas = list(metas) if metas is not None else [{} for _ in facts]
    formats = Counter(str(m.get("format")) for m in metas if m.get("format"))
    modalities = Counter(
        str(m.get("modality")).upper() for m in metas if m.get("format") == "dicom" and m.get("modality")
    )
    bits = Counter(str(b) for b in (_bits(m) for m in metas) if b)
    shapes = np.array([f.shape for f in facts]) if facts else np.zeros((0, 2))
    spacings = [m["spacing_mm"] for m in metas if m.get("spacing_mm")]
    spacing_dims = {len(s) for s in spacings}
    highs = [f.high for f in facts]
    lows = [f.low for f in facts if f.low is not None]
    tops = [f.top for f in facts if f.top is not None]
    suffixes = {tuple(m["channel_suffixes"]) for m in metas if m.get("channel_suffixes")}
    names = {tuple(m["channel_names"]) for m in metas if m.get("channel_names")}
    textures = [f.texture for f in facts if f.texture is not None]
    spans = [f.percentiles for f in facts if f.percentiles is not None]
    low, high = (min(lows), max(tops)) if lows and tops else (None, None)
    return TrainingDomain(
        formats=dict(formats),
        modalities=dict(modalities),
        bits=dict(bits),
        channels={str(k): v for k, v in sorted(Counter(f.content_channels for f in facts).items())},
        grey_as_rgb=sum(1 for f in facts if f.channels >= 3 and f.content_channels == 1),
        spatial_dims=int(shapes.shape[1]) if len(shapes) else None,
        min_shape=[int(v) for v in shapes.min(axis=0)] if len(shapes) else None,
        max_shape=[int(v) for v in shapes.max(axis=0)] if len(shapes) else None,
        min_spacing_mm=[float(v) for v in np.min(spacings, axis=0)] if spacings and len(spacing_dims) == 1 else None,
        max_spacing_mm=[float(v) for v in np.max(spacings, axis=0)] if spacings and len(spacing_dims) == 1 else None,
        intensity_min=min(lows) if lows else None,
        intensity_max=max(tops) if tops else None,
        image_high=[min(highs), max(highs)] if highs else None,
        blank_images=sum(_is_blank(*p, low, high) for p in spans) if spans and low is not None else None,
        min_texture=min(textures) if textures else None,
        dicom_display=True,
        channel_suffixes=list(suffixes.pop()) if len(suffixes) == 1 else None,
        channel_names=list(names.pop()) if len(names) == 1 else None,
    )


def domain_from_fingerprint(fingerprint: Mapping[str, Any]) -> TrainingDomain:
    """The training domain a saved fingerprint describes (any task's ``fingerprint.json`` as a dict).

    A fingerprint with a ``domain`` entry gives it as saved. An older one (no ``domain``) gives what its common
    fields hold: the most common modality or format, channel counts, the intensity range, sizes and the median
    spacing. Its ``dicom_display`` is False when it was trained on non-CT DICOM (then read raw).
    """
    saved = fingerprint.get("domain")
    if isinstance(saved, Mapping):
        return TrainingDomain.model_validate(saved)
    n = int(fingerprint.get("num_train_cases") or 1)
    modality = str(fingerprint.get("modality") or "unknown")
    formats: dict[str, int] = {}
    modalities: dict[str, int] = {}
    if modality.lower() in RASTER_FORMATS or modality.lower() == "nifti":
        formats = {modality.lower(): n}
    elif modality not in {"unknown", "None"}:
        formats, modalities = {"dicom": n}, {modality.upper(): n}
    channel_counts = fingerprint.get("channel_counts") or (
        {str(fingerprint["channels"]): n} if fingerprint.get("channels") else {}
    )
    intensity = fingerprint.get("intensity") or {}
    median_shape = fingerprint.get("median_shape")
    spacing = fingerprint.get("median_spacing_mm")
    return TrainingDomain(
        formats=formats,
        modalities=modalities,
        channels={str(k): int(v) for k, v in channel_counts.items()},
        spatial_dims=fingerprint.get("spatial_dims"),
        min_shape=fingerprint.get("min_shape") or median_shape,
        max_shape=fingerprint.get("max_shape") or median_shape,
        min_spacing_mm=spacing,
        max_spacing_mm=spacing,
        intensity_min=intensity.get("min"),
        intensity_max=intensity.get("max"),
        dicom_display=not any(m not in CALIBRATED_MODALITIES for m in modalities),
    )


def load_training_domain(run_dir: str | Path | None) -> TrainingDomain | None:
    """The training domain of a run folder (``RUN/fingerprint.json``); ``None`` when it has none."""
    if run_dir is None:
        return None
    path = Path(run_dir) / "fingerprint.json"
    if not path.is_file():
        return None
    try:
        domain = domain_from_fingerprint(json.loads(path.read_text()))
    except (OSError, ValueError) as error:
        logger.warning("%s cannot be read (%s): inputs are not checked against the training domain", path, error)
        return None
    try:
        plan = json.loads((Path(run_dir) / "plan.json").read_text())
    except (OSError, ValueError):
        plan = {}
    plan = plan if isinstance(plan, dict) else {}
    resampled = plan.get("target_spacing_mm")  # a plan that resamples volumes (3D segmentation): their spacing
    if isinstance(resampled, list) and resampled and domain.resampled_spacing_mm is None:  # and size are its business
        domain = domain.model_copy(update={"resampled_spacing_mm": [float(v) for v in resampled]})
    if plan.get("normalisation") in PER_IMAGE_NORMALISATIONS:
        domain = domain.model_copy(update={"scale_free_intensities": True})
    return domain


# ------------------------------------------------------------------------------------------------ the check
def check_input_domain(image: ImageData, domain: TrainingDomain, *, scale: float = 1.0) -> DomainVerdict:
    """Compare one image, as read for the network (after the window / display scaling), with the training domain.

    This is the one check the CLI, the Python API, the ONNX predictor and the service use.

    Args:
        image: the image as read by :func:`medimg.io.read_image` with the run's input spec.
        domain: the run's :class:`TrainingDomain` (:func:`load_training_domain`).
        scale: the resize factor applied before the network (segmentation ``--scale``): size and spacing are judged
            as the network sees them.

    Returns:
        A :class:`DomainVerdict`: ``in_domain`` and one plain-language reason per mismatch.
    """
    meta = image.meta
    verdict = DomainVerdict(source=image.source)
    reasons = verdict.reasons
    fmt = str(meta.get("format") or "") or None
    modality = str(meta["modality"]).upper() if meta.get("modality") else None
    trained = _trained_on(domain)
    if domain.formats and fmt:
        family = frozenset({fmt}).union(*(f for f in (RASTER_FORMATS, ARRAY_FORMATS, VOLUME_FILE_FORMATS) if fmt in f))
        if not family & set(domain.formats):
            reasons.append(f"a {_family(fmt, modality)} image; the model was trained on {trained}")
        elif fmt == "dicom" and domain.modalities and modality and modality not in domain.modalities:
            reasons.append(f"modality {modality}; the model was trained on {trained}")
    bits = _bits(meta)
    trained_bits = [int(b) for b in domain.bits]
    if bits and trained_bits and bits > max(trained_bits):
        reasons.append(f"{bits}-bit stored values; the model was trained on {max(trained_bits)}-bit images")
    if domain.spatial_dims and image.ndim_spatial != domain.spatial_dims:
        reasons.append(f"a {image.ndim_spatial}D image; the model was trained on {domain.spatial_dims}D images")
    content = effective_channels(image.array)
    trained_channels = {int(c) for c in domain.channels}
    if trained_channels and content not in trained_channels:
        what = {1: "grey", 3: "colour"}.get(content, f"{content}-channel")
        known = " or ".join({1: "grey", 3: "colour"}.get(c, f"{c}-channel") for c in sorted(trained_channels))
        reasons.append(f"a {what} image; the model was trained on {known} images")
    spread = _spread(image.array)  # one sample of the image's values for the blank and intensity checks
    blank = _blank_reasons(image, domain, spread)
    reasons.extend(blank)
    if not domain.scale_free_intensities:
        reasons.extend(_intensity_reasons(image, domain, spread[1], blank=bool(blank)))
    if not blank:
        reasons.extend(_noise_reasons(image, domain))
    if domain.spatial_dims == image.ndim_spatial and not (domain.resampled_spacing_mm and image.spacing_mm):
        reasons.extend(_size_reasons(image, domain, scale))
        reasons.extend(_spacing_reasons(image, domain, scale))
    return verdict


def _trained_on(domain: TrainingDomain) -> str:
    if domain.modalities:
        return f"DICOM {_counts_text(domain.modalities)} images"
    if domain.formats:
        return f"{_counts_text(domain.formats)} images"
    return "other images"


def _is_blank(bottom: float, top: float, low: float | None, high: float | None) -> bool:
    """Whether an image whose values span ``bottom..top`` (0.5th..99.5th percentile) is blank for training images
    spanning ``low..high``: within :data:`BLANK_FRACTION` of that range and of its own level (0..1 values into a
    0..255 model have structure at another scale: their own reason)."""
    if low is None or high is None or high <= low:
        return False  # training images all of one value: nothing is blank beside them
    return top - bottom <= BLANK_FRACTION * min(high - low, max(abs(bottom), abs(top)))


def _blank_reasons(image: ImageData, domain: TrainingDomain, spread: tuple[float, float]) -> list[str]:
    """A blank image (constant or nearly: a failed export, a black frame) for a model trained on images that were
    not all one value, nor blank themselves; the network answers on it with a confidence that means nothing
    (``spread``: the image's 0.5th and 99.5th percentiles, :func:`_spread`)."""
    low, high = domain.intensity_min, domain.intensity_max
    if domain.blank_images or image.array.size == 0:
        return []  # trained on blank images too (empty slices): one more is in its domain
    bottom, top = spread
    if not _is_blank(bottom, top, low, high):
        return []
    if top == bottom:
        what = f"a blank image (every pixel is {top:g}"
    else:
        what = f"a nearly blank image (99% of its pixels within {bottom:g}..{top:g}"
    return [f"{what}{_after(image)}; training images span {low:g}..{high:g}): a failed export or an empty frame"]


def _noise_reasons(image: ImageData, domain: TrainingDomain) -> list[str]:
    """Pure noise (a corrupted decode, random pixels) for a model trained on images with structure."""
    if domain.min_texture is None:
        return []
    alike = texture(image.array)
    if alike is None or alike >= domain.min_texture - NOISE_MARGIN:
        return []
    return [
        f"no image structure like the training images' (neighbouring pixels correlate {alike:.2f}, in training at "
        f"least {domain.min_texture:.2f}): noise, text or a corrupted image"
    ]


def _after(image: ImageData) -> str:
    scaling = image.meta.get("display_scaling") or (
        f"window {image.meta['window']}" if image.meta.get("window") else ""
    )
    return f" (after {scaling})" if scaling else ""


def _intensity_reasons(image: ImageData, domain: TrainingDomain, level: float, *, blank: bool = False) -> list[str]:
    """Values beyond the training range, or an image too dark for it (``level``: its 99.5th percentile)."""
    low, high = domain.intensity_min, domain.intensity_max
    if low is None or high is None or image.array.size == 0:
        return []
    span = max(high - low, 1e-6)
    after = _after(image)
    if level > high + INTENSITY_TOLERANCE * span:
        return [f"intensities up to {level:g}{after}, outside the training range {low:g}..{high:g}"]
    # a black image "reaches only 0": its blank reason says so more plainly
    if not blank and domain.image_high is not None and level - low < DARK_FRACTION * (domain.image_high[0] - low):
        return [
            f"intensities reach only {level:g}{after}; training images reach {domain.image_high[0]:g}.."
            f"{domain.image_high[1]:g} (a different intensity range)"
        ]
    bottom = float(np.nanmin(image.array))
    if bottom < low - INTENSITY_TOLERANCE * span:
        return [f"intensities down to {bottom:g}{after}, outside the training range {low:g}..{high:g}"]
    return []


def _size_reasons(image: ImageData, domain: TrainingDomain, scale: float = 1.0) -> list[str]:
    if not domain.min_shape or not domain.max_shape:
        return []
    shape = tuple(image.spatial_shape)
    full = image.meta.get("full_shape")  # an image read reduced (medimg.io.limits) is judged by its stored size
    if full and len(full) >= len(shape):
        shape = tuple(int(n) for n in full[len(full) - len(shape) :])
    shape = tuple(max(1, round(n * scale)) for n in shape)
    if len(shape) != len(domain.min_shape):
        return []
    small = any(s < lo / SIZE_FACTOR for s, lo in zip(shape, domain.min_shape, strict=True))
    large = any(s > hi * SIZE_FACTOR for s, hi in zip(shape, domain.max_shape, strict=True))
    if not (small or large):
        return []
    seen = "x".join(map(str, domain.min_shape))
    if domain.max_shape != domain.min_shape:
        seen += " to " + "x".join(map(str, domain.max_shape))
    scaled = f" after --scale {scale:g}" if scale != 1 else ""
    return [f"size {'x'.join(map(str, shape))} px{scaled}; training images were {seen} px"]


def _spacing_reasons(image: ImageData, domain: TrainingDomain, scale: float = 1.0) -> list[str]:
    spacing = tuple(s / scale for s in image.spacing_mm) if image.spacing_mm is not None else None
    if spacing is None or not domain.min_spacing_mm or not domain.max_spacing_mm or image.meta.get("reduced_by"):
        return []  # a reduced read has a coarser spacing than the file: its stored size is judged instead
    if len(spacing) != len(domain.min_spacing_mm):
        return []
    off = any(
        s < lo / SPACING_FACTOR or s > hi * SPACING_FACTOR
        for s, lo, hi in zip(spacing, domain.min_spacing_mm, domain.max_spacing_mm, strict=True)
    )
    if not off:
        return []
    seen = " x ".join(f"{v:.3g}" for v in domain.min_spacing_mm)
    if domain.max_spacing_mm != domain.min_spacing_mm:
        seen += " to " + " x ".join(f"{v:.3g}" for v in domain.max_spacing_mm)
    return [
        f"pixel spacing {' x '.join(f'{v:.3g}' for v in spacing)} mm; training images had {seen} mm "
        "(structures appear at a different scale)"
    ]


def _warn_other_window(given: Any, trained: Any) -> None:
    """Say when ``given`` (``--window``) is not the window the model was trained with (``trained``, as saved): its
    inputs then look unlike its training images (a lung-window model shown soft tissue), and the domain check
    cannot see it (both map to 0..1)."""
    from medimg.errors import ConfigError
    from medimg.io.windowing import AUTO_WINDOWS, resolve_window, window_from_json

    def centre_width(window: Any) -> Any:
        if isinstance(window, str) and window.strip().lower() in AUTO_WINDOWS:
            return "auto"  # the file's own window (auto and file are one): no fixed centre and width
        try:
            return resolve_window(window_from_json(window), {})
        except ConfigError:
            return window

    trained_as, given_as = centre_width(trained), centre_width(given)
    if trained_as != given_as:
        logger.warning(
            "the model was trained with window %s and is given %s: its inputs will not look like its training "
            "images; leave --window out to use the run's own",
            _window_text(trained, trained_as),
            _window_text(given, given_as),
        )


def _window_text(window: Any, centre_width: Any) -> str:
    if isinstance(centre_width, tuple):
        named = f"{window} " if isinstance(window, str) else ""
        return f"{named}(centre {centre_width[0]:g}, width {centre_width[1]:g})"
    return str(window)


# ------------------------------------------------------------------------------------------- channel names
def trained_channel_names(domain: TrainingDomain | None) -> list[str] | None:
    """The names of a run's channels: recorded (``channel_names``), else those its channel file endings give
    (BraTS's ``flair.nii.gz``...: a run trained before the names were recorded); ``None`` when unknown."""
    if domain is None:
        return None
    return domain.channel_names or names_of_suffixes(domain.channel_suffixes)


def order_of_channels(domain: TrainingDomain | None, given: Sequence[str] | None, what: str) -> list[int] | None:
    """Where each of the run's channels lies among the ``given`` channel names of some data (``what`` names it):
    ``None`` when they are in the run's order, or either side's names are unknown (nothing to compare).

    Raises:
        DatasetError: both name their channels and the names differ (another count, another sequence): naming both.
    """
    from medimg.errors import DatasetError

    trained = trained_channel_names(domain)
    if not trained or not given:
        return None
    order = channel_order(trained, given)
    if order is None:
        raise DatasetError(
            f"{what} has the channels {', '.join(given)} but the model was trained on {', '.join(trained)} (in this "
            "order): its channels cannot be matched by name. Give it the model's channels (named as in training, or "
            "by a dataset.json channel_names), or use a model trained on these"
        )
    return None if order == list(range(len(order))) else order


def describe_order(trained: Sequence[str], given: Sequence[str]) -> str:
    """``"T1, T1ce, T2, FLAIR -> FLAIR, T1, T1ce, T2"`` for a message."""
    return f"{', '.join(given)} -> {', '.join(trained)}"


# ---------------------------------------------------------------------------------------------- the reader
@dataclass
class InputReader:
    """Reads inference inputs the way the run's training images were read, and checks each against the domain.

    Args:
        window: the intensity window (the user's ``--window``, else the run's input spec).
        domain: the run's training domain; ``None`` skips the check (a run without ``fingerprint.json``).
        strict: refuse out-of-domain inputs (:class:`~medimg.errors.OutOfDomainError`, an ``ImageReadError``:
            the file is listed as not used, with the reasons).
        max_pixels: decompression-bomb guard for rasters (see :func:`medimg.io.read_image`).
        warn_each: log a warning per out-of-domain input (prediction); ``False`` for evaluation, which logs one
            :meth:`summary` instead.
        target_size: the network's input size when it resizes whole images (classification): files are read as
            training read them (:func:`medimg.io.read.read_input`), reduced for this size only where the
            reading budget leaves no other way; ``None`` reads every pixel (masks and boxes are given in the image's
            own pixels).
        scale: the resize factor segmentation applies before the network (``--scale``): sizes and spacings are
            judged after it.
        series: ``key -> SeriesInput``: paths that name a DICOM series, read as one volume (a 3D model's series,
            see :func:`medimg.tasks.series_prediction.series_files`).
        frames: ``frame name -> (series of a multi-frame file, frame index)``: a 2D model's frames, each read from
            the file (decoded once for all its frames, which come in order).
        sections: the model segments a stack without geometry (a multi-page TIFF) section by section (a 2D
            segmentation model): such an input is judged by its first section.
        canonical_orientation: the model sees volumes in the closest RAS+ axis order (a 3D plan's
            ``canonical_orientation``), as its training domain was recorded: a volume's sizes and spacings are
            judged in that order (:func:`medimg.io.orientation.canonical`).
        reorient_inputs: :meth:`read` returns volumes in that order (a classifier: nothing maps back; a
            segmenter reorients around its network and writes masks on the file's grid, so it reads as stored).
        pictures: :meth:`read` returns a 2D MetaImage/NRRD image in a picture's rows-first order, as a classifier
            was trained on it (:func:`medimg.io.orientation.picture_order`).

    Attributes:
        verdicts: ``source -> DomainVerdict`` of every input read so far.
        notes: what was said of the inputs read so far (``warn_each``): the first with an EXIF orientation, the first
            with transparent pixels (:class:`~medimg.io.read_notes.ReadNotes`).
    """

    window: str | tuple[float, float] | None = None
    domain: TrainingDomain | None = None
    strict: bool = False
    max_pixels: int | None = 20_000 * 20_000
    warn_each: bool = True
    target_size: list[int] | None = None
    scale: float = 1.0
    series: dict[str, SeriesInput] = field(default_factory=dict)
    frames: dict[str, tuple[SeriesInput, int]] = field(default_factory=dict)
    sections: bool = False
    canonical_orientation: bool = False
    reorient_inputs: bool = False
    pictures: bool = False
    verdicts: dict[str, DomainVerdict] = field(default_factory=dict)
    notes: ReadNotes = field(default_factory=ReadNotes, repr=False)
    _frame_file: tuple[Path, ImageData] | None = field(default=None, repr=False)
    _channel_names_of: dict[Path, tuple[Path, list[str]] | None] = field(default_factory=dict, repr=False)
    _said: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def for_run(
        cls, model: Any, *, window: str | tuple[float, float] | None = None, strict: bool = False
    ) -> InputReader:
        """The reader of a trained model (a ``Model``, ``TrainedBundle`` or anything with ``metadata_`` and
        ``run_dir_``): its saved window unless ``window`` overrides it, and its training domain."""
        saved = (getattr(model, "metadata_", None) or {}).get("input") or {}
        if window is not None and saved.get("window") is not None:
            _warn_other_window(window, saved["window"])
        chosen = window if window is not None else saved.get("window")
        if isinstance(chosen, list):
            chosen = (float(chosen[0]), float(chosen[1]))
        size = getattr(getattr(model, "plan_", None), "input_size", None)
        resizes = getattr(model, "task", None) == "classify" and size is not None
        from medimg.data.tiff_stacks import goes_by_sections
        from medimg.io.orientation import reorients_inputs

        dims = getattr(getattr(model, "plan_", None), "spatial_dims", None)
        oriented = bool(getattr(getattr(model, "plan_", None), "canonical_orientation", False))
        return cls(
            window=chosen,
            domain=load_training_domain(getattr(model, "run_dir_", None)),
            strict=strict,
            target_size=[int(n) for n in size] if resizes and size is not None else None,
            sections=goes_by_sections(getattr(model, "task", None), dims),
            canonical_orientation=oriented,
            reorient_inputs=reorients_inputs(getattr(model, "task", None), oriented),
            pictures=getattr(model, "task", None) == "classify",
        )

    def read(self, path: str | Path) -> ImageData:
        """Read one input (window, modality scaling), check it against the domain, warn or refuse.

        Raises:
            ImageReadError: unreadable file, or (``strict``) an out-of-domain one (:class:`OutOfDomainError`).
            ConfigError: the window does not fit the image (a CT window on MR).
        """
        from medimg.io.read import read_input
        from medimg.io.series_inputs import read_series

        options: dict[str, Any] = {
            "window": self.window,
            "max_pixels": self.max_pixels,
            "dicom_display": self.domain.dicom_display if self.domain is not None else True,
        }
        series = self.series.get(str(path))
        frame = self.frames.get(str(path))
        if frame is not None:
            image = self._read_frame(*frame, options)
        elif series is not None:
            image = read_series(series, **options)
        else:
            image = read_input(path, self.target_size, **options)  # as training read it
        if series is None and frame is None:
            case = self._case(Path(path)) if image.channels == 1 else None
            if case is not None:  # a channel file of a case (nnU-Net's _0000, BraTS's _flair) read with the others
                image = self._read_case(Path(path), image, case, options)
            elif image.channels > 1:  # one file of several channels (MSD's 4D volumes)
                image = self._in_trained_order(Path(path), image)
        image.source = str(path)
        if self.warn_each:  # a photo stored sideways, pixels under transparency: said once per set of inputs
            self.notes.note(image)
        if self.pictures:
            from medimg.io.orientation import picture_order

            image = picture_order(image)
        if self.reorient_inputs:
            from medimg.io.orientation import canonical

            image = canonical(image)[0]
        self.check(image)
        return image

    def _read_frame(self, series: SeriesInput, index: int, options: dict[str, Any]) -> ImageData:
        """Frame ``index`` of a multi-frame file; the file is decoded once and kept while its frames are read."""
        from medimg.io import read_image
        from medimg.io.series_inputs import read_frame

        file = series.frames_of or series.key
        if self._frame_file is None or self._frame_file[0] != file:
            self._frame_file = None  # the previous file's frames are done: free them before decoding the next
            self._frame_file = (file, read_image(file, **options))
        return read_frame(series, index, self._frame_file[1])

    def not_inputs(self, files: Sequence[Path], folder: Path) -> list[Path]:
        """The files found in ``folder`` that are no input of their own: the annotations beside the images
        (:func:`medimg.data.layouts.image_mask_pairs.annotation_files`) and, for a model trained on cases of several
        channel files, each case's channel files but the one that stands for it (:attr:`CaseFiles.first`; read with
        the others, or refused once naming the missing ones) and, where a whole case is among them, the files of no
        case (MRBrainS18's ``orig/IR.nii.gz`` beside ``pre/``: each was predicted alone, a 1-channel image given to a
        3-channel model)."""
        from medimg.data.layouts.image_mask_pairs import annotation_files

        left = annotation_files(files, folder)
        if self._multi_channel_files():
            cases = {file: self._case(file) for file in files}
            left += [file for file, case in cases.items() if case is not None and case.first != file]
            if any(case is not None and not case.missing for case in cases.values()):
                # beside whole cases, a file of no case is no input (MRBrainS18's orig/T1.nii.gz beside pre/)
                annotations = set(left)
                left += [f for f, case in cases.items() if case is None and f not in annotations]
        return left

    def _multi_channel_files(self) -> bool:
        """Whether the model was trained on cases of several channel files (or named channels)."""
        return self.domain is not None and (
            len(self.domain.channel_suffixes or ()) > 1 or len(trained_channel_names(self.domain) or ()) > 1
        )

    def _case(self, file: Path) -> CaseFiles | None:
        """The case ``file`` is a channel file of (:func:`~medimg.io.channels.find_case_files`), for a model
        trained on cases of several channel files; else ``None``."""
        if not self._multi_channel_files():
            return None
        assert self.domain is not None
        return find_case_files(file, self.domain.channel_suffixes, trained_channel_names(self.domain))

    def _given_names(self, path: Path) -> tuple[Path, list[str]] | None:
        """The channel names of the ``dataset.json`` beside an input (its folder or the parent: ``imagesTs/``'s),
        with the file; ``None`` when there is none or it names no channels."""
        from medimg.data.layouts.dataset_json import read_dataset_json

        folder = path.parent
        if folder not in self._channel_names_of:
            found = read_dataset_json(folder)
            names = found.channel_names if found is not None else None
            self._channel_names_of[folder] = (found.path, list(names)) if found is not None and names else None
        return self._channel_names_of[folder]

    def _read_case(self, path: Path, image: ImageData, case: CaseFiles, options: dict[str, Any]) -> ImageData:
        """The channel files of ``case`` (``image``: ``path``'s, read) stacked in the model's channel order.

        Raises:
            ImageReadError: a channel file is missing (naming the case, the missing files and the model's channel
                files), or the data's ``dataset.json`` names other channels than the model's.
        """
        from medimg.errors import DatasetError, ImageReadError
        from medimg.io.read import read_input

        if case.missing:
            names = trained_channel_names(self.domain)
            raise ImageReadError(
                path,
                f"case {case.case} lacks {', '.join(case.missing)}: the model reads {len(case.files)} channel files "
                f"per case ({', '.join(case.expected)}"
                + (f": {', '.join(names)}" if names else "")
                + "); put the missing file(s) beside the others, named as in training",
            )
        files = [file for file in case.files if file is not None]
        given = self._given_names(path) if not case.by_name else None
        if given is not None and not trained_channel_names(self.domain):
            self._say_once(
                "%s names the channels %s, but the model does not record its channels' names (trained before medimg "
                "recorded them, or on numbered channel files without a dataset.json): their order cannot be "
                "checked, so the files are used as numbered; retrain to record them",
                given[0],
                ", ".join(given[1]),
            )
        elif given is not None and len(given[1]) == len(files):
            try:
                order = order_of_channels(self.domain, given[1], str(given[0]))
            except DatasetError as error:
                raise ImageReadError(path, str(error)) from error
            if order is not None:
                files = [files[i] for i in order]
                self._say_once(
                    "%s names the channels %s: each case's channel files are stacked in the model's order (%s)",
                    given[0],
                    ", ".join(given[1]),
                    describe_order(trained_channel_names(self.domain) or [], given[1]),
                )
        if case.by_name:
            self._say_once(
                "%s: its channel files are matched to the model's channels (%s) by their names (%s)",
                case.case,
                ", ".join(trained_channel_names(self.domain) or []),
                ", ".join(file.name for file in files),
            )
        read = {path: image}
        images = [read.get(file) or read_input(file, self.target_size, **options) for file in files]
        stacked = stack_channels(images)
        stacked.meta["case_name"] = case.case
        return stacked

    def _in_trained_order(self, path: Path, image: ImageData) -> ImageData:
        """A file of several channels (an MSD 4D volume) with its channels in the model's order, when a
        ``dataset.json`` beside it names as many channels otherwise (:func:`order_of_channels`).

        Raises:
            ImageReadError: it names other channels than the model's.
        """
        from dataclasses import replace

        from medimg.errors import DatasetError, ImageReadError

        given = self._given_names(path)
        if given is None or len(given[1]) != image.channels:
            return image
        try:
            order = order_of_channels(self.domain, given[1], str(given[0]))
        except DatasetError as error:
            raise ImageReadError(path, str(error)) from error
        if order is None:
            return image
        self._say_once(
            "%s names the channels %s: each input's channels are put in the model's order (%s)",
            given[0],
            ", ".join(given[1]),
            describe_order(trained_channel_names(self.domain) or [], given[1]),
        )
        return replace(image, array=image.array[order])

    def _say_once(self, message: str, *args: object) -> None:
        """Log a warning once per reader (one set of inputs) for ``message``."""
        if message not in self._said:
            self._said.add(message)
            logger.warning(message, *args)

    def check(self, image: ImageData) -> DomainVerdict | None:
        """Check an image already read (its ``source`` names it); warn or (``strict``) refuse.

        Raises:
            OutOfDomainError: ``strict`` and the image is outside the training domain.
        """
        if self.domain is None:
            return None
        from medimg.data.tiff_stacks import as_judged

        judged = as_judged(image, self.sections)
        if self.canonical_orientation:
            from medimg.io.orientation import canonical

            judged = canonical(judged)[0]
        verdict = check_input_domain(judged, self.domain, scale=self.scale)
        verdict.source = image.source
        self.verdicts[image.source] = verdict
        if not verdict.in_domain:
            listing = "; ".join(verdict.reasons)
            if self.strict:
                raise OutOfDomainError(image.source, verdict.reasons)
            if not self.warn_each:
                return verdict
            logger.warning(
                "%s is outside the model's training domain: %s. The prediction may be wrong; "
                "--strict refuses such inputs",
                image.source,
                listing,
            )
        return verdict

    def read_arrays(
        self, inputs: Any, spatial_dims: int, channels: int
    ) -> tuple[list[ImageData], list[tuple[str, str]]]:
        """Images given as arrays (``predict``'s layouts, :func:`medimg.io.arrays.array_images`), read as files of
        the same values are: an image holding NaN or infinite pixels refused as its file is
        (:func:`medimg.io.read.non_finite_reason`; listed, not predicted), the intensity window applied (a CT
        model's HU array gets its lung window as its ``.npy`` file would), then :meth:`usable`. Each refused image is
        logged (``skipped array[i]: ...``), as an unreadable file is.

        Returns:
            The images to predict, and ``(source, reason)`` of those refused.

        Raises:
            ConfigError: an array of no image layout, or a window that cannot apply.
        """
        from medimg.io.arrays import array_images
        from medimg.io.read import non_finite_reason
        from medimg.io.windowing import apply_input_intensity

        kept: list[ImageData] = []
        failed: list[tuple[str, str]] = []
        for image in array_images(inputs, spatial_dims, channels):
            reason = non_finite_reason(image.array, given="pass the array again")
            if reason is not None:
                failed.append((image.source, reason))
                continue
            apply_input_intensity(image, self.window, dicom_display=False)  # an array is no DICOM file
            usable, refused = self.usable([image])
            kept += usable
            failed += refused
        for source, reason in failed:
            logger.warning("skipped %s: %s", source, reason)
        return kept, failed

    def usable(self, images: Sequence[ImageData]) -> tuple[list[ImageData], list[tuple[str, str]]]:
        """:meth:`check` each image: those to predict, and ``(source, reason)`` of those refused (``strict``)."""
        kept, refused = [], []
        for image in images:
            try:
                self.check(image)
            except OutOfDomainError as error:
                refused.append((image.source, error.reason))
                continue
            kept.append(image)
        return kept, refused

    def annotate(self, predictions: Sequence[Any]) -> None:
        """Set ``prediction.domain`` (the verdict as JSON) on predictions whose ``source`` was read here."""
        for prediction in predictions:
            verdict = self.verdicts.get(str(getattr(prediction, "source", "")))
            if verdict is not None and hasattr(prediction, "domain"):
                prediction.domain = verdict.to_dict()

    def summary(self) -> dict[str, Any] | None:
        """Evaluation: how many inputs were checked, how many lie outside the domain, each reason's count and the
        first out-of-domain files; logs one warning when any is outside. ``None`` without a domain."""
        if self.domain is None:
            return None
        outside = [v for v in self.verdicts.values() if not v.in_domain]
        reasons = Counter(r for v in outside for r in v.reasons)
        result = {
            "checked": len(self.verdicts),
            "out_of_domain": len(outside),
            "reasons": dict(reasons.most_common()),
            "files": [v.source for v in outside[:20]],
        }
        if outside:
            listing = "; ".join(f"{r} ({n})" for r, n in reasons.most_common(5))
            logger.warning(
                "%d of %d images are outside the model's training domain: %s. Metrics on them may not reflect the "
                "model (first: %s)",
                len(outside),
                len(self.verdicts),
                listing,
                outside[0].source,
            )
        return result


class LoadedDomainCheck:
    """Evaluation: compare images already read with the run's training domain, a batch at a time (``add``), and
    summarise them in one warning (``finish``); nothing is checked when the run records no domain."""

    def __init__(self, run_dir: str | Path | None, *, strict: bool = False) -> None:
        self.reader = InputReader(domain=load_training_domain(run_dir), warn_each=False)
        self.strict = strict

    def add(self, arrays: Sequence[np.ndarray], metas: Sequence[Mapping[str, Any]], sources: Sequence[str]) -> None:
        """Check ``arrays`` with their ``metas`` (incl. ``spacing_mm``), named by ``sources``."""
        from medimg.io.image import ImageData

        if self.reader.domain is None:
            return
        for array, meta, source in zip(arrays, metas, sources, strict=True):
            spacing = meta.get("spacing_mm")
            self.reader.check(
                ImageData(array=array, spacing_mm=tuple(spacing) if spacing else None, source=source, meta=dict(meta))
            )

    def finish(self) -> dict[str, Any] | None:
        """:meth:`InputReader.summary` of every image added (``None`` when the run records no domain).

        Raises:
            DatasetError: ``strict`` and some images lie outside the domain (the message lists them and why).
        """
        from medimg.errors import DatasetError

        if self.reader.domain is None:
            return None
        summary = self.reader.summary()
        if self.strict and summary and summary["out_of_domain"]:
            listing = "\n  ".join(
                f"{v.source}: {'; '.join(v.reasons)}" for v in self.reader.verdicts.values() if not v.in_domain
            )
            raise DatasetError(
                f"{summary['out_of_domain']} image(s) lie outside the model's training domain (--strict):\n"
                f"  {listing}\nEvaluate data like the training data, or drop --strict to evaluate with a warning."
            )
        return summary


def check_loaded_domain(
    run_dir: str | Path | None,
    arrays: Sequence[np.ndarray],
    metas: Sequence[Mapping[str, Any]],
    sources: Sequence[str],
    *,
    strict: bool = False,
) -> dict[str, Any] | None:
    """Evaluation: compare images already read (``arrays`` with their ``metas``, incl. ``spacing_mm``) with the
    run's training domain; one warning summarises them (see :class:`LoadedDomainCheck`).

    Raises:
        DatasetError: ``strict`` and some images lie outside the domain (the message lists them and why).
    """
    check = LoadedDomainCheck(run_dir, strict=strict)
    check.add(arrays, metas, sources)
    return check.finish()
