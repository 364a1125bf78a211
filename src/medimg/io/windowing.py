"""Intensity windows (window center / width), mostly for CT in Hounsfield units.

A window ``(center, width)`` maps the intensity interval ``[center - width/2, center + width/2]`` linearly
onto ``[0, 1]`` and clips everything outside it. This is the plain linear window (as in most viewers and in
MONAI's ``ScaleIntensityRange``), not the DICOM ``LINEAR`` VOI function with its ``-0.5`` / ``width - 1``
offsets, so that e.g. the lung window maps -600 HU to exactly 0.5.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

__all__ = ["AUTO_WINDOWS", "WINDOW_PRESETS", "apply_window", "apply_window_to_image", "resolve_window"]

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
    window: WindowSpec | None, meta: Mapping[str, Any], array: np.ndarray | None = None
) -> tuple[float, float] | None:
    """Turn a window request into an explicit ``(center, width)``.

    Args:
        window: ``None`` (no window), a preset name from :data:`WINDOW_PRESETS` (case-insensitive, ``_`` and
            ``-`` interchangeable), ``"auto"`` / ``"file"`` (the file's own ``window_center`` /
            ``window_width`` from ``meta``; when absent, the min-max range of ``array``), or an explicit
            ``(center, width)``.
        meta: the image's ``ImageData.meta`` (reads ``window_center`` and ``window_width``).
        array: the image array, only used for the min-max fallback of ``"auto"``.

    Returns:
        ``(center, width)``, or ``None`` when no window applies (``window is None``, or ``"auto"`` with
        neither a file window nor an array to measure). A constant image under ``"auto"`` gets
        ``(value, 1.0)``.

    Raises:
        ConfigError: unknown preset name (with a did-you-mean hint) or a malformed ``(center, width)``.
    """
    if window is None:
        return None
    if isinstance(window, str):
        name = _normalise_name(window)
        if name in AUTO_WINDOWS:
            center = _first_number(meta.get("window_center"))
            width = _first_number(meta.get("window_width"))
            if center is not None and width is not None and width > 0:
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


def apply_window_to_image(image: ImageData, window: WindowSpec | None) -> ImageData:
    """Resolve ``window`` against ``image.meta`` and apply it in place.

    Args:
        image: an image as read; its ``array`` is replaced by the windowed ``float32`` 0..1 array.
        window: anything :func:`resolve_window` accepts.

    Returns:
        The same ``image``, with ``meta["window"] = (center, width)`` (``None`` if no window applied).

    Raises:
        ConfigError: unknown preset name or malformed window.
    """
    if window is None:
        return image
    resolved = resolve_window(window, image.meta, image.array)
    image.meta["window"] = resolved
    if resolved is None:
        logger.warning("%s: window %r could not be resolved (empty image); values left as read", image.source, window)
        return image
    image.array = apply_window(image.array, *resolved)
    return image
