"""Fixtures for the API tests: the app served by a real uvicorn on loopback, on SQLite and on a
real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import RunningApi, ServerThread, make_store
from fixtures_postgres import pg_url, postgres_server  # noqa: F401 - fixtures

from workerplane.api.app import ApiSettings, create_app
from workerplane.security.redact import install_log_scrubber
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def api(db_url: str) -> Iterator[RunningApi]:
    """The API with no controller attached (deletes complete at once)."""
    install_log_scrubber()
    store = make_store(db_url)
    token = generate_token()
    store.add_token(token, "test")
    port = free_port()
    app = create_app(store, ApiSettings(controller="none"))
    with ServerThread(app, port):
        yield RunningApi(f"http://127.0.0.1:{port}", token, store)
    store.db.dispose()
