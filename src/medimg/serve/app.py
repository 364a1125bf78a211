"""The FastAPI application: ``create_app(settings)``.

Example:
    >>> from medimg.serve import ServeSettings, create_app
    >>> app = create_app(ServeSettings(run_dir="runs/demo/run", database="serve.db"))   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)

The model, the database and the inference pool open once, in the lifespan. Every ``/v1`` endpoint needs an
API token; every refusal is a JSON 4xx ``{"detail": "..."}`` (503 with ``Retry-After`` when the pool is full, or
when the database is down or unreachable: logged with the database's host, never its password); an unexpected
error is a JSON 500 that names no internals, logged as its type only, on a connection that stays open for the next
request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from medimg.errors import MedimgError
from medimg.serve.idempotency import HEADER, REPLAYED_HEADER, KeysInProcess
from medimg.serve.rejections import UploadRejected
from medimg.serve.service import PredictionService
from medimg.serve.settings import ServeSettings
from medimg.serve.storage import Storage, database_location, unavailable_reason
from medimg.serve.uploads import MULTIPART_OVERHEAD
from medimg.serve.workers import Busy, InferencePool

logger = logging.getLogger("medimg.serve")

#: seconds a client is asked to wait before retrying when the database is unavailable
DATABASE_RETRY_AFTER_S = 5
#: the answer then (503): the request may be sent again as it was (with its Idempotency-Key, if any)
DATABASE_UNAVAILABLE = "the database is unavailable; retry later"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RedactQueries(logging.Filter):
    """Access-log filter: a request line's query string is replaced by ``?...`` (a client may put a token or a
    patient's name in the URL; the log must not keep it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?...", *args[3:])
        return True


def redact_access_log() -> None:
    """Install :class:`RedactQueries` on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueries) for f in access.filters):
        access.addFilter(RedactQueries())


class HttpMiddleware:
    """An ASGI middleware of the HTTP requests it :meth:`handles` (the others, and lifespan and websocket
    scopes, go straight to the application); subclasses write :meth:`handle`."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    def handles(self, scope: Scope) -> bool:
        """Whether this HTTP request is the middleware's (default: every one)."""
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.handles(scope):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class BodySizeLimit(HttpMiddleware):
    """ASGI middleware refusing request bodies above the upload limit (413) before they are parsed (plus the
    multipart envelope; a JSON body, base64, may be 4/3 of the limit).

    A declared ``Content-Length`` is checked up front; a body without one (chunked) is counted as it streams
    in: as soon as it passes the limit, the 413 goes out, the application is told the client left (so it stops
    reading), and whatever it answers after that is dropped.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_upload: int, stall_s: float = 30.0) -> None:
        super().__init__(app)
        self.max_upload = max_upload
        self.stall_s = stall_s

    def handles(self, scope: Scope) -> bool:
        return scope.get("method") in {"POST", "PUT", "PATCH"}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request is larger than the upload limit of {self.max_upload:,} bytes"
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        as_text = kind.endswith(b"json")  # base64: 4 characters per 3 bytes of the file
        max_bytes = (self.max_upload * 4 // 3 if as_text else self.max_upload) + MULTIPART_OVERHEAD
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _send_json(send, 413, message)
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            try:
                event = await asyncio.wait_for(receive(), self.stall_s)
            except asyncio.TimeoutError:  # a client that stopped sending (or a slow-body attack) frees its slot
                refused = True
                logger.info("an upload sent nothing for %g s: answered 408", self.stall_s)
                if not started:
                    await _send_json(send, 408, f"the upload sent nothing for {self.stall_s:g} s: send it again")
                return {"type": "http.disconnect"}
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > max_bytes:
                    refused = True
                    if not started:
                        await _send_json(send, 413, message)
                    return {"type": "http.disconnect"}
            return event

        async def tracking_send(event: Message) -> None:
            nonlocal started
            if refused:
                return
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if not refused:
                raise  # a real error: ContainErrors (inside) normally answers it already


class HeadAsGet(HttpMiddleware):
    """ASGI middleware answering ``HEAD`` as ``GET`` without the body (health checks, ``wget --spider``, uptime
    monitors); the routes declare GET only, which answered HEAD with 405."""

    def handles(self, scope: Scope) -> bool:
        return scope.get("method") == "HEAD"

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def without_body(event: Message) -> None:
            if event["type"] == "http.response.body":
                event = {**event, "body": b""}
            await send(event)

        await self.app({**scope, "method": "GET"}, receive, without_body)


#: headers on every answer: no other site may frame the page or the reports (clickjacking), no browser guesses a
#: type other than the one sent, and no URL (a report id) leaks to another site in a Referer
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every answer (those a route set itself are kept)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(event: Message) -> None:
            if event["type"] == "http.response.start":
                present = {name.lower() for name, _ in event.get("headers", [])}
                added = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                event = {**event, "headers": [*event.get("headers", []), *added]}
            await send(event)

        await self.app(scope, receive, with_headers)


class ContainErrors(HttpMiddleware):
    """ASGI middleware answering any unexpected exception with a JSON 500 that names no internals.

    It sits inside Starlette's own error middleware, which would log the traceback (SQL statements and their
    parameters included) and, once a response has started, close the connection: here the error is logged as
    its type only and the connection stays usable for the client's next request.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(event: Message) -> None:
            nonlocal started
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:  # the client went away mid-upload: nothing to answer, nothing went wrong here
            logger.info("the client left before %s %s was read", scope["method"], scope["path"])
        except Exception as error:
            logger.error("unexpected %s while handling %s %s", type(error).__name__, scope["method"], scope["path"])
            if not started:
                await _send_json(send, 500, "internal error; the request was not completed")


async def _send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    settings: ServeSettings, *, storage: Storage | None = None, service: PredictionService | None = None
) -> FastAPI:
    """The service for ``settings`` (model from ``settings.run_dir``, reports in ``settings.database``).

    Args:
        settings: see :class:`~medimg.serve.settings.ServeSettings`.
        storage: an open storage to use instead of opening ``settings.database``.
        service: a loaded prediction service (on ``storage``) to use instead of loading the model in the
            lifespan: ``medimg serve`` loads it first, so a broken run is a clear error before the server starts.
    """
    from medimg.library_logs import quiet_dicom_decoder_errors
    from medimg.serve.routers import api_docs, health, models, predictions, reports, web

    # Library loggers may print element values of malformed DICOM files (kept to errors only) and each failed
    # decoder's traceback: the service answers with medimg's own reason instead.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    quiet_dicom_decoder_errors()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redact_access_log()  # here: uvicorn has configured its loggers by now
        own = storage is None
        app.state.storage = storage or Storage(settings.database_url)
        app.state.service = service or PredictionService(settings, app.state.storage)
        app.state.pool = InferencePool(settings.workers, settings.queue_limit, settings.request_timeout_s)
        logger.info(
            "serving %s (%s, classes: %s)",
            app.state.service.info.name,
            app.state.service.info.network,
            ", ".join(app.state.service.info.class_names),
        )
        # where the reports go (never the password): a server started from another folder with a relative --db
        # opens a new, empty database, and this line is how its operator sees that earlier reports are elsewhere
        logger.info(
            "reports are stored in %s (%d so far)",
            database_location(app.state.storage.url),
            app.state.storage.count_reports(),
        )
        try:
            yield
        finally:
            app.state.pool.close()
            app.state.service.close()
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
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: /docs is a self-contained page (routers.api_docs)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keys_in_process = KeysInProcess()
    app.add_middleware(ContainErrors)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, max_upload=settings.max_upload_bytes, stall_s=settings.upload_stall_s)
    if settings.cors_origins:  # a viewer on another origin calls the API from the browser (tokens, no cookies)
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(  # the outer one: its headers go on every answer, a 413 of the size limit included
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            # X-Requested-With and Cache-Control: what upload widgets (Dropzone.js) send by default
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Requested-With", "Cache-Control", HEADER],
            expose_headers=["Retry-After", "Location", REPLAYED_HEADER],
            max_age=600,
        )

    @app.exception_handler(UploadRejected)
    async def rejected(_request: Request, error: UploadRejected) -> JSONResponse:
        # The status only: a message may quote the first bytes of the upload, which could be patient data.
        logger.info("upload refused with status %d", error.status_code)
        return JSONResponse({"detail": error.message}, status_code=error.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code != 405:
            return await http_exception_handler(request, error)
        allowed = (error.headers or {}).get("Allow", "") or "another method"
        fix = ""
        if request.method == "PUT":
            fix = " (curl -T sends PUT: upload with curl -F file=@FILE or --data-binary @FILE)"
        detail = f"{request.method} is not accepted on {request.url.path}; use {allowed}{fix}"
        return JSONResponse({"detail": detail}, status_code=405, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        # one shape for every refusal, {"detail": "<text>"}: FastAPI's default is a list of objects
        problems = "; ".join(
            f"{' '.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', 'invalid')}"
            for problem in error.errors()
        )
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)

    @app.exception_handler(MedimgError)
    async def medimg_error(_request: Request, error: MedimgError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(Busy)
    async def busy(_request: Request, error: Busy) -> JSONResponse:
        logger.info("request refused with 503: the inference pool is full or the request ran out of time")
        headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s is not None else {}
        return JSONResponse({"detail": error.message}, status_code=503, headers=headers)

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        # The database is down, unreachable or refused the work (a stopped server, a dropped connection, a locked
        # SQLite file): an operational failure the client should retry, not a bug. The log names where the
        # database is and the driver's reason, never the password, the SQL or its values.
        storage = getattr(request.app.state, "storage", None)
        url = storage.url if isinstance(storage, Storage) else settings.database_url
        reason = unavailable_reason(url, error) if isinstance(error, DBAPIError) else type(error).__name__
        logger.error("%s: answered 503 to %s %s", reason, request.method, request.url.path)
        return JSONResponse(
            {"detail": DATABASE_UNAVAILABLE}, status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)}
        )

    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(InterfaceError, database_unavailable)

    for module in (health, models, predictions, reports, web, api_docs):
        app.include_router(module.router)
    return app


def _version() -> str:
    from medimg import __version__

    return __version__
