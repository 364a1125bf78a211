"""The databases the service tests run on: an SQLite file, and a database on a throwaway PostgreSQL server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.serve.postgres import PostgresServer

DATABASE_KINDS = ("sqlite", "postgres")
"""Every database the service tests run on (test ids end in ``[sqlite]`` / ``[postgres]``)."""


@dataclass
class TestDatabase:
    """One empty service database: ``url`` for the service, plus what the tests check behind its back."""

    __test__ = False  # not a test class, despite the name

    kind: str
    url: str
    sqlite_file: Path | None = None
    server: PostgresServer | None = None

    def state(self) -> tuple[int, str]:
        """``(number of reports, "ok" or what the integrity check found)``."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.begin() as connection:
                count = int(connection.execute(text("SELECT count(*) FROM reports")).scalar_one())
                if self.kind == "sqlite":
                    integrity = str(connection.execute(text("PRAGMA integrity_check")).scalar_one())
                else:  # amcheck: the table's heap and every index of it
                    connection.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
                    problems = connection.execute(text("SELECT count(*) FROM verify_heapam('reports')")).scalar_one()
                    connection.execute(
                        text(
                            "SELECT bt_index_check(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'reports'::regclass"
                        )
                    )
                    integrity = "ok" if problems == 0 else f"{problems} heap problem(s)"
        finally:
            engine.dispose()
        return count, integrity

    def stored_bytes(self) -> bytes:
        """Every byte the database holds on disk (SQLite file + WAL; PostgreSQL's whole data folder)."""
        if self.sqlite_file is not None:
            return b"".join(p.read_bytes() for p in sorted(self.sqlite_file.parent.glob(self.sqlite_file.name + "*")))
        assert self.server is not None
        return self.server.data_bytes()
