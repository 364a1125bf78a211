"""The FastAPI application: ``create_app(settings)``.

Example:
    >>> from medimg.serve import ServeSettings, create_app
    >>> app = create_app(ServeSettings(run_dir="runs/demo/run", database="serve.db"))   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)

The model and the database open once, in the lifespan. Every ``/v1`` endpoint needs an API token; every
refusal is a JSON 4xx ``{"detail": "..."}``; an unexpected error is a JSON 500 that names no internals, and
the server keeps serving.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from medimg.errors import MedimgError
from medimg.serve.service import PredictionService, UploadRejected
from medimg.serve.settings import ServeSettings
from medimg.serve.storage import Storage

logger = logging.getLogger("medimg.serve")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MULTIPART_OVERHEAD = 64 * 1024
"""Bytes allowed on top of the upload limit for the multipart envelope."""


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """ASGI middleware refusing request bodies above ``max_bytes`` (413) before they are parsed or spooled.

    A declared ``Content-Length`` is checked up front; a body without one (chunked) is counted as it
    streams in and cut off as soon as it passes the limit.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        message = f"the request is larger than the upload limit of {self.max_bytes - MULTIPART_OVERHEAD:,} bytes"
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, message)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return event

        async def tracking_send(event: Message) -> None:
            nonlocal started
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, message)


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServeSettings, *, storage: Storage | None = None) -> FastAPI:
    """The service for ``settings`` (model from ``settings.run_dir``, reports in ``settings.database``).

    Args:
        settings: see :class:`~medimg.serve.settings.ServeSettings`.
        storage: an open storage to use instead of opening ``settings.database`` (tests).
    """
    from medimg.serve.routers import health, models, predictions, reports, web

    # Library loggers may print element values of malformed DICOM files: keep them to errors only.
    logging.getLogger("pydicom").setLevel(logging.ERROR)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = storage is None
        app.state.storage = storage or Storage(settings.database_url)
        app.state.service = PredictionService(settings, app.state.storage)
        logger.info(
            "serving %s (%s, classes: %s)",
            app.state.service.info.name,
            app.state.service.info.network,
            ", ".join(app.state.service.info.class_names),
        )
        try:
            yield
        finally:
            if own:
                app.state.storage.close()

    app = FastAPI(
        title="medimg",
        summary="Medical image classification (with explanations) and segmentation, with stored reports",
        description=(
            "Upload an image to `POST /v1/predictions`; read the stored reports under `/v1/reports` as JSON, "
            "printable HTML or FHIR R4 `DiagnosticReport`. Every `/v1` call needs an API token "
            "(`Authorization: Bearer <token>`; create one with `medimg token create`)."
        ),
        version=_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD)

    @app.exception_handler(UploadRejected)
    async def rejected(_request: Request, error: UploadRejected) -> JSONResponse:
        # The status only: a message may quote the first bytes of the upload, which could be patient data.
        logger.info("upload refused with status %d", error.status_code)
        return JSONResponse({"detail": error.message}, status_code=error.status_code)

    @app.exception_handler(MedimgError)
    async def medimg_error(_request: Request, error: MedimgError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected %s while handling a request", type(error).__name__)
        return JSONResponse({"detail": "internal error; the request was not completed"}, status_code=500)

    for module in (health, models, predictions, reports, web):
        app.include_router(module.router)
    return app


def _version() -> str:
    from medimg import __version__

    return __version__
