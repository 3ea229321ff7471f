"""``POST /v1/worker-reports``: a report token reports for its own group and does nothing else;
API tokens cannot report; pushes are idempotent per worker and sequence; a bad body is a 400
naming the field, as everywhere in the API."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from api_support import Api

from workerplane.api.server import ServeConfig
from workerplane.scaling.latency import LatencySketch
from workerplane.security.crypto import SecretBox
from workerplane.security.report_tokens import ReportSubject, mint_report_token
from workerplane.security.tokens import generate_token

GROUP = ReportSubject("orders/v1", "workers")


def body(sequence: int, *latencies: float, worker: str = "pod-a") -> dict[str, Any]:
    return {
        "worker": worker,
        "sequence": sequence,
        "schedule_to_start": LatencySketch.of(latencies).to_wire(),
    }


def report_token(api: Api, subject: ReportSubject = GROUP) -> str:
    return mint_report_token(api.store.box, subject)


async def test_a_push_is_summed_into_its_group_and_a_retry_counts_once(api: Api) -> None:
    async with api.client(report_token(api)) as c:
        first = await c.post("/v1/worker-reports", json=body(1, 0.2, 0.4))
        assert first.status_code == 200, first.text
        assert first.json() == {"accepted": True}
        retried = await c.post("/v1/worker-reports", json=body(1, 0.2, 0.4))
        assert retried.json() == {"accepted": False}
        older = await c.post("/v1/worker-reports", json=body(0, 0.2))
        assert older.json() == {"accepted": False}
        later = await c.post("/v1/worker-reports", json=body(2, 0.2, 0.4, 3.0))
        assert later.json() == {"accepted": True}
        other = await c.post("/v1/worker-reports", json=body(1, 1.0, worker="pod-b"))
        assert other.json() == {"accepted": True}
    totals = api.store.worker_reports.totals()
    assert set(totals) == {GROUP}
    assert totals[GROUP].count == 4
    assert totals[GROUP] == LatencySketch.of([0.2, 0.4, 3.0, 1.0])


async def test_the_token_names_the_group_it_reports_for(api: Api) -> None:
    other = ReportSubject("orders/v1", "workflows")
    async with api.client(report_token(api, other)) as c:
        assert (await c.post("/v1/worker-reports", json=body(1, 0.1))).status_code == 200
    assert set(api.store.worker_reports.totals()) == {other}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/worker-deployments"),
        ("POST", "/v1/worker-deployments"),
        ("GET", "/v1/endpoints"),
        ("GET", "/v1/tokens"),
        ("GET", "/v1/audit"),
    ],
)
async def test_a_report_token_can_do_nothing_else(api: Api, method: str, path: str) -> None:
    async with api.client(report_token(api)) as c:
        response = await c.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("scope", ["read", "admin"])
async def test_api_tokens_cannot_report(api: Api, scope: str) -> None:
    token = generate_token()
    api.store.tokens.add(token, scope, scope=scope)  # type: ignore[arg-type]
    async with api.client(token) as c:
        response = await c.post("/v1/worker-reports", json=body(1, 0.1))
    assert response.status_code == 403
    assert "report token" in response.json()["error"]["message"]
    assert api.store.worker_reports.totals() == {}


async def test_forged_or_missing_report_tokens_are_refused(api: Api) -> None:
    forged = mint_report_token(SecretBox(b"\x02" * 32), GROUP)
    tampered = report_token(api)[:-2] + ("AA" if not report_token(api).endswith("AA") else "BB")
    for token in (forged, tampered, "wpr_nonsense", "wpr_" + "x" * 3000):
        async with api.client(token) as c:
            response = await c.post("/v1/worker-reports", json=body(1, 0.1))
        assert response.status_code == 401, token
    async with api.anonymous() as c:
        assert (await c.post("/v1/worker-reports", json=body(1, 0.1))).status_code == 401
    assert api.store.worker_reports.totals() == {}


async def test_a_token_minted_under_a_previous_key_still_verifies(api: Api) -> None:
    old_key = b"\x03" * 32
    old_token = mint_report_token(SecretBox(old_key), GROUP)
    api.store.box = SecretBox(b"\x01" * 32, previous=[old_key])
    async with api.client(old_token) as c:
        assert (await c.post("/v1/worker-reports", json=body(1, 0.1))).status_code == 200


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"sequence": -1}, "sequence"),
        ({"worker": ""}, "worker"),
        ({"worker": "a/b"}, "worker"),
        ({"schedule_to_start": {"b": {"x": 1}}}, "schedule_to_start.b"),
        ({"schedule_to_start": {"b": {"5": 0}}}, "schedule_to_start.b.5"),
        ({"schedule_to_start": {"b": {"99999": 1}}}, "schedule_to_start.b"),
        ({"schedule_to_start": {"u": -3}}, "schedule_to_start.u"),
        ({"schedule_to_start": {"s": "1"}}, "schedule_to_start.s"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_a_bad_report_is_a_400_naming_the_field(
    api: Api, bad: dict[str, Any], field: str
) -> None:
    async with api.client(report_token(api)) as c:
        response = await c.post("/v1/worker-reports", json={**body(1, 0.1), **bad})
    assert response.status_code == 400, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]], response.text


async def test_too_many_buckets_and_oversized_bodies_are_refused(api: Api) -> None:
    many = {"b": {str(i): 1 for i in range(-200, 900)}, "u": 0, "s": 1.0}
    async with api.client(report_token(api)) as c:
        too_many = await c.post("/v1/worker-reports", json={**body(1), "schedule_to_start": many})
        assert too_many.status_code == 400
        huge = await c.post(
            "/v1/worker-reports",
            content=b'{"worker": "' + b"a" * 70_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413
        not_json = await c.post(
            "/v1/worker-reports", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 400


async def test_pushes_are_not_audited(api: Api) -> None:
    async with api.client(report_token(api)) as c:
        await c.post("/v1/worker-reports", json=body(1, 0.1))
    assert api.store.audit.page(10, 0)[1] == 0


GROUP_SPEC = {
    "provider": {
        "type": "webhook",
        "details": {"url": "https://launcher.example/w", "secret": "s", "validate_ping": False},
    },
    "scaler": {"type": "slo", "details": {"max_count": 2}},
}


async def test_an_admin_reads_a_groups_report_token_for_workers_it_configures(api: Api) -> None:
    version = {
        "build_id": "v1",
        "task_queues": ["orders"],
        "compute_config": {"scaling_groups": {"workers": GROUP_SPEC}},
    }
    path = "/v1/worker-deployments/orders/versions/v1/groups/workers/report-token"
    async with api.client() as c:
        assert (await c.post("/v1/worker-deployments", json={"name": "orders"})).status_code == 201
        made = await c.post("/v1/worker-deployments/orders/versions", json=version)
        assert made.status_code == 201, made.text
        shown = await c.get(path)
        assert shown.status_code == 200, shown.text
        missing = await c.get(path.replace("/workers/", "/nope/"))
        assert missing.status_code == 404
        spec = (await c.get("/v1/worker-deployments/orders/versions/v1")).text
    answer = shown.json()
    assert answer["path"] == "/v1/worker-reports"
    assert (answer["token_env"], answer["url_env"]) == (
        "WORKERPLANE_REPORT_TOKEN",
        "WORKERPLANE_REPORT_URL",
    )
    assert answer["token"] == report_token(api)  # the token the controller hands its workers
    assert answer["token"] not in spec
    reader = generate_token()
    api.store.tokens.add(reader, "reader", scope="read")
    async with api.client(reader) as c:
        assert (await c.get(path)).status_code == 403
    async with api.client(answer["token"]) as c:
        assert (await c.get(path)).status_code == 401


def test_serve_tells_workers_its_own_url_unless_given_one(tmp_path: Any) -> None:
    def url(**kw: Any) -> str:
        return ServeConfig(state_dir=tmp_path, port=8233, **kw).worker_report_base_url()

    assert url(host="10.0.0.5") == "http://10.0.0.5:8233"
    assert url(host="::1") == "http://[::1]:8233"
    assert url(host="0.0.0.0") == f"http://{socket.getfqdn()}:8233"
    assert url(report_url="https://wp.example") == "https://wp.example"
