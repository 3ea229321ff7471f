"""Issue 12, item 1: two ``serve`` processes on one PostgreSQL run exactly one controller. When
the leader is killed the other takes over (with a higher fencing token); when PostgreSQL stops
for a while and starts again, one controller runs again and the version's workers come back,
never duplicated."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from faults_support import ServeProcess, start_serve, wait_until

from workerplane.providers.subprocess.procfs import live_worker_pids
from workerplane.security.tokens import generate_token
from workerplane.store.localpg import LocalPostgres

LEASE_TTL_S = 6
OUTAGE_S = 10


def _token(process: ServeProcess) -> int | None:
    """The fencing token ``process`` holds the controller lease under, or ``None``."""
    body = process.readiness()
    controller = body.get("controller") if body else None
    if isinstance(controller, dict) and controller.get("holds_lease") is True:
        token = controller.get("fencing_token")
        return token if isinstance(token, int) else None
    return None


def _sole_holder(processes: Sequence[ServeProcess]) -> ServeProcess | None:
    holders = [p for p in processes if _token(p) is not None]
    return holders[0] if len(holders) == 1 else None


def _ready_with(workers: int) -> Any:
    return lambda r: (
        r.status_code == 200
        and r.json()["status"] == "READY"
        and r.json()["available_workers"] == workers
    )


def _workers_become(state: Path, count: int) -> set[int]:
    return wait_until(
        lambda: pids if len(pids := live_worker_pids(state)) == count else None,
        f"{count} worker processes",
    )


@pytest.fixture
def serve_processes(tmp_path: Path) -> Iterator[list[ServeProcess]]:
    processes: list[ServeProcess] = []
    yield processes
    for process in processes:
        process.stop()
    for pid in live_worker_pids(tmp_path / "state"):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_one_controller_across_kill_and_database_outage(
    own_postgres: LocalPostgres,
    temporal_address: str,
    tmp_path: Path,
    unique_name: str,
    serve_processes: list[ServeProcess],
) -> None:
    url = own_postgres.create_database()
    state = tmp_path / "state"  # shared: a new leader adopts the workers of the old one
    token = generate_token()

    def start(name: str) -> ServeProcess:
        process = start_serve(
            tmp_path, name, token=token, state_dir=state,
            args=["--db", url, "--address", temporal_address, "--lease-ttl", str(LEASE_TTL_S)],
        )  # fmt: skip
        serve_processes.append(process)
        process.wait_for("/healthz", lambda r: r.status_code == 200)
        return process

    a, b = start("a"), start("b")
    leader = wait_until(lambda: _sole_holder([a, b]), "exactly one controller")
    name = "ha-" + str(abs(hash(unique_name)) % 10**8)
    body = {
        "name": name, "endpoint_type": "temporal", "temporal_task_queue": f"{name}-q",
        "command": [sys.executable, "-m", "examples.worker"],
        "min_workers": 1, "max_workers": 1, "per_worker": 4,
    }  # fmt: skip
    created = leader.request("POST", "/v1/endpoints", json=body)
    assert created is not None and created.status_code == 201, created
    leader.wait_for(f"/v1/endpoints/{name}", _ready_with(1))
    _workers_become(state, 1)

    # The leader dies without a word: the standby takes over under a higher token.
    first_token = _token(leader)
    assert first_token is not None
    leader.kill()
    standby = b if leader is a else a
    wait_until(lambda: (_token(standby) or 0) > first_token, "the standby to take the lease over")
    standby.wait_for(f"/v1/endpoints/{name}", _ready_with(1))
    _workers_become(state, 1)
    processes = [standby, start("c")]
    assert _sole_holder(processes) is standby

    # PostgreSQL stops: the leader cannot renew, so it stops acting (before the TTL can run out).
    own_postgres.halt()
    halted_at = time.monotonic()
    wait_until(
        lambda: all(p.readiness() is not None and _token(p) is None for p in processes),
        "every process to give the lease up",
    )
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - halted_at)))
    own_postgres.resume()

    # One controller runs again and acts: a new size is applied, by exactly one controller.
    leader = wait_until(lambda: _sole_holder(processes), "one controller after the outage")
    resized = leader.request(
        "PUT", f"/v1/endpoints/{name}", json={"min_workers": 2, "max_workers": 2}
    )
    assert resized is not None and resized.status_code == 200, resized
    leader.wait_for(f"/v1/endpoints/{name}", _ready_with(2))
    assert len(_workers_become(state, 2)) == 2
    assert _sole_holder(processes) is leader
    status = httpx.get(leader.base_url + "/readyz", timeout=20).json()
    assert status["status"] == "ok" and status["controller"]["fencing_token"] > first_token
