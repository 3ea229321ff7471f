"""Helpers for the API tests: the app in process (httpx's ASGI transport) over a fresh store, and
the same app served by a real uvicorn on loopback for the few smoke tests that need sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from workerplane.api.app import create_app
from workerplane.api.server import uvicorn_config
from workerplane.api.settings import ApiSettings
from workerplane.planning.status import GroupStatus
from workerplane.security.crypto import SecretBox
from workerplane.security.tokens import generate_token
from workerplane.store.db import Database
from workerplane.store.rows import version_key
from workerplane.store.store import Store
from workerplane.temporal.devserver import free_port


def publish_polling(
    store: Store, deployment: str, build_id: str, workers: int, group_id: str = "g"
) -> None:
    """Publish what a controller would: ``workers`` of the version's group polling."""
    status = GroupStatus(
        version_key=version_key(deployment, build_id), group_id=group_id,
        provider_type="subprocess", scaler_type="backlog", strategy="worker-set",
        workers_running=workers, workers_ready=workers, in_flight=0, pollers=workers, backlog=0,
        backlog_age_s=0.0, add_rate=0.0, dispatch_rate=0.0, desired=workers,
        last_decision="hold", last_reason="", last_error=None, provider_validation_error=None,
        metrics_ok=True, updated_at=0.0,
    )  # fmt: skip
    store.controller.publish([status], partial=True)


def make_store(url: str) -> Store:
    db = Database(url)
    db.migrate()
    return Store(db, SecretBox(b"\x01" * 32))


@dataclass
class Api:
    """An app without a controller (deletes complete at once), its store and a live token."""

    app: FastAPI
    store: Store
    token: str

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """A client that calls the app in process (no socket, no server)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://workerplane.test",
            headers={"Authorization": f"Bearer {token or self.token}"},
        )

    def anonymous(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://workerplane.test"
        )


def make_api(url: str) -> Api:
    store = make_store(url)
    token = generate_token()
    store.tokens.add(token, "test")
    return Api(create_app(store, ApiSettings(controller="none")), store, token)


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
        # The same uvicorn settings as `workerplane serve`.
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port))
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


@contextmanager
def running_api(url: str) -> Iterator[RunningApi]:
    """The app (no controller) on a fresh store at ``url``, served by uvicorn on loopback."""
    made = make_api(url)
    port = free_port()
    with ServerThread(made.app, port):
        yield RunningApi(f"http://127.0.0.1:{port}", made.token, made.store)
    made.store.db.dispose()
