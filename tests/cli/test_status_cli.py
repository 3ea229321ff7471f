"""``workerplane status`` reads what the controller published and shows it per group."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from workerplane.controller.local import JsonStatusSink
from workerplane.planning.status import ControllerStatus, GroupStatus

REPO_ROOT = Path(__file__).resolve().parents[2]


def _status(group: str) -> GroupStatus:
    return GroupStatus(
        version_key="orders", group_id=group, provider_type="subprocess", scaler_type="backlog",
        strategy="worker-set", workers_running=3, workers_ready=2, in_flight=5, pollers=2,
        backlog=17, backlog_age_s=1.5, add_rate=4.0, dispatch_rate=3.0, desired=3,
        last_decision="set size 3", last_reason="backlog=17 in_flight=5 -> desired 3",
        last_error=None, provider_validation_error=None, metrics_ok=True, updated_at=time.time(),
    )  # fmt: skip


def run_status(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workerplane.cli.main", "status", "--state-dir", str(state_dir),
         *args],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
        env=dict(os.environ, COLUMNS="200"),
    )  # fmt: skip


def test_status_shows_each_group(tmp_path: Path) -> None:
    asyncio.run(JsonStatusSink(tmp_path / "status.json").publish([_status("wf"), _status("act")]))
    result = run_status(tmp_path)
    assert result.returncode == 0, result.stderr
    for expected in ("orders / wf", "orders / act", "set size 3", "desired 3", "17"):
        assert expected in result.stdout
    as_json = json.loads(run_status(tmp_path, "--output", "json").stdout)
    assert {g["group_id"] for g in as_json} == {"wf", "act"}
    assert as_json[0]["backlog"] == 17 and as_json[0]["workers_running"] == 3


def test_status_without_a_controller_says_so(tmp_path: Path) -> None:
    result = run_status(tmp_path)
    assert result.returncode == 2
    assert "no controller status" in result.stderr and "Traceback" not in result.stderr


def test_status_shows_the_controllers_load_on_temporal(tmp_path: Path) -> None:
    load = ControllerStatus(
        rps_budget=40.0, rps_used=12.5, idle_read_interval_s=60.0, active_groups=3,
        idle_groups=97, calls_waiting=0, updated_at=time.time(),
    )  # fmt: skip
    sink = JsonStatusSink(tmp_path / "status.json")
    asyncio.run(sink.publish([_status("wf")], controller=load))
    result = run_status(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "12.5 of 40/s budget" in result.stdout
    assert "97 idle read every 60s" in result.stdout


def test_status_shows_unmanaged_pollers(tmp_path: Path) -> None:
    """A group polled by workers workerplane did not start says so, in every output."""
    status = dataclasses.replace(
        _status("wf"), unmanaged_pollers=2, unmanaged_identities=("12@laptop", "7@old-host")
    )
    asyncio.run(JsonStatusSink(tmp_path / "status.json").publish([status]))
    table = run_status(tmp_path)
    assert "2 unmanaged pollers (not counted as capacity): 12@laptop, 7@old-host" in table.stdout
    assert "unmanaged" in run_status(tmp_path, "-o", "wide").stdout.splitlines()[2]
    as_json = json.loads(run_status(tmp_path, "--output", "json").stdout)
    assert as_json[0]["unmanaged_pollers"] == 2
    assert as_json[0]["unmanaged_identities"] == ["12@laptop", "7@old-host"]
    assert as_json[0]["unmanaged_counted"] is False
