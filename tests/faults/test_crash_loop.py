"""Fault: a worker command that crashes on start. It is restarted with exponential backoff, its
exit code and the end of its output (secrets scrubbed) reach ``workerplane status``, the version
fails with that reason, and its logs do not pile up."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from run_cli import start_run, status_json, stop, wait_until

from workerplane.embedded.example import write_deployment
from workerplane.providers.subprocess.crashes import KEPT_LOGS

pytestmark = pytest.mark.integration

SECRET = "hunter2-crash-loop-secret"
CRASHING_WORKER = (
    "import os, sys\n"
    "print('connecting with password', os.environ['DB_PASSWORD'])\n"
    "print('fatal: cannot reach the database', file=sys.stderr)\n"
    "sys.exit(3)\n"
)


def test_crash_loop_backs_off_and_reports_the_exit(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    spec = write_deployment(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={
            "workers": {
                "provider": {
                    "type": "subprocess",
                    "details": {
                        "command": sys.executable,
                        "args": ["-c", CRASHING_WORKER],
                        "strategy": "worker-set",
                        "secret_env": {"DB_PASSWORD": SECRET},
                    },
                },
                "scaler": {
                    "type": "backlog",
                    "details": {"min_count": 1, "max_count": 2, "metrics_poll_interval_ms": 200},
                },
            }
        },
    )
    state, log = tmp_path / "state", tmp_path / "controller.log"
    controller = start_run(spec, state, log, "--address", temporal_address)
    try:
        # The backoff doubles: 1 s, 2 s, 4 s, 8 s (without it, a start every cycle).
        wait_until(lambda: "crash 5 in a row" in log.read_text(), "five crashes in a row")
        delays = [int(d) for d in re.findall(r"in a row, next start in (\d+)s", log.read_text())]
        assert delays[:5] == [1, 2, 4, 8, 16], log.read_text()[-3000:]

        def reported() -> bool:
            groups = status_json(state)
            return bool(groups) and bool(groups[0].get("last_worker_exit"))

        wait_until(reported, "the exit in the status")
        group = status_json(state)[0]
        assert "exit code 3" in group["last_worker_exit"]
        assert "fatal: cannot reach the database" in group["last_worker_exit"]
        assert SECRET not in group["last_worker_exit"]
        assert group["last_error"] and "exit code 3" in group["last_error"]
        # Only the newest failed workers' logs are kept.
        logs = list(state.rglob("w-*.log"))
        assert 1 <= len(logs) <= KEPT_LOGS, logs
        assert SECRET not in log.read_text()
    finally:
        stop(controller)
