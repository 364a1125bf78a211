"""A DICOM series uploaded as one zip file (``curl -F file=@series.zip``): its slices, de-identified in memory one by
one, written into the request's folder, where the readers take them as one volume.

A 3D model's input is a series; PACS exports and viewers hand a series out as a folder or a zip of ``.dcm`` files.
Only the DICOM members are kept (a ``DICOMDIR`` index, hidden files, ``__MACOSX`` entries and other files are
counted and skipped); each is de-identified before it is written (the service's DICOM de-identification), under a
numbered name (member names are never used: they may name the patient, or climb out of the folder). The archive is
never extracted as a whole: members are read one at a time, and their uncompressed bytes together may not pass
the caller's limit (a zip bomb stops at that point, whatever its headers claim).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from medimg.io.formats import ZIP_MAGIC
from medimg.serve.rejections import UploadRejected

__all__ = ["MAX_MEMBERS", "is_zip", "unpack_series"]

ZIP_STARTS = (ZIP_MAGIC, b"PK\x05\x06")  # a member's header, or the end record of an empty archive
#: most files a series zip may hold
MAX_MEMBERS = 5000


def is_zip(data: bytes) -> bool:
    """A zip archive by its first bytes (an empty one included)."""
    return data[:4] in ZIP_STARTS


def unpack_series(
    data: bytes,
    folder: Path,
    *,
    max_bytes: int,
    deidentify: Callable[[bytes], tuple[bytes, dict[str, Any]]],
    is_dicom: Callable[[bytes], bool],
) -> tuple[Path, dict[str, Any]]:
    """Write the de-identified DICOM members of zip ``data`` into ``folder/series/``.

    Args:
        max_bytes: the most uncompressed bytes read from the archive.
        deidentify: ``DICOM bytes -> (de-identified bytes, facts worth keeping)``; raises :class:`UploadRejected`.
        is_dicom: whether a member's bytes are DICOM.

    Returns:
        The series folder, and the first slice's facts with ``files`` (slices written) and ``skipped_files``.

    Raises:
        UploadRejected: 400 a damaged archive, 413 too many members or too many bytes unpacked, 422 an encrypted
            archive or one without DICOM files.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise UploadRejected(400, f"the zip file cannot be read ({error}): upload the series' zip again") from error
    out = folder / "series"
    out.mkdir()
    facts: dict[str, Any] | None = None
    written = skipped = unpacked = 0
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_MEMBERS:
            raise UploadRejected(413, f"the zip holds {len(members):,} files; at most {MAX_MEMBERS:,} per series")
        for member in members:
            name = PurePosixPath(member.filename.replace("\\", "/"))
            hidden = any(part.startswith(".") or part == "__MACOSX" for part in name.parts)
            if hidden or name.name.upper() == "DICOMDIR":
                skipped += 1
                continue
            if member.flag_bits & 0x1:
                raise UploadRejected(422, "the zip is encrypted: zip the series without a password")
            budget = max_bytes - unpacked
            try:
                with archive.open(member) as handle:
                    content = handle.read(budget + 1)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
                raise UploadRejected(400, f"the zip file is damaged ({error}): upload the series' zip again") from error
            unpacked += len(content)
            if len(content) > budget:
                raise UploadRejected(
                    413, f"the zip unpacks to more than {max_bytes:,} bytes: send fewer slices, or one series per zip"
                )
            if not is_dicom(content):
                skipped += 1
                continue
            cleaned, member_facts = deidentify(content)
            (out / f"{written:05d}.dcm").write_bytes(cleaned)
            written += 1
            facts = facts or member_facts
    if facts is None:
        raise UploadRejected(
            422,
            f"the zip holds no DICOM files ({skipped} other file(s)): zip the .dcm files of one series, or upload "
            "one image file",
        )
    return out, {**facts, "files": written, "skipped_files": skipped}
