"""Fixtures for the fault tests: a PostgreSQL server of their own (they stop and start it), and
the Temporal dev server of the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workerplane.store.localpg import LocalPostgres, find_pg_bindir, start_local_postgres


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server for this test alone: it may halt and resume it."""
    if find_pg_bindir() is None:
        pytest.skip("PostgreSQL binaries not installed (run scripts/setup.d/30-postgresql.sh)")
    server = start_local_postgres()
    yield server
    server.stop()
