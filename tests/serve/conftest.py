from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.databases import DATABASE_KINDS, TestDatabase
from tests.serve.postgres import PostgresServer, find_binaries
from tests.serve.support import train_tiny_run, train_tiny_segmentation_run


@pytest.fixture(scope="session")
def deploy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained simple-cnn run folder, shared by every deployment test of the session."""
    return train_tiny_run(tmp_path_factory)


@pytest.fixture(scope="session")
def seg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny U-Net segmentation run folder (synthetic discs), shared by every deployment test."""
    return train_tiny_segmentation_run(tmp_path_factory)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skipped when no PostgreSQL binaries are installed)."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql (.ci/run does it)")
    server = PostgresServer(binaries).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=DATABASE_KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> TestDatabase:
    """An empty service database: an SQLite file, then a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        path = tmp_path / "reports.db"
        return TestDatabase("sqlite", f"sqlite:///{path}", sqlite_file=path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return TestDatabase("postgres", server.create_database(), server=server)
