"""Voxel orientation: a mask stored otherwise than its image put on the image's grid, and volumes in one axis
order (the closest RAS+ orientation: MONAI's ``Orientation("RAS")``, nibabel's ``as_closest_canonical``) and back.

Readers keep every array as stored (:mod:`medimg.io.nifti`, :mod:`medimg.io.itk`), so an image stored
left-posterior-superior and its mask stored right-anterior-superior (an annotation tool that saved it reoriented)
have the same shape and opposite x and y axes: paired as arrays they disagree, silently. When both files carry a
real geometry (an affine that is not the identity a bare array gets) whose axis orientations differ, the mask's
axes are flipped and permuted to the image's (:func:`reorient_like`); a mask without a geometry of its own is taken
to be stored like its image.

Scanners and converters also store the same anatomy in different axis orders: MSD and most NIfTI tools store
``(x, y, z)`` = right, anterior, superior; a DICOM series is read as ``(slice, row, column)`` (superior or
inferior, posterior, left). A 3D network learns the axis order it was trained on, so a volume stored otherwise is
segmented as a rotated, mirrored anatomy. :func:`canonical` transposes and flips a volume (no interpolation, the
voxels are kept) so that its array axes run as close as the affine allows to R, A, S, and the returned
:class:`Orientation` puts a prediction made there back on the file's own grid.

In 2D the axis orders differ by format: a MetaImage or NRRD picture (as SimpleITK, 3D Slicer and ITK-SNAP write
it) is read columns first ``(x, y)``, a PNG, JPEG or DICOM picture rows first. A classifier sees every 2D image in
a picture's order (:func:`picture_order`), so an ``.mha`` copy of a PNG is the same picture to it, not its
transpose; a segmentation mask is put in its image's order by :mod:`medimg.data.dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from medimg.errors import ConfigError
from medimg.io.image import ImageData

__all__ = [
    "COLUMNS_FIRST_FORMATS",
    "COLUMNS_FIRST_SUFFIXES",
    "Orientation",
    "canonical",
    "check_recorded_orientation",
    "has_geometry",
    "in_canonical_orientation",
    "picture_order",
    "read_as_trained",
    "reorient_like",
]

D = TypeVar("D")

#: formats whose 2D images are read columns first, ``(x, y)``: ITK's MetaImage and NRRD (medimg.io.itk)
COLUMNS_FIRST_FORMATS = ("metaimage", "nrrd")
#: their file suffixes
COLUMNS_FIRST_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")


def picture_order(image: ImageData) -> ImageData:
    """A 2D MetaImage/NRRD ``image`` (read ``(x, y)``, columns first, as ITK stores it) in a picture's ``(rows,
    columns)`` order, as PNG, JPEG and DICOM pictures are read (its spacing and affine follow the axes); any other
    image as it is. ``meta["picture_order"]`` says it was swapped."""
    if image.array.ndim != 3 or image.meta.get("format") not in COLUMNS_FIRST_FORMATS:
        return image
    spacing = image.spacing_mm
    affine = None if image.affine is None else image.affine[:, [1, 0, 2, 3]]
    return replace(
        image,
        array=np.ascontiguousarray(image.array.swapaxes(1, 2)),
        spacing_mm=tuple(spacing[::-1]) if spacing is not None and len(spacing) == 2 else spacing,
        affine=affine,
        meta={**image.meta, "picture_order": True},
    )


def has_geometry(affine: np.ndarray | None) -> bool:
    """Whether ``affine`` says where the voxels are (not ``None``, not the identity of a file saved without one)."""
    return affine is not None and not np.allclose(affine, np.eye(4))


def reorient_like(array: np.ndarray, affine: np.ndarray | None, target: np.ndarray | None) -> np.ndarray | None:
    """``array`` ``(C, X, Y, Z)`` with its spatial axes flipped/permuted from ``affine``'s orientation to
    ``target``'s, or ``None`` when nothing is to be done (same orientation, 2D, or either geometry unknown)."""
    from nibabel.orientations import io_orientation, ornt_transform

    if array.ndim != 4 or not (has_geometry(affine) and has_geometry(target)):
        return None
    assert affine is not None and target is not None
    own, wanted = io_orientation(affine), io_orientation(target)
    if np.array_equal(own, wanted):
        return None
    return _apply(array, ornt_transform(own, wanted))


@dataclass(frozen=True)
class Orientation:
    """How a volume's stored axes map to the canonical ones.

    Attributes:
        ornt: nibabel's orientation ``(3, 2)``: row ``i`` says which canonical axis stored axis ``i`` becomes and
            whether it is flipped (``-1``).
        codes: the stored axis codes (``("L", "P", "S")``...), for messages.
    """

    ornt: np.ndarray
    codes: tuple[str, ...]

    def apply(self, array: np.ndarray) -> np.ndarray:
        """An array on the file's grid (spatial axes last: ``(*spatial)`` or ``(C, *spatial)``: a mask, a region of
        interest) on the canonical grid, as :func:`canonical` moved its image."""
        return _apply(array, self.ornt)

    def restore(self, array: np.ndarray) -> np.ndarray:
        """An array on the canonical grid (spatial axes last: ``(*spatial)`` or ``(K, *spatial)``) on the file's
        grid again."""
        inverse = np.zeros_like(self.ornt)
        for stored, (target, flip) in enumerate(self.ornt):
            inverse[int(target)] = (stored, flip)
        return _apply(array, inverse)


def _apply(array: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    """nibabel's ``apply_orientation`` (which works on the leading axes) on the last three axes of ``array``."""
    from nibabel.orientations import apply_orientation

    lead = array.ndim - 3
    moved = np.moveaxis(array, list(range(lead)), list(range(3, array.ndim))) if lead else array
    out = apply_orientation(moved, ornt)
    return np.ascontiguousarray(np.moveaxis(out, list(range(3, out.ndim)), list(range(lead))) if lead else out)


def canonical(image: ImageData) -> tuple[ImageData, Orientation | None]:
    """``image`` with its spatial axes in the closest RAS+ order, and how to undo it (``None``: nothing to do, for a
    volume already stored so, a 2D image, or one without an affine)."""
    from nibabel.orientations import aff2axcodes, inv_ornt_aff, io_orientation

    if not has_geometry(image.affine) or image.array.ndim != 4:
        return image, None
    affine = np.asarray(image.affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        return image, None
    ornt = io_orientation(affine)
    if np.isnan(ornt).any() or np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return image, None
    shape = image.array.shape[1:]
    spacing = None
    if image.spacing_mm is not None and len(image.spacing_mm) == 3:
        ordered = [0.0] * 3
        for stored, (target, _) in enumerate(ornt):
            ordered[int(target)] = float(image.spacing_mm[stored])
        spacing = tuple(ordered)
    codes = tuple(str(c) for c in aff2axcodes(affine))
    meta = {**image.meta, "stored_orientation": "".join(codes)}
    oriented = replace(
        image,
        array=_apply(image.array, ornt),
        affine=affine @ inv_ornt_aff(ornt, shape),
        spacing_mm=spacing if spacing is not None else image.spacing_mm,
        meta=meta,
    )
    return oriented, Orientation(ornt=ornt, codes=codes)


def in_canonical_orientation(
    image: ImageData, predict: Callable[[ImageData], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """``predict`` (a segmenter: ``(labels (*spatial), probabilities (K, *spatial))``) run on ``image`` in the
    canonical orientation, its outputs put back on the file's grid."""
    oriented, orientation = canonical(image)
    labels, probabilities = predict(oriented)
    if orientation is None:
        return labels, probabilities
    return orientation.restore(labels), orientation.restore(probabilities)


def reorients_inputs(task: str | None, canonical_orientation: bool) -> bool:
    """Whether a run's inputs are read in the canonical orientation before its network: a classifier's are (its
    label does not depend on the axis order, so nothing maps back); a segmenter's are not, it reorients around its
    network (:func:`in_canonical_orientation`) so that masks come back on the file's grid."""
    return bool(canonical_orientation) and task == "classify"


def check_recorded_orientation(planned: bool, spatial_dims: int, dataset: Any) -> None:
    """Refuse a plan whose ``canonical_orientation`` contradicts how ``dataset`` read the training volumes (the
    field records it; a user's ``--set`` cannot change how the cases were already read).

    Raises:
        ConfigError: naming the contradiction and the fix.
    """
    oriented = bool(getattr(dataset, "canonical_orientation", False))
    if planned != (spatial_dims == 3 and oriented):
        raise ConfigError(
            f"canonical_orientation={planned}, but the training volumes were read "
            f"{'in' if oriented else 'without'} the closest RAS+ axis order: leave canonical_orientation out of the "
            "plan, medimg records how the images were read"
        )


def read_as_trained(dataset: D, planned: bool) -> D:
    """``dataset`` reading volumes as a run with ``canonical_orientation`` = ``planned`` was trained (a run made
    before medimg reoriented reads them as stored)."""
    if getattr(dataset, "canonical_orientation", planned) == planned:
        return dataset
    return replace(dataset, canonical_orientation=planned)  # type: ignore[type-var]
