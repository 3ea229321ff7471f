"""A group's metrics window is judged with the target wait the controller last reported: the
feedback's share lives in the controller's scaler state, which only the group's status carries
(in process, on SQLite and on a real PostgreSQL)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from api_support import Api

from tests.planning.test_feedback_status import status_after
from workerplane.planning.events import GroupSample
from workerplane.scaling.latency import LatencySketch

SLO_GROUP: dict[str, Any] = {
    "provider": {"type": "subprocess", "details": {"command": "python"}},
    "scaler": {"type": "slo", "details": {"schedule_to_start_slo_ms": 5000}},
}
VERSION: dict[str, Any] = {
    "build_id": "v1",
    "task_queues": ["orders"],
    "compute_config": {"scaling_groups": {"g": SLO_GROUP}},
}
METRICS = "/v1/worker-deployments/orders/versions/v1/groups/g/metrics"


def measured(at: float) -> GroupSample:
    """A sample whose workers measured 100 tasks that waited 8 s each (the SLO is 5 s)."""
    return GroupSample(
        "orders/v1", "g", at, backlog=0, backlog_age_s=0.0, in_flight=0, workers_running=4,
        workers_ready=4, desired=4, pollers=4, add_rate=1.0, dispatch_rate=1.0,
        waited=LatencySketch.of([8.0] * 100),
    )  # fmt: skip


async def test_the_window_shows_the_target_wait_in_effect(api: Api) -> None:
    async with api.client() as c:
        assert (await c.post("/v1/worker-deployments", json={"name": "orders"})).status_code == 201
        created = await c.post("/v1/worker-deployments/orders/versions", json=VERSION)
        assert created.status_code == 201, created.text
        api.store.telemetry.insert([measured(time.time() - 30)], [])

        # No status yet: the spec's share, as configured.
        before = (await c.get(METRICS)).json()["schedule_to_start"]
        assert before["missing_slo"] is True
        assert before["target_wait_fraction"] == before["configured_wait_fraction"] == 0.6
        assert before["feedback"] is None

        # The controller's feedback tightened it: the window says so.
        tightened = dataclasses.replace(status_after([8.0] * 100), version_key="orders/v1")
        api.store.controller.publish([tightened], partial=True)
        after = (await c.get(METRICS)).json()["schedule_to_start"]
    assert after["target_wait_fraction"] == tightened.schedule_to_start.target_wait_fraction
    assert after["configured_wait_fraction"] == 0.6
    assert after["feedback"] == "p95 7.85s/5s over 100 tasks: tightened"
    assert after["count"] == 100
