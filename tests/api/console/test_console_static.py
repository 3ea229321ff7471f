"""The console's files as the app serves them at ``/ui`` (no browser): every asset the page asks
for is served from the package, none from the internet, with the security headers."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from fnmatch import fnmatch
from pathlib import Path

import httpx
import pytest
from api_support import make_api
from console_support import REPO_ROOT

from workerplane.api.console import ASSETS_DIR


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    made = make_api(f"sqlite:///{tmp_path / 'api.db'}")
    async with made.anonymous() as anonymous:
        yield anonymous
    made.store.db.dispose()


async def test_ui_redirects_to_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui")
    assert response.status_code == 307
    assert response.headers["location"] == "/ui/"


async def test_page_and_assets_are_served_with_security_headers(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    referenced = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
    assert referenced, "the page references its assets"
    for asset in referenced:
        if asset.startswith("data:"):
            continue
        assert not re.match(r"^[a-z]+://", asset), f"{asset} would load from the network"
        served = await client.get(f"/ui/{asset}")
        assert served.status_code == 200, asset


async def test_every_module_import_is_served(client: httpx.AsyncClient) -> None:
    """Each ES module imports siblings only, and each of those is served."""
    for module in ASSETS_DIR.glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', module.read_text()):
            assert (await client.get(f"/ui/{imported}")).status_code == 200, imported
            assert (ASSETS_DIR / imported).exists()


async def test_python_sources_are_not_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ui/__init__.py")).status_code == 404


def test_vendored_chart_library_has_its_license_and_version() -> None:
    vendor = ASSETS_DIR / "vendor"
    assert (vendor / "LICENSE").read_text().startswith("The MIT License")
    assert re.search(r"uPlot \d+\.\d+\.\d+", (vendor / "README.md").read_text())


def test_package_data_ships_every_asset() -> None:
    """pyproject's package-data patterns cover every console file, so a wheel has them all."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["workerplane.api.console"]
    for path in ASSETS_DIR.rglob("*"):
        relative = path.relative_to(ASSETS_DIR).as_posix()
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in relative:
            continue
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative
