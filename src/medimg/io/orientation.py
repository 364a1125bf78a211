"""Bring a mask stored in another voxel orientation than its image onto the image's voxel grid.

Readers keep every array as stored (:mod:`medimg.io.nifti`, :mod:`medimg.io.itk`), so an image stored
left-posterior-superior and its mask stored right-anterior-superior (an annotation tool that saved it reoriented)
have the same shape and opposite x and y axes: paired as arrays they disagree, silently. When both files carry a
real geometry (an affine that is not the identity a bare array gets) whose axis orientations differ, the mask's
axes are flipped and permuted to the image's (nibabel's orientation transforms); a mask without a geometry of its
own is taken to be stored like its image.
"""

from __future__ import annotations

import numpy as np


def has_geometry(affine: np.ndarray | None) -> bool:
    """Whether ``affine`` says where the voxels are (not ``None``, not the identity of a file saved without one)."""
    return affine is not None and not np.allclose(affine, np.eye(4))


def reorient_like(array: np.ndarray, affine: np.ndarray | None, target: np.ndarray | None) -> np.ndarray | None:
    """``array`` ``(C, X, Y, Z)`` with its spatial axes flipped/permuted from ``affine``'s orientation to
    ``target``'s, or ``None`` when nothing is to be done (same orientation, 2D, or either geometry unknown)."""
    from nibabel.orientations import apply_orientation, io_orientation, ornt_transform

    if array.ndim != 4 or not (has_geometry(affine) and has_geometry(target)):
        return None
    assert affine is not None and target is not None
    own, wanted = io_orientation(affine), io_orientation(target)
    if np.array_equal(own, wanted):
        return None
    moved = np.moveaxis(array, 0, -1)  # channels last: apply_orientation works on the first three axes
    return np.ascontiguousarray(np.moveaxis(apply_orientation(moved, ornt_transform(own, wanted)), -1, 0))
