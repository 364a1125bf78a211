"""NIfTI-1/2 reading and writing (nibabel), ``.nii`` and ``.nii.gz``.

Axis convention: the spatial axes are nibabel's voxel axes ``(i, j, k)`` in storage order, unchanged, so that
``affine`` (nibabel's ``img.affine``: voxel index -> RAS+ world, mm) stays valid for the array as is:

======================================  =====================================================================
file data shape                         ``ImageData.array``
======================================  =====================================================================
``(X, Y, Z)``                           ``(1, X, Y, Z)``
``(X, Y, Z, C)`` (channels, time...)    ``(C, X, Y, Z)`` (the last axis moved first)
``(X, Y, Z, 1, C)`` (vector intent)     ``(C, X, Y, Z)``
``(X, Y)``                              ``(1, X, Y)``: 2D stays 2D
``(X, Y, 1)``                           ``(1, X, Y)``, with ``meta["squeezed_z"] = True``
``(X, Y, 1, C)``                        ``(C, X, Y)``
======================================  =====================================================================

Nothing is reoriented: the array is NOT transposed to ``(D, H, W)`` = ``(k, j, i)`` nor flipped to a canonical
orientation, so medimg code must always use ``spacing_mm`` / ``affine`` rather than assume an axis meaning.
For a 2D image the affine's first two columns belong to the two spatial axes and its third to the dropped
``k`` axis. ``spacing_mm`` is the length of the affine's columns (converted to mm when the header says metres or
microns): the voxel size of the geometry the image is placed with, which equals the header zooms (pixdim) unless a
tool rewrote the sform alone (a warning then says so). Intensities are scaled by ``scl_slope``/``scl_inter`` as
nibabel's ``get_fdata`` does.
"""

from __future__ import annotations

import gzip
import importlib
import logging
import math
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from medimg.errors import ConfigError, ImageReadError, MedimgError, MissingDependencyError
from medimg.io.formats import is_nifti_header
from medimg.io.image import ImageData
from medimg.io.limits import ImageHeader, reduce_blocks, reduced_geometry

logger = logging.getLogger(__name__)

__all__ = [
    "header_geometry",
    "is_sheared",
    "nifti_header",
    "qform_sform_disagree",
    "read_nifti",
    "snap_near_integers",
    "write_nifti",
]

_GZIP_MAGIC = b"\x1f\x8b"
_UNIT_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}


def _nibabel() -> ModuleType:
    try:
        return importlib.import_module("nibabel")
    except ImportError as exc:
        raise MissingDependencyError("nibabel") from exc


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_channel_first(data: np.ndarray, path: Path, meta: dict[str, Any]) -> np.ndarray:
    """Apply the table of the module docstring."""
    if data.ndim == 5:
        if data.shape[3] == 1:
            data = data[:, :, :, 0, :]
        elif data.shape[4] == 1:
            data = data[..., 0]
        else:
            raise ImageReadError(
                path,
                f"5D NIfTI of shape {data.shape} is not supported; save one (X, Y, Z, C) volume per file",
            )
    if data.ndim == 2:
        return data[None]
    if data.ndim == 3:
        if data.shape[2] == 1:
            meta["squeezed_z"] = True
            return data[:, :, 0][None]
        return data[None]
    if data.ndim == 4:
        out = np.moveaxis(data, -1, 0)
        if out.shape[3] == 1:
            meta["squeezed_z"] = True
            out = out[:, :, :, 0]
        return out
    raise ImageReadError(path, f"NIfTI data of shape {data.shape} is not an image or a volume")


def _load(p: Path) -> Any:
    nib = _nibabel()
    if not p.is_file():
        raise ImageReadError(p, "the file does not exist" if not p.exists() else "this is not a file")
    try:
        if p.name.lower().endswith(".gz") and _plain_nifti_bytes(p):
            # an uncompressed NIfTI named .nii.gz (a browser that unpacked the download): read by content
            logger.info("%s is an uncompressed NIfTI despite its .gz name: read as .nii", p)
            data = p.read_bytes()
            kind = nib.Nifti2Image if data[4:7] in (b"n+2", b"ni2") else nib.Nifti1Image
            return kind.from_bytes(data)
        if p.name.lower().endswith(".nii") and _starts_with(p, _GZIP_MAGIC):
            # a gzip-compressed NIfTI named .nii (renamed, or compressed by a tool that kept the name)
            data = gzip.decompress(p.read_bytes())
            if is_nifti_header(data[:348]):
                logger.info("%s is a gzip-compressed NIfTI despite its .nii name: read as .nii.gz", p)
                kind = nib.Nifti2Image if data[4:7] in (b"n+2", b"ni2") else nib.Nifti1Image
                return kind.from_bytes(data)
        if not p.name.lower().endswith((".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz")):
            # a NIfTI by content under another name (a UID, an extension lost in a download): nibabel picks its reader
            # by the extension and refused it as "Cannot work out file type"
            gzipped = _starts_with(p, _GZIP_MAGIC)
            with gzip.open(p, "rb") if gzipped else p.open("rb") as handle:
                head = handle.read(540)
            if is_nifti_header(head) and (head[344:347] == b"n+1" or head[4:7] == b"n+2"):
                data = gzip.decompress(p.read_bytes()) if gzipped else p.read_bytes()
                logger.info("%s is a NIfTI file without a .nii/.nii.gz name: read by content", p)
                return (nib.Nifti2Image if head[4:7] == b"n+2" else nib.Nifti1Image).from_bytes(data)
        return nib.load(str(p))
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageReadError(
            p, f"not a valid NIfTI file, or its header is corrupt or truncated ({_short(exc)})"
        ) from exc


def _starts_with(p: Path, magic: bytes) -> bool:
    with p.open("rb") as handle:
        return handle.read(len(magic)) == magic


def _plain_nifti_bytes(p: Path) -> bool:
    """Whether ``p`` starts with an uncompressed single-file NIfTI-1 or NIfTI-2 header (no gzip stream)."""
    with p.open("rb") as handle:
        head = handle.read(348)
    return head[:2] != _GZIP_MAGIC and is_nifti_header(head)


def _affine_spacing(affine: np.ndarray, zooms: list[float], path: Path) -> tuple[float, ...]:
    """The voxel spacing of the affine the image is placed with (nibabel's ``img.affine``: the sform when its code
    is set, else the qform), its column lengths, so that volumes and resampling use the geometry masks are written
    with. A header whose pixdim says otherwise (a tool that rewrote the sform only) is warned about."""
    lengths = [float(np.linalg.norm(affine[:3, i])) for i in range(3)]
    if not all(math.isfinite(v) and v > 0 for v in lengths):
        return tuple(zooms)
    if not np.allclose(lengths, zooms, rtol=1e-3, atol=1e-4):
        logger.warning(
            "%s: the header's voxel sizes (pixdim %s mm) disagree with its sform affine (%s mm); the affine is what "
            "places the image (as in viewers), so its voxel sizes are used",
            path,
            " x ".join(f"{v:.4g}" for v in zooms),
            " x ".join(f"{v:.4g}" for v in lengths),
        )
    return tuple(lengths)


#: the most bytes one gzip (deflate) byte unpacks into, with a margin
_MAX_DEFLATE_RATIO = 1100


def _refuse_short_data(img: Any, path: Path, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    """Refuse a NIfTI (or Analyze pair) whose data file holds fewer bytes than its header's shape and type need (an
    interrupted copy, or a corrupt header claiming a huge volume), from the file sizes alone (a gzip-compressed one
    when even deflate's best ratio could not unpack it into them): such a file was refused as too large to decode
    ("pass a larger max_pixels") or failed deep in the read."""
    try:
        data_file = img.file_map["image"].filename
        offset = int(getattr(img.dataobj, "offset", 0))
    except (KeyError, AttributeError, TypeError, ValueError):
        return
    if not data_file:
        return
    needed = offset + math.prod(shape) * dtype.itemsize
    held = Path(data_file).stat().st_size
    compressed = str(data_file).lower().endswith(".gz") or _starts_with(Path(data_file), _GZIP_MAGIC)
    # gzip's deflate unpacks at most 1032 bytes per byte: a .nii.gz too small for its header's volume even so
    if held * (_MAX_DEFLATE_RATIO if compressed else 1) < needed:
        where = "" if Path(data_file) == path else f" (its data file {Path(data_file).name})"
        raise ImageReadError(
            path,
            f"its header says {' x '.join(map(str, shape))} voxels of {dtype} ({needed:,} bytes) but the "
            f"{'compressed ' if compressed else ''}file{where} holds {held:,} bytes"
            f"{', too few to unpack into them' if compressed else ''}: it is truncated (an interrupted copy or "
            "download) or its header is corrupt; re-copy or re-export the file",
        )


def _millimetre_affine(img: Any) -> tuple[np.ndarray, str, float]:
    """``(affine, unit, scale)``: ``img.affine`` (RAS+) in millimetres, the header's spatial unit and the factor that
    converted it (Analyze-style headers have no units: millimetres)."""
    try:
        unit = str(img.header.get_xyzt_units()[0])
    except Exception:  # Analyze-style headers have no units
        unit = "unknown"
    scale = _UNIT_TO_MM.get(unit, 1.0)
    affine = np.asarray(img.affine, dtype=np.float64).copy()
    if scale != 1.0:
        affine[:3, :] *= scale
    return affine, unit, scale


def nifti_geometry(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(affine, spatial shape)`` of a NIfTI file as :func:`read_nifti` returns them, from its header (the voxel
    data is not read).

    Raises:
        ImageReadError: as :func:`nifti_header`.
    """
    p = Path(path)
    img = _load(p)
    return _millimetre_affine(img)[0], _header_of(img, p).spatial_shape


def nifti_header(path: str | os.PathLike[str]) -> ImageHeader:
    """The shape and decoded size of a NIfTI file's voxels, from its header (the voxel data is not read).

    Raises:
        ImageReadError: not a valid NIfTI file, or an unsupported dimensionality.
    """
    p = Path(path)
    return _header_of(_load(p), p)


def _header_of(img: Any, p: Path) -> ImageHeader:
    shape = tuple(int(n) for n in img.header.get_data_shape())
    dtype = np.dtype(img.header.get_data_dtype())
    _refuse_short_data(img, p, shape, dtype)
    channels = len([n for n in dtype.names if n.upper() != "A"]) if dtype.names else 1
    view = np.broadcast_to(np.zeros((), np.uint8), (*shape, channels) if dtype.names else shape)  # no memory
    layout = _to_channel_first(view, p, {})
    slope, inter = getattr(img.dataobj, "slope", 1.0), getattr(img.dataobj, "inter", 0.0)
    scaled = slope is not None and inter is not None and (float(slope) != 1.0 or float(inter) != 0.0)
    sample_bytes = 8 if scaled else (dtype.itemsize // channels if dtype.names else dtype.itemsize)
    return ImageHeader(format="nifti", shape=tuple(layout.shape), decoded_bytes=math.prod(layout.shape) * sample_bytes)


def read_nifti(path: str | os.PathLike[str], *, reduce: int = 1) -> ImageData:
    """Read a NIfTI-1 or NIfTI-2 file (``.nii`` or ``.nii.gz``).

    Args:
        path: the NIfTI file.
        reduce: read reduced by this integer factor on each spatial axis (block means computed before the
            float32 conversion; spacing and affine follow; ``meta["reduced_by"]``, ``meta["full_shape"]``).

    Returns:
        ImageData: ``array`` ``float32`` ``(C, X, Y, Z)`` or ``(C, X, Y)`` in nibabel voxel order (see the
        module docstring), ``spacing_mm`` the affine's voxel size, ``affine`` = ``img.affine`` (RAS+ mm), and
        ``meta`` with ``format``, ``nifti_version``, ``dtype`` (on disk), ``sform_code``, ``qform_code``,
        ``intent``, ``time_axis`` (a 4D file whose header gives its 4th axis time units: ``"10 frames of 40 ms"``;
        its frames are the channels, as any 4th axis) and (read unreduced) ``nifti_geometry``
        (:func:`header_geometry`: both forms with their codes, for :func:`write_nifti`). A file whose qform and
        sform place the voxels differently is warned about once.

    Raises:
        ImageReadError: missing, corrupt or truncated file, or an unsupported dimensionality.
        MissingDependencyError: nibabel is not installed.
    """
    p = Path(path)
    img = _load(p)
    header = img.header
    try:
        raw = np.asanyarray(img.dataobj)
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageReadError(
            p, f"the voxel data is truncated or corrupt ({_short(exc)}); re-copy or re-export the file"
        ) from exc
    if raw.dtype.kind == "c":  # cast to float, the imaginary part would vanish with only numpy's warning
        raise ImageReadError(
            p,
            f"its voxels are complex numbers ({raw.dtype}, e.g. MR raw data): medimg reads real-valued images; "
            "save the magnitude (nibabel: nib.Nifti1Image(np.abs(np.asanyarray(img.dataobj)), img.affine)) or the "
            "component you mean",
        )
    meta: dict[str, Any] = {"format": "nifti", "dtype": str(header.get_data_dtype())}
    if raw.dtype.names:  # RGB24 / RGBA32 structured voxels -> trailing channel axis (alpha dropped)
        names = [n for n in raw.dtype.names if n.upper() != "A"]
        raw = np.stack([raw[n] for n in names], axis=-1)
        meta["rgb"] = True
    if reduce > 1:  # block means of the stored values: no full-size float32 copy
        full = _to_channel_first(raw, p, meta)
        meta["reduced_by"], meta["full_shape"] = reduce, [int(n) for n in full.shape]
        array = reduce_blocks(full, reduce)
    else:
        data = np.asarray(raw, dtype=np.float32)  # NaN/Inf voxels are refused by medimg.io.read_image
        snapped = snap_near_integers(data) if raw.dtype.kind == "f" else None
        if snapped is not None:
            logger.info("%s: float voxels within %g of whole numbers (0.999999...) read as whole numbers", p, NEAR)
            data, meta["snapped_to_integers"] = snapped, True
        array = _to_channel_first(data, p, meta)

    n_spatial = array.ndim - 1
    affine, unit, scale = _millimetre_affine(img)
    zooms = [float(z) * scale for z in header.get_zooms()[:3]]
    while len(zooms) < 3:
        zooms.append(1.0)
    if scale != 1.0:
        meta["units_converted_from"] = unit
    spacing = _affine_spacing(affine, zooms, p)[:n_spatial]
    reduced_spacing, reduced_affine = reduced_geometry(spacing, affine, reduce, axes=n_spatial)
    spacing, affine = reduced_spacing or spacing, reduced_affine if reduced_affine is not None else affine
    meta["nifti_version"] = 2 if "Nifti2" in type(img).__name__ else 1
    for key in ("sform_code", "qform_code", "intent_code"):
        try:
            meta[key.replace("_code", "") if key == "intent_code" else key] = int(header[key])
        except (KeyError, TypeError, ValueError):
            continue
    if raw.ndim == 4 and raw.shape[3] > 1 and not meta.get("rgb"):
        time = _time_axis(header, raw.shape[3])
        if time is not None:  # read as channels (the table above); said by whoever takes them for channels
            meta["time_axis"] = time
    if reduce == 1:  # the file's own grid: a mask predicted on it is written with the same header geometry
        geometry = header_geometry(header, scale)
        if geometry is not None:
            meta["nifti_geometry"] = geometry
            _warn_if_qform_and_sform_disagree(p, geometry)
    return ImageData(
        array=np.ascontiguousarray(array, dtype=np.float32),
        spacing_mm=spacing,
        affine=affine,
        source=str(p),
        meta=meta,
    )


#: float voxels (a label map saved as float32 by a resampling or conversion tool: 0.999999 for 1) that all lie this
#: close to whole numbers are read as those numbers (:func:`snap_near_integers`)
NEAR = 1e-4
_SNAP_CHUNK = 1 << 20


def snap_near_integers(data: np.ndarray, tolerance: float = NEAR) -> np.ndarray | None:
    """``data`` (floats) rounded to whole numbers when every value lies within ``tolerance`` of one and some do not
    equal it, else ``None`` (nothing to do). A label map stored as floats by a tool that computed it (``0.999999`` for
    class 1) is then read with the values it means: compared as stored, class 1 matched nothing (a Dice of 0 against a
    correct prediction) and the dataset's class names no longer named its values. An image holds values between
    whole numbers and is left alone (the first chunk that has one ends the check), and so is one whose values all
    round to 0 (a map in tiny units: an ADC in m^2/s)."""
    flat = data.reshape(-1)
    inexact = nonzero = False
    for start in range(0, flat.size, _SNAP_CHUNK):
        chunk = flat[start : start + _SNAP_CHUNK]
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, not near a whole number
            off = np.abs(chunk - np.rint(chunk))
        if not bool(np.all(off <= tolerance)):  # NaN fails too
            return None
        inexact = inexact or bool(np.any(off > 0))
        nonzero = nonzero or bool(np.any(np.abs(chunk) >= 0.5))
    return np.rint(data) if inexact and nonzero else None


#: a qform and an sform whose voxel-to-world matrices differ by more than this (mm, or mm per voxel) place the
#: image differently: ITK-based viewers and nibabel-based tools then show it in different places
QFORM_SFORM_TOLERANCE_MM = 1e-2


_TIME_UNITS = {"sec": "s", "msec": "ms", "usec": "us"}


def _time_axis(header: Any, frames: int) -> str | None:
    """``"10 frames of 40 ms"`` when the header's units say its 4th axis is time (``xyzt_units``: sec, msec, usec),
    else ``None``."""
    try:
        unit = str(header.get_xyzt_units()[1])
        step = float(header["pixdim"][4])
    except Exception:  # Analyze-style headers have no units
        return None
    if unit not in _TIME_UNITS:
        return None
    return f"{frames} frames" + (f" of {step:g} {_TIME_UNITS[unit]}" if step > 0 else "")


def header_geometry(header: Any, scale: float = 1.0) -> dict[str, Any] | None:
    """The qform and sform of a NIfTI ``header`` with their codes (``{"qform": 4x4 list, "qform_code": int, "sform":
    ..., "sform_code": int}``, in mm: ``scale`` converts the header's units), so that a mask written for the image
    carries both as the image has them (:func:`write_nifti`); ``None`` for a header without them (Analyze)."""
    try:
        qform, qform_code = header.get_qform(coded=True)
        sform, sform_code = header.get_sform(coded=True)
    except Exception:  # Analyze-style headers have neither
        return None

    def matrix(form: Any) -> list[list[float]] | None:
        if form is None:
            return None
        scaled = np.asarray(form, dtype=np.float64).copy()
        scaled[:3, :] *= scale
        return [[float(v) for v in row] for row in scaled]

    return {
        "qform": matrix(qform),
        "qform_code": int(qform_code or 0),
        "sform": matrix(sform),
        "sform_code": int(sform_code or 0),
    }


def qform_sform_disagree(geometry: dict[str, Any]) -> bool:
    """Whether both forms are set (code > 0) and place the voxels differently (:data:`QFORM_SFORM_TOLERANCE_MM`)."""
    qform, sform = geometry.get("qform"), geometry.get("sform")
    if not geometry.get("qform_code") or not geometry.get("sform_code") or qform is None or sform is None:
        return False
    return not np.allclose(np.asarray(qform), np.asarray(sform), atol=QFORM_SFORM_TOLERANCE_MM)


#: folders already warned about by :func:`_warn_if_qform_and_sform_disagree` (a case's channel files, a training set
#: read many times: said once per folder)
_warned_forms: set[str] = set()


def _warn_if_qform_and_sform_disagree(path: Path, geometry: dict[str, Any]) -> None:
    """Warn once per folder when a file's qform and sform place the voxels differently."""
    if not qform_sform_disagree(geometry) or str(path.parent) in _warned_forms:
        return
    _warned_forms.add(str(path.parent))
    from nibabel.orientations import aff2axcodes

    qform, sform = np.asarray(geometry["qform"]), np.asarray(geometry["sform"])
    logger.warning(
        "%s: its qform (code %d, axes %s, origin %s) and sform (code %d, axes %s, origin %s) place the voxels "
        "differently. medimg uses the sform, as nibabel and FSL do; ITK-based viewers (ITK-SNAP, 3D Slicer, "
        "SimpleITK) use the qform unless the sform code is 1, so they show the image elsewhere. Predicted masks carry "
        "both forms as the input has them, so each viewer overlays them where it shows the input; fix the header if "
        "one form is wrong (nibabel: img.set_qform(img.get_sform(), code=1)). Other such files in %s are not named",
        path,
        geometry["qform_code"],
        "".join(aff2axcodes(qform)),
        tuple(round(float(v), 2) for v in qform[:3, 3]),
        geometry["sform_code"],
        "".join(aff2axcodes(sform)),
        tuple(round(float(v), 2) for v in sform[:3, 3]),
        path.parent,
    )


def _placing_affine(geometry: dict[str, Any]) -> np.ndarray | None:
    """The affine nibabel places an image with from ``geometry``: the sform when its code is set, else the qform."""
    for form in ("sform", "qform"):
        if geometry.get(f"{form}_code") and geometry.get(form) is not None:
            return np.asarray(geometry[form], dtype=np.float64)
    return None


def is_sheared(affine: np.ndarray, tol: float = 1e-4) -> bool:
    """Whether the voxel axes of a 4x4 ``affine`` are not perpendicular to each other (a gantry-tilted CT's grid):
    such an affine cannot be stored as a NIfTI qform (a rotation and spacings)."""
    axes = np.asarray(affine, dtype=np.float64)[:3, :3]
    lengths = np.linalg.norm(axes, axis=0)
    if np.any(lengths <= 0):
        return False
    unit = axes / lengths
    return bool(np.max(np.abs(unit.T @ unit - np.eye(3))) > tol)


def write_nifti(
    image: ImageData, path: str | os.PathLike[str], *, dtype: np.dtype[Any] | type | str | None = None
) -> Path:
    """Write ``image`` as NIfTI-1 so that :func:`read_nifti` returns the same array and geometry.

    The inverse of :func:`read_nifti`: ``(1, X, Y, Z)`` -> ``(X, Y, Z)``; ``(C, X, Y, Z)`` -> ``(X, Y, Z,
    C)``; ``(1, X, Y)`` -> ``(X, Y)``, or ``(X, Y, 1)`` with ``meta["squeezed_z"]`` (read from such a file: ITK
    readers place a 2D file at z = 0 without its slice thickness); ``(C, X, Y)`` -> ``(X, Y, 1, C)``. The affine
    is ``image.affine``, else ``diag(spacing_mm, 1)``, else the identity; it is stored as sform and qform (code 1,
    scanner), units mm; a sheared affine (gantry tilt, :func:`is_sheared`), which no qform can hold, as the sform
    alone (qform code 0, with a warning). An image carrying its input's header geometry
    (``meta["nifti_geometry"]``, :func:`read_nifti`) whose affine is the one that geometry places it with (a mask
    predicted on the input's grid) is written with the input's qform and sform and their codes, as the input has
    them, even where the two disagree: ITK-based viewers (which read the qform unless the sform code is 1) and
    nibabel-based tools (the sform) then each show the mask where they show the input.

    Args:
        image: the image; ``array`` ``(C, *spatial)``.
        path: output file ending in ``.nii`` or ``.nii.gz`` (gzip-compressed); parent folders are created.
        dtype: on-disk dtype, e.g. ``np.uint8`` for label maps (values are rounded first for integer dtypes);
            default ``float32``.

    Returns:
        The written path.

    Raises:
        ConfigError: wrong suffix or array dimensionality.
        MedimgError: the file cannot be written.
        MissingDependencyError: nibabel is not installed.
    """
    nib = _nibabel()
    p = Path(path)
    name = p.name.lower()
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        raise ConfigError(f"cannot write NIfTI to {p}: the file name must end with .nii or .nii.gz")
    array = np.asarray(image.array)
    if array.ndim not in (3, 4):
        raise ConfigError(
            f"cannot write NIfTI {p}: expected a channel-first array (C, X, Y) or (C, X, Y, Z), got shape {array.shape}"
        )
    n_spatial = array.ndim - 1
    if array.shape[0] == 1:
        data = array[0]
        if n_spatial == 2 and image.meta.get("squeezed_z"):  # read from (X, Y, 1): written back so, for ITK
            data = data[:, :, None]
    else:
        data = np.moveaxis(array, 0, -1)
        if n_spatial == 2:
            data = data[:, :, None, :]
    if image.affine is not None:
        affine = np.asarray(image.affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ConfigError(f"cannot write NIfTI {p}: the affine must be 4x4, got {affine.shape}")
    else:
        affine = np.eye(4)
        if image.spacing_mm is not None:
            for i, s in enumerate(image.spacing_mm[:3]):
                affine[i, i] = float(s)
    out_dtype = np.dtype(np.float32 if dtype is None else dtype)
    if out_dtype.kind in "iub":
        info = np.iinfo(out_dtype) if out_dtype.kind != "b" else None
        rounded = np.rint(data)
        if info is not None and (rounded.min() < info.min or rounded.max() > info.max):
            raise ConfigError(
                f"cannot write NIfTI {p}: values {rounded.min()}..{rounded.max()} do not fit dtype "
                f"{out_dtype}; pass a wider dtype"
            )
        data = rounded.astype(out_dtype)
    else:
        data = data.astype(out_dtype)
    img = nib.Nifti1Image(data, affine)
    geometry = image.meta.get("nifti_geometry")
    placed = _placing_affine(geometry) if isinstance(geometry, dict) else None
    if geometry is not None and placed is not None and np.allclose(placed, affine, atol=1e-4):
        # the input's header geometry, as it has it: a viewer that reads the qform (ITK) and one that reads the
        # sform (nibabel, FSL) each overlay the mask on the input exactly where they show the input
        _set_form(img, "sform", geometry)
        _set_form(img, "qform", geometry)
    elif not (isinstance(geometry, dict) and _without_forms(img, geometry, affine)):
        # (an input with neither form, codes 0, is placed from its voxel sizes alone: ITK-based viewers read that as
        # identity axes at origin 0, nibabel as its base affine; a mask written with code-1 forms of that base
        # affine would show mirrored and shifted in ITK viewers, so it is written without forms too)
        _set_forms_from(img, affine, p)
    img.header.set_xyzt_units("mm")
    img.header.set_data_dtype(out_dtype)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        nib.save(img, str(p))
    except OSError as exc:
        raise MedimgError(f"cannot write NIfTI {p}: {exc.strerror or exc}; check the folder and free space") from exc
    return p


def _set_form(img: Any, form: str, geometry: dict[str, Any]) -> None:
    """Set ``img``'s ``form`` (``"qform"`` or ``"sform"``) and its code as ``geometry`` holds them."""
    matrix, code = geometry.get(form), int(geometry.get(f"{form}_code") or 0)
    setter = img.set_qform if form == "qform" else img.set_sform
    if matrix is None or code == 0:
        setter(None, code=0)
    else:
        setter(np.asarray(matrix, dtype=np.float64), code=code)


def _without_forms(img: Any, geometry: dict[str, Any], affine: np.ndarray) -> bool:
    """When ``geometry`` (the input's) has neither form and ``affine`` is the one such a header places ``img``'s voxels
    with (nibabel's base affine from the voxel sizes), clear ``img``'s forms (codes 0) and say ``True``: the mask is
    then placed from its voxel sizes exactly as its input is, by every reader."""
    if geometry.get("qform_code") or geometry.get("sform_code"):
        return False
    img.set_sform(None, code=0)
    img.set_qform(None, code=0)
    return bool(np.allclose(img.header.get_best_affine(), affine, atol=1e-4))


def _set_forms_from(img: Any, affine: np.ndarray, p: Path) -> None:
    """``affine`` as sform and qform (code 1, scanner); a sheared one as the sform alone (with a warning)."""
    img.set_sform(affine, code=1)
    if is_sheared(affine):
        # A qform holds only a rotation and positive spacings: nibabel would store a rotated approximation of the
        # sheared grid (a gantry-tilted CT), and viewers that prefer the qform (ITK: ITK-SNAP, 3D Slicer,
        # SimpleITK) would place the image on that rotated grid. The sform alone holds the true geometry.
        img.set_qform(None, code=0)
        logger.warning(
            "%s: the affine is sheared (a gantry-tilted series): written as the sform only (qform code 0). Tools "
            "reading the sform (nibabel, FSL, MRtrix, AFNI) place it exactly; ITK-based viewers (ITK-SNAP, "
            "3D Slicer, SimpleITK) refuse a sheared NIfTI instead of misplacing it",
            p,
        )
    else:
        img.set_qform(affine, code=1)
