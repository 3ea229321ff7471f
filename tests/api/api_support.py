"""Helpers for the API tests: the app served by a real uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn

from workerplane.api.server import uvicorn_config
from workerplane.security.crypto import SecretBox
from workerplane.store.db import Database
from workerplane.store.repository import Store


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


def make_store(url: str) -> Store:
    db = Database(url)
    db.migrate()
    return Store(db, SecretBox(b"\x01" * 32))
