"""DICOM readers (pydicom): single files, multi-frame files and folders holding one series.

Intensities:
    * The modality LUT is applied: ``value = stored * RescaleSlope + RescaleIntercept`` (CT -> Hounsfield
      units), from the top-level tags or the enhanced multi-frame functional groups (per frame when they
      differ), or a ``ModalityLUTSequence``; RT dose grids are scaled by ``DoseGridScaling`` (-> Gy).
    * ``MONOCHROME1`` (low values displayed bright, common for CR/DX X-rays), and ``MONOCHROME2`` with an
      ``INVERSE`` PresentationLUTShape, are inverted so that high = bright: ``value' = lo + hi - value`` with
      ``[lo, hi]`` the range the stored bits can hold after rescaling (the same mapping for every image of a
      scanner, not a per-image min-max). The file's window
      center is mapped the same way. Images whose values are physical units (CT and PET, or ``RescaleType ==
      "HU"``) are NOT inverted: -1000 HU is air whatever the display convention, and ``meta["inverted"]`` says
      what was done.
    * Pixels outside the scanned field of view (stored as ``PixelPaddingValue``, up to ``PixelPaddingRangeLimit``)
      take the lowest value inside it (a CT's air), not a value far below air.
    * Colour (``RGB``, ``YBR_*``, ``PALETTE COLOR``) becomes 3 RGB channels (``convert_color_space`` /
      ``apply_color_lut``).

Axes and geometry (``ImageData``):
    * a single frame -> ``(C, H, W)`` (rows, columns); a multi-frame file or a series -> ``(C, D, H, W)``.
    * ``spacing_mm``: ``(dy, dx)`` from PixelSpacing (ImagerPixelSpacing for projection X-rays), and ``dz``
      first for volumes: the distance between slices measured along the slice normal (what ITK and most
      viewers call the slice spacing; it equals SliceThickness for contiguous slices).
    * ``affine``: 4x4 voxel-index -> world matrix in **RAS+ millimetres** (the NIfTI convention; DICOM's LPS
      x and y are negated) so that it can be written with :func:`medimg.io.write_nifti` as is. Its columns
      follow the array's spatial axes: ``(slice, row, column)`` for volumes; for 2D, ``(row, column)`` and
      then the slice normal (scaled by SliceThickness) as the third column. For a gantry-tilted series the
      slice column is the true displacement between consecutive ImagePositionPatient values, so the affine is
      sheared (not orthogonal) and its slice column is longer than ``dz``.

``meta`` never holds patient identifiers (names, IDs, dates, UIDs); only acquisition facts such as
``modality``, ``photometric_interpretation``, ``window_center``/``window_width`` (first value, in output
units), the rescale used, bits stored and the transfer syntax.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from medimg.errors import ImageReadError, MissingDependencyError
from medimg.io.formats import file_suffix, has_dicom_magic, looks_like_bare_dicom, read_head
from medimg.io.image import ImageData
from medimg.io.limits import ImageHeader, reduce_blocks, reduced_geometry
from medimg.io.windowing import apply_window_to_image

logger = logging.getLogger(__name__)

#: modalities of annotation objects, not images: their series are no intensity scale of their own (an RT structure
#: set beside its CT, a SEG, a report)
ANNOTATION_MODALITIES = frozenset({"RTSTRUCT", "SEG", "SR", "RTPLAN", "RTRECORD", "KO", "PR", "REG"})

__all__ = [
    "dicom_header",
    "main_geometry",
    "non_image_object",
    "object_kind",
    "read_dicom",
    "read_dicom_series",
    "unique_instances",
]

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}
_PHYSICAL_MODALITIES = {"CT", "PT"}
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: DICOM's patient coordinates (LPS) to RAS and back (the matrix is its own inverse), homogeneous 4x4
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Relative tolerance on slice steps before a series counts as unevenly spaced.
UNEVEN_RTOL = 0.01
UNEVEN_ATOL_MM = 1e-3


# ----------------------------------------------------------------------------------------------- pydicom glue


def _pydicom() -> ModuleType:
    try:
        return importlib.import_module("pydicom")
    except ImportError as exc:
        raise MissingDependencyError("pydicom") from exc


def _pixel_utils() -> ModuleType:
    """``pydicom.pixels`` (pydicom >= 3) or ``pydicom.pixel_data_handlers.util`` (pydicom 2.x)."""
    try:
        return importlib.import_module("pydicom.pixels")
    except ImportError:
        return importlib.import_module("pydicom.pixel_data_handlers.util")


def _pydicom_major() -> int:
    try:
        return int(str(_pydicom().__version__).split(".")[0])
    except ValueError:  # pragma: no cover - odd version strings
        return 3


def _dcmread(path: Path, *, stop_before_pixels: bool = False) -> Any:
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
    except FileNotFoundError as exc:
        raise ImageReadError(path, "the file does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise ImageReadError(path, "this is a folder; use read_dicom_series for a folder of slices") from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageReadError(
            path, f"not a valid DICOM file, or its header is corrupt or truncated ({_short(exc)})"
        ) from exc
    _refuse_mosaic(ds, path)
    return ds


#: Siemens' private tag of the number of slices a MOSAIC image tiles (NumberOfImagesInMosaic)
MOSAIC_COUNT_TAG = 0x0019100A


def _refuse_mosaic(ds: Any, path: Path) -> None:
    """Raise for a Siemens MOSAIC (``ImageType`` ``...\\MOSAIC``: an fMRI or DWI volume's slices tiled in one
    picture): read as it is, it was one 2D image of a grid of slices, shrunk to a few pixels a slice, status OK."""
    raw = ds.get("ImageType")
    values = [raw] if raw is None or isinstance(raw, (str, bytes)) else list(raw)
    if "MOSAIC" not in {str(v).strip().upper() for v in values}:
        return
    element = ds.get(MOSAIC_COUNT_TAG)
    value = getattr(element, "value", None)
    if isinstance(value, bytes) and len(value) in (2, 4):  # read without its private dictionary: VR UN
        value = int.from_bytes(value, "little")
    count = _first_float(value) if not isinstance(value, bytes) else None
    slices = f"its {int(count)} slices" if count else "its slices"
    raise ImageReadError(
        path,
        f"a Siemens MOSAIC: {slices} are tiled in one picture, which medimg does not unpack; convert the series to "
        "NIfTI with dcm2niix (dcm2niix -z y -o OUT FOLDER) and give medimg the .nii.gz volumes",
    )


def _ensure_transfer_syntax(ds: Any) -> None:
    """Give a dataset read without file meta (no preamble, ACR-NEMA style) the transfer syntax it was read
    with, which pydicom needs to decode the pixel data."""
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None and "TransferSyntaxUID" in file_meta:
        return
    pydicom = _pydicom()
    encoding = getattr(ds, "original_encoding", None)
    if encoding is not None and encoding[0] is not None:
        implicit, little = encoding
    else:  # pydicom 2.x
        implicit, little = getattr(ds, "is_implicit_VR", True), getattr(ds, "is_little_endian", True)
    uid = pydicom.uid
    if implicit:
        syntax = uid.ImplicitVRLittleEndian
    else:
        syntax = uid.ExplicitVRLittleEndian if little else uid.ExplicitVRBigEndian
    if file_meta is None:
        file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta = file_meta
    file_meta.TransferSyntaxUID = syntax


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parsing_stopped_early(ds: Any, path: Path) -> bool:
    """True if pydicom stopped before the end of the file (truncated, or corrupt after the last element)."""
    try:
        size = path.stat().st_size
        tags = list(ds.keys())
        if not tags:
            return True
        raw = ds.get_item(tags[-1])
        value_tell = getattr(raw, "value_tell", None)
        length = getattr(raw, "length", None)
        if value_tell is None or length is None or length == _UNDEFINED_LENGTH:
            return False
        return bool(value_tell + length != size)
    except Exception:  # any doubt: do not claim truncation
        return False


# ------------------------------------------------------------------------------------------- tag helpers


def _functional_group_value(ds: Any, sequence: str, keyword: str, frame: int | None = None) -> Any:
    """A value from the top level, else the shared, else the (given or first) per-frame functional groups."""
    if keyword in ds and ds[keyword].value not in (None, ""):
        return ds[keyword].value
    groups: list[Any] = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        groups.append(per_frame[frame if frame is not None and frame < len(per_frame) else 0])
    for group in groups:
        seq = group.get(sequence)
        if seq and keyword in seq[0] and seq[0][keyword].value not in (None, ""):
            return seq[0][keyword].value
    return None


def _floats(value: Any, n: int | None = None) -> list[float] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") else list(value)
    try:
        out = [dicom_decimal(v) for v in items]
    except (TypeError, ValueError):
        return None
    if n is not None and len(out) != n:
        return None
    if not all(math.isfinite(v) for v in out):
        return None
    return out


def dicom_decimal(value: Any) -> float:
    """A DICOM decimal string as a number; a decimal comma (``0,50``, as some European systems write
    PixelSpacing) read as the point it means (it left the image without spacing, silently)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and "," in value and "." not in value:
        value = value.strip().replace(",", ".")
    return float(value)


def _first_float(value: Any) -> float | None:
    values = _floats(value)
    return values[0] if values else None


def _orientation(ds: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Row and column direction cosines (LPS), each a unit 3-vector, or None if absent/invalid."""
    iop = _floats(_functional_group_value(ds, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
    if iop is None:
        return None
    row, col = np.asarray(iop[:3]), np.asarray(iop[3:])
    if np.linalg.norm(row) < 1e-6 or np.linalg.norm(col) < 1e-6:
        return None
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def _position(ds: Any, frame: int | None = None) -> np.ndarray | None:
    ipp = _floats(_functional_group_value(ds, "PlanePositionSequence", "ImagePositionPatient", frame), 3)
    return None if ipp is None else np.asarray(ipp)


def _pixel_spacing(ds: Any) -> tuple[tuple[float, float] | None, str | None]:
    """``((dy, dx), source)``: row spacing then column spacing in mm, or ``(None, None)``."""
    ps = _floats(_functional_group_value(ds, "PixelMeasuresSequence", "PixelSpacing"), 2)
    if ps is not None and min(ps) > 0:
        return (ps[0], ps[1]), "PixelSpacing"
    ips = _floats(ds.get("ImagerPixelSpacing"), 2)
    if ips is not None and min(ips) > 0:
        return (ips[0], ips[1]), "ImagerPixelSpacing"
    regions = _ultrasound_region_spacing(ds)
    if regions is not None:
        return regions, "SequenceOfUltrasoundRegions"
    return None, None


#: PhysicalUnitsX/YDirection of an ultrasound region measured in centimetres
_US_UNITS_CM = 3


def _ultrasound_region_spacing(ds: Any) -> tuple[float, float] | None:
    """``(dy, dx)`` in mm from an ultrasound image's SequenceOfUltrasoundRegions (where scanners put the pixel
    size instead of PixelSpacing): its regions measured in cm on both axes (a B-mode image, not a Doppler
    spectrum's seconds and cm/s), when they agree; else ``None``."""
    found: set[tuple[float, float]] = set()
    for region in ds.get("SequenceOfUltrasoundRegions") or []:
        try:
            units = (int(region.get("PhysicalUnitsXDirection")), int(region.get("PhysicalUnitsYDirection")))
            dx, dy = abs(float(region.get("PhysicalDeltaX"))), abs(float(region.get("PhysicalDeltaY")))
        except (TypeError, ValueError):
            continue
        if units == (_US_UNITS_CM, _US_UNITS_CM) and dx > 0 and dy > 0 and math.isfinite(dx + dy):
            found.add((round(dy * 10.0, 6), round(dx * 10.0, 6)))
    return next(iter(found)) if len(found) == 1 else None


def _slice_thickness(ds: Any) -> float | None:
    value = _first_float(_functional_group_value(ds, "PixelMeasuresSequence", "SliceThickness"))
    return value if value is not None and value > 0 else None


def _affine_ras(columns: list[np.ndarray], origin: np.ndarray) -> np.ndarray:
    affine = np.eye(4)
    for i, col in enumerate(columns):
        affine[:3, i] = col
    affine[:3, 3] = origin
    return LPS_TO_RAS @ affine


# ------------------------------------------------------------------------------------------- pixel values


def _rescale_params(ds: Any, n_frames: int) -> tuple[np.ndarray, np.ndarray, str | None] | None:
    """Per-frame ``(slopes, intercepts, rescale_type)`` or None when the file defines no rescale."""
    slope = _first_float(ds.get("RescaleSlope"))
    intercept = _first_float(ds.get("RescaleIntercept"))
    rtype = ds.get("RescaleType")
    if slope is not None or intercept is not None:
        slopes = np.full(n_frames, 1.0 if slope is None else slope)
        inters = np.full(n_frames, 0.0 if intercept is None else intercept)
        return slopes, inters, str(rtype) if rtype else None
    if "SharedFunctionalGroupsSequence" not in ds and "PerFrameFunctionalGroupsSequence" not in ds:
        return None
    slopes, inters = np.ones(n_frames), np.zeros(n_frames)
    found = False
    for f in range(n_frames):
        s = _first_float(_functional_group_value(ds, "PixelValueTransformationSequence", "RescaleSlope", f))
        i = _first_float(_functional_group_value(ds, "PixelValueTransformationSequence", "RescaleIntercept", f))
        if s is not None or i is not None:
            found = True
            slopes[f] = 1.0 if s is None else s
            inters[f] = 0.0 if i is None else i
    if not found:
        return None
    rtype = _functional_group_value(ds, "PixelValueTransformationSequence", "RescaleType")
    return slopes, inters, str(rtype) if rtype else None


def _decode(ds: Any, path: Path) -> np.ndarray:
    try:
        return np.asarray(ds.pixel_array)
    except MemoryError:
        raise
    except Exception as exc:
        message = _short(exc)
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        syntax_name = getattr(syntax, "name", str(syntax)) if syntax is not None else "unknown"
        pixels = next((ds[tag] for tag in _PIXEL_TAGS if tag in ds), None)
        allocated = _first_float(ds.get("BitsAllocated"))
        if pixels is not None and pixels.is_empty:
            reason = "its Pixel Data element is empty (0 bytes): the file holds no image; re-copy or re-export it"
        elif allocated is not None and allocated != 1 and allocated % 8:  # 12-bit packed pixels (ACR-NEMA era)
            reason = (
                f"its pixels are packed in {int(allocated)}-bit words (Bits Allocated {int(allocated)}, an old "
                "ACR-NEMA layout) that pydicom cannot decode; convert the file to 16-bit words with a tool that "
                "unpacks them, e.g. GDCM's `gdcmconv --raw FILE OUT.dcm`, and read OUT.dcm"
            )
        elif "missing required element" in message.lower():
            reason = (
                f"its header lacks an element the pixels need to be decoded ({message}): an exporter or anonymiser "
                "stripped the image pixel module; re-export the file with it"
            )
        elif "missing" in message.lower() and ("plugin" in message.lower() or "depend" in message.lower()):
            gdcm = "" if _has_gdcm() or "HTJ2K" in _syntax_kind(syntax_name) else "pip install python-gdcm, or "
            reason = (
                f"its pixel data is compressed ({syntax_name}) and no installed decoder handles it; install "
                f"one: {gdcm}{_decoder_hint(syntax_name)}"
            )
        elif "is not supported" in message.lower() and syntax is not None:  # a syntax pydicom has no decoder for
            reason = (
                f"its pixel data is in a transfer syntax this pydicom cannot decode ({syntax_name}); re-export the "
                "file uncompressed (Explicit VR Little Endian) from the PACS or scanner, or convert it with a tool "
                "that reads this syntax"
            )
        elif "does not support" in message.lower():  # e.g. 12-bit lossy JPEG Extended: neither GDCM nor Pillow
            reason = (
                f"its pixel data is compressed ({syntax_name}) in a form the installed decoders do not support "
                f"({message}); {_decoder_hint(syntax_name)} decodes it"
            )
        elif "less than expected" in message or "truncat" in message.lower() or "length" in message.lower():
            reason = f"the pixel data is truncated or corrupt ({message}); re-copy or re-export the file"
        else:
            reason = f"the pixel data cannot be decoded ({message}; transfer syntax {syntax_name})"
        raise ImageReadError(path, reason) from exc


def _has_gdcm() -> bool:
    try:
        importlib.import_module("gdcm")
    except ImportError:
        return False
    return True


def _syntax_kind(syntax_name: str) -> str:
    """``HTJ2K`` for High-Throughput JPEG 2000 (which GDCM does not decode), else the upper-case name."""
    name = syntax_name.upper()
    return "HTJ2K" if "HIGH-THROUGHPUT" in name or "HTJ2K" in name else name


def _decoder_hint(syntax_name: str) -> str:
    """The pip command installing the pylibjpeg plugin that decodes this transfer syntax."""
    name = _syntax_kind(syntax_name)
    if "2000" in name or "HTJ2K" in name:
        return "pip install pylibjpeg pylibjpeg-openjpeg"
    if "JPEG" in name:
        return "pip install pylibjpeg pylibjpeg-libjpeg"
    if "RLE" in name:
        return "pip install pylibjpeg pylibjpeg-rle"
    return "pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg"


def _stored_range(ds: Any) -> tuple[float, float]:
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return float(-(1 << (bits - 1))), float((1 << (bits - 1)) - 1)
    return 0.0, float((1 << bits) - 1)


def _is_colour(ds: Any) -> bool:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = int(ds.get("SamplesPerPixel") or 1)
    return photometric in ("RGB", "PALETTE COLOR") or photometric.startswith("YBR") or samples == 3


def _palette_is_16_bit(ds: Any) -> bool:
    """Whether a PALETTE COLOR image's lookup tables hold 16-bit entries (0..65535, the usual case), so that the
    colours it gives are on a scale 257 times that of 8-bit RGB. A table declared 16-bit whose entries all fit in
    8 bits (an old exporter's quirk) counts as 8-bit."""
    descriptor = ds.get("RedPaletteColorLookupTableDescriptor")
    try:
        bits = int(descriptor[2])
    except (TypeError, ValueError, IndexError):
        return False
    if bits != 16:
        return False
    tables = [ds.get(f"{c}PaletteColorLookupTableData") for c in ("Red", "Green", "Blue")]
    if all(isinstance(t, bytes) and len(t) >= 2 for t in tables):
        entries = [np.frombuffer(t[: len(t) // 2 * 2], dtype="<u2") for t in tables if isinstance(t, bytes)]
        return max(int(e.max()) for e in entries) > 255
    return True  # segmented tables: 16-bit as declared


def non_image_object(path: str | os.PathLike[str]) -> str | None:
    """What a DICOM file that holds no image is (``"a Basic Text SR Storage object"``: a structured report,
    presentation state, key-object selection, RT structure set, SEG...), or ``None`` for an image, a file that is
    not DICOM, one whose header cannot be read (its reader then says why) or without pydicom.

    A file counts when its modality is an annotation one (:data:`ANNOTATION_MODALITIES`),
    or when it has no Rows/Columns and its SOP class is known and no image storage one. Only the header up to the
    image pixel module is parsed (the values of other elements are skipped), so it is cheap on large images."""
    return object_kind(path)[0]


def object_kind(path: str | os.PathLike[str]) -> tuple[str | None, bool]:
    """What a DICOM file that holds no image is (:func:`non_image_object`), and whether it is a secondary capture
    (SOP class "... Secondary Capture Image Storage": a screenshot of a viewer, a scanned or rendered page, not an
    acquisition of the modality); ``(None, False)`` for a file that is not DICOM or cannot be read."""
    try:
        from pydicom.filereader import read_partial
    except ImportError:
        return None, False
    wanted = [0x00080016, 0x00080060, 0x00280010, 0x00280011]  # SOP Class UID, Modality, Rows, Columns
    try:
        with open(path, "rb") as fh:
            part10 = fh.read(132)[128:132] == b"DICM"
            fh.seek(0)
            if not part10 and not looks_like_bare_dicom(fh.read(16)):  # a PNG or JPEG export without suffix
                return None, False
            fh.seek(0)
            ds = read_partial(
                fh, stop_when=lambda tag, vr, length: tag > 0x00280011, force=not part10, specific_tags=wanted
            )
    except Exception:  # any parse failure: the reader reports the file
        return None, False
    sop = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
    modality = str(ds.get("Modality") or "").strip().upper()
    name = str(getattr(sop, "name", "") or "")
    known = bool(name) and name != str(sop)
    if modality in ANNOTATION_MODALITIES:
        return f"a {name or modality} object", False
    if "Rows" in ds or "Columns" in ds or not known or "Image" in name:
        return None, "Secondary Capture" in name
    return f"a {name} object", False


def dicom_header(path: str | os.PathLike[str]) -> ImageHeader:
    """The shape and decoded size of a DICOM file's pixels, from its header (the pixel data is not read).

    Raises:
        ImageReadError: not a DICOM file, or its header is corrupt.
    """
    p = Path(path)
    ds = _dcmread(p, stop_before_pixels=True)
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(_first_float(ds.get("NumberOfFrames")) or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    stored = max(1, math.ceil(int(ds.get("BitsAllocated") or 16) / 8))
    palette = str(ds.get("PhotometricInterpretation", "")).strip().upper() == "PALETTE COLOR"
    spatial = (frames, rows, columns) if frames > 1 else (rows, columns)
    channels = 3 if _is_colour(ds) else 1
    decoded = math.prod(spatial) * (samples * stored + (3 * 2 if palette else 0))  # + the 16-bit colour LUT
    return ImageHeader(format="dicom", shape=(channels, *spatial), decoded_bytes=decoded)


def _padding_pixels(ds: Any, stored: np.ndarray) -> np.ndarray | None:
    """Where the stored values are the file's ``PixelPaddingValue`` (up to ``PixelPaddingRangeLimit``): the pixels
    outside the scanned field of view (a CT's corners around its circle, stored as -2000 or -3024), or ``None`` when
    the file names no padding, or none or every pixel is. Left as values they were tissue far below air: they
    stretched the intensity range the data's plan normalises by (clip -3024 HU instead of -1000), and images of
    one scanner looked alike to the near-duplicate check for their shared frame."""
    value = _first_float(ds.get("PixelPaddingValue"))
    if value is None or stored.dtype.kind not in "iu":
        return None
    limit = _first_float(ds.get("PixelPaddingRangeLimit"))
    bits = 8 * stored.dtype.itemsize

    def as_stored(tag_value: float) -> float:  # the tag read with the other sign than the pixels (US or SS VR)
        if stored.dtype.kind == "i" and tag_value >= 2 ** (bits - 1):
            return tag_value - 2**bits
        if stored.dtype.kind == "u" and tag_value < 0:
            return tag_value + 2**bits
        return tag_value

    low, high = sorted((as_stored(value), as_stored(value if limit is None else limit)))
    padded = (stored >= low) & (stored <= high)
    return padded if padded.any() and not padded.all() else None


def _dataset_to_array(
    ds: Any, path: Path, reduce: int = 1, frame_order: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the pixels of one dataset to ``(array (C, H, W) or (C, F, H, W) float32, meta)``, reduced by
    ``reduce`` on each spatial axis (block means, before the float64 rescaling where that is linear); the frames
    of a multi-frame file are put in ``frame_order`` (file frame indices) first."""
    if not any(tag in ds for tag in _PIXEL_TAGS):
        sop = ds.get("SOPClassUID")
        kind = str(getattr(sop, "name", None) or ds.get("Modality") or "")
        if _parsing_stopped_early(ds, path):
            reason = "the file is truncated or corrupt: its data ends early and there is no pixel data"
        elif "Rows" in ds or "Columns" in ds or "Image Storage" in kind:
            reason = (  # cut just before its pixels, or written without them (a header-only export)
                "it describes an image (Rows/Columns) but holds no pixel data: the file was truncated before it or "
                "exported without it"
            )
        else:
            what = f"a {kind} object" if kind else "not an image object"
            reason = f"the DICOM file holds no pixel data ({what}); only DICOM images can be read"
            raise ImageReadError(path, reason + "; skip this file")
        raise ImageReadError(path, reason + "; re-copy or re-export it")
    utils = _pixel_utils()
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    modality = str(ds.get("Modality", "") or "").upper()
    n_frames = int(_first_float(ds.get("NumberOfFrames")) or 1)
    arr = _decode(ds, path)
    if frame_order is not None and n_frames > 1 and arr.shape[0] == n_frames:
        arr = arr[frame_order]
    meta: dict[str, Any] = {
        "format": "dicom",
        "modality": modality or None,
        "photometric_interpretation": photometric,
        "bits_stored": int(ds.get("BitsStored") or ds.get("BitsAllocated") or 0) or None,
        "n_frames": n_frames,
        "rescale_applied": False,
    }
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        meta["transfer_syntax"] = getattr(syntax, "name", str(syntax))

    if reduce > 1:
        meta["reduced_by"] = reduce
    if _is_colour(ds):
        if photometric == "PALETTE COLOR":
            arr = np.asarray(utils.apply_color_lut(arr, ds))
            if _palette_is_16_bit(ds):  # 0..65535 entries: to the 0..255 of every other colour image
                arr = arr.astype(np.float64) * (255.0 / 65535.0)
                meta["palette_scaled_to_8_bit"] = True
        elif photometric in ("YBR_FULL", "YBR_FULL_422") and _pydicom_major() < 3:
            # pydicom 3 already returns RGB; pydicom 2 leaves uncompressed YBR data as YCbCr.
            arr = np.asarray(utils.convert_color_space(arr, photometric, "RGB"))
        meta["inverted"] = False
        if arr.ndim == 3 and n_frames == 1:  # (H, W, 3) -> (3, H, W)
            out = np.moveaxis(arr, -1, 0)
        else:  # (F, H, W, 3) -> (3, F, H, W)
            out = np.moveaxis(arr.reshape(n_frames, *arr.shape[-3:]), -1, 0)
        if reduce > 1:
            meta["full_shape"] = [int(n) for n in out.shape]
        return np.ascontiguousarray(reduce_blocks(out, reduce), dtype=np.float32), meta

    # Reduce the stored values first when every later step is linear and the same for every pixel (one frame,
    # no lookup table); otherwise reduce the final values.
    padded = _padding_pixels(ds, arr)
    early = reduce > 1 and n_frames == 1 and arr.ndim == 2 and "ModalityLUTSequence" not in ds and padded is None
    if reduce > 1:
        meta["full_shape"] = [1, *(int(n) for n in arr.shape[-3 if n_frames > 1 else -2 :])]
    values = (reduce_blocks(arr, reduce, axes=(0, 1)) if early else arr).astype(np.float64)
    if n_frames > 1 and values.ndim == 2:
        values = values[None]
    if n_frames == 1 and values.ndim == 3:  # pydicom keeps a frame axis for NumberOfFrames == 1 in rare cases
        values = values[0]
    lo, hi = _stored_range(ds)
    rescale = _rescale_params(ds, n_frames)
    if rescale is not None and np.any(rescale[0] == 0):  # an exporter's blanked DS: every pixel the intercept
        logger.warning(
            "%s: RescaleSlope is 0, which would make every pixel %g (a blank image); read with slope 1. Re-export "
            "the file with its true RescaleSlope",
            path,
            float(rescale[1][0]),
        )
        rescale = (np.where(rescale[0] == 0, 1.0, rescale[0]), rescale[1], rescale[2])
        meta["rescale_slope_zero"] = True
    if rescale is not None and frame_order is not None and n_frames > 1:
        rescale = (rescale[0][frame_order], rescale[1][frame_order], rescale[2])
    rescale_type: str | None = None
    if rescale is not None:
        slopes, inters, rescale_type = rescale
        if n_frames > 1:
            values = values * slopes[:, None, None] + inters[:, None, None]
        else:
            values = values * slopes[0] + inters[0]
        meta["rescale_applied"] = bool(np.any(slopes != 1.0) or np.any(inters != 0.0))
        meta["rescale_slope"] = float(slopes[0])
        meta["rescale_intercept"] = float(inters[0])
        if rescale_type:
            meta["rescale_type"] = rescale_type
        lo, hi = sorted((lo * slopes[0] + inters[0], hi * slopes[0] + inters[0]))
    elif "ModalityLUTSequence" in ds:
        values = np.asarray(utils.apply_modality_lut(arr, ds), dtype=np.float64)
        meta["rescale_applied"] = True
        lo, hi = float(values.min()), float(values.max())
    dose_scaling = _first_float(ds.get("DoseGridScaling")) if modality == "RTDOSE" else None
    if dose_scaling is not None and rescale is None:
        values = values * dose_scaling
        meta["rescale_applied"] = True
        meta["dose_grid_scaling"] = dose_scaling
        meta["units"] = str(ds.get("DoseUnits") or "GY")

    padding = _first_float(ds.get("PixelPaddingValue"))
    if padding is not None and rescale is not None:
        padding = padding * float(rescale[0][0]) + float(rescale[1][0])
    if padded is not None and padded.shape == values.shape:  # outside the field of view: the lowest value inside
        values[padded] = float(values[~padded].min())
        meta["padding_pixels_filled"] = int(padded.sum())
    center = _first_float(_functional_group_value(ds, "FrameVOILUTSequence", "WindowCenter"))
    width = _first_float(_functional_group_value(ds, "FrameVOILUTSequence", "WindowWidth"))
    physical = modality in _PHYSICAL_MODALITIES or (rescale_type or "").upper() == "HU"
    if modality == "CT" and rescale is None and "ModalityLUTSequence" not in ds:
        meta["rescale_missing"] = True  # no claim of HU: the caller warns, naming the file
    elif modality == "CT" or (rescale_type or "").upper() == "HU":
        meta["units"] = "HU"
    meta["inverted"] = False
    # MONOCHROME2 with an INVERSE Presentation LUT (some CR/DX/MG exports) is displayed inverted, as MONOCHROME1 is
    # (MONOCHROME1 with INVERSE, the DX module's rule, is one inversion, not two)
    inverse_lut = str(ds.get("PresentationLUTShape") or "").strip().upper() == "INVERSE"
    if photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and inverse_lut):
        if inverse_lut and photometric == "MONOCHROME2":
            meta["presentation_lut_shape"] = "INVERSE"
        if physical:
            logger.info(
                "%s: %s %s image left as is: its values are physical units (%s)",
                path,
                photometric if photometric == "MONOCHROME1" else "INVERSE-LUT",
                modality,
                rescale_type or "HU",
            )
        else:
            values = (lo + hi) - values
            meta["inverted"] = True
            if center is not None:
                center = (lo + hi) - center
            if padding is not None:
                padding = (lo + hi) - padding
    if padding is not None:
        meta["pixel_padding_value"] = padding  # marks pixels outside the scanned field of view
    meta["window_center"] = center
    meta["window_width"] = width if width is not None and width > 0 else None
    if meta["window_width"] is None:
        meta["window_center"] = None
    if reduce > 1 and not early:
        return np.ascontiguousarray(reduce_blocks(values[None], reduce), dtype=np.float32), meta
    return np.ascontiguousarray(values[None], dtype=np.float32), meta


# ------------------------------------------------------------------------------------------- slice stacks

#: slices (or frames) closer than this along the normal share a position (mm)
SHARED_POSITION_MM = 1e-3


def uneven_spacing(positions: Sequence[float] | np.ndarray) -> str | None:
    """What is uneven about slices at ``positions`` (mm along the slice normal, any order), or ``None`` when they
    step evenly (within :data:`UNEVEN_RTOL` / :data:`UNEVEN_ATOL_MM` of the median step).

    A step of about 2, 3... times the median step is named as a gap, with the slices around it (numbered from 1 in
    position order) and how many slices are missing there (a slice lost in a PACS transfer, a deleted duplicate);
    other steps are described by their range (a protocol that changes slice distance part way).
    """
    proj = np.sort(np.asarray(positions, dtype=np.float64))
    steps = np.diff(proj)
    if steps.size == 0:
        return None
    dz = float(np.median(steps))
    if dz <= 0 or np.allclose(steps, dz, rtol=UNEVEN_RTOL, atol=UNEVEN_ATOL_MM):
        return None
    ratio = steps / dz
    is_gap = (ratio > 1.5) & (np.abs(ratio - np.round(ratio)) < 0.15)
    odd = ~is_gap & ~np.isclose(steps, dz, rtol=UNEVEN_RTOL, atol=UNEVEN_ATOL_MM)
    parts = []
    gaps = np.flatnonzero(is_gap)
    if gaps.size:
        named = "; ".join(
            f"{steps[i]:.3g} mm between slices {i + 1} and {i + 2} (at {proj[i]:.4g} and {proj[i + 1]:.4g} mm)"
            for i in gaps[:3]
        )
        missing = int(sum(round(float(ratio[i])) - 1 for i in gaps))
        parts.append(
            f"{'a gap' if gaps.size == 1 else f'{gaps.size} gaps'} of {named}{', ...' if gaps.size > 3 else ''} "
            f"where the slices step {dz:.3g} mm: {missing} slice(s) missing"
        )
    if np.any(odd):
        parts.append(f"slice steps of {steps[odd].min():.3g}..{steps[odd].max():.3g} mm besides the median {dz:.3g} mm")
    return "; ".join(parts)


def _refuse_shared_positions(where: Path, proj: np.ndarray, items: str, split: str) -> None:
    """Raise when slices (or frames) at sorted positions ``proj`` repeat a position: several acquisitions
    (echoes, phases, time points) stacked as one volume would be read as a volume twice as tall."""
    same = np.diff(proj) < SHARED_POSITION_MM
    if not np.any(same):
        return
    shared = np.zeros(len(proj), dtype=bool)
    shared[:-1] |= same
    shared[1:] |= same
    distinct = int(len(proj) - np.sum(same))
    raise ImageReadError(
        where,
        f"{int(shared.sum())} {items} share a position ({len(proj)} {items} at {distinct} positions): the series "
        f"mixes several acquisitions (echoes, phases or time points). {split}",
    )


def _stack_step(pos: np.ndarray, proj: np.ndarray, normal: np.ndarray) -> tuple[float, np.ndarray, float]:
    """``(dz, step, tilt)`` of slices at sorted positions ``pos`` (LPS, ``proj`` along ``normal``): the median
    distance along the normal, the displacement from one slice to the next on a uniform grid with that distance
    (along the line through the first and last slices: sheared for gantry tilt) and the tilt in degrees."""
    dz = float(np.median(np.diff(proj)))
    direction = pos[-1] - pos[0]
    direction = direction / np.linalg.norm(direction)
    cos_tilt = float(abs(direction @ normal))
    tilt = math.degrees(math.acos(min(1.0, cos_tilt)))
    return dz, direction * dz / cos_tilt, tilt


@dataclass(frozen=True)
class _FrameStack:
    """The frames of a multi-frame file in position order: ``order`` (file frame indices), their LPS
    ``positions`` and ``proj`` (mm along the slice normal, ascending)."""

    order: np.ndarray
    positions: np.ndarray
    proj: np.ndarray
    normal: np.ndarray


def _frame_orientations(ds: Any, n_frames: int) -> int:
    """How many orientations the frames of an enhanced multi-frame file lie in (per-frame PlaneOrientationSequence,
    within :data:`GEOMETRY_ATOL`): 1 for a volume or a cine, 3 for a three-plane localizer; 1 when unknown."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if n_frames < 2 or not per_frame or "ImageOrientationPatient" in ds:
        return 1
    planes: list[np.ndarray] = []
    for f in range(min(n_frames, len(per_frame))):
        iop = _floats(_functional_group_value(ds, "PlaneOrientationSequence", "ImageOrientationPatient", f), 6)
        if iop is None:
            return 1
        cosines = np.asarray(iop)
        if not any(np.max(np.abs(cosines - plane)) <= GEOMETRY_ATOL for plane in planes):
            planes.append(cosines)
    return max(1, len(planes))


def _frame_stack(ds: Any, n_frames: int, path: Path) -> _FrameStack | None:
    """The frames of an enhanced multi-frame file sorted along the slice normal (the file may store them in any
    order), or ``None`` without per-frame positions or when every frame lies at one position (a cine of one
    slice). Raises when frames repeat positions at several places (several time points or echoes of a volume)."""
    if n_frames < 2 or "PerFrameFunctionalGroupsSequence" not in ds:
        return None
    orientation = _orientation(ds)
    positions = [_position(ds, f) for f in range(n_frames)]
    if orientation is None or any(p is None for p in positions):
        return None
    pos = np.asarray(positions, dtype=np.float64)
    normal = np.cross(*orientation)
    proj = pos @ normal
    if float(np.ptp(proj)) < SHARED_POSITION_MM:
        return None
    order = np.argsort(proj, kind="stable")
    _refuse_shared_positions(
        path,
        proj[order],
        "frames",
        "Split the file into one volume per acquisition (by TemporalPositionIndex, EchoNumbers or its "
        "DimensionIndexValues) to read it",
    )
    return _FrameStack(order=order, positions=pos[order], proj=proj[order], normal=normal)


def _warn_missing_rescale(where: Path, array: np.ndarray, files: str = "") -> None:
    """A CT image without RescaleSlope/RescaleIntercept (Type 1 in the CT Image module; a converter or anonymiser
    dropped them): its stored values are used as they are, which are HU only if the scanner stored HU."""
    low = float(np.min(array)) if array.size else 0.0
    likely = (
        f"; its values are all >= 0 (min {low:.0f}), so they are likely HU + 1024 (air would read about +24 "
        "instead of -1000) and CT windows show them wrong"
        if low >= 0
        else ""
    )
    logger.warning(
        "%s: a CT image%s without RescaleSlope/RescaleIntercept: its stored values are used as they are, not "
        "known to be Hounsfield units%s. Re-export it with its rescale tags",
        where,
        files,
        likely,
    )


# ------------------------------------------------------------------------------------------- single file


def _single_file_geometry(
    ds: Any, n_frames: int, meta: dict[str, Any], stack: _FrameStack | None = None
) -> tuple[tuple[float, ...] | None, np.ndarray | None]:
    spacing, spacing_source = _pixel_spacing(ds)
    if spacing_source == "ImagerPixelSpacing":
        meta["spacing_source"] = "ImagerPixelSpacing (at the detector, not corrected for magnification)"
    elif spacing_source == "SequenceOfUltrasoundRegions":
        meta["spacing_source"] = "SequenceOfUltrasoundRegions (PhysicalDeltaX/Y)"
    orientation = _orientation(ds)
    origin = _position(ds, 0)
    thickness = _slice_thickness(ds)
    if thickness is not None:
        meta["slice_thickness_mm"] = thickness
    if n_frames == 1:
        if spacing is None:
            return None, None
        if orientation is None or origin is None:
            return spacing, None
        row, col = orientation
        slice_normal = np.cross(row, col)
        affine = _affine_ras([col * spacing[0], row * spacing[1], slice_normal * (thickness or 1.0)], origin)
        return spacing, affine

    # Multi-frame: frame step from per-frame positions (frames sorted along the normal), GridFrameOffsetVector,
    # or spacing tags.
    dz: float | None = None
    step: np.ndarray | None = None
    normal: np.ndarray | None = np.cross(*orientation) if orientation is not None else None
    if stack is not None:
        dz, step, tilt = _stack_step(stack.positions, stack.proj, stack.normal)
        origin = stack.positions[0]
        meta["slice_positions_mm"] = [round(float(v), 4) for v in stack.proj]
        if np.any(stack.order != np.arange(n_frames)):
            meta["frame_order"] = [int(i) + 1 for i in stack.order]  # file frame numbers in position order
        if tilt > 0.01:
            meta["gantry_tilt_deg"] = round(tilt, 3)
    if dz is None:
        offsets = _floats(ds.get("GridFrameOffsetVector"))
        if offsets is not None and len(offsets) == n_frames and n_frames > 1:
            diffs = np.diff(offsets)
            if np.all(np.abs(diffs) > 1e-6):
                dz = float(np.median(np.abs(diffs)))
                if normal is not None:
                    step = normal * float(np.median(diffs))
    if dz is None:
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = _first_float(_functional_group_value(ds, "PixelMeasuresSequence", keyword))
            if value is not None and value > 0:
                dz = value
                meta["slice_spacing_source"] = keyword
                break
    if spacing is None:
        return None, None
    if dz is None:
        meta["slice_spacing_source"] = "unknown (assumed 1 mm)"
        dz = 1.0
    if orientation is None or origin is None:
        return (dz, *spacing), None
    row, col = orientation
    if step is None:
        step = np.cross(row, col) * dz
    return (dz, *spacing), _affine_ras([step, col * spacing[0], row * spacing[1]], origin)


def read_dicom(
    path: str | os.PathLike[str], window: str | tuple[float, float] | None = None, *, reduce: int = 1
) -> ImageData:
    """Read one DICOM file (single- or multi-frame).

    Args:
        path: a DICOM file (Part 10 with ``DICM`` preamble, or a bare dataset).
        window: optional window applied after reading: a name from ``WINDOW_PRESETS``, ``"auto"``/``"file"``
            (the file's WindowCenter/WindowWidth, else min-max) or ``(center, width)``; values then lie in
            0..1 and ``meta["window"] = (center, width)``.
        reduce: read reduced by this integer factor on each spatial axis (block means; spacing and affine
            follow; ``meta["reduced_by"]``, ``meta["full_shape"]``). See :mod:`medimg.io.limits`.

    Returns:
        ImageData: ``array`` ``float32`` ``(1, H, W)`` grayscale (HU for CT), ``(3, H, W)`` colour, or
        ``(C, F, H, W)`` for multi-frame files; ``spacing_mm`` ``(dy, dx)`` or ``(dz, dy, dx)``; ``affine`` in
        RAS+ mm (see the module docstring) or None without geometry tags.

    Raises:
        ImageReadError: missing, truncated or corrupt file, no pixel data, or an undecodable compression.
        MissingDependencyError: pydicom is not installed.
        ConfigError: unknown window name.
    """
    p = Path(path)
    if p.is_dir():
        raise ImageReadError(p, "this is a folder; use read_dicom_series(folder) to read a series of slices")
    ds = _dcmread(p)
    _ensure_transfer_syntax(ds)
    planes = _frame_orientations(ds, int(_first_float(ds.get("NumberOfFrames")) or 1))
    if planes > 1:  # a multi-plane localizer: frames across each other, no volume to sort them into
        stack = None
        logger.warning(
            "%s: its frames lie in %d orientations (a multi-plane localizer?): read as separate frames, without a "
            "volume's geometry",
            p,
            planes,
        )
    else:
        stack = _frame_stack(ds, int(_first_float(ds.get("NumberOfFrames")) or 1), p)
    array, meta = _dataset_to_array(ds, p, reduce, frame_order=None if stack is None else stack.order)
    n_frames = int(meta["n_frames"])
    spacing, affine = _single_file_geometry(ds, n_frames, meta, stack)
    if planes > 1:
        affine = None  # the first frame's plane is not the others'
        meta["frame_orientations"] = planes
    spacing, affine = reduced_geometry(spacing, affine, reduce, axes=array.ndim - 1)
    if meta.get("rescale_missing"):
        _warn_missing_rescale(p, array)
    if stack is not None and (uneven := uneven_spacing(stack.proj)) is not None:
        array, affine = _frames_to_uniform(array, affine, stack.proj, reduce)
        meta.update(uneven_spacing=True, resampled_to_uniform=True)
        logger.warning("%s: frames are unevenly spaced: %s; resampled to a uniform grid", p, uneven)
    elif stack is not None:
        meta["uneven_spacing"] = False
    if spacing is not None and len(spacing) != array.ndim - 1:  # pragma: no cover - defensive
        spacing = None
    image = ImageData(array=array, spacing_mm=spacing, affine=affine, source=str(p), meta=meta)
    if window is not None:
        apply_window_to_image(image, window)
    return image


# ------------------------------------------------------------------------------------------------ series


def _candidate_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    out = []
    for p in files:
        suffix = file_suffix(p)
        if suffix in _DICOM_SUFFIXES or has_dicom_magic(p):
            out.append(p)
        elif suffix == "" or suffix[1:].isdigit():
            try:
                if looks_like_bare_dicom(read_head(p, 16)):
                    out.append(p)
            except ImageReadError:
                continue
    return out


#: direction cosines of one series' slices differing by at most this much are one orientation (about 0.1 degree)
GEOMETRY_ATOL = 2e-3


def _geometry_key(ds: Any) -> tuple[Any, ...]:
    iop = _floats(ds.get("ImageOrientationPatient"), 6)
    return (tuple(round(v, 3) for v in iop) if iop else None, int(ds.get("Rows") or 0), int(ds.get("Columns") or 0))


def unique_instances(headers: Sequence[Any]) -> list[int]:
    """The indices (in order) of the headers that are not a copy of an earlier one: a second file of the same
    SOPInstanceUID (``IM0002 (1).dcm``, an export merged twice) is the same slice, not a second acquisition at its
    position. Headers without a SOPInstanceUID are all kept."""
    seen: set[str] = set()
    keep = []
    for i, ds in enumerate(headers):
        uid = str(ds.get("SOPInstanceUID") or "").strip()
        if uid and uid in seen:
            continue
        seen.add(uid)
        keep.append(i)
    return keep


def main_geometry(headers: Sequence[Any]) -> list[int]:
    """The indices (in order) of the headers of one series that share its most common geometry (orientation,
    rounded, and size): the slices of the volume, without a localizer or scout filed in the same series, which
    lies across them and would otherwise be taken for a slice (a gap of tens of mm in the slice positions)."""
    keys = [_geometry_key(ds) for ds in headers]
    if not keys:
        return []
    main_key = Counter(keys).most_common(1)[0][0]
    main_iop = np.asarray(main_key[0]) if main_key[0] is not None else None

    def same(key: tuple[Any, ...]) -> bool:
        if key[1:] != main_key[1:] or (key[0] is None) != (main_iop is None):
            return False
        # within a tolerance, not by the rounded value alone: 0.0004999 and 0.0005001 round apart
        return main_iop is None or bool(np.max(np.abs(np.asarray(key[0]) - main_iop)) <= GEOMETRY_ATOL)

    return [i for i, key in enumerate(keys) if same(key)]


def _series_summary(groups: dict[str, list[tuple[Path, Any]]]) -> str:
    parts = []
    for uid, items in groups.items():
        desc = items[0][1].get("SeriesDescription") or ""
        number = items[0][1].get("SeriesNumber")
        modality = str(items[0][1].get("Modality") or "").strip()
        label = f"series {number} " if number is not None else ""
        facts = ", ".join(
            [*([modality] if modality else []), f"{len(items)} files", *([repr(str(desc))] if desc else [])]
        )
        parts.append(f"{label}{uid!s} ({facts})")
    return "; ".join(parts)


def read_dicom_series(
    folder: str | os.PathLike[str],
    *,
    series_uid: str | None = None,
    resample_uneven: bool = True,
    window: str | tuple[float, float] | None = None,
) -> ImageData:
    """Read all slices of one DICOM series in ``folder`` into a volume.

    Files are recognised by content (``DICM`` magic) or a ``.dcm``/``.dicom``/``.ima`` suffix; other files and
    DICOM objects without pixel data (DICOMDIR, RT structures, reports) are skipped. Slices are sorted by
    ImagePositionPatient projected on the slice normal (row x column direction cosines); without positions, by
    InstanceNumber. Slices whose orientation or size differs from the majority (e.g. a localizer) are dropped
    with a warning.

    Args:
        folder: the folder holding the slices (not searched recursively).
        series_uid: which SeriesInstanceUID to read when the folder holds several series.
        resample_uneven: if the slice spacing is uneven (a missing slice, mixed slice distances), linearly
            interpolate the slices onto a uniform grid with the median spacing (``meta["resampled_to_uniform"] =
            True``), so that ``affine`` places every slice (and a mask predicted on it) where it was acquired; a
            warning names the gaps. ``False`` keeps the slices as acquired, and ``spacing_mm``/``affine`` then
            assume the median spacing, which misplaces the slices after a gap.
        window: optional window, as for :func:`read_dicom`.

    Returns:
        ImageData: ``array`` ``float32`` ``(1, D, H, W)`` in HU for CT (``(3, D, H, W)`` for colour), ordered
        by increasing position along the slice normal; ``spacing_mm`` ``(dz, dy, dx)`` with ``dz`` the median
        slice distance along the normal; ``affine`` RAS+ (sheared for gantry tilt). ``meta`` adds
        ``n_slices``, ``slice_positions_mm`` (along the normal, of the array's slices), ``uneven_spacing``
        (True/False, about the acquired slices; when True also ``acquired_slice_positions_mm``),
        ``gantry_tilt_deg`` when the slices are tilted, and ``slice_thickness_mm``.

    Raises:
        ImageReadError: no DICOM images in the folder, several series without ``series_uid``, slices sharing a
            position (several acquisitions mixed), or an unreadable slice (the message names the file).
    """
    root = Path(folder)
    if not root.is_dir():
        raise ImageReadError(root, "read_dicom_series needs a folder of DICOM slices; use read_dicom for a file")
    headers: list[tuple[Path, Any]] = []
    skipped = 0
    for p in _candidate_files(root):
        try:
            ds = _pydicom().dcmread(p, force=True, stop_before_pixels=True)
        except MissingDependencyError:
            raise
        except Exception as exc:
            if file_suffix(p) in _DICOM_SUFFIXES or has_dicom_magic(p):
                raise ImageReadError(p, f"the DICOM header cannot be read ({_short(exc)})") from exc
            skipped += 1
            continue
        if "Rows" not in ds or "Columns" not in ds:
            skipped += 1  # no image (DICOMDIR, RTSTRUCT, SR...) or not DICOM at all
            continue
        if str(ds.get("Modality") or "").strip().upper() in ANNOTATION_MODALITIES:
            skipped += 1  # a SEG (its frames are masks) beside the images it annotates: no second series
            continue
        headers.append((p, ds))
    if not headers:
        raise ImageReadError(
            root,
            "no DICOM image files in this folder (files are recognised by a DICM header or a .dcm suffix)",
        )

    groups: dict[str, list[tuple[Path, Any]]] = {}
    for p, ds in headers:
        groups.setdefault(str(ds.get("SeriesInstanceUID", "") or ""), []).append((p, ds))
    if series_uid is not None:
        if series_uid not in groups:
            raise ImageReadError(
                root, f"no series with SeriesInstanceUID {series_uid!r}; found: {_series_summary(groups)}"
            )
        items = groups[series_uid]
    elif len(groups) > 1:
        raise ImageReadError(
            root,
            f"the folder holds {len(groups)} series: {_series_summary(groups)}. Pass series_uid=... or put "
            "each series in its own folder",
        )
    else:
        items = next(iter(groups.values()))

    unique = [items[i] for i in unique_instances([ds for _, ds in items])]
    if len(unique) < len(items):
        copy = next(p for p, _ in items if all(p != q for q, _ in unique))
        logger.warning(
            "%s: left out %d file(s) that repeat another file's SOPInstanceUID (copies of one slice, e.g. %s)",
            root,
            len(items) - len(unique),
            copy.name,
        )
        items = unique

    if len(items) == 1:  # a multi-frame volume, or one image: a radiograph in its own series folder (SIIM-FISABIO-
        return read_dicom(items[0][0], window=window)  # RSNA's study/series/image.dcm) is 2D, not a volume of one slice

    kept = [items[i] for i in main_geometry([ds for _, ds in items])]
    dropped = len(items) - len(kept)
    if dropped:
        logger.warning(
            "%s: dropped %d slice(s) whose orientation or size differs from the other %d (localizer?)",
            root,
            dropped,
            len(kept),
        )

    meta: dict[str, Any] = {}
    orientation = _orientation(kept[0][1])
    positions = [_position(ds) for _, ds in kept]
    have_geometry = orientation is not None and all(pos is not None for pos in positions)
    normal = np.cross(*orientation) if orientation is not None else None
    if have_geometry and normal is not None:
        pos = np.asarray(positions, dtype=np.float64)
        proj = pos @ normal
        order = np.argsort(proj, kind="stable")
        pos, proj = pos[order], proj[order]
        kept = [kept[i] for i in order]
        _refuse_shared_positions(
            root, proj, "slices", "Split it by EchoNumbers / TemporalPositionIdentifier into separate folders"
        )
        meta["geometry_source"] = "ImagePositionPatient"
    else:

        def instance(item: tuple[Path, Any]) -> tuple[float, str]:
            number = _first_float(item[1].get("InstanceNumber"))
            return (number if number is not None else math.inf, item[0].name)

        kept = sorted(kept, key=instance)
        pos = np.zeros((len(kept), 3))
        proj = np.zeros(len(kept))
        meta["geometry_source"] = "InstanceNumber (no ImagePositionPatient/ImageOrientationPatient)"
        logger.warning("%s: slices have no position tags; sorted by InstanceNumber", root)

    # Decode every slice.
    slices: list[np.ndarray] = []
    first_meta: dict[str, Any] = {}
    missing_rescale: list[str] = []
    for i, (p, _) in enumerate(kept):
        ds = _dcmread(p)
        _ensure_transfer_syntax(ds)
        arr, slice_meta = _dataset_to_array(ds, p)
        if arr.ndim != 3:
            raise ImageReadError(p, "a multi-frame file inside a series of single slices is not supported")
        if slices and arr.shape != slices[0].shape:
            raise ImageReadError(p, f"slice shape {arr.shape[1:]} differs from {slices[0].shape[1:]}")
        if i == 0:
            first_meta = slice_meta
        if slice_meta.get("rescale_missing"):
            missing_rescale.append(p.name)
        slices.append(arr)
    volume = np.stack(slices, axis=1)  # (C, D, H, W)
    if missing_rescale:
        named = f" series ({len(missing_rescale)} of {len(kept)} slices, e.g. {missing_rescale[0]})"
        _warn_missing_rescale(root, volume, named)

    first_ds = kept[0][1]
    pixel_spacing, _ = _pixel_spacing(first_ds)
    thickness = _slice_thickness(first_ds)
    n = len(kept)
    dz: float | None = None
    uneven = False
    step_vec: np.ndarray | None = None
    if have_geometry and normal is not None and n > 1:
        dz, step_vec, tilt = _stack_step(pos, proj, normal)
        if tilt > 0.01:
            meta["gantry_tilt_deg"] = round(tilt, 3)
            logger.info("%s: slices are tilted by %.2f degrees (gantry tilt); the affine is sheared", root, tilt)
        uneven_reason = uneven_spacing(proj)
        uneven = uneven_reason is not None
        if uneven:
            meta["acquired_slice_positions_mm"] = [round(float(v), 4) for v in proj]
            logger.warning(
                "%s: uneven slice spacing: %s; %s",
                root,
                uneven_reason,
                f"resampled to a uniform {dz:.3g} mm grid (the affine and any mask follow that grid)"
                if resample_uneven
                else f"the slices are kept as acquired, but spacing and affine assume a uniform {dz:.3g} mm",
            )
            if resample_uneven:
                volume, proj = _resample_uniform(volume, proj, dz)
                meta["resampled_to_uniform"] = True
    else:
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = _first_float(first_ds.get(keyword))
            if value is not None and value > 0:
                dz = value
                meta["slice_spacing_source"] = keyword
                break
        if dz is None:
            dz = 1.0
            meta["slice_spacing_source"] = "unknown (assumed 1 mm)"

    meta.update(first_meta)
    meta.update(
        {
            "n_slices": int(volume.shape[1]),
            "n_files": n,
            "uneven_spacing": bool(uneven),
            "slice_positions_mm": [round(float(v), 4) for v in proj] if have_geometry else None,
        }
    )
    meta.pop("n_frames", None)
    if dropped:
        meta["dropped_slices"] = dropped
    if skipped:
        meta["skipped_files"] = skipped
    if thickness is not None:
        meta["slice_thickness_mm"] = thickness
    spacing = (float(dz), *pixel_spacing) if pixel_spacing is not None and dz is not None else None
    affine = None
    if have_geometry and orientation is not None and pixel_spacing is not None:
        row, col = orientation
        if step_vec is None:
            step_vec = np.cross(row, col) * (dz or 1.0)
        affine = _affine_ras([step_vec, col * pixel_spacing[0], row * pixel_spacing[1]], pos[0])
    image = ImageData(array=volume, spacing_mm=spacing, affine=affine, source=str(root), meta=meta)
    if window is not None:
        apply_window_to_image(image, window)
    return image


def _frames_to_uniform(
    array: np.ndarray, affine: np.ndarray | None, proj: np.ndarray, reduce: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Frames ``(C, F', H, W)`` (read reduced by ``reduce``: each a block mean of ``reduce`` frames) at sorted
    full-resolution positions ``proj`` interpolated onto a uniform grid with the median step, and the affine of
    that grid (``affine``'s slice column already spans ``reduce`` median steps)."""
    starts = np.arange(0, len(proj), max(1, reduce))
    positions = np.add.reduceat(proj, starts) / (np.minimum(starts + reduce, len(proj)) - starts)
    dz = float(np.median(np.diff(proj))) * max(1, reduce)
    volume, _ = _resample_uniform(array, positions, dz)
    if affine is None:
        return volume, None
    affine = affine.copy()
    # the first reduced frame sits at the mean of its block's positions, not where a uniform block would put it
    uniform_first = proj[0] + (reduce - 1) / 2 * dz / max(1, reduce)
    affine[:3, 3] += affine[:3, 0] / dz * (positions[0] - uniform_first)
    return volume, affine


def _resample_uniform(volume: np.ndarray, positions: np.ndarray, dz: float) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate ``(C, D, H, W)`` slices at sorted ``positions`` onto a grid with step ``dz``."""
    n_out = math.floor((positions[-1] - positions[0]) / dz + 1e-6) + 1
    targets = positions[0] + dz * np.arange(n_out)
    upper = np.clip(np.searchsorted(positions, targets, side="right"), 1, len(positions) - 1)
    lower = upper - 1
    span = positions[upper] - positions[lower]
    weight = np.clip((targets - positions[lower]) / span, 0.0, 1.0).astype(np.float32)
    w = weight[None, :, None, None]
    out = volume[:, lower] * (1.0 - w) + volume[:, upper] * w
    return np.ascontiguousarray(out, dtype=np.float32), targets
