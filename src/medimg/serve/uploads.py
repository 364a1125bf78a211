"""The uploaded file, read from the ``multipart/form-data`` body into memory only.

Starlette's parser spools a file part above 1 MB to a temporary file on disk; the service must never write an
upload before de-identifying it, so the parser here keeps every part in memory. Memory stays bounded because
the body itself is limited (:class:`~medimg.serve.app.BodySizeLimit`, and the count below).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from medimg.serve.service import UploadRejected

FIELD = "file"
"""The form field holding the image."""

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
            }
        },
    }
}
"""The OpenAPI description of the body (the endpoint reads it itself, so FastAPI cannot infer it)."""


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's multipart parser with the file spool kept in memory up to ``memory_bytes``."""

    def __init__(self, *args: Any, memory_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spool_max_size = memory_bytes


async def _limited(stream: AsyncGenerator[bytes, None], max_bytes: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > max_bytes:
            raise UploadRejected(413, f"the request is larger than the upload limit of {max_bytes:,} bytes")
        yield chunk


async def read_upload(request: Request, max_bytes: int) -> bytes:
    """The bytes of the form field ``file`` (at most ``max_bytes``); nothing is written to disk.

    Raises:
        UploadRejected: 415 not multipart, 400 a malformed body, 422 no ``file`` field, 413 too large.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadRejected(
            415, f"send the image as multipart/form-data in the form field '{FIELD}' (curl -F {FIELD}=@image.dcm)"
        )
    limit = max_bytes + MULTIPART_OVERHEAD
    parser = InMemoryMultiPartParser(
        request.headers, _limited(request.stream(), limit), max_files=1, max_fields=16, memory_bytes=limit
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise UploadRejected(400, f"the multipart body cannot be parsed: {error.message}") from error
    try:
        upload = form.get(FIELD)
        if not isinstance(upload, UploadFile):
            raise UploadRejected(422, f"the request has no file in the form field '{FIELD}'")
        data = await upload.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise UploadRejected(413, f"the upload is larger than the limit of {max_bytes:,} bytes; send a smaller file")
    return data
