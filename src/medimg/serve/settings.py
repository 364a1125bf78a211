"""Service settings: one validated object, built by the CLI (or a test) and injected with ``Depends``."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_DATABASE = "medimg-serve.db"


#: the start of a URL whose ``//`` is missing or short (``sqlite:/x.db``, ``postgresql+psycopg:/u@host/db``): a
#: scheme of two or more letters, so a Windows drive (``C:/...``) stays a path
_BROKEN_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/?(?!//)")


def database_url(database: str | Path) -> str:
    """A SQLAlchemy URL from a URL (``postgresql+psycopg://...``) or a path to an SQLite file (spaces around it, as
    a configuration file or an environment variable may add them, are dropped).

    Raises:
        ConfigError: ``database`` is empty, or is a URL with its ``//`` missing (``sqlite:/x.db``): as a path it
            would be a new, empty database in a folder named after the scheme, the service's reports elsewhere.
    """
    from medimg.errors import ConfigError

    text = str(database).strip()
    if "://" in text:
        return text
    if not text:
        raise ConfigError(
            "the --db value is empty: give an SQLite file path or a database URL (default medimg-serve.db)"
        )
    if _BROKEN_URL.match(text) and not Path(text).expanduser().exists():
        scheme = text.partition(":")[0]
        colon = "" if "/" in text else f"; a file whose name has a colon: ./{text}"
        raise ConfigError(
            f"--db {text!r} looks like a database URL without its '//': write {scheme}://... (an SQLite file is "
            f"sqlite:///relative/file.db or sqlite:////absolute/file.db, or simply the file's path{colon})"
        )
    return f"sqlite:///{Path(text).expanduser().resolve()}"


class ServeSettings(BaseModel):
    """Everything ``medimg serve`` can be told.

    Example:
        >>> ServeSettings(run_dir="runs/demo/run").max_upload_bytes
        52428800
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_dir: Path = Field(description="the run folder (model bundle) to serve")
    database: str = Field(DEFAULT_DATABASE, description="SQLite file path or any SQLAlchemy database URL")
    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0, description="largest accepted upload, bytes")
    max_pixels: int = Field(
        64_000_000, gt=0, description="largest accepted image, pixels/voxels (decompression-bomb guard)"
    )
    max_image_bytes: int = Field(
        256 * 2**20,
        gt=0,
        description="memory budget of reading one image (medimg.io.limits): a larger one is read reduced when the "
        "model allows (classification), else refused with 413; a request peaks at about 1.5-3.5x this",
    )
    explain_method: str | None = Field("gradcam", description="heatmap method per prediction (None = off)")
    strict_domain: bool = Field(
        False,
        description="refuse (422) uploads outside the model's training domain instead of flagging them in the report",
    )
    max_page_size: int = Field(100, ge=1, description="largest page of GET /v1/reports")
    shared_reports: bool = Field(
        False,
        description="every token lists, opens and deletes every report (one team sharing one history); by default "
        "a token reaches only the reports it created, an admin token (medimg token create --admin) all of them",
    )
    workers: int = Field(2, ge=1, le=64, description="uploads processed at the same time (each has a network copy)")
    queue_limit: int = Field(8, ge=0, description="uploads that may wait for a worker; one more gets 503")
    request_timeout_s: float = Field(
        120.0, gt=0, description="an upload not answered within this time gets 503 (its report is not stored)"
    )
    idempotency_key_hours: float = Field(
        24.0,
        gt=0,
        description="hours an Idempotency-Key names its upload: a key sent again later is a new upload (its old "
        "report is kept)",
    )
    upload_stall_s: float = Field(
        30.0, gt=0, description="an upload whose body sends nothing for this long gets 408 and its connection closes"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="web pages on other origins allowed to call the API from a browser (CORS), e.g. "
        "https://viewer.hospital.example; none by default (the service's own page needs none); '*' allows any",
    )
    work_dir: Path | None = Field(
        None,
        description="private folder where uploads sit while being read (default <temp>/medimg-serve-<uid>); "
        "swept of what stopped servers left at every start",
    )

    @field_validator("database")
    @classmethod
    def _database(cls, database: str) -> str:
        """Checked when the settings are made (a mistyped --db is refused before the model loads), spaces dropped.

        Raises:
            ConfigError: see :func:`database_url` (not a ``ValueError``: its message is the whole error).
        """
        database_url(database)
        return database.strip()

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        """``scheme://host[:port]`` each (a browser's Origin has no path), or ``*``."""
        for origin in origins:
            scheme, sep, rest = origin.partition("://")
            if origin != "*" and (not sep or scheme not in ("http", "https") or not rest or "/" in rest):
                raise ValueError(f"{origin!r} is not an origin: give scheme://host[:port], e.g. https://viewer.example")
        return [origin.rstrip("/") for origin in origins]

    @property
    def database_url(self) -> str:
        return database_url(self.database)
