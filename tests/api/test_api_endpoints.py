"""The REST API in process (httpx's ASGI transport), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from api_support import Api

ENDPOINT: dict[str, Any] = {
    "endpoint_type": "temporal",
    "temporal_task_queue": "orders",
    "command": ["python", "-m", "workerplane.examples.worker"],
    "min_workers": 1,
    "max_workers": 3,
    "per_worker": 5,
    "labels": {"team": "payments"},
}

VERSION: dict[str, Any] = {
    "build_id": "v1",
    "task_queues": ["orders"],
    "compute_config": {
        "scaling_groups": {
            "wf": {
                "task_queue_types": ["WORKFLOW"],
                "provider": {"type": "subprocess", "details": {"command": "python"}},
                "scaler": {"type": "backlog", "details": {"max_count": 3}},
            },
            "act": {
                "task_queue_types": ["ACTIVITY"],
                "provider": {"type": "subprocess", "details": {"command": "python"}},
                "scaler": {"type": "backlog", "details": {"max_count": 5}},
            },
        }
    },
}


async def test_health_needs_no_token_and_everything_else_does(api: Api) -> None:
    async with api.anonymous() as anon:
        assert (await anon.get("/healthz")).json()["status"] == "ok"
        routes = [("GET", "/v1/endpoints"), ("POST", "/v1/endpoints"),
                  ("GET", "/v1/worker-deployments"), ("POST", "/v1/validate")]  # fmt: skip
        for method, path in routes:
            response = await anon.request(method, path, json={})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
    async with api.client(token="wpt_not-a-real-token-at-all") as wrong:
        assert (await wrong.get("/v1/endpoints")).status_code == 401
    async with api.client() as ok:
        assert (await ok.get("/v1/endpoints")).status_code == 200


async def test_tokens_are_stored_hashed(api: Api) -> None:
    from sqlalchemy import text

    with api.store.db.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM api_tokens"))]
    assert api.token not in stored
    assert all(len(h) == 64 for h in stored)


async def test_idempotent_create_and_name_clash(api: Api) -> None:
    body = {**ENDPOINT, "name": "orders", "request_id": "req-1"}
    async with api.client() as c:
        first = await c.post("/v1/endpoints", json=body)
        assert first.status_code == 201, first.text
        again = await c.post("/v1/endpoints", json=body)
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        clash = await c.post("/v1/endpoints", json={**body, "request_id": "req-2"})
        assert clash.status_code == 409
        assert "already exists" in clash.json()["error"]["message"]
        assert len((await c.get("/v1/endpoints")).json()["items"]) == 1


async def test_stale_conflict_token_is_409(api: Api) -> None:
    async with api.client() as c:
        created = (await c.post("/v1/endpoints", json={**ENDPOINT, "name": "e1"})).json()
        token = created["conflict_token"]
        first = await c.put("/v1/endpoints/e1", json={"max_workers": 5, "conflict_token": token})
        assert first.status_code == 200 and first.json()["max_workers"] == 5
        stale = await c.put("/v1/endpoints/e1", json={"max_workers": 7, "conflict_token": token})
        assert stale.status_code == 409
        assert (await c.get("/v1/endpoints/e1")).json()["max_workers"] == 5


async def test_task_queue_required_on_create_and_update(api: Api) -> None:
    async with api.client() as c:
        for queue in ["", "   "]:
            r = await c.post(
                "/v1/endpoints", json={**ENDPOINT, "name": "e2", "temporal_task_queue": queue}
            )
            assert r.status_code == 400
            fields = [d["field"] for d in r.json()["error"]["details"]]
            assert "temporal_task_queue" in fields
        missing = {k: v for k, v in ENDPOINT.items() if k != "temporal_task_queue"}
        assert (await c.post("/v1/endpoints", json={**missing, "name": "e2"})).status_code == 400
        assert (await c.post("/v1/endpoints", json={**ENDPOINT, "name": "e2"})).status_code == 201
        for queue in ["", None, "  "]:
            r = await c.put("/v1/endpoints/e2", json={"temporal_task_queue": queue})
            assert r.status_code == 400, queue
            assert r.json()["error"]["details"][0]["field"] == "temporal_task_queue"
        assert (await c.get("/v1/endpoints/e2")).json()["temporal_task_queue"] == "orders"


async def test_min_max_update_reaches_the_rendered_scaler(api: Api) -> None:
    async with api.client() as c:
        (await c.post("/v1/endpoints", json={**ENDPOINT, "name": "e3"}))
        r = await c.put(
            "/v1/endpoints/e3", json={"min_workers": 2, "max_workers": 4, "per_worker": 8}
        )
        assert r.status_code == 200
        assert r.json()["status"] == "UPDATE_PENDING"
        bad = await c.put("/v1/endpoints/e3", json={"min_workers": 9})
        assert bad.status_code == 400 and "min_workers" in bad.text
    [version] = [v for v in api.store.controller.snapshot("default") if v.key == "e3/default"]
    scaler = version.spec.compute.scaling_groups["workers"].scaler
    assert scaler.type == "backlog"
    assert scaler.details == {"min_count": 2, "max_count": 4, "target_per_worker": 8}
    assert version.generation == 2


async def test_secrets_are_encrypted_redacted_and_never_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-Value-that-must-not-leak"
    caplog.set_level(logging.DEBUG)
    async with api.client() as c:
        r = await c.post(
            "/v1/endpoints",
            json={**ENDPOINT, "name": "e4", "secret_env": {"DB_PASSWORD": secret}},
        )
        assert r.status_code == 201
        assert secret not in r.text
        assert r.json()["secret_env"] == {"DB_PASSWORD": "***REDACTED***"}
        assert secret not in (await c.get("/v1/endpoints/e4")).text
        assert secret not in (await c.get("/v1/endpoints")).text
        # An update that does not touch secret_env keeps the secret.
        assert (await c.put("/v1/endpoints/e4", json={"max_workers": 2})).status_code == 200
    # The controller (and only it) sees the plaintext; doing so logs nothing secret.
    [version] = [v for v in api.store.controller.snapshot("default") if v.key == "e4/default"]
    details = version.spec.compute.scaling_groups["workers"].provider.details
    assert details["secret_env"]["DB_PASSWORD"] == secret
    assert "DB_PASSWORD" not in details["env"], "a secret never travels as plain env"
    logging.getLogger("workerplane.test").info("provider details: %s", details)
    # At rest: only ciphertext.
    from sqlalchemy import text

    with api.store.db.engine.connect() as conn:
        dump = " ".join(
            row[0] for row in conn.execute(text("SELECT spec_json FROM deployment_versions"))
        )
    assert secret not in dump
    assert "wpenc:v2:" in dump
    assert secret not in caplog.text
    assert "***REDACTED***" in caplog.text


async def test_versions_update_with_masks_and_validate(api: Api) -> None:
    async with api.client() as c:
        assert (await c.post("/v1/worker-deployments", json={"name": "orders"})).status_code == 201
        r = await c.post("/v1/worker-deployments/orders/versions", json=VERSION)
        assert r.status_code == 201, r.text
        token = r.json()["conflict_token"]
        update = {
            "scaling_groups": {
                "wf": {
                    "scaling_group": {"scaler": {"type": "backlog", "details": {"max_count": 9}}},
                    "update_mask": {"paths": ["scaler.details"]},
                },
                "new": {
                    "scaling_group": {
                        "task_queue_types": ["NEXUS"],
                        "provider": {"type": "subprocess", "details": {"command": "python"}},
                    }
                },
            },
            "remove_scaling_groups": ["act"],
            "conflict_token": token,
        }
        r = await c.patch("/v1/worker-deployments/orders/versions/v1/compute-config", json=update)
        assert r.status_code == 200, r.text
        groups = r.json()["compute_config"]["scaling_groups"]
        assert sorted(groups) == ["new", "wf"]
        assert groups["wf"]["scaler"]["details"] == {"max_count": 9}
        assert groups["wf"]["task_queue_types"] == ["WORKFLOW"]
        stale = await c.patch(
            "/v1/worker-deployments/orders/versions/v1/compute-config", json=update
        )
        assert stale.status_code == 409
        bad = await c.patch(
            "/v1/worker-deployments/orders/versions/v1/compute-config",
            json={"scaling_groups": {"wf": {"scaling_group": {}, "update_mask": ["bogus"]}}},
        )
        assert bad.status_code == 400
        assert (
            'unsupported field mask path: "bogus"' in bad.json()["error"]["details"][0]["message"]
        )
        dup = await c.patch(
            "/v1/worker-deployments/orders/versions/v1/compute-config",
            json={
                "scaling_groups": {
                    "new": {
                        "scaling_group": {"task_queue_types": ["WORKFLOW"]},
                        "update_mask": ["task_queue_types"],
                    }
                }
            },
        )
        assert dup.status_code == 400
        assert "appears in more than one entry" in dup.text
        check = await c.post(
            "/v1/worker-deployments/orders/versions/v1/compute-config/validate",
            json={
                "scaling_groups": {
                    "wf": {
                        "scaling_group": {
                            "provider": {
                                "type": "subprocess",
                                "details": {"command": "no-such-command-xyz"},
                            }
                        },
                        "update_mask": ["provider"],
                    }
                }
            },
        )
        assert check.status_code == 200
        assert check.json()["valid"] is False
        [wf_check] = [x for x in check.json()["provider_checks"] if x["group_id"] == "wf"]
        assert wf_check["ok"] is False and "no-such-command-xyz" in wf_check["message"]
        described = (await c.get("/v1/worker-deployments/orders/versions/v1")).json()
        # Validation applied nothing, but recorded its verdict.
        assert (
            described["compute_config"]["scaling_groups"]["wf"]["provider"]["details"]["command"]
            == "python"
        )
        assert "no-such-command-xyz" in described["compute_status"]["provider_validation"]["error"]


async def test_routing_and_draining(api: Api) -> None:
    async with api.client() as c:
        (await c.post("/v1/worker-deployments", json={"name": "pay"}))
        (await c.post("/v1/worker-deployments/pay/versions", json={**VERSION, "build_id": "v1"}))
        (await c.post("/v1/worker-deployments/pay/versions", json={**VERSION, "build_id": "v2"}))
        assert (
            await c.post("/v1/worker-deployments/pay/set-current", json={"build_id": "v1"})
        ).status_code == 200
        r = await c.post(
            "/v1/worker-deployments/pay/set-ramping", json={"build_id": "v2", "percentage": 25}
        )
        assert r.json()["ramping_version"] == "v2" and r.json()["ramping_percentage"] == 25
        assert (await c.delete("/v1/worker-deployments/pay/versions/v1")).status_code == 409
        r = await c.post("/v1/worker-deployments/pay/set-current", json={"build_id": "v2"})
        assert r.json()["current_version"] == "v2"
        v1 = (await c.get("/v1/worker-deployments/pay/versions/v1")).json()
        assert v1["draining"] is True and v1["is_current"] is False
        assert (
            await c.post("/v1/worker-deployments/pay/set-current", json={"build_id": "nope"})
        ).status_code == 404
        assert (await c.delete("/v1/worker-deployments/pay/versions/v1")).status_code == 204
        assert (await c.get("/v1/worker-deployments/pay/versions/v1")).status_code == 404


async def test_clean_errors(api: Api) -> None:
    async with api.client() as c:
        assert (await c.get("/v1/endpoints/nope")).status_code == 404
        assert (await c.get("/v1/worker-deployments/nope/versions/v1")).status_code == 404
        r = await c.post(
            "/v1/endpoints", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        r = await c.post("/v1/endpoints", json={**ENDPOINT, "name": "x\u0000y"})
        assert r.status_code == 400
        r = await c.post(
            "/v1/endpoints",
            content=b'{"name": "ok", "endpoint_type": "temporal", "temporal_task_queue": "\\ud800", "command": ["x"]}',  # noqa: E501
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400
        r = await c.post("/v1/endpoints", json={**ENDPOINT, "name": "ok", "min_workers": 10**30})
        assert r.status_code == 400
        r = await c.post("/v1/worker-deployments/none/versions", json=VERSION)
        assert r.status_code == 404
        (await c.post("/v1/worker-deployments", json={"name": "d"}))
        bad = {**VERSION, "compute_config": {"scaling_groups": {"g": {"provider": {"type": "x"}}}}}
        r = await c.post("/v1/worker-deployments/d/versions", json=bad)
        assert r.status_code == 400
        assert "invalid compute provider type 'x'" in r.text


async def test_delete_endpoint(api: Api) -> None:
    async with api.client() as c:
        (await c.post("/v1/endpoints", json={**ENDPOINT, "name": "gone"}))
        assert (await c.delete("/v1/endpoints/gone")).status_code == 204
        assert (await c.get("/v1/endpoints/gone")).status_code == 404
        assert (await c.get("/v1/worker-deployments/gone")).status_code == 404
