"""Fault: two ``workerplane run`` on the same state directory doubled the workers. Now the second
stands by (and says so) while the first holds the directory's lock, and takes over, adopting the
workers rather than doubling them, when the first dies."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from run_cli import start_run, status_json, stop, wait_until

from tests.controller.support import subprocess_group, write_spec
from workerplane.providers.subprocess.procfs import live_worker_pids

pytestmark = pytest.mark.integration


def test_second_controller_stands_by_then_takes_over(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": subprocess_group(slots=2, scaler={"min_count": 2, "max_count": 4})},
    )
    state = tmp_path / "state"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_run(spec, state, first_log, "--address", temporal_address)
    second = None
    try:

        def running(count: int, pid: int) -> bool:
            groups = status_json(state) if (state / "status.json").exists() else []
            if not groups or groups[0]["workers_running"] != count:
                return False
            return (state / "controller.lock").read_text().strip() == str(pid)

        wait_until(lambda: running(2, first.pid), "two workers under the first controller")
        workers = live_worker_pids(str(state))
        assert len(workers) == 2

        second = start_run(spec, state, second_log, "--address", temporal_address, "--drain")
        standby = f"another controller holds {state}/controller.lock (pid {first.pid}); standing by"
        wait_until(lambda: standby in second_log.read_text(), "the second controller stands by")
        assert second.poll() is None
        assert second_log.read_text().count("standing by") == 1
        assert live_worker_pids(str(state)) == workers  # nothing doubled

        first.send_signal(signal.SIGKILL)
        first.wait()
        wait_until(lambda: "took over" in second_log.read_text(), "the second one takes over")
        wait_until(lambda: running(2, second.pid), "two workers under the second controller")
        assert live_worker_pids(str(state)) == workers  # adopted, not replaced or doubled
    finally:
        stop(first)
        if second is not None:
            stop(second)
    wait_until(lambda: not live_worker_pids(str(state)), "workers drained")
