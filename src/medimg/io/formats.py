"""Image format detection from file content.

Detection only, below the readers: :func:`medimg.io.read.read_image` is the one entry point that reads any supported
file (or a folder holding a DICOM series).

The format of a file is decided by its first bytes (magic numbers), never by its name alone: a PNG saved as
``scan.jpg`` is read as PNG, and a text file named ``scan.png`` is refused with a clear message. The extension
is only used to break ties, e.g. a "dual personality" DICOM whose 128-byte preamble is also a TIFF header.

Formats and their signatures:

=========  ==========================================================================================
``dicom``  ``b"DICM"`` at offset 128 (Part 10 file), or a bare dataset without preamble that pydicom parses
``nifti``  NIfTI-1 (``sizeof_hdr == 348`` and magic ``n+1``/``ni1`` at 344) or NIfTI-2 (``540``,
           ``n+2``/``ni2`` at 4), also inside a gzip stream (``.nii.gz``); an Analyze 7.5 ``.hdr`` (348 bytes
           that say ``sizeof_hdr == 348``), read through nibabel too
``png``    ``89 50 4E 47 0D 0A 1A 0A``
``jpeg``   ``FF D8 FF``
``bmp``    ``b"BM"`` followed by a plausible BITMAPINFO header size
``tiff``   ``II*\\0`` / ``MM\\0*`` (classic) or ``II+\\0`` / ``MM\\0+`` (BigTIFF)
``gif``    ``GIF87a`` / ``GIF89a``
``pnm``    Netpbm ``P1``..``P6`` and whitespace (PGM/PPM: MIAS mammograms, STARE fundus images)
``webp``   ``RIFF`` ... ``WEBP`` (Kaggle and web exports)
``npy``    ``\\x93NUMPY``: one array per file (:mod:`medimg.io.npy`)
``jpeg2000``  the JP2 signature box or a bare J2K codestream (``FF 4F FF 51``; pathology and archive exports)
``npz``    a zip archive of ``.npy`` arrays: an image and its label map (:mod:`medimg.io.array_files`)
``hdf5``   ``\\x89HDF\\r\\n\\x1a\\n``: an HDF5 file holding an image and its label map (:mod:`medimg.io.array_files`)
=========  ==========================================================================================
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import struct
import zlib
from pathlib import Path

from medimg.errors import ImageReadError
from medimg.io.folder_walk import walk_tree

logger = logging.getLogger(__name__)

__all__ = [
    "ARRAY_FILE_FORMATS", "ARRAY_SUFFIXES", "FORMATS", "IMAGE_SUFFIXES", "ZIP_MAGIC", "detect_format",
    "has_dicom_magic", "in_system_folder", "is_image_file", "is_npz", "suffix_for",
]  # fmt: skip

#: Folders that operating systems, archivers and NAS boxes add beside data, never data themselves: macOS zip
#: resource forks, Synology thumbnails (real JPEGs), Windows recycle bin and volume information, Python caches.
SYSTEM_FOLDERS = frozenset({"__macosx", "@eadir", "$recycle.bin", "system volume information", "__pycache__"})


def in_system_folder(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path``, below ``root``, is or lies in a hidden (``.name``) or :data:`SYSTEM_FOLDERS` entry."""
    p = Path(path)
    parts = p.relative_to(root).parts if p.is_relative_to(root) else (p.name,)
    return any(part.lower() in SYSTEM_FOLDERS or (part.startswith(".") and part not in (".", "..")) for part in parts)


#: Every format :func:`detect_format` can return.
FORMATS: tuple[str, ...] = (
    "dicom", "nifti", "png", "jpeg", "bmp", "tiff", "gif", "pnm", "webp", "jpeg2000", "metaimage", "nrrd", "npy",
    "npz", "hdf5",
)  # fmt: skip
#: the formats holding an image and its label map as named arrays (:mod:`medimg.io.array_files`)
ARRAY_FILE_FORMATS = ("npz", "hdf5")
#: their suffixes: not image suffixes (a folder's ``.npz`` may be a MedMNIST dataset, an ``.h5`` anything), read from
#: a folder holding no other image (:func:`medimg.io.inputs.expand_inputs`) and by the saved-arrays layout
ARRAY_SUFFIXES = (".npz", ".h5", ".hdf5")

# The format each suffix announces; only used as a tie-breaker between content matches (its keys are the image
# suffixes).
_SUFFIX_FORMAT: dict[str, str] = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".gif": "gif",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".ima": "dicom",
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".hdr": "nifti",  # Analyze 7.5 or a NIfTI pair: the header, its .img (the pixels) beside it
    ".mha": "metaimage",
    ".mhd": "metaimage",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".pgm": "pnm",
    ".ppm": "pnm",
    ".pbm": "pnm",
    ".pnm": "pnm",
    ".webp": "webp",
    ".jp2": "jpeg2000",
    ".j2k": "jpeg2000",
    ".j2c": "jpeg2000",
    ".jpx": "jpeg2000",
    ".npy": "npy",
    ".jpe": "jpeg",  # older JPEG suffixes (Windows, cameras): read by content like every other file
    ".jfif": "jpeg",
    ".dib": "bmp",
}

#: Lower-case file suffixes medimg treats as images when it scans folders (``.nii.gz`` is one suffix here).
IMAGE_SUFFIXES: frozenset[str] = frozenset(_SUFFIX_FORMAT)
#: formats of volume files whose header places the voxels (affine, spacing): read alike by
#: :func:`medimg.io.read_image` (MetaImage and NRRD with NIfTI's axes), so one kind of input whichever of them
VOLUME_FILE_FORMATS = frozenset({"nifti", "metaimage", "nrrd"})
#: image files whose pixel values lossy compression changes (JPEG's ringing around every edge): as masks, their
#: values are no labels as stored
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def is_lossy(path: str | os.PathLike[str] | None) -> bool:
    """Whether a file (a mask, or a mask file pattern) is stored with lossy compression (JPEG, by its name): its
    values change around every edge."""
    return path is not None and str(path).lower().endswith(LOSSY_SUFFIXES)


def suffix_for(fmt: str, head: bytes = b"") -> str:
    """The file suffix of format ``fmt`` (its first in :data:`_SUFFIX_FORMAT`: ``.dcm``, ``.jpg``...; NIfTI
    ``.nii.gz`` when ``head``, the file's first bytes, is gzip), for naming content whose format was detected;
    ``""`` for an unknown format."""
    if fmt == "nifti":
        return ".nii.gz" if head[:2] == b"\x1f\x8b" else ".nii"
    return next((suffix for suffix, known in _SUFFIX_FORMAT.items() if known == fmt), "")


_HEAD_BYTES = 1024
_BMP_INFO_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
# DICOM groups a bare (preamble-less) dataset plausibly starts with.
_DICOM_FIRST_GROUPS = {0x0002, 0x0008}


def file_suffix(path: str | os.PathLike[str]) -> str:
    """Return the lower-case suffix of ``path``, treating ``.nii.gz`` as a single suffix.

    Args:
        path: a file path.

    Returns:
        e.g. ``".png"``, ``".nii.gz"`` or ``""`` when the name has no suffix.
    """
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def file_stem(path: str | os.PathLike[str]) -> str:
    """A file's name without its (double) suffix: ``kidney_left.nii.gz`` -> ``kidney_left``."""
    name = Path(path).name
    return name[: len(name) - len(file_suffix(path))]


def output_stem(path: str | os.PathLike[str]) -> str:
    """The name the outputs made from ``path`` take: without its file type (``scan.mha`` -> ``scan``,
    ``kidney.nii.gz`` -> ``kidney``), but whole for a folder (a DICOM series) and for a name whose last dotted part
    holds no letter: a DICOM file or series named by its UID (``1.2.840.113619.2.55.3.604688119.969.1268071029.320``)
    or a numbered slice (``IM.001``), whose last part tells it from its siblings (cut off, every slice of a series
    wrote its output to one file, each replacing the last)."""
    source = Path(path)
    last = file_suffix(source)[1:]
    if source.is_dir() or not last or not any(c.isalpha() for c in last):
        return source.name
    return file_stem(source)


def safe_file_name(text: str, default: str = "image") -> str:
    """``text`` with every run of characters other than letters (of any script), digits, ``_``, ``.`` and ``-``
    replaced by ``_`` (``patch 0 é`` -> ``patch_0_é``): a file name every file system takes."""
    return re.sub(r"[^\w.-]+", "_", text) or default


def distinct_file_name(text: str, *, tag_changes: bool = True, max_bytes: int = 120) -> str:
    """:func:`safe_file_name` of ``text`` that no other text shares: where characters were replaced
    (``tag_changes``), 8 hex digits of ``text``'s hash are appended (``病例 1.png`` and ``病例_1.png`` are both
    ``病例_1.png`` otherwise), and a name longer than ``max_bytes`` of UTF-8 (a file name may have 255) is cut
    before them."""
    name = safe_file_name(text)
    if not (tag_changes and name != text) and len(name.encode()) <= max_bytes:
        return name
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return name.encode()[: max_bytes - len(digest) - 1].decode(errors="ignore") + "_" + digest


def unclaimed_path(folder: Path, stem: str, ending: str, taken: set[Path] | None) -> Path:
    """``folder/<stem><ending>``, or ``<stem>_2<ending>``, ``_3``... when ``taken`` (the outputs of one call so
    far) holds it, so a second input of the same name (``x.png`` beside ``x.jpg``) does not replace the first's
    output; the path is added to ``taken``."""
    path, n = folder / f"{stem}{ending}", 2
    while taken is not None and path in taken:
        path, n = folder / f"{stem}_{n}{ending}", n + 1
    if taken is not None:
        taken.add(path)
    return path


def has_dicom_magic(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` is a file with the DICOM Part 10 signature ``DICM`` at offset 128.

    Never raises: unreadable files simply return False.
    """
    return _is_dicom_part10(_file_start(path))


def _file_start(path: str | os.PathLike[str], n: int = 132) -> bytes:
    """A file's first ``n`` bytes (enough for DICOM's magic at 128), ``b""`` when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _is_dicom_part10(head: bytes) -> bool:
    return len(head) >= 132 and head[128:132] == b"DICM"


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` looks like an image medimg can read, judged by its name.

    A file counts when its lower-case suffix is in :data:`IMAGE_SUFFIXES` (``.nii.gz`` included). Files
    without a suffix -- and files whose "suffix" is only digits, as in the UID-style names DICOM exports use,
    e.g. ``1.2.840.113619.2.55.3.1`` -- are candidates only if they start with the DICOM magic (``DICM`` at
    offset 128) or a PNG or JPEG signature; that costs one 132-byte read. Hidden files (``.DS_Store``), the
    ``DICOMDIR`` index of a DICOM export (a directory record, no pixels) and folders are never images.

    Args:
        path: a file path.

    Returns:
        Whether the folder scanner should treat the file as an image.
    """
    p = Path(path)
    if p.name.startswith(".") or p.name.upper() == "DICOMDIR":
        return False
    suffix = file_suffix(p)
    if suffix in IMAGE_SUFFIXES:
        return True
    if suffix == "" or suffix[1:].isdigit():
        return p.is_file() and _unnamed_image(p)
    return False


#: the first bytes of the rasters an export may leave without a suffix (PNG, JPEG)
_RASTER_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def _unnamed_image(path: Path) -> bool:
    """A file without a suffix that is an image by its first bytes: DICOM (``DICM`` at 128, or a bare dataset
    without the preamble, as old PACS exports write ``IMG000``), PNG or JPEG. Reads at most 1024 bytes; never
    raises."""
    head = _file_start(path, _HEAD_BYTES)
    return head.startswith(_RASTER_MAGIC) or _is_dicom_part10(head) or _bare_dicom_head(head)


#: explicit-VR value representations whose length takes 4 bytes (after 2 reserved ones)
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})


def _bare_dicom_head(head: bytes, elements: int = 3) -> bool:
    """Whether ``head`` (a file's first bytes) starts a DICOM dataset without preamble: its first ``elements`` data
    elements (implicit or explicit VR, either byte order) parse within ``head``, in group 0002 or 0008 first and in
    ascending tag order. Only ``head`` is looked at, so a large file that is no DICOM costs no more than its start."""
    if not looks_like_bare_dicom(head):
        return False
    for endian in "<>":
        for explicit in (False, True):
            pos, last, found = 0, -1, 0
            while found < elements and pos + 8 <= len(head):
                group, element = struct.unpack_from(f"{endian}HH", head, pos)
                tag = group << 16 | element
                if tag <= last or (found == 0 and group not in _DICOM_FIRST_GROUPS):
                    break
                if explicit:
                    vr = head[pos + 4 : pos + 6]
                    if not (vr.isalpha() and vr.isupper()):
                        break
                    if vr in _LONG_VRS:
                        if pos + 12 > len(head):
                            break
                        (length,) = struct.unpack_from(f"{endian}I", head, pos + 8)
                        pos += 12
                    else:
                        (length,) = struct.unpack_from(f"{endian}H", head, pos + 6)
                        pos += 8
                else:
                    (length,) = struct.unpack_from(f"{endian}I", head, pos + 4)
                    pos += 8
                found += 1
                last = tag
                if length == 0xFFFFFFFF:  # a sequence of undefined length: its items follow
                    break
                pos += length
            if found >= elements:
                return True
    return False


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(path, "the file does not exist; check the path and the working directory")
    if path.is_dir():
        raise ImageReadError(
            path, "this is a folder, not an image file (use read_dicom_series for a folder of DICOM slices)"
        )


def read_head(path: Path, n: int = _HEAD_BYTES) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise ImageReadError(path, f"the file cannot be opened ({exc.strerror or exc})") from exc


def is_nifti_header(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes, at least 348) is a single-file NIfTI-1 or NIfTI-2 header."""
    if len(head) >= 348:
        for endian in "<>":
            (size,) = struct.unpack(f"{endian}i", head[:4])
            if size == 348 and head[344:347] in (b"n+1", b"ni1"):
                return True
    if len(head) >= 12:
        for endian in "<>":
            (size,) = struct.unpack(f"{endian}i", head[:4])
            if size == 540 and head[4:7] in (b"n+2", b"ni2"):
                return True
    return False


def _is_analyze_header(head: bytes) -> bool:
    """An Analyze 7.5 header file (``.hdr`` beside its ``.img``; OASIS, SPM-era sets): exactly 348 bytes that
    say so (``sizeof_hdr``), read through nibabel like NIfTI."""
    return len(head) == 348 and any(struct.unpack(f"{endian}i", head[:4])[0] == 348 for endian in "<>")


def _gunzip_head(path: Path, n: int = 544) -> bytes:
    """Up to ``n`` decompressed bytes from the start of a gzip file (fewer if the stream is cut short);
    ``b""`` if it is not valid gzip."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(1 << 16)
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, n)
    except (OSError, zlib.error):
        return b""


def looks_like_bare_dicom(head: bytes) -> bool:
    """Cheap pre-check for a DICOM dataset without preamble: the first tag is in group 0002 or 0008."""
    if len(head) < 8:
        return False
    group_le = struct.unpack("<H", head[:2])[0]
    group_be = struct.unpack(">H", head[:2])[0]
    return group_le in _DICOM_FIRST_GROUPS or group_be in _DICOM_FIRST_GROUPS


def _parses_as_dicom(path: Path) -> bool:
    """Confirm a bare DICOM dataset by parsing its header with pydicom (without pixel data)."""
    try:
        import pydicom
    except ImportError:
        return False
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    except Exception:  # any parse failure just means "not DICOM"
        return False
    # force=True accepts almost anything; require a few real, known elements.
    tags = [elem.tag for elem in ds]
    return len(tags) >= 3 and any(t.group in (0x0008, 0x0010, 0x0018, 0x0020, 0x0028) for t in tags)


def _content_matches(path: Path, head: bytes) -> list[str]:
    """Every format whose signature ``head`` matches, strongest first."""
    found: list[str] = []
    if _is_dicom_part10(head):
        found.append("dicom")
    gzipped_nifti = head[:2] == b"\x1f\x8b" and is_nifti_header(_gunzip_head(path))
    if gzipped_nifti or is_nifti_header(head) or _is_analyze_header(head):
        found.append("nifti")
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        found.append("png")
    if head[:3] == b"\xff\xd8\xff":
        found.append("jpeg")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        found.append("tiff")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        found.append("gif")
    if is_pnm_header(head):
        found.append("pnm")
    if head[:6] == b"\x93NUMPY":
        found.append("npy")
    if head[:8] == HDF5_MAGIC:
        found.append("hdf5")
    if head[:4] == ZIP_MAGIC and is_npz(path):
        found.append("npz")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found.append("webp")
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or head[:4] == b"\xff\x4f\xff\x51":
        found.append("jpeg2000")
    if is_metaimage_header(head):
        found.append("metaimage")
    if head.startswith(b"NRRD000"):
        found.append("nrrd")
    if is_bmp_header(head):
        found.append("bmp")
    if not found and looks_like_bare_dicom(head) and _parses_as_dicom(path):
        found.append("dicom")
    return found


def is_bmp_header(head: bytes) -> bool:
    """A BMP header: ``BM`` and a known DIB header size."""
    return head[:2] == b"BM" and len(head) >= 18 and struct.unpack("<I", head[14:18])[0] in _BMP_INFO_SIZES


def is_pnm_header(head: bytes) -> bool:
    """A Netpbm header: ``P1``..``P6`` then whitespace or a comment."""
    return len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3] in b" \t\r\n#"


def is_metaimage_header(head: bytes) -> bool:
    """A MetaImage (MetaIO) header: ``Key = Value`` text lines starting with ``ObjectType`` or ``NDims``."""
    first = head.lstrip()[:64]
    return first.startswith((b"ObjectType", b"NDims")) and b"=" in first.split(b"\n", 1)[0]


#: the first bytes of a zip archive (a local file header; an ``.npz`` is one too)
ZIP_MAGIC = b"PK\x03\x04"
#: the first bytes of an HDF5 file
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_npz(source: Path | bytes) -> bool:
    """A zip archive (a file, or its bytes) of ``.npy`` arrays only (``np.savez``). Never raises."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


#: suffixes of formats met in medical data that medimg does not read (named when a folder holds nothing else)
UNREAD_SUFFIXES = {
    ".h5": "HDF5", ".hdf5": "HDF5", ".svs": "whole-slide", ".ndpi": "whole-slide",
    ".mat": "MATLAB .mat",
    ".tfrec": "TFRecord", ".tfrecord": "TFRecord", ".pkl": "pickle", ".pickle": "pickle", ".pck": "pickle",
    ".heic": "HEIC photo", ".heif": "HEIC photo",
    ".mp4": "video", ".m4v": "video", ".mov": "video", ".avi": "video", ".mkv": "video", ".webm": "video",
    ".wmv": "video", ".mpg": "video", ".mpeg": "video",
    ".mgz": "FreeSurfer MGH/MGZ", ".mgh": "FreeSurfer MGH/MGZ", ".par": "Philips PAR/REC",
}  # fmt: skip
#: how to convert the volumes of MRI formats nibabel reads into NIfTI
MRI_FORMAT_HINTS = {
    "FreeSurfer MGH/MGZ": "FreeSurfer's mri_convert x.mgz x.nii.gz, or nibabel: nib.save(nib.load('x.mgz'), "
    "'x.nii.gz')",
    "Philips PAR/REC": "dcm2niix, or nibabel's parrec2nii x.PAR",
}
#: an ``.img`` file without the Analyze ``.hdr`` beside it: pixels without a header (JSRT's radiographs)
RAW_IMG = "headerless raw .IMG"
RAW_IMG_HINT = (
    "a raw .IMG holds only pixels: read it with its size and type (JSRT's: numpy.fromfile(f, '>u2').reshape(2048, "
    "2048)) and save it as PNG or TIFF"
)
#: how to make images of a video's frames, for users of ultrasound and endoscopy clips
VIDEO_FRAMES_HINT = (
    "extract its frames into a folder of their own inside the class folder (mkdir covid/clip1 && ffmpeg -i "
    "clip1.mp4 -vf fps=5 covid/clip1/%04d.png): medimg keeps the frames of one such folder on one side of the split"
)
#: the same formats by content: ``(signature at the start, name, how to convert)``
_UNSUPPORTED: tuple[tuple[bytes, str, str], ...] = (
    (b"RIFF", "a RIFF file that is not WebP (an AVI video, or sound?)", VIDEO_FRAMES_HINT),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video", VIDEO_FRAMES_HINT),
    (b"\x00\x00\x01\xba", "an MPEG video", VIDEO_FRAMES_HINT),
    (ZIP_MAGIC, "a ZIP archive", "unpack it"),
    (b"%PDF", "a PDF document", "export the image pages as PNG"),
    (
        b"MATLAB ",  # 5.0, and 7.3 (HDF5 after a 512-byte text header: the figshare brain tumour set's cjdata files)
        "a MATLAB .mat file",
        "save its image arrays as NIfTI, PNG or .npy (scipy.io.loadmat; h5py for a version 7.3 file)",
    ),
    *(
        (b"\x80" + bytes([protocol]), "a Python pickle", "load it (pickle.load) and save its array as NIfTI or .npy")
        for protocol in (2, 3, 4, 5)  # KneeMRI's volumetric_data/vol01/329637-8.pck
    ),
)


#: images compressed one by one (STARE's ``im0001.ppm.gz``), and what to do
COMPRESSED_IMAGE = "gzip-compressed image"
COMPRESSED_IMAGE_HINT = "decompress them where they are (gunzip -r FOLDER; bunzip2, unxz) and run again"


def unread_files_note(root: Path, most: int = 10_000) -> str:
    """``"; found 12 MetaImage file(s) ..."`` when ``root`` (a folder, or one file) holds files in formats medimg
    does not read (:data:`UNREAD_SUFFIXES`; the first ``most`` entries of a folder are looked at), else ``""``."""
    found: dict[str, int] = {}
    paths = [root] if root.is_file() else itertools.islice(walk_tree(root), most) if root.is_dir() else []
    for path in paths:
        kind = UNREAD_SUFFIXES.get(path.suffix.lower())
        if kind is None and path.suffix.lower() == ".img" and not path.with_suffix(".hdr").exists():
            kind = RAW_IMG  # no Analyze header beside it: raw pixels (JSRT's JPCLN001.IMG)
        if kind is None and path.suffix.lower() in (".gz", ".bz2", ".xz") and file_suffix(path) != ".nii.gz":
            inner = Path(path.stem).suffix.lower()  # STARE's im0001.ppm.gz
            kind = COMPRESSED_IMAGE if inner in IMAGE_SUFFIXES or inner == ".img" else None
        if kind is not None and path.is_file():
            found[kind] = found.get(kind, 0) + 1
    if not found:
        return ""
    listed = ", ".join(f"{n} {kind}" for kind, n in found.items())
    if set(found) == {"video"}:
        return f"; found {listed} file(s), which medimg does not read: for each, {VIDEO_FRAMES_HINT}"
    how = " (scipy.io.loadmat reads a .mat file's arrays; h5py a v7.3 one)" if "MATLAB .mat" in found else ""
    how += f"; {RAW_IMG_HINT}" if RAW_IMG in found else ""
    if set(found) == {COMPRESSED_IMAGE}:
        return f"; found {listed} file(s), which medimg does not read: {COMPRESSED_IMAGE_HINT}"
    how += f"; {COMPRESSED_IMAGE_HINT}" if COMPRESSED_IMAGE in found else ""
    how += f"; for a video, {VIDEO_FRAMES_HINT}" if "video" in found else ""
    how += "".join(f"; {kind}: {hint}" for kind, hint in MRI_FORMAT_HINTS.items() if kind in found)
    return f"; found {listed} file(s), which medimg does not read: convert them to NIfTI (volumes) or PNG/TIFF{how}"


#: a line of a point annotation file: two or three numbers (``x,y``, ``row,col``, ``x y z``), comma, semicolon, tab
#: or space apart
_POINT_LINE = re.compile(r"^\s*-?\d+(?:\.\d+)?(?:\s*[,;\t ]\s*-?\d+(?:\.\d+)?){1,2}\s*$")
#: the largest text file looked into for points
_POINT_FILE_BYTES = 64_000


def point_files_note(root: Path, most: int = 2000, lead: str = "; found ") -> str:
    """``"; found 12 file(s) of point coordinates ..."`` (``lead`` first) when ``root`` holds text files (``.txt``,
    ``.csv``) whose lines are mostly two or three numbers (ISBI 2015's ``AnnotationsByMD/400_senior/001.txt``: 19
    landmarks ``x,y``; TUPAC16's ``mitoses_ground_truth/01/01.csv``: ``row,col`` of each mitosis): landmarks or
    object centres, which medimg does not read; else ``""``. The first ``most`` entries are looked at."""
    found: list[Path] = []
    for path in itertools.islice(walk_tree(root), most) if root.is_dir() else []:
        if path.suffix.lower() not in (".txt", ".csv") or not path.is_file():
            continue
        if path.stat().st_size > _POINT_FILE_BYTES:
            continue
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        points = sum(1 for line in lines if _POINT_LINE.match(line))
        if points and points >= 0.8 * len(lines):
            found.append(path)
    if not found:
        return ""
    return (
        f"{lead}{len(found)} file(s) of point coordinates (e.g. {min(found).relative_to(root)}): landmarks or object "
        "centres, which medimg does not read (it classifies images, segments masks and detects boxes): draw each "
        "point as a small disc in a mask to segment, or a box around it to detect"
    )


#: suffixes of tables (labels, manifests), never images
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".xlsx", ".xls", ".ods"})


def _unsupported_format(head: bytes) -> str | None:
    """What a file in a known format medimg does not read is, and how to convert it (``None``: not known)."""
    for signature, name, fix in _UNSUPPORTED:
        if head.startswith(signature):
            return f"unrecognised image format: {name}, which medimg does not read; {fix}"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:  # an iPhone's photo: an ISO media file of HEIF brand
        return (
            "unrecognised image format: a HEIC/HEIF photo (an iPhone's default), which medimg does not read; export "
            "it as JPEG or PNG (macOS Preview: File > Export; iPhone: Settings > Camera > Formats > Most Compatible)"
        )
    if head[4:8] == b"ftyp":  # any other ISO media file: an MP4 / QuickTime / 3GP video
        return f"unrecognised image format: an MP4/QuickTime video, which medimg does not read; {VIDEO_FRAMES_HINT}"
    return None


#: ISO media brands of HEIF images (``ftyp`` at byte 4): iPhone photos are ``heic``, AVIF is ``avif``
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif")


_MAGIC_PREFIXES: dict[str, tuple[bytes, ...]] = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "TIFF": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
}


def _truncated_signature(path: Path, head: bytes, suffix: str) -> str | None:
    """Explain a file that is only the start of a known format (cut before its signature is complete)."""
    size = f"{len(head)} byte{'s' if len(head) != 1 else ''}"
    for name, magics in _MAGIC_PREFIXES.items():
        if any(len(head) < len(m) and m.startswith(head) for m in magics):
            return f"{size}, the beginning of a {name} signature"
    if len(head) >= 4:
        for endian in "<>":
            (header_size,) = struct.unpack(f"{endian}i", head[:4])
            if header_size in (348, 540) and len(head) < header_size:
                return f"{size}, shorter than the {header_size}-byte NIfTI header it starts"
    if head[:2] == b"\x1f\x8b" and suffix == ".nii.gz":
        inner = _gunzip_head(path)
        if not inner:
            return "the gzip stream ends before any data"
        if len(inner) >= 4 and any(struct.unpack(f"{e}i", inner[:4])[0] in (348, 540) for e in "<>"):
            return "the gzip stream ends inside the NIfTI header"
    short_dicom = _SUFFIX_FORMAT.get(suffix) == "dicom" and not _is_text(head)  # a note saved as .dcm is not cut
    if len(head) < 132 and (short_dicom or (head and not any(head))):
        return f"{size}, shorter than the 132-byte DICOM preamble and 'DICM' signature"
    if len(head) < 8 and suffix in _SUFFIX_FORMAT and not _is_text(head):  # a short note is text, not a cut image
        return f"only {size}"
    return None


def _is_text(data: bytes) -> bool:
    """Printable ASCII (with tabs and line breaks) only."""
    return all(32 <= b < 127 or b in (9, 10, 13) for b in data)


def _describe_head(head: bytes) -> str:
    text = head[:16]
    if _is_text(text):
        return f"text {text.decode('ascii')!r}"
    return f"bytes {text.hex(' ')}"


def _listed_image_paths(head: bytes) -> list[str]:
    """The lines of a text file's ``head`` that name image files (by their suffix; comments and blank lines
    skipped), when every such line does: a list of paths given where an image was expected."""
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []
    lines = text.splitlines()
    if not text.endswith(("\n", "\r")) and len(lines) > 1:  # the head may end inside the last line
        lines = lines[:-1]
    lines = [line.strip() for line in lines]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines or not all(file_suffix(Path(line)) in IMAGE_SUFFIXES for line in lines):
        return []
    return lines


def detect_format(path: str | os.PathLike[str]) -> str:
    """Detect the image format of ``path`` from its content.

    Args:
        path: an image file.

    Returns:
        One of :data:`FORMATS`: ``"dicom"``, ``"nifti"``, ``"png"``, ``"jpeg"``, ``"bmp"``, ``"tiff"``, ``"gif"``,
        ``"metaimage"`` (``.mha``/``.mhd``), ``"nrrd"``.

    Raises:
        ImageReadError: the file is missing, a folder, empty, unreadable, or matches none of the formats.
    """
    p = Path(path)
    _check_readable(p)
    head = read_head(p)
    if not head:
        raise ImageReadError(p, "the file is empty (0 bytes); re-copy or re-export it")
    matches = _content_matches(p, head)
    suffix = file_suffix(p)
    if not matches:
        truncated = _truncated_signature(p, head, suffix)
        if truncated:
            raise ImageReadError(p, f"the file is truncated: {truncated}; re-copy, re-download or re-export it")
        known = _unsupported_format(head)
        if known is not None:
            raise ImageReadError(p, known)
        kind = UNREAD_SUFFIXES.get(".par" if p.suffix.lower() == ".rec" else p.suffix.lower(), "")  # its PAR's REC
        if kind in MRI_FORMAT_HINTS:  # a FreeSurfer .mgz is gzip, a PAR a text header: said by name, not "corrupt"
            raise ImageReadError(
                p, f"a {kind} volume, which medimg does not read: convert it to NIfTI ({MRI_FORMAT_HINTS[kind]})"
            )
        listed = _listed_image_paths(head)
        if listed:
            raise ImageReadError(
                p,
                f"it is a text file listing image paths ({listed[0]}...), not an image: pass the list on standard "
                f"input with - in its place (medimg predict RUN - < {p.name}; lines starting with # are skipped)",
            )
        if suffix in TABLE_SUFFIXES:  # a label table handed to predict (or as an image anywhere)
            raise ImageReadError(
                p,
                "it is a table, not an image: to score a model on the images a table labels, give the table to "
                f"medimg evaluate RUN {p.name}; to predict, give the images or their folder",
            )
        header = p.with_suffix(".hdr")
        if suffix == ".img" and header.is_file():  # the pixels of an Analyze 7.5 / NIfTI pair
            raise ImageReadError(p, f"it holds the pixels of {header.name}, which describes them: pass {header}")
        hint = ""
        if suffix in _SUFFIX_FORMAT:
            hint = f" although its name ends with {suffix!r}"
        raise ImageReadError(
            p,
            f"unrecognised image format{hint}: the content is none of DICOM, NIfTI, PNG, JPEG, BMP, TIFF, "
            f"GIF, Netpbm, MetaImage, NRRD (it starts with {_describe_head(head)}). The file may be corrupt, "
            "truncated at the start, or another format; open it in an image viewer or re-export it as PNG, TIFF, "
            "DICOM or NIfTI.",
        )
    expected = _SUFFIX_FORMAT.get(suffix)
    fmt = expected if expected in matches else matches[0]
    if expected is not None and expected != fmt:
        logger.debug("%s: content is %s although the suffix says %s; reading it as %s", p, fmt, expected, fmt)
    return fmt
