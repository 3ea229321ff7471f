"""A webhook launcher that runs workers as local processes: the receiver end of the ``webhook``
provider, as small as it can be while doing it properly.

It verifies each request's signature (and refuses replays), and for

* ``set_size`` (worker-set strategy) holds that many worker processes: it starts the missing ones,
  and stops the newest extra ones with SIGTERM (workerplane's runtime then stops polling, finishes
  its tasks and exits);
* ``start`` (invoke strategy) starts ``count`` more, which leave on their own once idle
  (``WORKERPLANE_IDLE_EXIT_S``, 10 s unless the launcher's environment sets it);
* ``validate`` starts nothing.

Each worker gets the request's connection, queues and identity marker
(``WORKERPLANE_WORKER_IDENTITY``), so the controller counts it as the group's own and reads its
heartbeats. Replace :meth:`LocalLauncher.spawn` with your platform's call (Nomad, Slurm, Modal)
and the rest stays. Run it::

    WEBHOOK_SECRET=... python -m examples.webhook_launcher --port 8089 -- python -m examples.worker
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from workerplane.planning.identity import MARKER_ENV
from workerplane.providers.webhook.signature import (
    SIGNATURE_HEADER,
    SignatureError,
    verify_signature,
)
from workerplane.worker.runtime import SLOTS_ENV

#: How long an invoked worker stays once idle, unless the launcher's environment says otherwise.
DEFAULT_IDLE_EXIT_S = "10"


@dataclass
class WorkerLife:
    """One worker process the launcher started, and when (``time.time()``) it started and ended."""

    process: subprocess.Popen[bytes]
    started_at: float
    ended_at: float | None = None


@dataclass
class LocalLauncher:
    """Starts and stops worker processes as the webhook requests say.

    Attributes:
        secret: the webhook's signing secret.
        command: the worker command (``python -m examples.worker``).
        env: variables every worker gets (``PYTHONPATH``, slots), under the request's.
        lives: every worker started, in order (for reports and benchmarks).
    """

    secret: str
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    lives: list[WorkerLife] = field(default_factory=list)
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, header: str | None, raw: bytes) -> dict[str, Any]:
        """Act on one request; returns the reply body.

        Raises:
            SignatureError: the request is not signed with the secret, stale, or a replay.
        """
        verify_signature(self.secret, header, raw, seen=self._seen)
        body = json.loads(raw)
        with self._lock:
            self._reap()
            if body["action"] == "set_size":
                return {"running": self._hold(body, int(body["count"]))}
            if body["action"] == "start":
                for _ in range(int(body["count"])):
                    self.spawn(body, invoked=True)
                return {"started": int(body["count"])}
            return {}

    def running(self) -> list[WorkerLife]:
        """The workers whose process has not exited."""
        with self._lock:
            self._reap()
            return [life for life in self.lives if life.ended_at is None]

    def _reap(self) -> None:
        for life in self.lives:
            if life.ended_at is None and life.process.poll() is not None:
                life.ended_at = time.time()

    def _hold(self, body: Mapping[str, Any], count: int) -> int:
        live = [life for life in self.lives if life.ended_at is None]
        for life in live[count:]:
            life.process.send_signal(signal.SIGTERM)
        for _ in range(count - len(live)):
            self.spawn(body, invoked=False)
        return count

    def spawn(self, body: Mapping[str, Any], *, invoked: bool) -> None:
        """Start one worker for the request ``body``."""
        env = {**os.environ, **self.env, **worker_env(body)}
        if invoked:
            env.setdefault("WORKERPLANE_IDLE_EXIT_S", DEFAULT_IDLE_EXIT_S)
        process = subprocess.Popen(list(self.command), env=env)
        self.lives.append(WorkerLife(process, time.time()))

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """SIGTERM every worker, and SIGKILL those still running after ``timeout_s``."""
        with self._lock:
            live = [life for life in self.lives if life.ended_at is None]
        for life in live:
            life.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for life in live:
            try:
                life.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                life.process.kill()
                life.process.wait()
        with self._lock:
            self._reap()


def worker_env(body: Mapping[str, Any]) -> dict[str, str]:
    """The variables a worker needs from a request: its connection, queues and identity marker.
    (The request carries no secret: give workers their API key the way your platform keeps
    secrets.)"""
    env = {
        "TEMPORAL_ADDRESS": str(body["temporal"]["address"]),
        "TEMPORAL_NAMESPACE": str(body["temporal"]["namespace"]),
        "TEMPORAL_TASK_QUEUE": str(body["task_queue"]),
        "WORKERPLANE_TASK_QUEUES": ",".join(body["task_queues"]),
    }
    if body.get("task_types"):
        env["WORKERPLANE_TASK_QUEUE_TYPES"] = ",".join(body["task_types"])
    if body.get("worker_identity"):
        env[MARKER_ENV] = str(body["worker_identity"])
    if body.get("deployment_name") and body.get("build_id") not in (None, "", "default"):
        env["TEMPORAL_DEPLOYMENT_NAME"] = str(body["deployment_name"])
        env["TEMPORAL_WORKER_BUILD_ID"] = str(body["build_id"])
    report = body.get("report") or {}
    if report.get("url") and report.get("token"):
        env["WORKERPLANE_REPORT_URL"] = str(report["url"])
        env["WORKERPLANE_REPORT_TOKEN"] = str(report["token"])
    return env


def example_worker_launcher(secret: str, slots: int = 4) -> LocalLauncher:
    """A launcher of this repository's example worker (``python -m examples.worker``) with
    ``slots`` activity slots, as the benchmarks and tests run it."""
    repo = Path(__file__).resolve().parents[1]
    return LocalLauncher(
        secret=secret,
        command=[sys.executable, "-m", "examples.worker"],
        env={SLOTS_ENV: str(slots), "PYTHONPATH": f"{repo / 'src'}{os.pathsep}{repo}"},
    )


def serve_in_background(launcher: LocalLauncher) -> tuple[ThreadingHTTPServer, str]:
    """``launcher`` served on a free loopback port from a daemon thread: the server (to shut
    down) and the URL to give the ``webhook`` provider."""
    server = serve(launcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/workers"


def serve(launcher: LocalLauncher, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for ``launcher`` (not yet serving: call ``serve_forever``)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                status, reply = 200, launcher.handle(self.headers.get(SIGNATURE_HEADER), raw)
            except SignatureError as err:
                status, reply = 401, {"error": str(err)}
            except (ValueError, KeyError, TypeError) as err:
                status, reply = 400, {"error": f"bad request: {err}"}
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("command", nargs="+", help="the worker command, after --")
    args = parser.parse_args()
    launcher = LocalLauncher(secret=os.environ["WEBHOOK_SECRET"], command=args.command)
    server = serve(launcher, args.host, args.port)
    print(f"launcher on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        launcher.stop_all()


if __name__ == "__main__":
    main()
