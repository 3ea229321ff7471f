"""The web console in a real browser (Debian's Chromium) against a real ``serve``: log in, see the
overview, create an endpoint (a validation error first), run a burst on its queue and watch the
charts and the decision log update, edit min/max, delete. Every wait is on the page's state."""

from __future__ import annotations

import asyncio
import sys
import uuid

import pytest
from console_support import Served, requires_chromium, screenshot
from playwright.async_api import Page, expect
from temporalio.client import Client

from examples.app import ProcessItem

pytestmark = [pytest.mark.integration, requires_chromium]

#: How long the controller and the workers may take on a loaded machine (not a sleep: a bound).
SLOW_MS = 180_000


async def _log_in(page: Page, served: Served, token: str) -> None:
    await page.goto(f"{served.url}/ui")
    await page.fill("#token", token)
    await page.click("#login-form button[type=submit]")


def _peak(chart: str, series: str) -> str:
    """A JS predicate: the chart's peak of a series is above zero."""
    return f"() => Number(document.querySelector('#chart-{chart}')?.dataset['{series}'] || 0) > 0"


async def test_console_end_to_end(page: Page, served: Served, temporal_address: str) -> None:
    name = f"console-{uuid.uuid4().hex[:8]}"
    queue = f"{name}-q"

    # Log in and see the (empty) overview.
    await _log_in(page, served, served.token)
    await expect(page.locator("h1")).to_have_text("Overview")
    await expect(page.locator("#endpoints")).to_contain_text("No endpoints yet")
    await screenshot(page, "01-overview-empty")

    # Create, with a name the API refuses first: its message shows by the name field.
    await page.click("nav >> text=New endpoint")
    form = page.locator("#endpoint-create")
    await form.locator("[name=name]").fill("Not_A_DNS_Label")
    await form.locator("[name=temporal_task_queue]").fill(queue)
    await form.locator("[name=command]").fill(f"{sys.executable}\n-m\nexamples.worker")
    await form.locator("[name=min_workers]").fill("0")
    await form.locator("[name=max_workers]").fill("3")
    await form.locator("[name=per_worker]").fill("2")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#error-name")).to_contain_text("should match pattern")
    await expect(form.locator("[name=name]")).to_have_attribute("aria-invalid", "true")
    await screenshot(page, "02-create-validation-error")
    await form.locator("[name=name]").fill(name)
    await form.locator("button[type=submit]").click()
    await expect(page.locator("h1")).to_have_text(f"Endpoint {name}")
    summary = page.locator("#endpoint-summary")
    await expect(summary).to_have_attribute("data-status", "READY", timeout=SLOW_MS)

    # A burst on the endpoint's queue: the backlog chart, a scale-up marker and the decision log.
    client = await Client.connect(temporal_address)
    handles = [
        await client.start_workflow(ProcessItem.run, 4.0, id=f"{queue}-{i}", task_queue=queue)
        for i in range(12)
    ]
    await page.wait_for_function(_peak("backlog", "peakBacklog"), timeout=SLOW_MS)
    await page.wait_for_function(_peak("workers", "peakWorkersRunning"), timeout=SLOW_MS)
    await page.wait_for_function(
        "() => Number(document.querySelector('#chart-workers')?.dataset.actions || 0) > 0",
        timeout=SLOW_MS,
    )
    decisions = page.locator("#decision-log tbody tr")
    await expect(decisions.first).to_be_visible(timeout=SLOW_MS)
    await expect(page.locator("#decision-log")).to_contain_text("scaled up")
    await expect(page.locator("#events-table [data-kind=decision]").first).to_be_visible()
    await screenshot(page, "03-endpoint-burst")
    await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), SLOW_MS / 1000)
    # Each activity's schedule-to-start, as its worker measured it: the line and the chart.
    await page.wait_for_function(
        "() => Number(document.querySelector('#achieved-latency [data-count]')"
        "?.dataset.count || 0) === 12",
        timeout=SLOW_MS,
    )
    await expect(page.locator("#achieved-latency")).to_contain_text("p95")
    await page.wait_for_function(
        _peak("schedule-to-start", "peakScheduleToStartP95S"), timeout=SLOW_MS
    )

    # Edit min/max: a bound the API refuses shows by its field; a rule between two fields shows
    # at the top of the form; a valid change is saved.
    edit = page.locator("#endpoint-edit")
    await edit.locator("[name=max_workers]").fill("0")
    await edit.locator("button[type=submit]").click()
    await expect(page.locator("#error-max_workers")).to_contain_text("greater than or equal to 1")
    await edit.locator("[name=min_workers]").fill("3")
    await edit.locator("[name=max_workers]").fill("2")
    await edit.locator("button[type=submit]").click()
    await expect(edit.locator(".form-error")).to_contain_text("must not exceed max_workers")
    await screenshot(page, "04-edit-validation-error")
    await edit.locator("[name=min_workers]").fill("1")
    await edit.locator("[name=max_workers]").fill("2")
    await edit.locator("button[type=submit]").click()
    await expect(edit.locator(".form-ok")).to_have_text("Saved: min 1, max 2.")
    await expect(summary).to_contain_text("min 1, max 2")
    await expect(summary).to_contain_text("1 available", timeout=SLOW_MS)

    # The overview lists the endpoint and its scaling group.
    await page.click("nav >> text=Overview")
    await expect(page.locator(f'[data-endpoint="{name}"]')).to_contain_text(
        "READY", timeout=SLOW_MS
    )
    group_row = page.locator(f'[data-group="{name}/default/workers"]')
    await expect(group_row).to_be_visible()
    # Only the endpoint's own workers poll its queue: no unmanaged-pollers badge.
    await expect(group_row.locator("[data-unmanaged]")).to_have_count(0)
    await screenshot(page, "05-overview")

    # The group page: the same charts, by deployment/version/group.
    await group_row.locator('a[href^="#/groups/"]').click()
    await expect(page.locator("#group-summary")).to_contain_text("READY", timeout=SLOW_MS)
    await page.wait_for_function(_peak("backlog", "peakBacklog"))
    await expect(page.locator("#decision-log tbody tr").first).to_be_visible()
    await screenshot(page, "06-group", for_docs=True)
    await page.click("[data-window='1h']")
    await expect(page.locator("[data-window='1h']")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#chart-backlog")).to_have_attribute("data-window-s", "3600")

    # The event stream of the whole control plane, filtered by kind.
    await page.click("nav >> text=Events")
    await expect(page.locator("#events-table [data-kind=decision]").first).to_be_visible()
    await page.select_option("#event-kind", "readiness")
    await expect(page.locator("#events-table [data-kind=readiness]").first).to_be_visible()
    await expect(page.locator("#events-table [data-kind=decision]")).to_have_count(0)

    # Delete: confirm, the workers drain, the endpoint is gone.
    await page.click("nav >> text=Overview")
    await page.locator(f'[data-endpoint="{name}"] a').click()
    await page.click("#delete-endpoint")
    await page.click("#confirm-delete")
    await expect(page.locator("#endpoint-deleted")).to_contain_text("is deleted", timeout=SLOW_MS)
    await screenshot(page, "07-deleted")


async def test_console_tokens(page: Page, served: Served) -> None:
    """A wrong token gets a clear message; a read-only token views, and a write shows the API's
    403 message."""
    await _log_in(page, served, "not-a-token")
    await expect(page.locator("#login-error")).to_contain_text("refused")
    async with served.client() as admin:
        created = await admin.post("/v1/tokens", json={"name": "viewer", "scope": "read"})
        assert created.status_code == 201, created.text
    await page.fill("#token", created.json()["token"])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Overview")
    await page.click("nav >> text=New endpoint")
    form = page.locator("#endpoint-create")
    await form.locator("[name=name]").fill("viewer-made")
    await form.locator("[name=temporal_task_queue]").fill("viewer-q")
    await form.locator("[name=command]").fill("true")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".form-error")).to_contain_text("read-only scope")
    await screenshot(page, "08-read-only-token")
