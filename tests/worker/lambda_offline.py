"""A real local AWS Lambda runtime (osls + serverless-offline) and a fault-injecting HTTP proxy.

serverless-offline is an emulator of the Lambda service: it serves the real Lambda Invoke API
(``POST /2015-03-31/functions/<name>/invocations``) on loopback and runs the REAL Python handler
(``examples/lambda/handler.py``) in Python processes of its own, one per concurrent invocation, with
the venv's python first on PATH. Installed by ``scripts/setup.d/40-lambda-offline.sh``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SERVICE_DIR = REPO / "examples" / "lambda"
OSLS = REPO / ".tools" / "node" / "node_modules" / ".bin" / "osls"
FUNCTION_NAME = "workerplane-worker-dev-worker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LambdaOffline:
    """A running ``osls offline start``."""

    endpoint: str
    results_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    function_name: str = FUNCTION_NAME

    def results(self) -> list[dict[str, Any]]:
        """What each finished invocation returned (the example handler appends them)."""
        if not self.results_path.exists():
            return []
        return [json.loads(line) for line in self.results_path.read_text().splitlines() if line]

    def reset(self) -> None:
        self.results_path.write_text("")

    def stop(self) -> None:
        # osls and its python handler processes share a process group: end them all.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def lambda_offline(
    workdir: Path,
    *,
    timeout_s: float = 60,
    idle_exit_s: float = 3,
    slots: int = 4,
    safety_margin_s: float = 8,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[LambdaOffline]:
    """Start serverless-offline for the example service; yields once the Invoke API answers.

    ``safety_margin_s`` is larger than on real Lambda: serverless-offline starts its timeout clock
    before it spawns the handler's Python process (imports take seconds on a busy machine), and an
    asynchronous invocation that reaches the timeout crashes the whole emulator.
    ``extra_env`` is the function's own environment (serverless-offline hands its environment to
    the handler): what a handler invoked with an empty payload reads its settings from.
    """
    if not OSLS.exists():
        raise RuntimeError(
            f"{OSLS} is missing: run scripts/setup --all (scripts/setup.d/40-lambda-offline.sh)"
        )
    link = SERVICE_DIR / "node_modules"
    if not link.exists():
        link.symlink_to(Path("../../.tools/node/node_modules"))
    port = free_port()
    results = workdir / "lambda-results.jsonl"
    results.write_text("")
    log = workdir / "lambda-offline.log"
    venv_bin = Path(os.sys.executable).parent  # type: ignore[attr-defined]
    env = {
        **os.environ,
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "VIRTUAL_ENV": str(venv_bin.parent),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "WORKERPLANE_LAMBDA_TIMEOUT_S": str(int(timeout_s)),
        "WORKERPLANE_IDLE_EXIT_S": str(idle_exit_s),
        "WORKERPLANE_SLOTS": str(slots),
        "WORKERPLANE_SAFETY_MARGIN_S": str(safety_margin_s),
        "WORKERPLANE_LAMBDA_RESULTS": str(results),
        # The repository (examples.app) and its src first, so the handler runs this checkout's
        # workerplane rather than whichever one the venv installed.
        "PYTHONPATH": os.pathsep.join((str(REPO), str(REPO / "src"))),
        **(extra_env or {}),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(OSLS),
                "offline",
                "start",
                "--lambdaPort",
                str(port),
                "--httpPort",
                str(free_port()),
                "--websocketPort",
                str(free_port()),
            ],
            cwd=SERVICE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    handle = LambdaOffline(f"http://127.0.0.1:{port}", results, log, proc)
    deadline = time.monotonic() + 120
    while b"listening on" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"serverless-offline did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield handle
    finally:
        handle.stop()


@dataclass
class FaultProxy:
    """A real HTTP proxy in front of the Invoke API that can throttle or go away.

    * ``throttle_every``: answer every N-th invoke, starting with the first, with 429
      ``TooManyRequestsException`` (the Lambda error shape) instead of forwarding it; 2
      throttles half of the calls.
    * :meth:`go_down`: stop listening (connections are refused) until :meth:`come_back`.

    It counts invokes forwarded upstream and accepted (``forwarded``), with their payload's
    invocation ID, so a test can check nothing was lost or sent twice.
    """

    upstream: str
    throttle_every: int = 0
    port: int = field(default_factory=free_port)
    forwarded: list[str] = field(default_factory=list)
    throttled: int = 0
    refused_window: list[tuple[float, float]] = field(default_factory=list)
    _calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so "down" refuses every new call at once
            # (no pooled keep-alive connection survives the listener).

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with proxy._lock:
                    proxy._calls += 1
                    # The first call is one of them: a run that needs a single invoke (a
                    # burst one handler drains) still meets a throttle.
                    throttle = (
                        proxy.throttle_every and (proxy._calls - 1) % proxy.throttle_every == 0
                    )
                    if throttle:
                        proxy.throttled += 1
                if throttle:
                    error = {"Type": "User", "message": "Rate Exceeded."}
                    self._send(
                        429,
                        json.dumps(error).encode(),
                        {
                            "Content-Type": "application/json",
                            "x-amzn-ErrorType": "TooManyRequestsException",
                        },
                    )
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.split("//")[1], timeout=30)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                upstream.request("POST", self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                if 200 <= reply.status < 300:
                    with proxy._lock:
                        payload = json.loads(body or b"{}")
                        proxy.forwarded.append(
                            payload.get("workerplane", {}).get("invocation_id", "")
                        )
                passthrough = {
                    k: v
                    for k, v in reply.getheaders()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding")
                }
                self._send(reply.status, data, passthrough)
                upstream.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def go_down(self) -> None:
        """Close the listening socket: new connections are refused."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self.refused_window.append((time.time(), 0.0))

    def come_back(self) -> None:
        self.start()
        start, _ = self.refused_window[-1]
        self.refused_window[-1] = (start, time.time())

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
