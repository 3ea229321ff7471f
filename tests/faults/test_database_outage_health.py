"""Issue 12, item 2: while PostgreSQL is down, readiness says so (503) and every ``/v1`` route
answers 503 "database unavailable", never a bare 500; liveness stays up; all recover after."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from faults_support import start_serve

from workerplane.security.tokens import generate_token
from workerplane.store.localpg import LocalPostgres
from workerplane.temporal.devserver import free_port

#: One route of each kind, reads and writes (the token is cached: these reach the database).
ROUTES = [
    ("GET", "/v1/endpoints", None),
    ("GET", "/v1/endpoints/missing", None),
    ("POST", "/v1/endpoints", {"name": "e1", "endpoint_type": "temporal",
                               "temporal_task_queue": "q", "command": ["true"]}),
    ("GET", "/v1/worker-deployments", None),
    ("POST", "/v1/worker-deployments", {"name": "d1"}),
    ("GET", "/v1/worker-deployments/d0/versions", None),
    ("DELETE", "/v1/worker-deployments/d0", None),
]  # fmt: skip


def _assert_unavailable(response: httpx.Response | None) -> None:
    assert response is not None, "no answer"
    assert response.status_code == 503, f"{response.status_code} {response.text[:500]}"
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"].startswith("database unavailable: "), error
    assert "Traceback" not in response.text and "SELECT" not in response.text


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_database_outage_is_503_and_readiness_tells(
    own_postgres: LocalPostgres, tmp_path: Path
) -> None:
    url = own_postgres.create_database()
    nowhere = f"127.0.0.1:{free_port()}"  # no Temporal there: the status must say so
    serve = start_serve(
        tmp_path, "a", token=generate_token(), state_dir=tmp_path / "state",
        args=["--db", url, "--address", nowhere],
    )  # fmt: skip
    try:
        serve.wait_for("/v1/worker-deployments", lambda r: r.status_code == 200)
        assert serve.request("POST", "/v1/worker-deployments", json={"name": "d0"}) is not None
        ready = serve.wait_for(
            "/readyz",
            lambda r: (
                r.status_code == 200
                and r.json()["controller"]["holds_lease"] is True
                and r.json()["temporal"]["reachable"] is False
            ),
        ).json()
        assert ready["status"] == "ok" and ready["database"] == {
            "ok": True, "backend": "postgresql", "error": None,
        }  # fmt: skip
        assert ready["controller"]["fencing_token"] >= 1
        assert ready["temporal"]["address"] == nowhere

        own_postgres.halt()
        for method, path, body in ROUTES:
            _assert_unavailable(serve.request(method, path, json=body))
        _assert_unavailable(serve.get("/readyz"))
        down = serve.get("/readyz")
        assert down is not None and down.json()["database"]["ok"] is False
        live = serve.get("/livez")
        assert live is not None and live.status_code == 200  # no restart for a database outage
        # A token the process has not seen yet needs the database too: 503, not 401 or 500.
        stranger = httpx.get(
            serve.base_url + "/v1/endpoints",
            headers={"Authorization": f"Bearer {generate_token()}"}, timeout=20,
        )  # fmt: skip
        _assert_unavailable(stranger)

        own_postgres.resume()
        serve.wait_for("/readyz", lambda r: r.status_code == 200)
        serve.wait_for("/v1/endpoints", lambda r: r.status_code == 200)
    finally:
        serve.stop()
