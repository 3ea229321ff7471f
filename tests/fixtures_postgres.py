"""A real PostgreSQL server for the store and API tests (Debian's postgresql, started per session).

``scripts/setup.d/30-postgresql.sh`` installs the binaries; when they are absent the tests that
need PostgreSQL are skipped with a message saying so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workerplane.store.localpg import LocalPostgres, find_pg_bindir, start_local_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    if find_pg_bindir() is None:
        pytest.skip("PostgreSQL binaries not installed (run scripts/setup.d/30-postgresql.sh)")
    server = start_local_postgres()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server: LocalPostgres) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_database()
