"""Support for the console's browser tests: ``workerplane serve`` on PostgreSQL and a Temporal dev
server, and Debian's Chromium driven by Playwright (``playwright install`` is never run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from workerplane.api.server import ServeConfig, serve
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
#: Screenshots of each run (git-ignored).
ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"
#: Set to write the docs' screenshot (docs/img/console.png) as well.
DOCS_SCREENSHOT_ENV = "WORKERPLANE_DOCS_SCREENSHOT"

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's Chromium is not installed (run scripts/setup.d/45-chromium.sh)",
)


@dataclass
class Served:
    """A running ``serve``: its base URL and an admin token."""

    url: str
    token: str

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )  # fmt: skip


async def _until_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"serve at {url} did not become healthy")
            await asyncio.sleep(0.2)


@pytest.fixture
async def served(
    temporal_address: str, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    """``serve`` (API, console and controller) on PostgreSQL, running the example worker."""
    monkeypatch.chdir(REPO_ROOT)  # the example worker is `python -m examples.worker`
    token = generate_token()
    port = free_port()
    config = ServeConfig(
        state_dir=tmp_path / "state", port=port, database_url=pg_url,
        temporal_address=temporal_address, tokens=(token,), refresh_s=0.3,
        temporal_routing=False,
    )  # fmt: skip
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop=stop))
    url = f"http://127.0.0.1:{port}"
    try:
        await _until_healthy(url)
        yield Served(url, token)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 60)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A fresh page in Debian's Chromium; page errors fail the test at teardown."""
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield page
        finally:
            await browser.close()
    assert not errors, f"errors in the page: {errors}"


async def screenshot(page: Page, name: str, *, for_docs: bool = False) -> None:
    """Save a full-page screenshot under test-artifacts/console (and docs/img when asked)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if for_docs and os.environ.get(DOCS_SCREENSHOT_ENV):
        await page.screenshot(path=str(REPO_ROOT / "docs" / "img" / "console.png"), full_page=True)
