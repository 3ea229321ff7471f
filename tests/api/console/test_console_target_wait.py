"""The target wait of an ``slo`` group in a real browser (Debian's Chromium): the group page says
the wait the scaler plans with and why (tightened or relaxed by the achieved p95, or as
configured) in the status summary and above the charts, as the API reports it. The app runs
without a controller; the statuses are the planning path's (``plan_cycle`` on real sketches),
published as a controller would. Every wait is on the page's state."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from api_support import RunningApi
from console_support import requires_chromium, screenshot
from playwright.async_api import Page, expect

from tests.api.test_metrics_target_wait import SLO_GROUP, measured
from tests.api.test_metrics_target_wait import VERSION as SLO_VERSION
from tests.planning.test_feedback_status import status_after
from workerplane.planning.achieved import judge
from workerplane.planning.status import GroupStatus
from workerplane.scaling.latency import LatencySketch

pytestmark = [pytest.mark.integration, requires_chromium]

VERSION: dict[str, Any] = {
    **SLO_VERSION,
    "compute_config": {
        "scaling_groups": {
            "g": SLO_GROUP,
            "plain": {
                **SLO_GROUP,
                "task_queue_types": ["WORKFLOW"],
                "scaler": {"type": "backlog", "details": {"max_count": 3}},
            },
        }
    },
}
GROUP_PAGE = "/ui/#/groups/orders/v1/"


def _publish(api: RunningApi, status: GroupStatus, group_id: str = "g") -> None:
    published = dataclasses.replace(
        status, version_key="orders/v1", group_id=group_id, updated_at=time.time()
    )
    api.store.controller.publish([published], partial=True)


async def test_the_group_page_says_the_target_wait_and_why(
    page: Page, sqlite_api: RunningApi
) -> None:
    with sqlite_api.client() as c:
        assert c.post("/v1/worker-deployments", json={"name": "orders"}).status_code == 201
        created = c.post("/v1/worker-deployments/orders/versions", json=VERSION)
        assert created.status_code == 201, created.text
    # The workers measured 100 tasks that waited 8 s (the SLO is 5 s) in the chart window.
    sqlite_api.store.telemetry.insert([measured(time.time() - 30)], [])
    _publish(sqlite_api, status_after([8.0] * 100))
    # A backlog group's tasks, judged without an SLO (as the controller judges them).
    unjudged = judge(LatencySketch.of([8.0] * 100), 900.0, None, 4)
    plain = dataclasses.replace(status_after([8.0] * 100), scaler_type="backlog")
    _publish(sqlite_api, dataclasses.replace(plain, schedule_to_start=unjudged), "plain")

    await page.goto(f"{sqlite_api.url}/ui")
    await page.fill("#token", sqlite_api.token)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Overview")
    await page.goto(f"{sqlite_api.url}{GROUP_PAGE}g")

    # Tightened by the missed p95: in the summary and above the charts, in the same words.
    summary = page.locator("#group-summary [data-direction]")
    tightened = (
        "2.25 s (0.45 of the 5 s SLO), tightened from the configured 0.60: tasks waited longer "
        "than the SLO (last judged: p95 7.85s/5s over 100 tasks: tightened)"
    )
    await expect(summary).to_have_text(tightened)
    await expect(summary).to_have_attribute("data-direction", "tightened")
    window = page.locator("#target-wait [data-direction]")
    await expect(window).to_have_text(tightened)
    await expect(page.locator("#target-wait")).to_contain_text("Target wait: ")
    await expect(page.locator("#achieved-latency")).to_contain_text("missing it: too few workers")
    await screenshot(page, "12-target-wait-tightened")

    # The next windows came in well under: relaxed, as the page shows at its next refresh.
    _publish(sqlite_api, status_after([1.0] * 100))
    relaxed = (
        "3.75 s (0.75 of the 5 s SLO), relaxed from the configured 0.60: tasks started well "
        "within the SLO (last judged: p95 0.98s/5s over 100 tasks: relaxed)"
    )
    await expect(summary).to_have_text(relaxed)
    await expect(window).to_have_text(relaxed)

    # With the feedback off, the configured share.
    _publish(sqlite_api, status_after([8.0] * 100, feedback=False))
    await expect(summary).to_have_text("3 s (0.60 of the 5 s SLO), as configured")
    await expect(summary).to_have_attribute("data-direction", "configured")
    await expect(window).to_have_text("3 s (0.60 of the 5 s SLO), as configured")

    # A scaler without an SLO has no target wait.
    await page.goto(f"{sqlite_api.url}{GROUP_PAGE}plain")
    await expect(page.locator("#group-summary")).to_contain_text("subprocess / backlog")
    await expect(page.locator("#group-summary")).to_contain_text("over 100 tasks")
    await expect(page.locator("#group-summary")).not_to_contain_text("Target wait")
