"""An upload's type, told from its bytes in memory before anything is written.

A DICOM upload is de-identified in memory first (:func:`~medimg.serve.service.might_be_dicom`); any other upload
is written to the request's working folder for the image readers. Bytes that are none of the formats the service
reads -- a ``.tar`` of a DICOM series (a PACS or NBIA export), a ``.dcm.gz``, a ``.7z`` -- would carry patient data
to disk only to be refused, so they are refused here, in memory. The answer names the kind of file and what to
send instead, never anything read from inside it (a member's name, a header's text).
"""

from __future__ import annotations

import struct
import zlib

from medimg.io.formats import (
    HDF5_MAGIC,
    ZIP_MAGIC,
    is_bmp_header,
    is_metaimage_header,
    is_nifti_header,
    is_npz,
    is_pnm_header,
)
from medimg.serve.rejections import UploadRejected

#: signatures of the formats the readers know (accepted or refused with their own reason), at the start
_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"MM\x00+",
    b"GIF87a",
    b"GIF89a",
    b"\x93NUMPY",
    HDF5_MAGIC,
    ZIP_MAGIC,
    b"RIFF",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",
    b"\xff\x4f\xff\x51",
    b"NRRD000",
    b"%PDF",
    b"MATLAB 5.0 MAT-file",
)
SERIES_ADVICE = "send a DICOM series as one .zip of its .dcm files, or one uncompressed .dcm file"
#: archives and compressors the service does not unpack: ``(signature, offset, what it is)``
_ARCHIVES = (
    (b"ustar", 257, "a tar archive"),
    (b"BZh", 0, "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", 0, "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"Rar!\x1a\x07", 0, "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", 0, "a Zstandard-compressed file"),
)


def _archive(head: bytes) -> str | None:
    for signature, offset, name in _ARCHIVES:
        if head[offset : offset + len(signature)] == signature:
            return name
    return None


def _gunzipped_head(data: bytes, n: int = 1024) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[: 1 << 16], n)
    except zlib.error:
        return b""


def _known(data: bytes) -> bool:
    """Bytes a reader of the service recognises (or the start of such a file, cut short: the readers say so)."""
    head = data[:1024]
    if head[128:132] == b"DICM" or head.startswith(_SIGNATURES):
        return True
    if any(len(head) < len(signature) and signature.startswith(head) for signature in _SIGNATURES):
        return True
    if is_nifti_header(head) or (len(head) >= 4 and struct.unpack("<i", head[:4])[0] in (348, 540)):
        return True
    if len(head) >= 4 and struct.unpack(">i", head[:4])[0] in (348, 540):
        return True
    if is_bmp_header(head) or is_pnm_header(head) or is_metaimage_header(head):
        return True
    return len(head) < 132 and not any(head)  # zeros only: a DICOM preamble cut short


def refuse_unrecognised(data: bytes, accepted: str) -> None:
    """Refuse (415, in memory) an upload that no reader of the service recognises.

    Args:
        data: the upload (already de-identified when it is DICOM).
        accepted: the formats the service accepts, in words, for the answer.

    Raises:
        UploadRejected: 415 naming the kind of file when it is a known archive or compressed file (with what to send
            instead), else saying the format is unrecognised; nothing of the content is quoted.
    """
    if data[:2] == b"\x1f\x8b":
        inner = _gunzipped_head(data)
        if is_nifti_header(inner):
            return
        if inner[128:132] == b"DICM":
            kind = "a gzip-compressed DICOM file"
        else:
            archive = _archive(inner)
            kind = f"{archive} compressed with gzip (.tar.gz)" if archive else "a gzip-compressed file"
        raise UploadRejected(
            415, f"not a supported image: the upload is {kind}, which is not unpacked; {SERIES_ADVICE}"
        )
    archive = _archive(data[:1024])
    if archive is not None:
        raise UploadRejected(
            415, f"not a supported image: the upload is {archive}, which is not unpacked; {SERIES_ADVICE}"
        )
    if is_npz(data) or _known(data):
        return
    raise UploadRejected(
        415,
        f"not a supported image: unrecognised image format: the content is none of {accepted}; upload one of "
        "those (an archive: a .zip of one DICOM series)",
    )
