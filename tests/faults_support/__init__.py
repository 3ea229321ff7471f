"""Helpers for the fault tests: real ``workerplane serve`` processes on free loopback ports, and
polling with generous deadlines (the tests check what happens, never how fast)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from workerplane.security.crypto import KEY_ENV, generate_key
from workerplane.temporal.devserver import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")

#: One encryption key for every serve process of a test run (they share the database).
SHARED_KEY = generate_key()


@dataclass
class ServeProcess:
    """A ``workerplane serve`` subprocess and what the tests need to talk to it."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        """One call; ``None`` when the server does not answer (starting, or gone)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            return httpx.request(
                method, self.base_url + path, headers=headers, timeout=20,
                **kwargs,  # type: ignore[arg-type]
            )  # fmt: skip
        except httpx.TransportError:
            return None

    def get(self, path: str) -> httpx.Response | None:
        return self.request("GET", path)

    def wait_for(
        self, path: str, ok: Callable[[httpx.Response], bool], timeout_s: float = 120
    ) -> httpx.Response:
        return wait_until(
            lambda: _accepted(self.get(path), ok), f"{path} on :{self.port}", timeout_s,
            lambda: self.log()[-3000:],
        )  # fmt: skip

    def readiness(self) -> dict[str, object] | None:
        """The ``/readyz`` body (200 or 503), or ``None`` when it has none."""
        response = self.get("/readyz")
        if response is None or response.status_code not in (200, 503):
            return None
        body: dict[str, object] = response.json()
        return body

    def holds_lease(self) -> bool:
        body = self.readiness()
        controller = body.get("controller") if body else None
        return isinstance(controller, dict) and controller.get("holds_lease") is True

    def fencing_token(self) -> int:
        body = self.readiness()
        assert body is not None
        controller = body["controller"]
        assert isinstance(controller, dict)
        token = controller["fencing_token"]
        assert isinstance(token, int)
        return token

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease release."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def _accepted(
    response: httpx.Response | None, ok: Callable[[httpx.Response], bool]
) -> httpx.Response | None:
    return response if response is not None and ok(response) else None


def wait_until(
    probe: Callable[[], T | None],
    what: str,
    timeout_s: float = 120,
    context: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``probe`` until it returns something (not None, not False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{context()}")
        time.sleep(0.3)


def start_serve(
    tmp_path: Path,
    name: str,
    *,
    token: str,
    state_dir: Path,
    args: Iterable[str] = (),
    env: dict[str, str] | None = None,
) -> ServeProcess:
    """Start ``python -m workerplane.cli.main serve`` (cwd: the repository, for the example
    worker) with the token and the encryption key in its environment, not its arguments."""
    port = free_port()
    log_path = tmp_path / f"serve-{name}.log"
    environ = {**os.environ, "WORKERPLANE_TOKEN": token, KEY_ENV: SHARED_KEY, **(env or {})}
    command = [
        sys.executable, "-m", "workerplane.cli.main", "serve", "--port", str(port),
        "--state-dir", str(state_dir), *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return ServeProcess(process, port, token, log_path)
