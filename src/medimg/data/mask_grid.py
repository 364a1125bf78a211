"""A 2D mask stored at another resolution than its image, over the same field of view.

Public sets do ship them: the COVID-19 Radiography Database's lung masks are 256 px for 299 px radiographs, the SCR
masks of JSRT 1024 px for 2048 px. When the mask's two axes are scaled by the same factor (the same aspect ratio,
within :data:`ASPECT_TOLERANCE`), it is the image's field of view at another resolution and is put on the image's grid
by nearest neighbour (no new label values). Any other difference (another aspect ratio, a crop, a volume) stays an
error: guessing there would train on misplaced labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: the relative difference of the two axes' scale factors up to which a mask covers its image's field of view
#: (rounding a 299 px side to 256 changes the factor by less than 0.5%)
ASPECT_TOLERANCE = 0.02


def same_field_of_view(mask_shape: Sequence[int], image_shape: Sequence[int]) -> bool:
    """Whether a 2D mask of ``mask_shape`` covers an image of ``image_shape`` at another resolution (both 2D, both
    axes scaled by the same factor)."""
    if len(mask_shape) != 2 or len(image_shape) != 2 or min(mask_shape) < 1:
        return False
    rows, columns = (image / mask for image, mask in zip(image_shape, mask_shape, strict=True))
    return abs(rows - columns) <= ASPECT_TOLERANCE * max(rows, columns)


def nearest_resize(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``(C, *spatial)`` ``array`` resized to ``shape`` by nearest neighbour at pixel centres (values only copied)."""
    out = array
    for axis, size in enumerate(shape, start=1):
        stored = out.shape[axis]
        if stored != size:
            index = np.minimum(((np.arange(size) + 0.5) * stored / size).astype(np.int64), stored - 1)
            out = np.take(out, index, axis=axis)
    return out
