"""``workerplane status`` says the target wait the ``slo`` scaler plans with and why: as
configured, or tightened or relaxed by the achieved p95 its feedback judged. The statuses come
from the planning path (``plan_cycle`` on workers' real sketches), read back from the status file
and through the API's body."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from tests.cli.test_status_cli import run_status
from tests.planning.test_feedback_status import status_after
from workerplane.api.responses import group_status_out
from workerplane.cli.status import _api_groups
from workerplane.controller.local import JsonStatusSink
from workerplane.planning.status import GroupStatus, Warmup
from workerplane.terminal import target_wait

TIGHTENED = (
    "target wait: 2.25s (0.45 of the 5s SLO), tightened from the configured 0.60: tasks waited "
    "longer than the SLO (last judged: p95 7.85s/5s over 100 tasks: tightened)"
)
RELAXED = (
    "target wait: 3.75s (0.75 of the 5s SLO), relaxed from the configured 0.60: tasks started "
    "well within the SLO (last judged: p95 0.98s/5s over 100 tasks: relaxed)"
)
CONFIGURED = "target wait: 3s (0.60 of the 5s SLO), as configured"
WARMUP = Warmup("nightly", 43_200.0, 43_195.5, 43_202.0, 5, "hint: 20 tasks")


def _statuses() -> list[GroupStatus]:
    """Groups whose feedback tightened, relaxed and left the target wait (5 s SLO, 0.6)."""
    return [
        dataclasses.replace(status_after([8.0] * 100), group_id="missed"),
        dataclasses.replace(status_after([1.0] * 100), group_id="fast"),
        dataclasses.replace(
            status_after([8.0] * 100, feedback=False), group_id="fixed", warmups=(WARMUP,)
        ),
    ]


def test_status_says_the_target_wait_and_why(tmp_path: Path) -> None:
    asyncio.run(JsonStatusSink(tmp_path / "status.json").publish(_statuses()))
    result = run_status(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert TIGHTENED in lines
    assert RELAXED in lines
    assert CONFIGURED in lines
    as_json = {g["group_id"]: g for g in json.loads(run_status(tmp_path, "-o", "json").stdout)}
    missed = as_json["missed"]["schedule_to_start"]
    assert missed["target_wait_fraction"] == pytest.approx(0.45)
    assert missed["configured_wait_fraction"] == 0.6


def test_a_scaler_without_an_slo_shows_no_target_wait() -> None:
    achieved = status_after([8.0] * 100).schedule_to_start
    assert achieved is not None
    without_slo = dataclasses.replace(
        achieved, slo_s=None, target_wait_fraction=None, configured_wait_fraction=None
    )
    assert target_wait(without_slo) is None


def test_status_from_the_api_shows_the_achieved_latency_and_target_wait() -> None:
    """``status --api`` builds its groups from the API's body: the achieved latency, its target
    wait and the warm-ups survive the trip."""
    statuses = _statuses()
    version = {
        "deployment_name": "orders", "build_id": "v1",
        "compute_status": {
            "provider_validation": {"error": None},
            "scaling_groups": {
                s.group_id: group_status_out(s).model_dump(mode="json") for s in statuses
            },
        },
    }  # fmt: skip
    read = {g.group_id: g for g in _api_groups(version)}
    for status in statuses:
        assert read[status.group_id].schedule_to_start == status.schedule_to_start
        assert read[status.group_id].warmups == status.warmups
