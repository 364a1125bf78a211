"""Denoising of an image before it is resized to the network's input (the plan's ``denoise`` fields).

Numpy and SciPy only (no torch): the ONNX predictor preprocesses with this same function, so an exported model
sees what the trained one saw. Each channel is filtered on its own, over the spatial axes only, at the image's
own resolution (after the block reduction of images many times the input size), before the resize.

* ``median``: a median filter of side ``2 * radius + 1`` px (speckle and salt-and-pepper noise: ultrasound,
  old film scans); edges are kept.
* ``gaussian``: a Gaussian of sigma ``radius`` px (fine grain; also blurs edges).
* ``nl_means``: non-local means (Buades et al. 2005, scikit-image's ``denoise_nl_means``) with patches of side
  ``2 * radius + 1``, searched within twice that, ``h`` = 0.8 x the noise sigma estimated on each image (low-dose
  CT and MR noise); seconds per megapixel on a CPU.
"""

from __future__ import annotations

import numpy as np

DENOISE_METHODS = ("none", "median", "gaussian", "nl_means")
"""Values of the plan's ``denoise`` field (:class:`medimg.planning.plan.Plan`)."""


def denoise(array: np.ndarray, method: str, radius: float) -> np.ndarray:
    """``array`` ``(C, *spatial)`` filtered per channel by ``method`` (``none``: returned as it is), float32.

    Raises:
        ValueError: an unknown method (plans are validated before this runs).
    """
    if method == "none":
        return array
    out = np.empty(array.shape, dtype=np.float32)
    for c, channel in enumerate(np.asarray(array, dtype=np.float32)):
        out[c] = _filtered(channel, method, radius)
    return out


def _filtered(channel: np.ndarray, method: str, radius: float) -> np.ndarray:
    from scipy import ndimage

    if method == "median":
        return ndimage.median_filter(channel, size=2 * max(1, round(radius)) + 1, mode="reflect")
    if method == "gaussian":
        return ndimage.gaussian_filter(channel, sigma=float(radius), mode="reflect")
    if method == "nl_means":
        return _non_local_means(channel, max(1, round(radius)))
    raise ValueError(f"unknown denoise method {method!r}: one of {', '.join(DENOISE_METHODS)}")


def _non_local_means(channel: np.ndarray, radius: int) -> np.ndarray:
    """Non-local means with ``h`` from the image's own noise estimate, on the channel scaled to [0, 1] by its
    range (so ``h`` means the same for HU and 0..255) and scaled back."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    low, high = float(channel.min()), float(channel.max())
    if high <= low:
        return channel
    scaled = (channel - low) / (high - low)
    sigma = float(estimate_sigma(scaled))
    if sigma <= 0:
        return channel
    patch = 2 * radius + 1
    cleaned = denoise_nl_means(
        scaled, h=0.8 * sigma, sigma=sigma, patch_size=patch, patch_distance=2 * patch, fast_mode=True
    )
    return (np.asarray(cleaned, dtype=np.float32) * (high - low) + low).astype(np.float32)
