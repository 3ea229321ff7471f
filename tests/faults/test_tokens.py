"""Issue 12, item 10: API tokens are managed (created and shown once, listed without the token,
revoked, expiring, admin or read-only), ``serve --token`` stays an admin token, and every write is
in the audit log with who, what, when and its outcome."""

from __future__ import annotations

import time
from typing import Any

from api_support import Api, ServerThread
from sqlalchemy import text
from typer.testing import CliRunner

from workerplane.cli.main import app
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port


def _stored(api: Api) -> str:
    with api.store.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_tokens")).all()
        rows += conn.execute(text("SELECT * FROM audit_log")).all()
    return "\n".join(str(value) for row in rows for value in row)


async def test_tokens_are_created_once_scoped_revoked_and_expire(api: Api) -> None:
    async with api.client() as admin:  # the token serve --token gave: an admin token
        made = await admin.post("/v1/tokens", json={"name": "dashboard", "scope": "read"})
        assert made.status_code == 201, made.text
        reader = made.json()
        assert reader["token"].startswith("wpt_") and reader["scope"] == "read"
        listed = await admin.get("/v1/tokens")
        assert listed.status_code == 200, listed.text
        assert reader["token"] not in listed.text and api.token not in listed.text
        assert all("token" not in item for item in listed.json()["items"])
        assert {"dashboard", "test"} <= {item["name"] for item in listed.json()["items"]}
    assert reader["token"] not in _stored(api)  # only its hash is kept

    async with api.client(token=reader["token"]) as read_only:
        assert (await read_only.get("/v1/endpoints")).status_code == 200
        refused = await read_only.post("/v1/worker-deployments", json={"name": "d1"})
        assert refused.status_code == 403, refused.text
        assert "read-only" in refused.json()["error"]["message"]
        assert (await read_only.get("/v1/tokens")).status_code == 403  # admin routes
        assert (await read_only.get("/v1/audit")).status_code == 403

    async with api.client() as admin:
        items = (await admin.get("/v1/tokens")).json()["items"]
        assert next(t for t in items if t["id"] == reader["id"])["last_used_at"] is not None
        revoked = await admin.delete(f"/v1/tokens/{reader['id']}")
        assert revoked.status_code == 204, revoked.text
        assert (await admin.delete("/v1/tokens/999999")).status_code == 404
        expiring = await admin.post(
            "/v1/tokens", json={"name": "ci", "scope": "admin", "expires_in_s": 3600}
        )
        assert expiring.status_code == 201, expiring.text
        assert expiring.json()["expires_at"] > time.time() + 3000
        too_short = await admin.post("/v1/tokens", json={"name": "x", "expires_in_s": 1})
        assert too_short.status_code == 400
    async with api.client(token=reader["token"]) as gone:
        assert (await gone.get("/v1/endpoints")).status_code == 401

    expired = generate_token()
    api.store.tokens.add(expired, "old", "admin", expires_at=time.time() - 1)
    async with api.client(token=expired) as late:
        response = await late.get("/v1/endpoints")
        assert response.status_code == 401 and "expired" in response.text


async def test_every_write_is_audited(api: Api) -> None:
    async with api.client() as admin:
        reader = (await admin.post("/v1/tokens", json={"name": "viewer"})).json()
        assert (await admin.post("/v1/worker-deployments", json={"name": "d1"})).status_code == 201
        assert (await admin.post("/v1/worker-deployments", json={"name": "d1"})).status_code == 409
        assert (await admin.delete("/v1/worker-deployments/d1")).status_code == 204
    async with api.client(token=reader["token"]) as read_only:
        denied = await read_only.post("/v1/worker-deployments", json={"name": "d2"})
        assert denied.status_code == 403
        assert (await read_only.get("/v1/worker-deployments")).status_code == 200  # no entry
    async with api.anonymous() as anonymous:
        assert (await anonymous.post("/v1/worker-deployments", json={})).status_code == 401
    async with api.client() as admin:
        log = await admin.get("/v1/audit")
        assert log.status_code == 200, log.text
    entries: list[dict[str, Any]] = log.json()["items"]
    seen = [(e["token_name"], e["method"], e["path"], e["resource"], e["status"]) for e in entries]
    assert seen == [
        ("viewer", "POST", "/v1/worker-deployments", "worker-deployments", 403),
        ("test", "DELETE", "/v1/worker-deployments/d1", "worker-deployments/d1", 204),
        ("test", "POST", "/v1/worker-deployments", "worker-deployments", 409),
        ("test", "POST", "/v1/worker-deployments", "worker-deployments", 201),
        ("test", "POST", "/v1/tokens", "tokens", 201),
    ]
    assert all(e["at"] > time.time() - 600 and e["token_id"] for e in entries)
    assert reader["token"] not in log.text and api.token not in log.text


def test_cli_creates_lists_and_revokes_tokens(api: Api) -> None:
    port = free_port()
    runner = CliRunner()
    base = ["--url", f"http://127.0.0.1:{port}", "--token", api.token]
    with ServerThread(api.app, port):
        made = runner.invoke(app, ["tokens", "create", "ops", "--scope", "read", *base])
        assert made.exit_code == 0, made.output
        token = made.output.split("shown once:")[1].split()[0]
        listed = runner.invoke(app, ["tokens", "list", "-o", "json", *base])
        assert listed.exit_code == 0, listed.output
        assert token not in listed.output and '"ops"' in listed.output
        assert api.store.tokens.verify(token)
        ops = next(t for t in api.store.tokens.list() if t.name == "ops")
        revoked = runner.invoke(app, ["tokens", "revoke", str(ops.id), *base])
        assert revoked.exit_code == 0, revoked.output
        assert not api.store.tokens.verify(token)
        audit = runner.invoke(app, ["tokens", "audit", "-o", "json", *base])
        assert audit.exit_code == 0 and "DELETE" in audit.output, audit.output
