"""A throwaway PostgreSQL server for the service tests: ``initdb`` + ``pg_ctl`` in a temporary folder, reachable
only through a Unix socket in that folder (no TCP port, so nothing to collide with), one fresh database per test.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as the ``postgres`` account
(Debian's package creates it) or else ``nobody``. The binaries are found on ``PATH`` or in Debian's
``/usr/lib/postgresql/<version>/bin``; ``.ci/run`` installs Debian's ``postgresql`` package.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

NEEDED = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "medimg"


def find_binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (PATH first, then the newest Debian one), or None."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    for folder in [*candidates, *debian]:
        if all((folder / name).is_file() for name in NEEDED):
            return folder
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _run_as() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (PostgreSQL refuses root); None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and there is no 'postgres' or 'nobody' account to run PostgreSQL as")


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; :meth:`create_database` hands out fresh databases."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="medimg-pg-"))  # short: a socket path is at most 107 bytes
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.account = _run_as()
        if self.account is not None:
            os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)

    def _run(self, *args: str) -> None:
        options: dict[str, Any] = {"cwd": self.folder, "env": {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}}
        if self.account is not None:
            options.update(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
        done = subprocess.run(
            [str(self.binaries / args[0]), *args[1:]], capture_output=True, text=True, timeout=120, **options
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.is_file() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}{log}")

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server on its data folder (again, after :meth:`pause`)."""
        # fsync off: the tests stop PostgreSQL only cleanly (pause), so the server's own durability is not under test.
        options = f"-k {self.folder} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start")

    def pause(self) -> None:
        """Stop the server, keeping its data (the database is down until :meth:`resume`)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").is_file():
            with contextlib.suppress(RuntimeError):  # already gone: nothing to stop
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3 over the Unix socket)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.folder}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = "test_" + uuid.uuid4().hex[:12]
        with psycopg.connect(host=str(self.folder), user=SUPERUSER, dbname="postgres", autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def data_bytes(self) -> bytes:
        """Every byte the server has written (tables, indexes, write-ahead log): to search for secrets."""
        return b"".join(p.read_bytes() for p in sorted(self.data.rglob("*")) if p.is_file())
