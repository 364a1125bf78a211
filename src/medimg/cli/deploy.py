"""Deployment commands: ``medimg export``, ``medimg serve`` and ``medimg token create|list|revoke``."""

from __future__ import annotations

import logging
import math
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from medimg.serve.settings import DEFAULT_DATABASE

logger = logging.getLogger(__name__)

#: seconds `medimg serve` gives requests in progress to finish when it is stopped
SHUTDOWN_GRACE_S = 10

#: the ports ``medimg serve`` listens on (0, "any free port", is refused: the URL it prints must be the real one)
MIN_PORT, MAX_PORT = 1, 65535

Database = Annotated[
    str,
    typer.Option("--db", help="SQLite file, or any SQLAlchemy URL (e.g. postgresql+psycopg://user@host/medimg)"),
]


def export(
    run: Annotated[
        Path, typer.Argument(help="run folder written by `medimg fit` (classification, segmentation or 2D detection)")
    ],
    output_format: Annotated[str, typer.Option("--format", help="export format: onnx")] = "onnx",
    out: Annotated[
        Path | None,
        typer.Option(help="output .onnx file, or an existing folder to write model.onnx into (default RUN)"),
    ] = None,
    parity_data: Annotated[
        list[Path] | None,
        typer.Option(help="images/folders for the PyTorch parity check (default: the run's test split)"),
    ] = None,
    tolerance: Annotated[float, typer.Option(help="fail above this max |PyTorch - ONNX| difference")] = 1e-4,
) -> None:
    """Export a trained model to ONNX (dynamic batch), checked against PyTorch.

    The graph takes the preprocessed image: its recipe (clip, normalise, size) and the class names are in the
    file's metadata (medimg.preprocessing, medimg.class_names), which `medimg predict RUN --engine onnx` applies;
    a client of its own must apply them too (raw pixels give wrong answers). A segmentation network is exported
    at its patch size; `medimg predict RUN IMAGES --engine onnx` runs the same sliding windows in numpy and writes
    the masks.
    """
    from medimg.errors import ConfigError, did_you_mean
    from medimg.export.onnx_export import export_onnx, pipeline_words

    if output_format.lower() != "onnx":
        raise ConfigError(
            f"unknown export format {output_format!r}.{did_you_mean(output_format, ['onnx'])} Available: onnx."
        )
    result = export_onnx(run, out, parity_inputs=parity_data, tolerance=tolerance)
    typer.echo(f"exported:   {result.path} ({result.size_bytes / 1e6:.2f} MB, {result.exporter} exporter)")
    typer.echo(
        f"parity:     max |PyTorch - ONNX Runtime| = {result.max_abs_diff:.3g} on {result.n_parity_images} "
        f"input(s) from {result.parity_source} (tolerance {result.tolerance:g}) -> OK"
    )
    if result.preprocessing_max_abs_diff is not None:
        diff = result.preprocessing_max_abs_diff
        typer.echo(f"preprocess: max |PyTorch/MONAI - numpy| on the network input = {diff:.3g}")
    if result.pipeline_max_abs_diff is not None:
        compared, steps = pipeline_words(result.task)
        typer.echo(
            f"pipeline:   max |PyTorch - numpy + ONNX Runtime| on {compared} = "
            f"{result.pipeline_max_abs_diff:.3g} ({steps}) -> OK"
        )
    for note in result.notes:
        typer.echo(f"note:       {note}")
    typer.echo(f"predict:    medimg predict {shlex.quote(str(result.path))} IMAGES --engine onnx")


def serve(
    run: Annotated[Path, typer.Argument(help="run folder to serve")],
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=f"TCP port, {MIN_PORT}-{MAX_PORT}")] = 8000,
    db: Database = DEFAULT_DATABASE,
    max_upload_mb: Annotated[float, typer.Option(help="largest accepted upload, MB")] = 50.0,
    max_pixels: Annotated[int, typer.Option(help="largest accepted image, pixels (decompression bombs)")] = 64_000_000,
    max_image_mb: Annotated[
        float, typer.Option(help="memory budget of reading one image, MB (larger: read reduced, or 413)")
    ] = 256.0,
    explain: Annotated[str, typer.Option(help="heatmap method: gradcam, gradcam++, occlusion or none")] = "gradcam",
    workers: Annotated[int, typer.Option(help="uploads processed at the same time")] = 2,
    queue_limit: Annotated[int, typer.Option(help="uploads that may wait for a worker; more get 503")] = 8,
    timeout: Annotated[float, typer.Option(help="seconds before an unfinished upload gets 503")] = 120.0,
    upload_stall: Annotated[
        float, typer.Option(help="seconds an upload may send nothing before it gets 408 (slow or stalled clients)")
    ] = 30.0,
    idempotency_key_hours: Annotated[
        float, typer.Option(help="hours an Idempotency-Key names its upload; later, the key is a new upload")
    ] = 24.0,
    work_dir: Annotated[
        Path | None, typer.Option(help="private folder for uploads being read (default <temp>/medimg-serve-<uid>)")
    ] = None,
    strict_domain: Annotated[
        bool, typer.Option(help="refuse (422) uploads outside the training domain instead of flagging them")
    ] = False,
    shared_reports: Annotated[
        bool,
        typer.Option(
            help="every token lists, opens and deletes every report (one team, one history); by default a token "
            "reaches only the reports it created, and an admin token (`medimg token create --admin`) all of them"
        ),
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="a web page's origin allowed to call the API from a browser, e.g. https://viewer.hospital.example "
            "(repeat for several; '*' for any); none by default"
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the web service (OpenAPI docs at /docs, web page at /). Create a token first: medimg token create.

    The port and the model are checked (weights' SHA-256, explanation method) before the database is opened (an
    SQLite file is created if missing) and the server listens: a port out of range or a missing, truncated or
    altered run is a clear error that creates nothing, not a server that starts and fails.
    """
    from medimg.errors import ConfigError

    if not MIN_PORT <= port <= MAX_PORT:  # the socket layer would wrap it (99999 -> 34463) or pick any port (0)
        raise ConfigError(
            f"--port {port} is not a port to listen on: give a TCP port from {MIN_PORT} to {MAX_PORT} (default 8000)"
        )
    _check_can_listen(host, port)  # before the model is loaded and the database created
    try:
        import uvicorn
    except ImportError as error:
        from medimg.errors import MissingDependencyError

        raise MissingDependencyError("uvicorn", "serve") from error
    from pydantic import ValidationError

    from medimg.serve.app import create_app
    from medimg.serve.service import PredictionService, load_served_model
    from medimg.serve.settings import ServeSettings
    from medimg.serve.storage import Storage, shown_url
    from medimg.serve.workspace import usable_root

    for option, megabytes in (("--max-upload-mb", max_upload_mb), ("--max-image-mb", max_image_mb)):
        if not math.isfinite(megabytes):  # int() of it was a traceback
            raise ConfigError(f"{option} {megabytes} is not a size: give a number of MB (e.g. {option} 50)")
    try:
        settings = ServeSettings(
            run_dir=run,
            database=db,
            max_upload_bytes=int(max_upload_mb * 1024 * 1024),
            max_pixels=max_pixels,
            max_image_bytes=int(max_image_mb * 1024 * 1024),
            explain_method=None if explain.lower() == "none" else explain,
            workers=workers,
            queue_limit=queue_limit,
            request_timeout_s=timeout,
            upload_stall_s=upload_stall,
            idempotency_key_hours=idempotency_key_hours,
            work_dir=work_dir,
            strict_domain=strict_domain,
            shared_reports=shared_reports,
            cors_origins=cors_origin or [],
        )
    except ValidationError as error:
        problems = "; ".join(f"{_SERVE_OPTIONS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid `medimg serve` option(s): {problems}") from None
    model = load_served_model(settings)  # a broken run is refused before the database is created
    usable_root(settings.work_dir)  # and so is an upload folder it cannot write to
    storage = Storage(settings.database_url)
    db = shown_url(db) if "://" in db else db  # the logs below: never a database password
    if not storage.list_tokens():
        logger.warning("the database has no API token yet: create one with `medimg token create --db %s`", db)
    unowned = 0 if shared_reports else storage.count_unowned_reports()
    if unowned:
        logger.warning(
            "%d report(s) were stored before reports recorded the token that created them: only admin tokens reach "
            "them (`medimg token create --admin --db %s`), or serve with --shared-reports",
            unowned,
            db,
        )
    service = PredictionService(settings, storage, model=model)
    app = create_app(settings, storage=storage, service=service)
    typer.echo(f"medimg serve: http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    # a stop (SIGTERM, Ctrl-C) lets requests in progress finish for SHUTDOWN_GRACE_S, then cancels them: the
    # lifespan's pool.close() stops their predictions at the next batch instead of waiting out a huge image
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)


#: the serve settings' fields as the options that set them (an error names what the user typed)
_SERVE_OPTIONS = {
    "run_dir": "RUN",
    "database": "--db",
    "max_upload_bytes": "--max-upload-mb",
    "max_pixels": "--max-pixels",
    "max_image_bytes": "--max-image-mb",
    "explain_method": "--explain",
    "workers": "--workers",
    "queue_limit": "--queue-limit",
    "request_timeout_s": "--timeout",
    "upload_stall_s": "--upload-stall",
    "idempotency_key_hours": "--idempotency-key-hours",
    "work_dir": "--work-dir",
    "strict_domain": "--strict-domain",
    "shared_reports": "--shared-reports",
    "cors_origins": "--cors-origin",
}


def _check_can_listen(host: str, port: int) -> None:
    """Bind ``host:port`` once before anything is loaded: uvicorn found a port in use only after the banner, the
    model and the database, and exited with its own ``ERROR: [Errno 98]`` while an old server on that port went on
    answering with its old model.

    Raises:
        ConfigError: the host cannot be resolved, or the port is in use or not allowed.
    """
    import errno
    import socket

    from medimg.errors import ConfigError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise ConfigError(
            f"--host {host}: not an address of this machine ({error}); e.g. 127.0.0.1 or 0.0.0.0"
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use (another medimg serve?): stop it or choose another --port"
                ) from None
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


token_app = typer.Typer(help="Create, list and revoke API tokens (stored hashed).", no_args_is_help=True)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="who or what uses it, e.g. 'radiology-workstation-3'")] = "default",
    db: Database = DEFAULT_DATABASE,
    admin: Annotated[
        bool, typer.Option("--admin", help="reaches every report (a user's token only the reports it created)")
    ] = False,
    expires_in: Annotated[
        float | None,
        typer.Option("--expires-in", metavar="DAYS", help="refused after this many days (e.g. 90); default never"),
    ] = None,
) -> None:
    """Create a token and print it once (only its hash is stored).

    A token lists, opens and deletes the reports it creates; an --admin token every report (also those stored
    before reports recorded their token). `medimg serve --shared-reports` lets every token reach every report.
    """
    import math

    from medimg.errors import ConfigError
    from medimg.serve.settings import database_url
    from medimg.serve.storage import Storage

    if expires_in is not None and not (math.isfinite(expires_in) and 0 < expires_in <= MAX_TOKEN_DAYS):
        raise ConfigError(
            f"--expires-in {expires_in:g}: give the days the token is valid, more than 0 and at most {MAX_TOKEN_DAYS} "
            "(leave it out for a token that never expires)"
        )
    info, token = Storage(database_url(db)).create_token(name, admin=admin, expires_in_days=expires_in)
    typer.echo(token)
    role = "admin token" if info.admin else "token"
    until = f", valid until {_when(info.expires_at)} UTC" if info.expires_at else ""
    typer.echo(f"{role} {info.id} ({info.name}) created{until}; it is shown only now, store it safely", err=True)


#: the longest validity `medimg token create --expires-in` takes (days; 100 years)
MAX_TOKEN_DAYS = 36525


def _when(moment: datetime | None) -> str:
    """``2026-05-01 14:03`` (UTC; a naive time from SQLite is UTC), ``-`` for none."""
    if moment is None:
        return "-"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return f"{aware.astimezone(timezone.utc):%Y-%m-%d %H:%M}"


@token_app.command("list")
def token_list(db: Database = DEFAULT_DATABASE) -> None:
    """List tokens (never the tokens themselves): id, role (user or admin), state, creation, expiry and last use
    (UTC), name. The database must exist (`medimg token create` makes it)."""
    from medimg.serve.settings import database_url
    from medimg.serve.storage import Storage

    rows = [("ID", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED", "NAME")]
    for info in Storage(database_url(db), create=False).list_tokens():
        state = "revoked" if info.revoked_at else "expired" if info.expired() else "active"
        role = "admin" if info.admin else "user"
        rows.append(
            (info.id, role, state, _when(info.created_at), _when(info.expires_at), _when(info.last_used_at), info.name)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="the token id shown by `medimg token list`")],
    db: Database = DEFAULT_DATABASE,
) -> None:
    """Revoke a token: requests with it get 401 from now on. The database must exist."""
    from medimg.errors import ConfigError
    from medimg.serve.settings import database_url
    from medimg.serve.storage import Storage

    if not Storage(database_url(db), create=False).revoke_token(token_id):
        raise ConfigError(f"no active token with id {token_id!r} (see `medimg token list --db {db}`)")
    typer.echo(f"token {token_id} revoked")


def register(app: typer.Typer) -> None:
    """Add the deployment commands to the ``medimg`` app."""
    app.command()(export)
    app.command()(serve)
    app.add_typer(token_app, name="token")
