"""Issue 12, item 11: ``/v1/validate`` with a webhook ``validate_ping`` must not reach loopback,
link-local, metadata or private addresses unless the operator allows them, and never echoes what a
target answered (only its status code).

The target is a real HTTP server on loopback that answers every POST with a body holding a secret.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from api_support import Api

#: The operator's settings (named here, not imported, so the test also runs where they are absent).
ALLOW_PRIVATE_ENV = "WORKERPLANE_WEBHOOK_ALLOW_PRIVATE"
ALLOWED_CIDRS_ENV = "WORKERPLANE_WEBHOOK_ALLOWED_CIDRS"

INTERNAL_SECRET = "internal-admin-password-7f3a9c"


class _Target:
    def __init__(self) -> None:
        self.hits = 0
        self.status = 200
        self.url = ""


@pytest.fixture
def target() -> Iterator[_Target]:
    state = _Target()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            state.hits += 1
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = f'{{"admin_password": "{INTERNAL_SECRET}"}}'.encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/internal"
    yield state
    server.shutdown()
    server.server_close()


def _config(url: str) -> dict[str, Any]:
    provider = {"type": "webhook", "details": {"url": url, "secret": "k", "max_attempts": 1}}
    group = {"provider": provider, "scaler": {"type": "backlog", "details": {"max_count": 1}}}
    return {"compute_config": {"scaling_groups": {"hooks": group}}}


async def _check(api: Api, url: str) -> dict[str, Any]:
    async with api.client() as client:
        response = await client.post("/v1/validate", json=_config(url))
    assert response.status_code == 200, response.text
    assert INTERNAL_SECRET not in response.text
    checks: list[dict[str, Any]] = response.json()["provider_checks"]
    assert len(checks) == 1, checks
    return checks[0]


async def test_internal_addresses_are_refused_without_a_request(
    api: Api, target: _Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    monkeypatch.delenv(ALLOWED_CIDRS_ENV, raising=False)
    port = target.url.split(":")[2].split("/")[0]
    refused = {
        target.url: "loopback",
        f"http://localhost:{port}/internal": "loopback",
        f"http://[::ffff:127.0.0.1]:{port}/internal": "loopback",
        "http://169.254.169.254/latest/meta-data/": "metadata",
        "http://[fd00:ec2::254]/latest/meta-data/": "metadata",
        "http://metadata.google.internal/computeMetadata/v1/": "metadata",
        "http://169.254.10.1/": "link-local",
        "http://[fe80::1]/": "link-local",
        "http://10.0.0.1/": "private",
        "http://192.168.1.1/": "private",
        "http://0.0.0.0/": "unicast",
    }
    for url, why in refused.items():
        check = await _check(api, url)
        assert not check["ok"], (url, check)
        assert why in check["message"], (url, check)
        named_metadata = "metadata.google" in url  # refused by name, whatever it resolves to
        assert named_metadata or ALLOW_PRIVATE_ENV in check["message"], (url, check)
    assert target.hits == 0  # nothing was ever sent


async def test_an_allowed_target_is_reached_but_its_body_never_echoed(
    api: Api, target: _Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    monkeypatch.setenv(ALLOWED_CIDRS_ENV, "127.0.0.1/32")
    target.status = 400
    check = await _check(api, target.url)
    assert target.hits == 1
    assert not check["ok"] and "HTTP 400" in check["message"], check
    target.status = 200
    assert (await _check(api, target.url))["ok"]
    assert (await _check(api, "http://10.0.0.1/"))["ok"] is False  # only the listed network

    monkeypatch.delenv(ALLOWED_CIDRS_ENV)
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    target.status = 500
    check = await _check(api, target.url)
    assert not check["ok"] and "HTTP 500" in check["message"], check
    assert "metadata" in (await _check(api, "http://169.254.169.254/"))["message"]
