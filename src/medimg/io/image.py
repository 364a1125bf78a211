"""The canonical result of every reader: a channel-first array with its geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ImageData:
    """An image or volume as every medimg reader returns it.

    Attributes:
        array: ``(C, H, W)`` for 2D or ``(C, D, H, W)`` for 3D, ``float32``. Intensities are physical where
            the format defines them (CT in Hounsfield units after RescaleSlope/Intercept) and raw otherwise
            (0..255 for 8-bit rasters). A window, when asked for, has already been applied (then 0..1).
        spacing_mm: voxel spacing per spatial axis, same order as the array's spatial axes; ``None`` if
            unknown.
        affine: 4x4 voxel-to-world matrix (NIfTI / DICOM patient coordinates) or ``None`` for plain rasters.
        source: the path it was read from (for error messages and reports).
        meta: format-specific facts worth keeping (modality, photometric interpretation, window used...).
            Never holds patient identifiers.
    """

    array: np.ndarray
    spacing_mm: tuple[float, ...] | None = None
    affine: np.ndarray | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ndim_spatial(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return self.array.ndim - 1

    @property
    def channels(self) -> int:
        """Number of channels (first axis)."""
        return int(self.array.shape[0])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Spatial shape, without the channel axis."""
        return tuple(int(s) for s in self.array.shape[1:])
