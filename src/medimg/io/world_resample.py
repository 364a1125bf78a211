"""Resampling a volume onto another volume's voxel grid through their world coordinates (the 4x4 voxel -> mm
affines of their headers): what puts a PET (HECKTOR's ``__PT``, 4 mm voxels) on its CT's grid (1 mm), or an ADC map
on its T2's, before the two are stacked as channels of one case.

Linear interpolation (scipy's ``affine_transform``, order 1), as nibabel's ``resample_from_to`` does it; the voxels
of the target grid outside the source's field of view are filled with the source's minimum (air for a CT, 0 for a
PET), and their share is returned so that a caller can refuse volumes that hardly overlap.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def resample_onto(
    array: NDArray[np.floating] | NDArray[np.integer],
    affine: NDArray[np.float64],
    shape: tuple[int, ...],
    target_affine: NDArray[np.float64],
) -> tuple[NDArray[np.float32], float]:
    """``array`` ``(C, X, Y, Z)`` (voxel -> world ``affine``) on the grid of spatial ``shape`` and ``target_affine``,
    and the share of that grid's voxels outside ``array``'s field of view (``0.0`` to ``1.0``)."""
    from scipy.ndimage import affine_transform

    to_source = np.linalg.inv(np.asarray(affine, np.float64)) @ np.asarray(target_affine, np.float64)
    matrix, offset = to_source[:3, :3], to_source[:3, 3]
    spatial = array.shape[1:]
    inside = _inside(matrix, offset, shape, spatial)
    channels = []
    for channel in np.asarray(array, np.float32):
        fill = float(channel.min()) if channel.size else 0.0
        channels.append(
            affine_transform(channel, matrix, offset=offset, output_shape=shape, order=1, mode="constant", cval=fill)
        )
    return np.stack(channels).astype(np.float32, copy=False), 1.0 - inside


def _inside(matrix: np.ndarray, offset: np.ndarray, shape: tuple[int, ...], source: tuple[int, ...]) -> float:
    """The share of the target grid's voxels (sampled on a grid of at most 16 per axis) that map inside the source
    array's voxel extent."""
    axes = [np.linspace(0, n - 1, min(n, 16)) for n in shape]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    mapped = points @ matrix.T + offset
    bounds = np.asarray(source, np.float64) - 1
    within = np.all((mapped >= -0.5) & (mapped <= bounds + 0.5), axis=1)
    return float(within.mean()) if len(within) else 0.0
