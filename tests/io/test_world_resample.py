"""Resampling a volume onto another's grid through world coordinates: a PET of coarse voxels onto its CT's grid."""

from __future__ import annotations

import numpy as np

from medimg.io.world_resample import resample_onto


def _world_x(shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    """Each voxel's world x (mm): a linear field, which linear interpolation reproduces exactly inside the grid."""
    index = np.indices(shape).reshape(3, -1)
    world = affine[:3, :3] @ index + affine[:3, 3:4]
    return world[0].reshape(shape).astype(np.float32)


def test_a_coarse_volume_lands_on_the_fine_grid_at_its_world_positions() -> None:
    coarse = np.diag([4.0, 4.0, 6.0, 1.0])
    coarse[:3, 3] = (-2.0, 0.0, 0.0)
    fine = np.diag([1.0, 1.0, 3.0, 1.0])
    source = _world_x((16, 16, 8), coarse)[None]
    resampled, outside = resample_onto(source, coarse, (32, 32, 12), fine)
    assert resampled.shape == (1, 32, 32, 12) and resampled.dtype == np.float32
    assert outside == 0.0  # the coarse volume (x -2..58 mm) covers the fine one (x 0..31 mm)
    np.testing.assert_allclose(resampled[0], _world_x((32, 32, 12), fine), atol=1e-4)


def test_the_grid_outside_the_field_of_view_is_filled_with_the_minimum_and_measured() -> None:
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    moved = affine.copy()
    moved[0, 3] = 8.0  # the source starts 8 mm further along x: half of the 16 mm target lies outside
    source = np.full((1, 16, 4, 4), 100.0, np.float32)
    source[0, 0, 0, 0] = -1024.0
    resampled, outside = resample_onto(source, moved, (16, 4, 4), affine)
    assert 0.4 < outside < 0.6
    assert resampled[0, 0].max() == -1024.0  # outside: the source's minimum (air), not 0
    assert resampled[0, 12:].min() > 99.0
