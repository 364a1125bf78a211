"""The uploaded file, read into memory only: the one file of a ``multipart/form-data`` body (form field ``file``,
or any single file field: clients name it ``image``, ``upload``...; several DICOM files in the form are the slices
of one series), the one instance of a ``multipart/related`` body (DICOMweb STOW-RS style), or a raw body
(``curl --data-binary @ct.dcm``,
with ``Content-Type: application/dicom``, ``application/octet-stream``, ``image/png``, ``application/zip`` (a DICOM
series, :mod:`medimg.serve.series_upload`)... or none), or a JSON body with the file as base64 (:func:`json_image`).

Starlette's parser spools a file part above 1 MB to a temporary file on disk; the service must never write an
upload before de-identifying it, so the parser here keeps every part in memory. Memory stays bounded because
the body itself is limited (:class:`~medimg.serve.app.BodySizeLimit`, and the count below).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import AsyncGenerator
from pathlib import PurePath
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from medimg.serve.rejections import UploadRejected
from medimg.serve.series_upload import MAX_MEMBERS

FIELD = "file"
"""The form field holding the image."""

RAW_TYPES = (
    "application/octet-stream", "application/dicom", "application/gzip", "application/x-gzip", "image/",
    "binary/octet-stream",  # S3's default for an object stored without a type
    "application/x-dicom", "application/x-nifti", "application/x-zip",
    "application/x-www-form-urlencoded",  # what `curl --data-binary @scan.png` sends unless told otherwise
    "application/zip", "application/x-zip-compressed",  # a DICOM series (Windows browsers send the second)
)  # fmt: skip
"""Content types whose body is the image itself (the format is judged from the content, as for a form upload). A
body without a Content-Type (Python's ``requests.post(url, data=open(path, "rb"))``, a browser's ``fetch`` of a
``.dcm`` or ``.nii`` file, which have no MIME type) is read the same way."""

MULTIPART_OVERHEAD = 64 * 1024
"""Bytes allowed on top of the upload limit for the multipart envelope."""

REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {FIELD: {"type": "string", "format": "binary", "description": "the image file"}},
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/dicom": {"schema": {"type": "string", "format": "binary"}},
            "multipart/related": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "byte", "description": "the file, base64"}},
                }
            },
        },
    }
}
"""The OpenAPI description of the body (the endpoint reads it itself, so FastAPI cannot infer it)."""


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's multipart parser with the file spool kept in memory up to ``memory_bytes``, taking a part without
    a file name for a file when it is the field ``file`` or not text (Node's ``form.append('file', buffer)``,
    OkHttp, ``requests``' ``files={'file': (None, data)}``, a name given only as ``filename*=``): Starlette reads such
    a part as a text field (refused as "no file", or over 1 MB as an oversized field)."""

    def __init__(self, *args: Any, memory_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spool_max_size = memory_bytes

    def on_headers_finished(self) -> None:
        from starlette.formparsers import parse_options_header  # python-multipart's, as Starlette imports it

        part = self._current_part
        _, options = parse_options_header(part.content_disposition or b"")
        kind = dict((k.lower(), v) for k, v in part.item_headers).get(b"content-type", b"").lower()
        binary = bool(kind) and not kind.startswith(b"text/")
        if b"filename" not in options and (options.get(b"name") == FIELD.encode() or binary):
            part.content_disposition = (part.content_disposition or b"") + b'; filename="upload"'
        super().on_headers_finished()


async def _limited(
    stream: AsyncGenerator[bytes, None], allowed: int, limit: int, tail: bytearray | None = None
) -> AsyncGenerator[bytes, None]:
    """``stream``, refused past ``allowed`` bytes (the upload ``limit`` and its encoding's allowance), naming
    ``limit``; its last 512 bytes are kept in ``tail``."""
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > allowed:
            raise UploadRejected(413, f"the request is larger than the upload limit of {limit:,} bytes")
        if tail is not None:
            tail += chunk
            del tail[:-512]
        yield chunk


async def read_upload(request: Request, max_bytes: int) -> bytes:
    """The uploaded image's bytes (at most ``max_bytes``): the form field ``file`` (or the form's only file), or a
    raw body of one of :data:`RAW_TYPES`; nothing is written to disk.

    Raises:
        UploadRejected: 415 neither multipart nor a raw image type, 400 a malformed body, 422 no file in the form
            (or several), 413 too large.
    """
    content_type = request.headers.get("content-type", "").strip().lower()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in {"", "identity"}:
        return await _decoded(request, encoding, content_type, max_bytes)
    if content_type.split(";")[0].strip() == "application/dicom+json":
        raise UploadRejected(
            415,
            "DICOM JSON is the header without the pixels: send the DICOM file itself (Part 10) as application/dicom "
            "or in the form field 'file'",
        )
    if _raw_body(content_type):
        return _not_a_url_encoded_form(await _read_raw(request, max_bytes), content_type)
    if content_type.startswith("multipart/related"):  # DICOMweb STOW-RS style: the instance as a body part
        body = await _read_raw(request, max_bytes + MULTIPART_OVERHEAD, max_bytes)
        return _within(related_part(body, request.headers.get("content-type", "")), max_bytes)
    if content_type.startswith(("application/json", "text/json")) or "+json" in content_type.split(";")[0]:
        body = await _read_raw(request, max_bytes * 4 // 3 + MULTIPART_OVERHEAD, max_bytes)  # base64: 4 per 3 bytes
        return _within(json_image(body), max_bytes)
    if not content_type.startswith("multipart/form-data"):
        raise UploadRejected(
            415,
            f"send the image as multipart/form-data in the form field '{FIELD}' (curl -F {FIELD}=@image.dcm), "
            "as the raw body with Content-Type application/octet-stream or application/dicom (curl --data-binary "
            '@image.dcm -H \'Content-Type: application/dicom\'), or as JSON {"image": "<base64>"}; got '
            f"{content_type or 'no Content-Type'}",
        )
    limit = max_bytes + MULTIPART_OVERHEAD
    tail = bytearray()
    parser = InMemoryMultiPartParser(
        request.headers,
        _limited(request.stream(), limit, max_bytes, tail),
        max_files=MAX_MEMBERS,
        max_fields=16,
        memory_bytes=limit,
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise UploadRejected(400, f"the multipart body cannot be parsed: {error.message}") from error
    try:  # the field `file`, else the form's files under any name (image=, upload=, dicom=...)
        named = [value for value in form.getlist(FIELD) if isinstance(value, UploadFile)]
        files = named or [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not files:
            boundary = re.search(r'boundary="?([^";]+)', request.headers.get("content-type", ""))
            if boundary is not None and f"--{boundary.group(1)}--".encode() not in tail:
                raise UploadRejected(
                    400, "the multipart body ends before its closing boundary (an interrupted upload?): send it again"
                )
            raise UploadRejected(422, f"the request has no file in the form field '{FIELD}'")
        data = await files[0].read(max_bytes + 1) if len(files) == 1 else await _series_zip(files, max_bytes)
    finally:
        await form.close()
    return _within(data, max_bytes)


async def _series_zip(files: list[UploadFile], max_bytes: int) -> bytes:
    """Several files in one form (the slices of a series: ``curl -F file=@IM1.dcm -F file=@IM2.dcm ...``, a
    browser's folder upload) packed as one zip, which the service reads as a zipped series
    (:mod:`medimg.serve.series_upload`); a ``DICOMDIR`` among them is left out.

    Raises:
        UploadRejected: 422 a file that is not DICOM (several images are not one upload).
    """
    named = [(PurePath((u.filename or "").replace("\\", "/")).name, await u.read(max_bytes + 1)) for u in files]
    return pack_series(named)


def pack_series(files: list[tuple[str, bytes]]) -> bytes:
    """``(name, content)`` DICOM files as one zip (stored, not compressed) for the series reader; a ``DICOMDIR`` is
    left out, and so is a second copy of a file (a STOW-RS client retrying one instance sent it twice: read as two
    slices at one position, "the series mixes several acquisitions"); names are not kept.

    Raises:
        UploadRejected: 422 a file that is not DICOM (several images are not one upload).
    """
    from medimg.serve.service import might_be_dicom

    buffer = io.BytesIO()
    seen: set[bytes] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for number, (name, data) in enumerate(files, start=1):
            digest = hashlib.sha256(data).digest()
            if name.upper() == "DICOMDIR" or digest in seen:
                continue
            seen.add(digest)
            if not might_be_dicom(data):
                raise UploadRejected(
                    422,
                    f"the request holds {len(files)} files and file {number} is not DICOM: send one image per "
                    "request, or the slices of one DICOM series (as several files, or as one zip)",
                )
            archive.writestr(f"{number:05d}.dcm", data)
    return buffer.getvalue()


#: the JSON members a client may put the base64 image in (the first present is taken)
JSON_IMAGE_KEYS = ("file", "image", "data", "content", "image_base64", "base64")


def json_image(body: bytes) -> bytes:
    """The image of a JSON body ``{"image": "<base64>"}`` (also ``file``, ``data``...; a ``data:image/png;base64,``
    URL as a browser's ``FileReader.readAsDataURL`` gives it; standard or URL-safe alphabet, padding optional).

    Raises:
        UploadRejected: 400 not JSON, no image member, or not base64.
    """
    import base64
    import binascii
    import json

    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UploadRejected(400, f"the JSON body cannot be parsed ({error})") from error
    value = next((document[k] for k in JSON_IMAGE_KEYS if isinstance(document, dict) and k in document), None)
    if not isinstance(value, str) or not value.strip():
        raise UploadRejected(
            400,
            'a JSON body needs the image as a base64 string: {"image": "<base64 of the file>"} (also "file" or '
            '"data"); or send the file itself (curl -F file=@image.png)',
        )
    encoded = value.strip()
    if encoded.startswith("data:"):  # data:image/png;base64,....
        encoded = encoded.partition(",")[2]
    encoded = "".join(encoded.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise UploadRejected(400, f"the JSON image is not valid base64 ({error})") from error


def related_part(body: bytes, content_type: str) -> bytes:
    """The image of a ``multipart/related`` body (DICOMweb STOW-RS: ``Content-Type: multipart/related;
    type="application/dicom"; boundary=...``, each part an instance): the part whose type is ``application/dicom``, or
    the body's only part; several instances are one series (:func:`pack_series`). Split with ``bytes.split`` (a 50 MB
    body in milliseconds, nothing decoded).

    Raises:
        UploadRejected: 400 no boundary or no part, 422 several parts of which one is not DICOM.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if match is None:
        raise UploadRejected(400, "the multipart/related body has no boundary in its Content-Type")
    pieces = (b"\r\n" + body).split(b"\r\n--" + match.group(1).strip().encode("latin-1"))
    parts: list[tuple[str, bytes]] = []
    for piece in pieces[1:]:  # pieces[0] is the preamble
        if piece.startswith(b"--"):  # the closing delimiter
            break
        head, separator, content = piece.partition(b"\r\n\r\n")
        if not separator:
            continue
        headers = head.decode("latin-1").lower()
        kind = re.search(r"content-type:\s*([^;\r\n]+)", headers)
        parts.append((kind.group(1).strip() if kind else "", content))
    if not parts:
        raise UploadRejected(400, "the multipart/related body holds no part (check its boundary)")
    chosen = [content for kind, content in parts if kind == "application/dicom"] or [c for _, c in parts]
    return chosen[0] if len(chosen) == 1 else pack_series([("", content) for content in chosen])


def _raw_body(content_type: str) -> bool:
    """Whether a body of ``content_type`` (lower case) is the file itself (:data:`RAW_TYPES`, or no type)."""
    return not content_type or content_type.startswith(RAW_TYPES)


def _not_a_url_encoded_form(data: bytes, content_type: str) -> bytes:
    """``data``, unless it is an HTML form's fields (``file=scan.png``: a form without
    ``enctype="multipart/form-data"``, ``curl -d``), which carry the file's name, not the file."""
    if content_type.startswith("application/x-www-form-urlencoded") and re.fullmatch(
        rb"[\w.\-\[\]%+]+=[\x20-\x7e]*(&[\w.\-\[\]%+]+=[\x20-\x7e]*)*\s*", data[:4096]
    ):
        raise UploadRejected(
            415,
            "the body is URL-encoded form fields, which carry a file's name, not the file: give the HTML form "
            'enctype="multipart/form-data" (curl -F file=@scan.png, not -d), or send the file as the raw body',
        )
    return data


async def _decoded(request: Request, encoding: str, content_type: str, max_bytes: int) -> bytes:
    """A raw body sent with ``Content-Encoding: gzip`` or ``deflate``, decompressed up to ``max_bytes`` (a bomb stops
    there); other encodings, or a compressed form, are refused naming the header."""
    import zlib

    if encoding not in {"gzip", "x-gzip", "deflate"} or not _raw_body(content_type):
        raise UploadRejected(
            415,
            f"Content-Encoding {encoding!r} is not read here: send the file uncompressed (or a raw body compressed "
            "with gzip)",
        )
    body = await _read_raw(request, max_bytes)
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS)
    try:
        data = inflate.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise UploadRejected(400, f"the body is not valid {encoding} data ({error})") from error
    return _within(data, max_bytes)


async def _read_raw(request: Request, max_bytes: int, limit: int | None = None) -> bytes:
    """A raw body, read up to one byte over ``max_bytes`` (so a larger one is refused without reading it all); a
    refusal names ``limit`` (the upload limit, when ``max_bytes`` adds an encoding's allowance to it)."""
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        received += len(chunk)
        if received > max_bytes:
            break
    return _within(b"".join(chunks), max_bytes, limit)


def _within(data: bytes, max_bytes: int, limit: int | None = None) -> bytes:
    """``data`` unless longer than ``max_bytes`` (refused with 413 naming ``limit``, else ``max_bytes``)."""
    if len(data) > max_bytes:
        named = max_bytes if limit is None else limit
        raise UploadRejected(413, f"the upload is larger than the limit of {named:,} bytes; send a smaller file")
    return data  # an empty one is refused by the service (400)
