"""MetaImage (``.mha``/``.mhd``) and NRRD (``.nrrd``/``.nhdr``) reading through SimpleITK (optional:
``pip install 'medimg[itk]'``). Challenge data (LUNA16, PROMISE12, many grand-challenge sets) and 3D Slicer exports
come in these formats.

Axes follow the NIfTI reader (:mod:`medimg.io.nifti`), so an image and its mask read the same whichever of the two
formats holds them: spatial axes in ITK index order ``(i, j, k)`` = ``(x, y, z)`` (SimpleITK's NumPy view is
``(z, y, x)``; it is transposed), channel first, ``spacing_mm`` per axis, and ``affine`` mapping voxel indices to
RAS+ millimetres (ITK's direction, spacing and origin are LPS: x and y are negated). A detached header (``.mhd``
with ``.raw``/``.zraw``, ``.nhdr``) needs its data file beside it, as it names it.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import ImageReadError, MissingDependencyError
from medimg.io.image import ImageData
from medimg.io.limits import ImageHeader, reduce_blocks, reduced_geometry
from medimg.io.nifti import snap_near_integers

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
"""ITK's LPS millimetres to the RAS+ of medimg's affines (and back: its own inverse)."""


def require_simpleitk() -> None:
    """Raise :class:`~medimg.errors.MissingDependencyError` (with the install command) when SimpleITK is missing."""
    _sitk()


def _sitk() -> Any:
    try:
        import SimpleITK
    except ImportError as exc:
        raise MissingDependencyError("SimpleITK", "itk") from exc
    return SimpleITK


def detached_data_file(head: bytes) -> str | None:
    """The data file a MetaImage or NRRD header names (``ElementDataFile = scan.raw``, NRRD's ``data file:``), or
    ``None`` when the pixels follow the header in the same file (``.mha``'s ``LOCAL``, ``.nrrd``)."""
    text = head.split(b"\n\n", 1)[0] if head.startswith(b"NRRD") else head
    for line in text.decode("latin-1").splitlines():
        key, sep, value = line.partition(":" if head.startswith(b"NRRD") else "=")
        key, value = key.strip().lower(), value.strip().lstrip("=").strip()
        if sep and key in ("elementdatafile", "data file", "datafile") and value.upper() != "LOCAL":
            return value
    return None


def _reader(path: Path) -> Any:
    sitk = _sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ImageReadError(path, f"the header cannot be read ({_itk_reason(exc)})") from exc
    return reader


def _itk_reason(exc: Exception) -> str:
    """The useful line of an ITK exception (they carry file/line noise)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if line.lower().startswith(("description", "itk::error"))] or lines
    return useful[-1][:300] if useful else type(exc).__name__


def _pixels_unreadable(path: Path, exc: Exception) -> str:
    """Why ITK could not read the pixels of ``path``, and the fix: a detached header's data file missing (named), or
    the pixels of a single file cut short (ITK reports both as "No such file or directory")."""
    reason = _itk_reason(exc)
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        head = b""
    data_file = detached_data_file(head)
    if data_file is None:
        return "the pixel data is truncated or corrupt (fewer pixels than its header says); re-copy or re-export it"
    if not (path.parent / data_file).is_file():
        return (
            f"its data file {data_file}, which the header names, is missing (a detached header needs its data file "
            f"beside it); put {data_file} next to {path.name}"
        )
    return f"the pixels in {data_file} cannot be read ({reason}); it may be truncated: re-copy or re-export both files"


def _layout(size: tuple[int, ...], components: int) -> tuple[int, ...]:
    """``(C, *spatial)`` as :func:`read_itk` returns it (a z axis of one slice is dropped)."""
    spatial = list(size)
    if len(spatial) == 3 and spatial[2] == 1:
        spatial = spatial[:2]
    return (components, *spatial)


def itk_header(path: str | os.PathLike[str]) -> ImageHeader:
    """Shape and decoded size of a MetaImage/NRRD file from its header (the pixels are not read)."""
    p = Path(path)
    reader = _reader(p)
    size = _image_size(reader, p)
    components = int(reader.GetNumberOfComponents())
    bits = re.search(r"(\d+)-bit", _sitk().GetPixelIDValueAsString(reader.GetPixelID()))
    sample_bytes = int(bits.group(1)) // 8 if bits else 8
    shape = _layout(size, components)
    fmt = "nrrd" if p.name.lower().endswith((".nrrd", ".nhdr")) else "metaimage"
    return ImageHeader(format=fmt, shape=shape, decoded_bytes=math.prod(shape) * sample_bytes)


def _image_size(reader: Any, p: Path) -> tuple[int, ...]:
    """The size a header ``reader`` gives, in index order ``(x, y[, z])``.

    Raises:
        ImageReadError: neither 2D nor 3D.
    """
    size = tuple(int(n) for n in reader.GetSize())
    if len(size) not in (2, 3):
        raise ImageReadError(p, f"a {len(size)}D image ({size}) is not an image or a volume; save 2D or 3D images")
    return size


def itk_geometry(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    """``(origin, spacing, direction, size)`` of a MetaImage/NRRD file from its header, in ITK's own terms: LPS
    millimetres, ``direction`` the 3x3 matrix whose columns are the index axes, ``size`` in index order
    ``(x, y, z)`` (the pixels are not read). A point ``p`` (mm) is at index ``inv(direction) @ (p - origin) /
    spacing``, the axes of :func:`read_itk`'s array."""
    return _geometry_of(_reader(Path(path)))


def _geometry_of(reader: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    """:func:`itk_geometry` from a header ``reader``."""
    dims = len(reader.GetSize())
    origin = np.asarray(reader.GetOrigin(), dtype=np.float64)
    spacing = np.asarray(reader.GetSpacing(), dtype=np.float64)
    direction = np.asarray(reader.GetDirection(), dtype=np.float64).reshape(dims, dims)
    return origin, spacing, direction, tuple(int(n) for n in reader.GetSize())


def _ras_affine(origin: np.ndarray, spacing: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The 4x4 RAS+ affine of :func:`read_itk`'s array from ITK's LPS ``origin``, ``spacing`` and ``direction``
    (2D or 3D)."""
    dims = len(spacing)
    affine = np.eye(4)
    rotation = np.eye(3)
    rotation[:dims, :dims] = direction
    scale = np.ones(3)
    scale[:dims] = spacing
    shift = np.zeros(3)
    shift[:dims] = origin
    affine[:3, :3] = LPS_TO_RAS @ rotation @ np.diag(scale)
    affine[:3, 3] = LPS_TO_RAS @ shift
    return affine


def itk_affine(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(affine, spatial shape)`` of a MetaImage/NRRD file as :func:`read_itk` returns them, from its header (the
    pixels are not read)."""
    p = Path(path)
    reader = _reader(p)  # one header read for both
    size = _image_size(reader, p)
    origin, spacing, direction, _ = _geometry_of(reader)
    return _ras_affine(origin, spacing, direction), _layout(size, int(reader.GetNumberOfComponents()))[1:]


def read_itk(path: str | os.PathLike[str], *, reduce: int = 1) -> ImageData:
    """Read a MetaImage or NRRD file.

    Args:
        path: ``.mha``, ``.mhd`` (with its data file), ``.nrrd`` or ``.nhdr`` (with its data file).
        reduce: read reduced by this integer factor on each spatial axis (block means; spacing and affine follow).

    Returns:
        ImageData: ``float32`` ``(C, X, Y[, Z])`` (see the module docstring), ``spacing_mm``, ``affine`` (RAS+ mm)
        and ``meta`` with ``format`` (``metaimage`` or ``nrrd``), ``dtype`` (ITK's pixel type) and ``orientation``.

    Raises:
        ImageReadError: unreadable, truncated or a missing data file (the message names what ITK reported).
        MissingDependencyError: SimpleITK is not installed.
    """
    p = Path(path)
    sitk = _sitk()
    header = itk_header(p)
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise ImageReadError(p, _pixels_unreadable(p, exc)) from exc
    dims = image.GetDimension()
    data = sitk.GetArrayFromImage(image)  # (z, y, x[, c]) or (y, x[, c])
    data = np.moveaxis(data, -1, 0) if image.GetNumberOfComponentsPerPixel() > 1 else data[None]
    array = np.ascontiguousarray(np.transpose(data, (0, *range(dims, 0, -1))), dtype=np.float32)  # (C, x, y[, z])
    spacing = tuple(float(s) for s in image.GetSpacing())
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dims, dims)
    affine = _ras_affine(np.asarray(image.GetOrigin(), dtype=np.float64), np.asarray(spacing), direction)
    meta: dict[str, Any] = {"format": header.format, "dtype": image.GetPixelIDTypeAsString()}
    snapped = snap_near_integers(array) if "float" in meta["dtype"] else None
    if snapped is not None:  # a label map saved as floats (0.999999 for 1), as medimg.io.nifti reads it
        array, meta["snapped_to_integers"] = snapped, True
    if dims == 3 and array.shape[3] == 1:  # one slice: a 2D image
        array, spacing = array[..., 0], spacing[:2]
        meta["squeezed_z"] = True
    if reduce > 1:
        meta["reduced_by"], meta["full_shape"] = reduce, [int(n) for n in array.shape]
        array = reduce_blocks(array, reduce)
        reduced_spacing, reduced_affine = reduced_geometry(spacing, affine, reduce, axes=array.ndim - 1)
        spacing, affine = reduced_spacing or spacing, reduced_affine if reduced_affine is not None else affine
    return ImageData(array=array, spacing_mm=spacing, affine=affine, source=str(p), meta=meta)
