"""Fixtures for the API tests: the app in process and over a real uvicorn, on SQLite and on a
real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, RunningApi, make_api, running_api
from fixtures_postgres import pg_url, postgres_server  # noqa: F401 - fixtures

from workerplane.security.redact import install_log_scrubber


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    """The app in process, with no controller attached (deletes complete at once)."""
    install_log_scrubber()
    made = make_api(db_url)
    yield made
    made.store.db.dispose()


@pytest.fixture
def served_api(db_url: str) -> Iterator[RunningApi]:
    """The same app served by uvicorn on loopback (for the tests that need real sockets)."""
    with running_api(db_url) as served:
        yield served


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[RunningApi]:
    """The app served on loopback over SQLite only."""
    with running_api(f"sqlite:///{tmp_path / 'api.db'}") as served:
        yield served
