"""Fixtures for the fault tests: a PostgreSQL server of their own (they stop and start it), and
the Temporal dev server of the session; the API in process for the security tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, make_api
from fixtures_postgres import pg_url, postgres_server  # noqa: F401 - fixtures

from workerplane.security.redact import install_log_scrubber
from workerplane.store.localpg import LocalPostgres, find_pg_bindir, start_local_postgres


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server for this test alone: it may halt and resume it."""
    if find_pg_bindir() is None:
        pytest.skip("PostgreSQL binaries not installed (run scripts/setup.d/30-postgresql.sh)")
    server = start_local_postgres()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The API in process (httpx's ASGI transport) over a fresh store, on SQLite and on the
    session's PostgreSQL, with the log scrubber installed as ``serve`` installs it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    install_log_scrubber()
    made = make_api(url)
    yield made
    made.store.db.dispose()
