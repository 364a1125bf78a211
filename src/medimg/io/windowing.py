"""Intensity windows (window center / width) and the intensity rules by DICOM modality.

A window ``(center, width)`` maps the intensity interval ``[center - width/2, center + width/2]`` linearly
onto ``[0, 1]`` and clips everything outside it. This is the plain linear window (as in most viewers and in
MONAI's ``ScaleIntensityRange``), not the DICOM ``LINEAR`` VOI function with its ``-0.5`` / ``width - 1``
offsets, so that e.g. the lung window maps -600 HU to exactly 0.5.

Intensity by modality (:func:`apply_input_intensity`, what :func:`medimg.io.read_image` applies):

* **CT** (and any image in Hounsfield units) keeps HU; the named presets of :data:`WINDOW_PRESETS` are HU
  windows and apply only to it.
* **Calibrated units** (PET ``PT``, ``NM``, ``RTDOSE``) keep their values.
* **Every other DICOM grey image** (MR, US, CR, DX, MG, XA...) has arbitrary scanner units, so it is mapped
  to the display range ``0..255`` -- the values its 8-bit export would hold -- through the file's own VOI
  window (WindowCenter/WindowWidth, first value) when it has one that overlaps its values (one beside them all, which
  would make it one flat value, is ignored with a warning); else 8-bit data is kept as stored, and
  deeper data is stretched between its 0.5th and 99.5th percentiles. ``meta["display_scaling"]`` says which.
  A DICOM slice and its 8-bit export therefore reach the network in the same range.
* A CT preset on an image whose DICOM modality is not CT is refused (:class:`~medimg.errors.ConfigError`
  naming the modality); ``"file"``/``"auto"`` and explicit ``(center, width)`` windows apply to any image.
* Rasters and NIfTI carry no modality: windows apply to their values as read.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

__all__ = [
    "AUTO_WINDOWS",
    "CALIBRATED_MODALITIES",
    "DISPLAY_MAX",
    "WINDOW_PRESETS",
    "apply_input_intensity",
    "apply_window",
    "apply_window_to_image",
    "check_window_fits_modality",
    "display_scale",
    "is_hounsfield",
    "resolve_window",
    "warn_if_not_hounsfield",
    "window_from_json",
]

#: Standard CT windows ``name -> (center, width)`` in Hounsfield units (values as listed by Radiopaedia,
#: "Windowing (CT)"). ``bone`` uses the common W 1800 / L 400 setting; narrower bone windows such as
#: (300, 1500) are also in use -- pass an explicit ``(center, width)`` for those.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "soft-tissue": (40.0, 400.0),
    "abdomen": (40.0, 400.0),
    "brain": (40.0, 80.0),
    "bone": (400.0, 1800.0),
    "liver": (60.0, 150.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
}

#: Window names that mean "the file's own window" (WindowCenter/WindowWidth), else the image's min-max.
AUTO_WINDOWS: frozenset[str] = frozenset({"auto", "file"})

WindowSpec = str | tuple[float, float] | list[float]

#: DICOM modalities whose values are physical units, kept as they are (CT: HU, PET: SUV/Bq/ml, RT dose: Gy).
CALIBRATED_MODALITIES: frozenset[str] = frozenset({"CT", "PT", "NM", "RTDOSE"})

#: Top of the display range non-calibrated DICOM images are mapped to (the values of an 8-bit export).
DISPLAY_MAX = 255.0

CT_LOW_HU = -500.0
"""Intensities below this (in the 0.5th percentile) are taken for Hounsfield units (CT): air is -1000 HU."""

#: Percentiles that stretch a deep (> 8-bit) image without a VOI window onto the display range.
DISPLAY_PERCENTILES = (0.5, 99.5)


def window_from_json(value: Any) -> str | tuple[float, float] | None:
    """A window as saved in JSON (a preset name, ``[center, width]`` or null), as :func:`medimg.io.read_image`
    takes it."""
    return (float(value[0]), float(value[1])) if isinstance(value, list) else value


def _normalise_name(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def apply_window(array: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map ``[center - width/2, center + width/2]`` linearly to ``[0, 1]`` and clip.

    Args:
        array: any shape, any real dtype (e.g. ``(C, *spatial)`` in HU).
        center: window center, in the units of ``array``.
        width: window width, > 0.

    Returns:
        ``float32`` array of the same shape with values in ``[0, 1]``.

    Raises:
        ConfigError: ``width`` is not a positive finite number or ``center`` is not finite.

    Example:
        >>> float(apply_window(np.array([-600.0]), *WINDOW_PRESETS["lung"])[0])
        0.5
    """
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise ConfigError(
            f"invalid window (center={center}, width={width}): the width must be > 0 and both finite, "
            "e.g. (40, 400) for soft tissue"
        )
    low = center - width / 2.0
    out = (np.asarray(array, dtype=np.float64) - low) / width
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _first_number(value: Any) -> float | None:
    """First value of a possibly multi-valued DICOM number (``[40, 400]`` -> 40); ``None`` if absent."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) == 0:
            return None
        value = value[0]
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def resolve_window(
    window: WindowSpec | None, meta: Mapping[str, Any], array: np.ndarray | None = None, source: str = ""
) -> tuple[float, float] | None:
    """Turn a window request into an explicit ``(center, width)``.

    Args:
        window: ``None`` (no window), a preset name from :data:`WINDOW_PRESETS` (case-insensitive, ``_`` and
            ``-`` interchangeable), ``"auto"`` / ``"file"`` (the file's own ``window_center`` /
            ``window_width`` from ``meta``; when absent, the min-max range of ``array``), or an explicit
            ``(center, width)`` (also as the text ``"center,width"``, as the CLI's ``--window`` takes it).
        meta: the image's ``ImageData.meta`` (reads ``window_center`` and ``window_width``).
        array: the image array, only used for the min-max fallback of ``"auto"`` (also taken when the file's
            window lies outside all the array's values, which it would make one flat value; with a warning).
        source: the image's file, named by that warning.

    Returns:
        ``(center, width)``, or ``None`` when no window applies (``window is None``, or ``"auto"`` with
        neither a file window nor an array to measure). A constant image under ``"auto"`` gets
        ``(value, 1.0)``.

    Raises:
        ConfigError: unknown preset name (with a did-you-mean hint) or a malformed ``(center, width)``.
    """
    if window is None:
        return None
    if isinstance(window, str) and "," in window:
        window = _parse_center_width(window)
    if isinstance(window, str):
        name = _normalise_name(window)
        if name in AUTO_WINDOWS:
            center = _first_number(meta.get("window_center"))
            width = _first_number(meta.get("window_width"))
            if (
                center is not None
                and width is not None
                and width > 0
                and (array is None or not _window_misses_values(array, center, width, source))
            ):
                return (center, width)
            if array is None or array.size == 0:
                return None
            finite = array[np.isfinite(array)]
            if finite.size == 0:
                return None
            lo, hi = float(finite.min()), float(finite.max())
            if hi <= lo:
                return (lo, 1.0)
            return ((lo + hi) / 2.0, hi - lo)
        if name in WINDOW_PRESETS:
            return WINDOW_PRESETS[name]
        choices = [*WINDOW_PRESETS, *sorted(AUTO_WINDOWS)]
        raise ConfigError(
            f"unknown window {window!r}.{did_you_mean(name, choices)} Valid names: {', '.join(choices)}; "
            "or pass an explicit (center, width) such as (40, 400)."
        )
    try:
        center, width = (float(v) for v in window)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"invalid window {window!r}: expected a preset name or a (center, width) pair of numbers"
        ) from exc
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise ConfigError(f"invalid window {window!r}: the width must be > 0 and both values finite")
    return (center, width)


#: files whose own window lies outside all their values, warned about once per process by :func:`_window_misses`
_WARNED_STALE_WINDOW: set[str] = set()
_WARNED_LOCK = threading.Lock()


def _window_misses(image: ImageData, center: float, width: float) -> bool:
    """:func:`_window_misses_values` for an image (naming its file)."""
    return _window_misses_values(image.array, center, width, image.source)


def _window_misses_values(array: np.ndarray, center: float, width: float, source: str = "") -> bool:
    """True (with one warning per process) when a file's own window (WindowCenter/WindowWidth) lies wholly below or
    above the image's values: it would make the whole image one flat value (all black or all white), which no viewer
    shows either. Such a window belongs to other pixel data (tags copied between series, pixels rescaled by an
    export or anonymisation tool), so the caller uses the image's own range instead."""
    finite = np.asarray(array)[np.isfinite(array)] if array.size else np.asarray(array)
    if finite.size == 0:
        return False
    low, high = float(finite.min()), float(finite.max())
    bottom, top = center - width / 2.0, center + width / 2.0
    if (high > low and low < top and high > bottom) or (high <= low and bottom <= low <= top):
        return False  # it overlaps the values (a constant image: only a window beside its value is stale)
    with _WARNED_LOCK:
        first = not _WARNED_STALE_WINDOW
        _WARNED_STALE_WINDOW.add(source)
    if first:
        logger.warning(
            "%s: its own window (WindowCenter %g, WindowWidth %g: %g..%g) lies outside all its values (%g..%g) and "
            "would make it one flat value; its values' range is used instead (meta display_scaling says so; said "
            "once, other files may be alike). Fix the file's WindowCenter/WindowWidth, or give --window CENTER,WIDTH",
            source or "image",
            center,
            width,
            center - width / 2.0,
            center + width / 2.0,
            low,
            high,
        )
    return True


def _parse_center_width(text: str) -> tuple[float, float]:
    """``"C,W"`` (the CLI's ``--window 40,400``, as the README writes it) as ``(center, width)``.

    Raises:
        ConfigError: not two numbers.
    """
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError(text)
        return float(parts[0]), float(parts[1])
    except ValueError as exc:
        raise ConfigError(
            f"invalid window {text!r}: expected a preset name or CENTER,WIDTH (two numbers), e.g. '40,400'"
        ) from exc


def _modality(meta: Mapping[str, Any]) -> str | None:
    value = meta.get("modality")
    return str(value).upper() if value else None


#: a window at most this wide (HU) shows soft tissue closely: brain 80, subdural 215, liver 150, mediastinum 400
NARROW_WINDOW = 400.0


def header_window(meta: Mapping[str, Any]) -> tuple[float, float] | None:
    """The ``(center, width)`` a CT file's header gives for display when it was read in HU without a window applied
    (``None`` otherwise): what :func:`unused_window_warning` counts."""
    if meta.get("window") is not None or not is_hounsfield(meta):
        return None
    center, width = _first_number(meta.get("window_center")), _first_number(meta.get("window_width"))
    return (center, width) if center is not None and width is not None and width > 0 else None


def unused_window_warning(windows: Sequence[tuple[float, float] | None]) -> str | None:
    """The check's warning when most CT images (``windows``: :func:`header_window` of each) carry a narrow display
    window in their headers and none was asked for: the images are read in HU over the set's whole range, where a
    bleed or a lesion differs by a few levels (RSNA's head CTs, WL 36 / WW 80: "any" AUC 0.40 as read, 1.00 with
    ``--window brain``). ``None`` otherwise."""
    given = [w for w in windows if w is not None]
    if not given or len(given) * 2 < len(windows):
        return None
    center, width = sorted(given, key=lambda w: w[1])[len(given) // 2]
    if width > NARROW_WINDOW:
        return None
    named = next((name for name, preset in WINDOW_PRESETS.items() if abs(preset[1] - width) <= width / 4), None)
    return (
        f"{len(given)} CT image(s) carry a narrow display window in their headers (e.g. center {center:g}, width "
        f"{width:g}{f', near the {named} window' if named else ''}), which is not applied: they are read in HU over "
        "the set's whole range, where a soft-tissue finding (a bleed) differs by a few levels; --window file reads "
        f"each image in its own window{f' (or --window {named})' if named else ''}"
    )


def is_hounsfield(meta: Mapping[str, Any]) -> bool:
    """True when the image's values are Hounsfield units (DICOM CT, or a rescale type of HU)."""
    return meta.get("units") == "HU" or _modality(meta) == "CT"


def check_window_fits_modality(window: WindowSpec | None, meta: Mapping[str, Any], source: str = "") -> None:
    """Refuse a CT (Hounsfield) preset on a DICOM image of another modality.

    Raises:
        ConfigError: ``window`` names a preset of :data:`WINDOW_PRESETS` and the image is DICOM with a modality
            other than CT (its values are not HU, so the window would silently clip it to noise).
    """
    if not isinstance(window, str) or _normalise_name(window) not in WINDOW_PRESETS:
        return
    modality = _modality(meta)
    if meta.get("format") != "dicom" or modality is None or is_hounsfield(meta):
        return
    raise ConfigError(
        f"{source or 'image'}: window {window!r} is a CT window in Hounsfield units, but this image's modality is "
        f"{modality} (not CT), whose values are not HU. Use --window file (the file's own window), an explicit "
        "CENTER,WIDTH in its units, or no window (non-CT DICOM is mapped to 0..255 by its own window)"
    )


#: CT presets already warned about by :func:`warn_if_not_hounsfield` in this process (one warning per preset, not
#: one per file of a folder)
_WARNED_NOT_HOUNSFIELD: set[str] = set()


def warn_if_not_hounsfield(window: WindowSpec | None, image: ImageData) -> None:
    """Warn (once per preset and process) when a CT preset is applied to an image whose values cannot be HU.

    A raster, NIfTI or array carries no modality, so :func:`check_window_fits_modality` cannot refuse a CT preset on
    it. But an image in Hounsfield units has negative values (air -1000 HU, fat -100 HU); one with none is a display
    export (an 8-bit PNG of a CT slice, a 12-bit radiograph) or HU stored with an offset (a 16-bit PNG of HU + 1024
    or DeepLesion's HU + 32768), and the preset clips most of it to white (a 16-bit radiograph under ``lung`` is
    96% one value) or squeezes it into a sliver of the range. The warning names the file, the range its values are
    mapped to and the fix.
    """
    if not isinstance(window, str) or _normalise_name(window) not in WINDOW_PRESETS or is_hounsfield(image.meta):
        return
    name = _normalise_name(window)
    array = image.array
    if name in _WARNED_NOT_HOUNSFIELD or array.size == 0:
        return
    finite = array[np.isfinite(array)]
    if finite.size == 0 or float(finite.min()) < 0:
        return
    with _WARNED_LOCK:  # images are read by several threads at once
        if name in _WARNED_NOT_HOUNSFIELD:
            return
        _WARNED_NOT_HOUNSFIELD.add(name)
    center, width = WINDOW_PRESETS[name]
    low, high = float(finite.min()), float(finite.max())
    mapped_low, mapped_high = (float(v) for v in apply_window(np.array([low, high]), center, width))
    logger.warning(
        "%s: window %r is a CT window in Hounsfield units (centre %g, width %g), but this image has no negative "
        "value: HU images hold air (-1000) or fat (-100), so these are likely not HU, and the window maps its values "
        "%g..%g to %.2f..%.2f of the network's 0..1. For a display export (8-bit PNG/JPEG, a radiograph) leave "
        "--window out; for HU stored with an offset give the window in the stored units, e.g. --window %g,%g for "
        "HU + 1024 (said once; other images may be alike)",
        image.source or "image",
        window,
        center,
        width,
        low,
        high,
        mapped_low,
        mapped_high,
        center + 1024,
        width,
    )


def display_scale(image: ImageData) -> ImageData:
    """Map a non-calibrated grey DICOM image (MR, US, CR, DX...) onto ``0..DISPLAY_MAX`` in place.

    The file's VOI window when it has one (as its 8-bit export would show it); else 8-bit data is kept as stored;
    else the 0.5th-99.5th percentiles are stretched onto the range. Colour images, calibrated modalities
    (:data:`CALIBRATED_MODALITIES`, HU) and non-DICOM images are returned unchanged.

    Returns:
        The same ``image``; ``meta["display_scaling"]`` describes the mapping when one was applied.
    """
    meta = image.meta
    modality = _modality(meta)
    if meta.get("format") != "dicom" or modality in CALIBRATED_MODALITIES or is_hounsfield(meta):
        return image
    if image.channels != 1 or str(meta.get("photometric_interpretation", "")).upper() not in {
        "MONOCHROME1",
        "MONOCHROME2",
    }:
        return image
    center = _first_number(meta.get("window_center"))
    width = _first_number(meta.get("window_width"))
    if center is not None and width is not None and width > 0 and _window_misses(image, center, width):
        center = width = None
    if center is not None and width is not None and width > 0:
        image.array = apply_window(image.array, center, width) * np.float32(DISPLAY_MAX)
        meta["display_scaling"] = f"file window (center {center:g}, width {width:g}) -> 0..{DISPLAY_MAX:g}"
        return image
    bits = meta.get("bits_stored") or 0
    finite = image.array[np.isfinite(image.array)]
    if finite.size == 0 or (0 < bits <= 8 and finite.min() >= 0 and finite.max() <= DISPLAY_MAX):
        meta["display_scaling"] = "8-bit values kept"
        return image
    low, high = (float(v) for v in np.percentile(finite, DISPLAY_PERCENTILES))
    if high <= low:
        high = low + 1.0
    image.array = apply_window(image.array, (low + high) / 2.0, high - low) * np.float32(DISPLAY_MAX)
    meta["display_scaling"] = f"percentiles 0.5-99.5 ({low:g}..{high:g}) -> 0..{DISPLAY_MAX:g}"
    return image


def apply_input_intensity(image: ImageData, window: WindowSpec | None, *, dicom_display: bool = True) -> ImageData:
    """The intensity rules by modality (see the module docstring), applied in place after an image is read.

    Args:
        image: an image as read.
        window: anything :func:`resolve_window` accepts; ``None`` for the modality's default.
        dicom_display: map non-calibrated DICOM to the display range when no window is given (runs trained
            before this rule read such images raw: pass ``False`` for them).

    Raises:
        ConfigError: a CT preset on a non-CT DICOM image, an unknown preset or a malformed window.
    """
    if window is not None:
        return apply_window_to_image(image, window)
    if dicom_display:
        display_scale(image)
    return image


def apply_window_to_image(image: ImageData, window: WindowSpec | None) -> ImageData:
    """Resolve ``window`` against ``image.meta`` and apply it in place.

    Args:
        image: an image as read; its ``array`` is replaced by the windowed ``float32`` 0..1 array.
        window: anything :func:`resolve_window` accepts.

    Returns:
        The same ``image``, with ``meta["window"] = (center, width)`` (``None`` if no window applied).

    Raises:
        ConfigError: unknown preset name, malformed window, or a CT preset on a non-CT DICOM image.
    """
    if window is None:
        return image
    check_window_fits_modality(window, image.meta, image.source)
    warn_if_not_hounsfield(window, image)
    resolved = resolve_window(window, image.meta, image.array, image.source)
    image.meta["window"] = resolved
    if resolved is None:
        logger.warning("%s: window %r could not be resolved (empty image); values left as read", image.source, window)
        return image
    image.array = apply_window(image.array, *resolved)
    return image
