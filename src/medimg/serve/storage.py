"""Reports, API tokens and service secrets in a real database (SQLAlchemy 2).

SQLite (the default) runs in WAL mode with ``synchronous=FULL``: every report is one transaction, committed
before the client hears about it, so a killed server keeps every report it acknowledged and never keeps a
half-written one. Any other SQLAlchemy URL (PostgreSQL...) works the same way.

Tokens are stored as SHA-256 hashes only (they are 256-bit random secrets, so a fast hash is enough); the
plain token is shown once, when it is created. A token may expire (``expires_at``), records when it was last used,
and is either a user's (it lists, opens and deletes the reports it created) or an admin's (every report, those
stored before reports recorded their token included). Every report records the token that created it
(``token_id``); a :class:`Scope` says whose reports a caller reaches.

Databases made by an older medimg gain the new columns when they are opened (:func:`add_missing_columns`); their
reports stored with an idempotency key are given the token the key names (:func:`claim_keyed_reports`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    true,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from medimg.errors import ConfigError

logger = logging.getLogger("medimg.serve")

TOKEN_PREFIX = "mdg_"


#: the longest label a report row stores (a multi-label model's many findings are then stored as their count)
LABEL_LENGTH = 200
#: seconds a PostgreSQL connection may take to open (libpq's connect_timeout; the URL's own value wins): a server
#: behind a firewall that drops packets, or one that accepts and never answers, fails in this time instead of the
#: operating system's TCP timeout (minutes)
CONNECT_TIMEOUT_S = 10
#: SQLAlchemy's errors leave out the statement's values: they may be a service secret, a token hash or report data,
#: and an error message can reach a log or a traceback
HIDE_PARAMETERS = True


class Base(DeclarativeBase):
    pass


class ReportRow(Base):
    """One prediction report. Holds no patient identifiers (DICOM is de-identified before it gets here).

    Segmentation reports (``task == "segment"``) also hold ``segmentation`` (per-class pixel/voxel counts,
    areas/volumes, the mask format) and ``mask_data`` (the label map: PNG for images, NIfTI for volumes);
    their ``label`` is the largest segmented class and ``probabilities`` the mean class probabilities.
    Detection reports (``task == "detect"``) hold ``detection`` (boxes in the image's pixels, counts per class);
    their ``label`` is the most frequent class and ``probabilities`` the highest box score per class.
    A multi-label classifier's reports (``model_info["multi_label"]``) hold each finding's probability; its
    findings are those at 0.5 or more, and ``label`` joins them with ``|``.
    """

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    label_index: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, float]] = mapped_column(JSON)
    explain_method: Mapped[str | None] = mapped_column(String(40), nullable=True)
    input_format: Mapped[str] = mapped_column(String(20))
    input_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_info: Mapped[dict[str, Any]] = mapped_column(JSON)
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    heatmap_png: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    overlay_png: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    task: Mapped[str] = mapped_column(String(20), default="classify", server_default="classify")
    segmentation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    mask_data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    detection: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the caller's ``Idempotency-Key`` (``<token id>:<key>``) and the SHA-256 of the upload it named
    #: (:mod:`medimg.serve.idempotency`); ``None`` for a request without the header
    idempotency_key: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True, index=True)
    upload_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: the id of the API token that created the report (``None``: stored before reports recorded it; such reports
    #: are reached by admin tokens only)
    token_id: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    #: the class the heatmap explains (``None`` without a heatmap, or stored before it was recorded)
    explained_class: Mapped[str | None] = mapped_column(String(LABEL_LENGTH), nullable=True)


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: after this moment the token is refused (``None``: it never expires)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: when a request last authenticated with it (to the minute: :data:`LAST_USED_RESOLUTION_S`)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: an admin token reaches every report; a user's token only those it created
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class SecretRow(Base):
    __tablename__ = "service_secrets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class KeyTaken(Exception):
    """:meth:`Storage.add_report`: a report for the idempotency key was stored first by another process (a second
    server on the database); ``first`` is that report."""

    def __init__(self, first: ReportRow) -> None:
        super().__init__(f"a report for this idempotency key was stored first: {first.id}")
        self.first = first


#: a token's last use is written at most this often (a write per request would make every read a transaction)
LAST_USED_RESOLUTION_S = 60.0


def _aware(moment: datetime) -> datetime:
    """``moment`` with its UTC zone (SQLite gives back naive UTC times, PostgreSQL aware ones)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class TokenInfo:
    """A token's record (never the token itself)."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    admin: bool = False

    @classmethod
    def of(cls, row: TokenRow) -> TokenInfo:
        return cls(row.id, row.name, row.created_at, row.revoked_at, row.expires_at, row.last_used_at, bool(row.admin))

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and _aware(self.expires_at) <= (now or _now())

    def refusal(self, now: datetime | None = None) -> str | None:
        """Why a request with this token is refused (revoked, expired), None when it is valid."""
        if self.revoked_at is not None:
            return f"the API token {self.id} ({self.name}) was revoked on {_aware(self.revoked_at):%Y-%m-%d %H:%M} UTC"
        if self.expires_at is not None and self.expired(now):
            return f"the API token {self.id} ({self.name}) expired on {_aware(self.expires_at):%Y-%m-%d %H:%M} UTC"
        return None


@dataclass(frozen=True)
class Scope:
    """Whose reports a caller lists, opens and deletes: those its token created (``token_id``), or every report
    (``token_id`` None: an admin token, or a server started with ``--shared-reports``)."""

    token_id: str | None = None

    def condition(self) -> ColumnElement[bool]:
        return true() if self.token_id is None else ReportRow.token_id == self.token_id


EVERY_REPORT = Scope()


REPORT_SUMMARY_FIELDS = ("id", "created_at", "model_name", "task", "label", "confidence", "input_format", "token_id")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _age_s(created_at: datetime) -> float:
    """Seconds since ``created_at``."""
    return (_now() - _aware(created_at)).total_seconds()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: seconds an SQLite connection waits for another process's lock (its busy timeout, and how long the switch to WAL
#: is retried)
SQLITE_BUSY_S = 10.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_S * 1000)}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA secure_delete=ON")  # a deleted report's pictures are overwritten, not left in free pages
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (once per file; it stays so). The switch needs the file to itself, and SQLite
    answers "database is locked" at once, without its busy timeout, while another process writes to a database
    still in its first (rollback) mode (two servers, or a server and ``medimg token create``, starting together on
    a new database): so it is retried for :data:`SQLITE_BUSY_S`."""
    deadline = time.monotonic() + SQLITE_BUSY_S
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


#: how an SQLite database is named, for a message
SQLITE_URL_FORM = (
    "give the file's path (--db reports.db), or a URL with three slashes for a relative path "
    "(sqlite:///reports.db) and four for an absolute one (sqlite:////var/lib/medimg/reports.db)"
)


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``; SQLite files get WAL, full sync and a busy timeout; folders are created, and a new
    database file is readable by its owner only (it holds reports and token hashes). A PostgreSQL connection
    gives up after :data:`CONNECT_TIMEOUT_S` unless the URL sets ``connect_timeout``.

    Args:
        url: a SQLAlchemy URL.
        create: whether a missing SQLite file may be created (``medimg serve``, ``medimg token create``); commands
            that only read or revoke pass False, so a mistyped path is an error, not a new empty database.

    Raises:
        ConfigError: ``create`` is False and the SQLite file does not exist; the URL names no database SQLAlchemy
            knows, or its driver is not installed.
    """
    if url.startswith("sqlite"):
        from pathlib import Path

        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as error:
            raise ConfigError(f"{shown_url(url)} is not an SQLite URL ({error}): {SQLITE_URL_FORM}") from error
        database = parsed.database
        if parsed.host:  # sqlite://x.db: two slashes make the file a host name, which SQLite has none of
            raise ConfigError(f"{url} has two slashes, which make {parsed.host!r} a host name: {SQLITE_URL_FORM}")
        if not database or database == ":memory:":  # sqlite://: a database in memory, gone at every stop
            raise ConfigError(
                f"{url} names no SQLite file (an in-memory database keeps nothing: reports and tokens would be lost "
                f"at every stop): {SQLITE_URL_FORM}"
            )
        if not create and not Path(database).exists():
            raise ConfigError(
                f"the SQLite database {database} does not exist: check the --db path (a new database is "
                f"created by `medimg token create --db {database}` or `medimg serve`)"
            )
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            Path(database).touch(mode=0o600, exist_ok=True)  # a new file readable by its owner only (SQLite
            # gives its -wal and -shm files the database's permissions)
        except OSError as error:  # a read-only or full disk, a parent that is a file, no permission
            raise ConfigError(
                f"cannot create the SQLite database {database}: {_os_reason(error, database)}; check that the --db "
                "path is in a folder you may write to, on a disk with free space"
            ) from error
        try:
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_S},
                hide_parameters=HIDE_PARAMETERS,
            )
        except (ArgumentError, ValueError) as error:
            raise ConfigError(f"{shown_url(url)} is not an SQLite URL ({error}): {SQLITE_URL_FORM}") from error
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        parsed = make_url(url)
        if parsed.host and "@" in parsed.host:  # an unencoded @ in the password: its end would be read as the host,
            raise ConfigError(  # and shown in every message; so no part of this URL is shown
                "the --db URL has more than one '@': a password or user name holding @, :, / or # must be "
                'percent-encoded in the URL (@ is %40; python3 -c "import urllib.parse; '
                "print(urllib.parse.quote(input(), safe=''))\" encodes one)"
            )
        libpq = parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2")
        timeout = libpq and "connect_timeout" not in parsed.query  # pg8000 and asyncpg name it otherwise
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if timeout else {}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=HIDE_PARAMETERS)
    except (ArgumentError, ValueError) as error:  # unparsable (a port that is no number), an unknown dialect
        raise ConfigError(
            f"{shown_url(url)} is not a database URL SQLAlchemy can use ({error}): give an SQLite file path or a "
            "URL such as postgresql+psycopg://user@host/medimg"
        ) from error
    except ImportError as error:  # the dialect's default driver (postgresql:// means psycopg2)
        hint = " or write the URL as postgresql+psycopg://... (psycopg 3, part of medimg[serve])"
        raise ConfigError(
            f"the database URL {shown_url(url)} needs the Python driver {error.name or 'module'!r}, which is not "
            f"installed: pip install {error.name or 'the driver'}{hint if url.startswith('postgresql') else ''}"
        ) from error


def _os_reason(error: OSError, path: str) -> str:
    """The operating system's reason, with the path it concerns when that is another one (a parent folder)."""
    reason = error.strerror or type(error).__name__
    return f"{reason} ({error.filename})" if error.filename and str(error.filename) != path else reason


def shown_url(url: str) -> str:
    """``url`` as it may be shown in a message or a log line: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "the --db value"


def _driver_reason(url: str, error: DBAPIError) -> str:
    """The first line of the driver's message, the URL's password (whole occurrences) replaced by ``***``."""
    reason = (str(error.orig) if error.orig is not None else str(error)).strip().splitlines()
    text = reason[0].strip() if reason else type(error).__name__
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    for secret in {str(password), quote(str(password), safe="")} if password else set():
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
    return text


def database_location(url: str) -> str:
    """Where the database of ``url`` is, for a message or a log line (never the password): ``the SQLite database
    FILE``, or ``the database 'NAME' on HOST:PORT`` (a Unix-socket folder given as ``?host=`` counts as the host)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "the --db database"
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite database {parsed.database or ':memory:'}"
    socket = parsed.query.get("host")
    host = parsed.host or (socket if isinstance(socket, str) else None) or "localhost"
    return f"the database {parsed.database!r} on {host}{f':{parsed.port}' if parsed.port else ''}"


def unavailable_reason(url: str, error: DBAPIError) -> str:
    """Why a running service could not use its database, for the log: where it is and the driver's reason (its
    first line, the password masked; never the SQL or its values)."""
    return f"{database_location(url)} is unavailable ({type(error).__name__}: {_driver_reason(url, error)})"


def unusable_database(url: str, error: DBAPIError) -> ConfigError:
    """The user's error for a database that cannot be opened or reached: which file or server (never the
    password), the driver's reason, and what to check."""
    reason = _driver_reason(url, error)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and "not a database" in reason:
        return ConfigError(
            f"{parsed.database} is not an SQLite database (damaged, or another file): check the --db path; a damaged "
            "database is restored from a backup (a copy of a running one needs its -wal file beside it)"
        )
    if parsed.get_backend_name() == "sqlite" and "readonly" in reason:
        return ConfigError(
            f"the SQLite database {parsed.database} can be read but not written ({reason}): make the file, its "
            "-wal and -shm files and their folder writable by the user running medimg (a read-only disk, or a "
            "backup restored read-only?)"
        )
    if parsed.get_backend_name() == "sqlite":
        return ConfigError(
            f"cannot open the SQLite database {parsed.database}: {reason}; check that the --db path names a file "
            "(not a folder) in a folder you may write to"
        )
    return ConfigError(
        f"cannot use {database_location(url)} ({shown_url(url)}): {reason}; check that the "
        "server runs there and accepts connections from this machine, and the user name, password and database "
        "name in the --db URL"
    )


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the nullable/defaulted columns (and their indexes) of the ``reports`` and ``api_tokens`` tables that a
    database made by an older medimg lacks; returns them as ``table.column``.

    Rows stored before keep working: reports read back as ``task="classify"`` without a token (reached by admin
    tokens only), tokens as users' tokens that never expire.
    """
    added = []
    tables: list[Table] = [ReportRow.__table__, TokenRow.__table__]  # type: ignore[list-item]
    for table in tables:
        present = {column["name"] for column in inspect(engine).get_columns(table.name)}
        with engine.begin() as connection:
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                server_default: Any = column.server_default
                default = f" DEFAULT '{server_default.arg}'" if server_default is not None else ""
                connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{default}"))
                added.append(f"{table.name}.{column.name}")
        _add_missing_indexes(engine, table)
    return added


def _add_missing_indexes(engine: Engine, table: Table) -> None:
    """Create the indexes of ``table`` a database made by an older medimg lacks, unique ones included (the unique
    ``idempotency_key`` index is what makes two servers racing on one key store one report, not two). A unique
    index that the rows already break (possible only in a database without it) is logged and left out."""
    present = {index["name"] for index in inspect(engine).get_indexes(table.name)}
    for index in table.indexes:
        if index.name in present:
            continue
        try:
            with engine.begin() as connection:
                index.create(connection, checkfirst=True)
        except IntegrityError:
            logger.warning(
                "the database's %s table has duplicate %s values: its unique index %s was not created",
                table.name,
                ", ".join(column.name for column in index.columns),
                index.name,
            )


def key_owner(idempotency_key: str) -> str:
    """The id of the token whose caller key (``<token id>:<key>``, :func:`medimg.serve.idempotency.caller_key`)
    this is."""
    return idempotency_key.partition(":")[0]


def claim_keyed_reports(engine: Engine) -> int:
    """Give each report stored without its token (by a medimg whose reports had no ``token_id``) but with an
    idempotency key the token that key names (a caller key starts with its token's id), when that token exists;
    returns how many were given one. Without this, a key's retry after the upgrade answered a report its own
    token could not open (404) and the token's history left it out."""
    with Session(engine) as session, session.begin():
        known = set(session.scalars(select(TokenRow.id)))
        rows = session.scalars(
            select(ReportRow).where(ReportRow.token_id.is_(None), ReportRow.idempotency_key.is_not(None))
        ).all()
        claimed = 0
        for row in rows:
            owner = key_owner(row.idempotency_key or "")
            if owner in known:
                row.token_id = owner
                claimed += 1
        return claimed


#: times a server tries to bring the database's tables up to date at start: two servers (or a server and
#: ``medimg token create``) starting together on a new or older database race to create the same table, column or
#: index, and the one that loses sees it there on its next try
SCHEMA_ATTEMPTS = 5


def _made_meanwhile(url: str, error: DBAPIError) -> bool:
    """Whether ``error`` says a table, column or index was already there (made by another process since we looked):
    SQLite's ``already exists`` and ``duplicate column``, PostgreSQL's ``already exists`` and the duplicate key of
    its catalogue that two concurrent ``CREATE TABLE`` run into."""
    reason = _driver_reason(url, error).lower()
    return "already exists" in reason or "duplicate" in reason


def _check_writable(engine: Engine) -> None:
    """Write a row and roll it back: a database that can be read but not written (a read-only file or disk, a
    PostgreSQL standby, a user without INSERT) started a server that then answered every upload 503; now it is an
    error at start. Nothing is kept."""
    with Session(engine) as session:
        session.add(SecretRow(key=f"write-check-{secrets.token_hex(8)}", value=""))
        session.flush()
        session.rollback()


class Storage:
    """The service database.

    Args:
        url: a SQLAlchemy URL (see :func:`medimg.serve.settings.database_url`).
        create: whether a missing SQLite file may be created; False for commands that only read or revoke.

    Raises:
        ConfigError: the database cannot be opened or reached (an SQLite path that is a folder or not writable, a
            server that is down or refuses the user): one message naming the file or the host and database, never
            the password; ``create`` is False and the SQLite file does not exist; the URL or its driver is unusable.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url, create=create)
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                Base.metadata.create_all(self.engine)
                add_missing_columns(self.engine)
                claim_keyed_reports(self.engine)
                if create:
                    _check_writable(self.engine)
                break
            except (DatabaseError, InterfaceError) as error:  # DatabaseError: also a file that is not a database
                if attempt + 1 < SCHEMA_ATTEMPTS and isinstance(error, DBAPIError) and _made_meanwhile(url, error):
                    time.sleep(0.1 * (attempt + 1))  # another server made the table, column or index first: the
                    continue  # next look sees it there
                self.engine.dispose()
                raise unusable_database(url, error) from error
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits as one transaction (rolled back on any error)."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    def read_only(self) -> bool:
        """Whether the database now refuses writes it can read (a disk remounted read-only, a file made read-only,
        a PostgreSQL server turned standby): a row is written and rolled back, as at start. Any other failure to
        write (a lock held by a busy writer) is not read-only: uploads wait for it and succeed."""
        try:
            _check_writable(self.engine)
        except DBAPIError as error:
            reason = _driver_reason(self.url, error).lower()
            return "readonly" in reason or "read-only" in reason
        return False

    # ------------------------------------------------------------------ secrets
    def secret(self, key: str) -> str:
        """A random secret stored under ``key`` (created on first use, stable afterwards).

        Two processes creating it at once (two servers starting together on a new database) get the same
        secret: the database's primary key decides, and the one that loses the race reads the winner's.
        """
        with self.session() as session:
            row = session.get(SecretRow, key)
            if row is not None:
                return row.value
        try:
            with self.session() as session:
                row = SecretRow(key=key, value=secrets.token_hex(32))
                session.add(row)
            return row.value
        except IntegrityError:  # another process stored it between the look-up and the insert
            with self.session() as session:
                stored = session.get(SecretRow, key)
                if stored is None:
                    raise
                return stored.value

    # ------------------------------------------------------------------ tokens
    def create_token(
        self, name: str, *, admin: bool = False, expires_in_days: float | None = None
    ) -> tuple[TokenInfo, str]:
        """A new API token; returns its record and the plain token (shown once, stored only hashed).

        Args:
            name: who or what uses it.
            admin: whether it reaches every report (else only those it creates).
            expires_in_days: days until it is refused (None: never).
        """
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        created = _now()
        expires = created + timedelta(days=expires_in_days) if expires_in_days is not None else None
        row = TokenRow(
            id=secrets.token_hex(4),
            name=name,
            token_sha256=hash_token(token),
            created_at=created,
            expires_at=expires,
            admin=admin,
        )
        with self.session() as session:
            session.add(row)
        return TokenInfo.of(row), token

    def use_token(self, token: str) -> TokenInfo | None:
        """The record of ``token`` in any state (revoked and expired ones too: :meth:`TokenInfo.refusal` says why
        they are refused), None for an unknown one; a valid token's last use is recorded (to the minute)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self.session() as session:
            row = session.scalar(select(TokenRow).where(TokenRow.token_sha256 == hash_token(token)))
            if row is None:
                return None
            now = _now()
            if TokenInfo.of(row).refusal(now) is None and (
                row.last_used_at is None or _age_s(row.last_used_at) >= LAST_USED_RESOLUTION_S
            ):
                row.last_used_at = now
            return TokenInfo.of(row)

    def verify_token(self, token: str) -> TokenInfo | None:
        """The token's record if it exists, is not revoked and has not expired."""
        info = self.use_token(token)
        return info if info is not None and info.refusal() is None else None

    def list_tokens(self) -> list[TokenInfo]:
        with self.session() as session:
            rows = session.scalars(select(TokenRow).order_by(TokenRow.created_at)).all()
            return [TokenInfo.of(r) for r in rows]

    def revoke_token(self, token_id: str) -> bool:
        """Revoke by id; False if there is no such (active) token."""
        with self.session() as session:
            row = session.get(TokenRow, token_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = _now()
            return True

    # ------------------------------------------------------------------ reports
    def add_report(self, **fields: Any) -> ReportRow:
        """Store a report in one transaction; returns it with its new ``id`` and ``created_at``.

        Raises:
            KeyTaken: another process stored a report for this ``idempotency_key`` first (the database's unique
                key decides the race): this one is not stored; the caller compares the uploads' digests
                (``KeyTaken.first.upload_sha256``) to answer a replay or a refusal.
        """
        row = ReportRow(id=uuid.uuid4().hex, created_at=_now(), **fields)
        try:
            with self.session() as session:
                session.add(row)
        except IntegrityError:
            first = self.report_for_key(fields["idempotency_key"]) if fields.get("idempotency_key") else None
            if first is None:
                raise
            raise KeyTaken(first) from None
        return row

    def report_for_key(self, idempotency_key: str, *, max_age_s: float | None = None) -> ReportRow | None:
        """The report stored for a caller's idempotency key, if any.

        A report older than ``max_age_s`` lets its key go: the key is cleared from it (the report is kept) and
        ``None`` returned, so the key names a new upload. A report stored without its token (by an older medimg) is
        given the token the key names (:func:`claim_keyed_reports`).
        """
        with self.session() as session:
            row = session.scalars(select(ReportRow).where(ReportRow.idempotency_key == idempotency_key)).first()
            if row is not None and max_age_s is not None and _age_s(row.created_at) > max_age_s:
                row.idempotency_key = None
                return None
            if row is not None and row.token_id is None:  # stored by an older medimg (one still writing to the
                row.token_id = key_owner(idempotency_key)  # database too): the key names its token
            return row

    def get_report(self, report_id: str, scope: Scope = EVERY_REPORT) -> ReportRow | None:
        """The report, if it exists within ``scope`` (another token's report is None, as a missing one)."""
        with self.session() as session:
            return session.scalar(select(ReportRow).where(ReportRow.id == report_id, scope.condition()))

    def delete_report(self, report_id: str, scope: Scope = EVERY_REPORT) -> bool:
        """Delete a report within ``scope``; False when there is none (or it is another token's)."""
        with self.session() as session:
            row = session.scalar(select(ReportRow).where(ReportRow.id == report_id, scope.condition()))
            if row is None:
                return False
            session.delete(row)
        self._forget_deleted()
        return True

    def _forget_deleted(self) -> None:
        """After a delete on SQLite: copy the write-ahead log into the database and empty it, so the deleted rows'
        bytes (which secure_delete overwrites in the database) are not left in the log's earlier frames either.
        Best effort: a reader in progress may keep part of the log until the next checkpoint."""
        if self.engine.dialect.name != "sqlite":
            return
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except DatabaseError as error:
            logger.warning(
                "could not checkpoint %s after a delete (%s)", database_location(self.url), type(error).__name__
            )

    def list_reports(
        self, *, offset: int = 0, limit: int = 20, scope: Scope = EVERY_REPORT
    ) -> tuple[int, list[dict[str, Any]]]:
        """``(total, newest-first summaries of one page)`` of the reports within ``scope`` (no images); each says
        ``in_domain`` (``None`` for a report stored without the domain check), so a list shows which results came
        from unlike inputs, and ``token_id``, the token that created it."""
        columns = [getattr(ReportRow, name) for name in REPORT_SUMMARY_FIELDS]
        with self.session() as session:
            total = int(session.scalar(select(func.count()).select_from(ReportRow).where(scope.condition())) or 0)
            rows = session.execute(
                select(*columns, ReportRow.input_info)
                .where(scope.condition())
                .order_by(ReportRow.created_at.desc(), ReportRow.id)
                .offset(offset)
                .limit(limit)
            ).all()
        summaries = []
        for *fields, input_info in rows:
            domain = (input_info or {}).get("domain") or {}
            in_domain = domain.get("in_domain") if isinstance(domain, dict) else None
            summaries.append({**dict(zip(REPORT_SUMMARY_FIELDS, fields, strict=True)), "in_domain": in_domain})
        return total, summaries

    def count_reports(self, scope: Scope = EVERY_REPORT) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(ReportRow).where(scope.condition())) or 0)

    def count_unowned_reports(self) -> int:
        """Reports stored before reports recorded their token (reached by admin tokens only)."""
        with self.session() as session:
            unowned = select(func.count()).select_from(ReportRow).where(ReportRow.token_id.is_(None))
            return int(session.scalar(unowned) or 0)
