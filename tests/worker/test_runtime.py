"""The worker runtime in a real process against the real dev server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from tests.fixtures_default_temporal import default_temporal_server  # noqa: F401 - a fixture
from workerplane.temporal.devserver import DevServer
from workerplane.worker.poll_gate import server_completes_polls
from workerplane.worker.status import read_status

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]


_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_leftover_workers() -> Iterator[None]:
    """A failing test must not leave its worker running (these workers have no lease)."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def _start_worker(address: str, queue: str, status: Path, **env: str) -> subprocess.Popen[bytes]:
    # Only this test's settings: nothing inherited from other tests' TEMPORAL_*/WORKERPLANE_*.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WORKERPLANE_"))}
    full_env = dict(
        base,
        TEMPORAL_ADDRESS=address,
        TEMPORAL_TASK_QUEUE=queue,
        WORKERPLANE_STATUS_FILE=str(status),
        **env,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.worker"],
        env=full_env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _started.append(process)
    return process


async def _wait_exit(process: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while process.poll() is None:
        assert time.monotonic() < deadline, "worker did not exit"
        await asyncio.sleep(0.1)
    return process.returncode


async def test_exits_when_idle_after_work(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    status = tmp_path / "status.json"
    worker = _start_worker(
        temporal_address,
        unique_name,
        status,
        WORKERPLANE_IDLE_EXIT_S="1.5",
        WORKERPLANE_SLOTS="3",
    )
    client = await Client.connect(temporal_address)
    result = await asyncio.wait_for(
        client.execute_workflow(ProcessItem.run, 0.5, id=unique_name, task_queue=unique_name), 60
    )
    assert result.startswith("done")
    assert await _wait_exit(worker) == 0
    final = read_status(status)
    assert final is not None and final.exit_reason == "idle" and final.completed >= 1
    assert final.slots == 3  # the activity slots its in_flight counts against
    assert final.tasks_finished == 1 and 0.5 <= final.task_seconds < 30


async def test_sigterm_finishes_in_flight_activity(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    status = tmp_path / "status.json"
    worker = _start_worker(temporal_address, unique_name, status)
    client = await Client.connect(temporal_address)
    handle = await client.start_workflow(
        ProcessItem.run, 3.0, id=unique_name, task_queue=unique_name
    )
    deadline = time.monotonic() + 60
    while (s := read_status(status)) is None or s.in_flight == 0:
        assert time.monotonic() < deadline, "the activity never started"
        await asyncio.sleep(0.05)
    # The next heartbeat reports how long the task in flight has run (it runs 3 s).
    while (s := read_status(status)) is None or (s.in_flight and s.running_seconds == 0):
        assert time.monotonic() < deadline, "no heartbeat while the activity ran"
        await asyncio.sleep(0.05)
    assert s.in_flight == 0 or 0 < s.running_seconds <= 3.5
    worker.send_signal(signal.SIGTERM)
    assert await _wait_exit(worker) == 0
    final = read_status(status)
    assert final is not None and final.exit_reason == "signal" and final.in_flight == 0
    assert final.running_seconds == 0
    # The activity finished inside the stopping worker; a new worker runs the final workflow task.
    successor = _start_worker(
        temporal_address, unique_name, tmp_path / "next.json", WORKERPLANE_IDLE_EXIT_S="1"
    )
    assert await asyncio.wait_for(handle.result(), 60) == "done after 3.0s (attempt 1)"
    await _wait_exit(successor)


async def test_a_draining_worker_keeps_its_report_fresh_until_it_exits(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """A drain lasts as long as the task in flight (here 8 s, longer than a report stays
    fresh): the worker goes on reporting it, so the controller still knows its group's tasks."""
    status = tmp_path / "status.json"
    worker = _start_worker(temporal_address, unique_name, status)
    client = await Client.connect(temporal_address)
    handle = await client.start_workflow(
        ProcessItem.run, 8.0, id=unique_name, task_queue=unique_name
    )
    deadline = time.monotonic() + 60
    while (s := read_status(status)) is None or s.in_flight == 0:
        assert time.monotonic() < deadline, "the activity never started"
        await asyncio.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    stale: list[float] = []
    draining_reports = 0
    while worker.poll() is None:
        assert time.monotonic() < deadline, "the worker never exited"
        s = read_status(status)
        if s is not None and s.state == "draining":
            draining_reports += 1
            if not s.is_fresh():
                stale.append(time.time() - s.updated_at)
            assert s.in_flight == 1
        await asyncio.sleep(0.2)
    assert draining_reports > 20, "the drain lasted the activity's length"
    assert stale == [], f"the report went stale while draining ({max(stale):.1f} s old)"
    final = read_status(status)
    assert final is not None and final.state == "stopped" and final.in_flight == 0
    successor = _start_worker(
        temporal_address, unique_name, tmp_path / "next.json", WORKERPLANE_IDLE_EXIT_S="1"
    )
    assert await asyncio.wait_for(handle.result(), 60) == "done after 8.0s (attempt 1)"
    await _wait_exit(successor)


async def test_max_lifetime(temporal_address: str, tmp_path: Path, unique_name: str) -> None:
    status = tmp_path / "status.json"
    worker = _start_worker(temporal_address, unique_name, status, WORKERPLANE_MAX_LIFETIME_S="1")
    assert await _wait_exit(worker) == 0
    final = read_status(status)
    assert final is not None and final.exit_reason == "max_lifetime"


async def test_orphaned_worker_leaves_when_lease_is_stale(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """A worker whose controller stopped renewing the lease exits once idle: no orphans."""
    lease = tmp_path / "controller.lease"
    lease.touch()
    os.utime(lease, (time.time() - 3600, time.time() - 3600))
    worker = _start_worker(
        temporal_address,
        unique_name,
        tmp_path / "s.json",
        WORKERPLANE_CONTROLLER_LEASE=str(lease),
        WORKERPLANE_ORPHAN_EXIT_S="1",
    )
    assert await _wait_exit(worker) == 0
    final = read_status(tmp_path / "s.json")
    assert final is not None and final.exit_reason == "orphaned"


async def test_a_busy_worker_retiring_on_a_default_server_serves_what_its_open_polls_bring(
    default_temporal_server: DevServer,  # noqa: F811
    tmp_path: Path,
    unique_name: str,
) -> None:
    """With ``WORKERPLANE_QUIET_RETIREMENT=auto``, on a server that drops a leaving worker's
    polls (Temporal's default), SIGTERM to a busy worker closes it to new polls and waits for
    the open ones: a workflow started after the signal still runs on it, once, instead of
    waiting out a timeout on a poll the worker had cancelled. (A worker no task is reaching
    leaves at once: ``QUIET_WHILE_TASKS_WITHIN_S``.)"""
    status = tmp_path / "status.json"
    worker = _start_worker(
        default_temporal_server.address,
        unique_name,
        status,
        WORKERPLANE_GRACEFUL_SHUTDOWN_S="40",
        WORKERPLANE_QUIET_RETIREMENT="auto",
    )
    client = await Client.connect(default_temporal_server.address)
    first = await client.start_workflow(
        ProcessItem.run, 2.0, id=f"{unique_name}-1", task_queue=unique_name
    )
    deadline = time.monotonic() + 60
    while (s := read_status(status)) is None or s.in_flight == 0:
        assert time.monotonic() < deadline, "the activity never started"
        await asyncio.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    while (s := read_status(status)) is None or s.state != "draining":
        assert worker.poll() is None, "the worker left without waiting for its polls"
        await asyncio.sleep(0.05)
    second = await asyncio.wait_for(
        client.execute_workflow(
            ProcessItem.run, 0.2, id=f"{unique_name}-2", task_queue=unique_name
        ),
        30,
    )
    assert second == "done after 0.2s (attempt 1)"
    assert await asyncio.wait_for(first.result(), 30) == "done after 2.0s (attempt 1)"
    assert await _wait_exit(worker) == 0
    final = read_status(status)
    assert final is not None and final.exit_reason == "signal" and final.tasks_finished == 2


async def test_the_runtime_reads_whether_the_server_completes_a_leaving_worker_s_polls(
    temporal_address: str,
    default_temporal_server: DevServer,  # noqa: F811
) -> None:
    """The session's server runs with ``frontend.enableCancelWorkerPollsOnShutdown`` (its workers
    leave at once); a server with Temporal's defaults does not (they retire quietly)."""
    assert await server_completes_polls(await Client.connect(temporal_address)) is True
    default = await Client.connect(default_temporal_server.address)
    assert await server_completes_polls(default) is False
