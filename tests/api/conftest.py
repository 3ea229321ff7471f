"""Fixtures for the API tests: the app served by a real uvicorn on loopback, on SQLite and on a
real PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fixtures_postgres import pg_url, postgres_server  # noqa: F401 - fixtures

from workerplane.api.app import ApiSettings, create_app
from workerplane.security.crypto import SecretBox
from workerplane.security.redact import install_log_scrubber
from workerplane.security.tokens import generate_token
from workerplane.store.db import Database
from workerplane.store.repository import Store
from workerplane.temporal.devserver import free_port


@dataclass
class RunningApi:
    url: str
    token: str
    store: Store

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )


class ServerThread:
    """uvicorn in a background thread (its own event loop), stopped at teardown."""

    def __init__(self, app: object, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")  # type: ignore[arg-type]  # noqa: E501
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_store(url: str) -> Store:
    db = Database(url)
    db.migrate()
    return Store(db, SecretBox(b"\x01" * 32))


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
