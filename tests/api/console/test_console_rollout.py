"""The rollout panel of a deployment's page in a real browser (Debian's Chromium) against a real
``serve`` (its rollout runner moves the stored routing): a new build ramping its first step, the
step, ramp, next step and events as the API reports them; pause, a refused second pause (the
API's 409 in words), a rollback; and a read-only token's refusal. Every wait is on a state."""

from __future__ import annotations

import uuid

import pytest
from api_support.rollout_waits import until
from console_support import Served, requires_chromium, screenshot
from playwright.async_api import Page, expect

pytestmark = [pytest.mark.integration, requires_chromium]

#: How long the controller and the rollout runner may take on a loaded machine (a bound only).
SLOW_MS = 180_000


def _first_version(queue: str) -> dict[str, object]:
    """A build with no worker to start (a minimum of 0) and one long progressive step."""
    return {
        "build_id": "v1", "task_queues": [queue],
        "compute_config": {"scaling_groups": {"g": {
            "provider": {"type": "subprocess", "details": {"command": "python"}},
            "scaler": {"type": "backlog", "details": {"min_count": 0, "max_count": 1}},
        }}},
        "rollout": {"strategy": "progressive", "steps": [{"ramp_percentage": 10, "pause": "1h"}]},
    }  # fmt: skip


async def _log_in(page: Page, served: Served, token: str) -> None:
    await page.goto(f"{served.url}/ui")
    await page.fill("#token", token)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Overview")


async def test_rollout_panel_shows_the_status_and_sends_commands(
    page: Page, served: Served
) -> None:
    name = f"roll-{uuid.uuid4().hex[:8]}"
    path = f"/v1/worker-deployments/{name}"
    async with served.client() as admin:
        assert (await admin.post("/v1/worker-deployments", json={"name": name})).status_code == 201
        first = await admin.post(f"{path}/versions", json=_first_version(f"{name}-q"))
        assert first.status_code == 201, first.text
        await until(admin, path, lambda d: d["current_version"] == "v1")
        assert (await admin.post(f"{path}/versions", json={"build_id": "v2"})).status_code == 201
        viewer = await admin.post("/v1/tokens", json={"name": "viewer", "scope": "read"})
        assert viewer.status_code == 201, viewer.text

    # From the overview to the deployment's page: v2 ramps its one step, as the API says.
    await _log_in(page, served, served.token)
    await page.locator(f'#groups-table a[href="#/deployments/{name}"]').first.click()
    await expect(page.locator("h1")).to_have_text(f"Deployment {name}")
    panel = page.locator("#rollout-status")
    await expect(panel).to_have_attribute("data-phase", "ramping", timeout=SLOW_MS)
    await expect(panel).to_contain_text("v1 → v2")
    await expect(page.locator("#rollout-step")).to_have_text("1 / 1")
    await expect(page.locator("#rollout-ramp")).to_have_text("10%")
    await expect(page.locator("#rollout-waiting-for")).to_have_text("step 1/1: 10% for 3600s")
    await expect(page.locator("#rollout-next-step")).to_contain_text("(in ")
    await expect(page.locator("#rollout-events")).to_contain_text("Temporal ramps 10% to v2")
    await expect(page.locator("#deployment-ramping")).to_have_text("v2 (10%)")
    await screenshot(page, "09-rollout-ramping")

    # Pause; a second pause is refused with the API's reason; then roll back.
    controls = page.locator("#rollout-controls")
    await controls.locator("[data-command=pause]").click()
    await expect(page.locator("#rollout-done")).to_have_text("Paused.")
    await expect(panel).to_have_attribute("data-paused", "true")
    await expect(page.locator("#rollout-next-step")).to_have_text("paused")
    await controls.locator("[data-command=pause]").click()
    feedback = page.locator("#rollout-feedback")
    await expect(feedback).to_have_text(f"Refused: the rollout of v2 to '{name}' is already paused")
    await screenshot(page, "10-rollout-refused")
    await controls.locator("[data-command=rollback]").click()
    await expect(feedback).to_be_hidden()
    await expect(panel).to_have_attribute("data-phase", "rolled-back", timeout=SLOW_MS)
    await expect(page.locator("#rollout-reason")).to_have_text("rolled back: v1 is current again")
    await expect(page.locator("#deployment-current")).to_have_text("v1", timeout=SLOW_MS)
    await expect(page.locator("#deployment-ramping")).to_have_text("none")

    # A read-only token sees the panel; a command is refused with the API's words.
    await page.click("#logout")
    await _log_in(page, served, viewer.json()["token"])
    await page.goto(f"{served.url}/ui/#/deployments/{name}")
    await expect(panel).to_have_attribute("data-phase", "rolled-back")
    await controls.locator("[data-command=resume]").click()
    await expect(feedback).to_contain_text("read-only scope")
    await screenshot(page, "11-rollout-read-only")
