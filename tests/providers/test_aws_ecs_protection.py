"""ECS task scale-in protection from inside a worker task.

The ECS agent's task-protection endpoint (``PUT $ECS_AGENT_URI/task-protection/v1/state``) only
exists inside an ECS task, so a local HTTP server on loopback stands in for it and records the
requests. The worker side is real: the status file is written with the runtime's own
``write_status`` and read by :class:`EcsTaskProtection`, called as the runtime calls
``should_stop``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from workerplane.providers.aws_ecs.provider import EcsTaskProtection
from workerplane.worker.status import WorkerStatus, write_status


@pytest.fixture
def agent() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_PUT(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body))
            data = json.dumps({"protection": {"ProtectionEnabled": body["ProtectionEnabled"]}})
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _wait(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_protection_follows_in_flight_work(
    agent: tuple[str, list[tuple[str, dict[str, Any]]]], tmp_path: Path
) -> None:
    uri, seen = agent
    status = tmp_path / "status.json"
    hook = EcsTaskProtection(agent_uri=uri, status_file=str(status), min_interval_s=0.0)

    write_status(status, WorkerStatus(pid=1, state="polling", in_flight=0, updated_at=time.time()))
    assert hook() is None  # never asks the worker to stop
    _wait(lambda: hook.protected is False)

    write_status(status, WorkerStatus(pid=1, state="polling", in_flight=2, updated_at=time.time()))
    hook()
    _wait(lambda: hook.protected is True)

    write_status(status, WorkerStatus(pid=1, state="polling", in_flight=0, updated_at=time.time()))
    hook()
    _wait(lambda: hook.protected is False)

    assert hook.history == [False, True, False]
    assert [path for path, _ in seen] == ["/task-protection/v1/state"] * 3
    assert seen[1][1] == {"ProtectionEnabled": True, "ExpiresInMinutes": 60}
    assert seen[2][1] == {"ProtectionEnabled": False}


def test_outside_ecs_it_does_nothing(tmp_path: Path) -> None:
    hook = EcsTaskProtection(agent_uri="", status_file=str(tmp_path / "s.json"))
    assert hook() is None
    assert hook.history == []
