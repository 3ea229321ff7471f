"""The telemetry routes in process, on SQLite and on a real PostgreSQL: series and events by
version group and by endpoint, filters and paging, 422 naming the parameter, 404s, read tokens."""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_support import Api

from workerplane.api.routers.telemetry import parse_time, window
from workerplane.errors import Invalid
from workerplane.planning.events import (
    ActionKind,
    ActionMarker,
    EventKind,
    GroupEvent,
    GroupSample,
    Severity,
)
from workerplane.security.tokens import generate_token

ENDPOINT: dict[str, Any] = {
    "endpoint_type": "temporal",
    "temporal_task_queue": "orders",
    "command": ["python", "-m", "workerplane.examples.worker"],
    "min_workers": 0,
    "max_workers": 3,
}
VERSION: dict[str, Any] = {
    "build_id": "v1",
    "task_queues": ["orders"],
    "compute_config": {
        "scaling_groups": {
            "wf": {
                "provider": {"type": "subprocess", "details": {"command": "python"}},
                "scaler": {"type": "backlog", "details": {"max_count": 3}},
            }
        }
    },
}


def _sample(
    key: str, group: str, at: float, running: int, action: ActionMarker | None = None
) -> GroupSample:
    return GroupSample(
        key,
        group,
        at,
        backlog=running * 10,
        backlog_age_s=1.5,
        in_flight=None,
        workers_running=running,
        workers_ready=running,
        desired=running,
        pollers=running,
        add_rate=2.0,
        dispatch_rate=1.0,
        action=action,
    )


def _event(key: str, group: str | None, at: float, kind: EventKind) -> GroupEvent:
    return GroupEvent(at, key, group, kind, Severity.INFO, "backlog 30", f"{kind} happened")


@pytest.fixture
async def seeded(api: Api) -> Api:
    async with api.client() as c:
        assert (await c.post("/v1/worker-deployments", json={"name": "orders"})).status_code == 201
        created = await c.post("/v1/worker-deployments/orders/versions", json=VERSION)
        assert created.status_code == 201, created.text
        assert (await c.post("/v1/endpoints", json={**ENDPOINT, "name": "ep"})).status_code == 201
    now = time.time()
    up = ActionMarker(ActionKind.SCALE_UP, 3, "backlog 30 over 3 minutes")
    api.store.telemetry.insert(
        [
            _sample("orders/v1", "wf", now - 90 + 2 * i, i % 4, up if i == 3 else None)
            for i in range(30)
        ]
        + [_sample("ep/default", "workers", now - 30, 2)],
        [
            _event("orders/v1", "wf", now - 40, EventKind.DECISION),
            _event("orders/v1", None, now - 20, EventKind.READINESS),
            _event("ep/default", "workers", now - 10, EventKind.WORKER_EXIT),
            _event("orders/v1", "wf", now - 7200, EventKind.DECISION),  # outside 15m
        ],
    )
    return api


async def test_group_metrics(seeded: Api) -> None:
    async with seeded.client() as c:
        body = (await c.get("/v1/worker-deployments/orders/versions/v1/groups/wf/metrics")).json()
    assert (body["deployment"], body["build_id"], body["group"]) == ("orders", "v1", "wf")
    assert body["until"] - body["since"] == pytest.approx(900.0)
    assert body["step_s"] == pytest.approx(1.5)
    assert [s["workers_running"] for s in body["samples"]][:5] == [0, 1, 2, 3, 0]
    first = body["samples"][0]
    assert set(first) == {
        "at",
        "backlog",
        "backlog_age_s",
        "in_flight",
        "workers_running",
        "workers_ready",
        "desired",
        "pollers",
        "add_rate",
        "dispatch_rate",
        "schedule_to_start_p95_s",
    }
    assert first["in_flight"] is None
    assert body["schedule_to_start"] is None  # no worker measured a task
    assert [(a["kind"], a["size"], a["reason"]) for a in body["actions"]] == [
        ("scale_up", 3, "backlog 30 over 3 minutes")
    ]


async def test_downsampling_and_windows(seeded: Api) -> None:
    async with seeded.client() as c:
        url = "/v1/worker-deployments/orders/versions/v1/groups/wf/metrics"
        coarse = (await c.get(url, params={"since": "2m", "max_points": 4})).json()
        assert len(coarse["samples"]) <= 4 and coarse["step_s"] == pytest.approx(30.0)
        assert max(s["workers_running"] for s in coarse["samples"]) == 3
        empty = (await c.get(url, params={"since": "3h", "until": "2h"})).json()
        assert empty["samples"] == [] and empty["actions"] == []


async def test_endpoint_metrics_and_events(seeded: Api) -> None:
    async with seeded.client() as c:
        metrics = (await c.get("/v1/endpoints/ep/metrics")).json()
        assert (metrics["deployment"], metrics["build_id"], metrics["group"]) == (
            "ep",
            "default",
            "workers",
        )
        assert [s["workers_running"] for s in metrics["samples"]] == [2]
        events = (await c.get("/v1/endpoints/ep/events")).json()
    assert [e["kind"] for e in events["events"]] == ["worker_exit"]
    assert events["next_until"] is None


async def test_events_filters_and_paging(seeded: Api) -> None:
    async with seeded.client() as c:
        every = (await c.get("/v1/events")).json()["events"]
        assert [e["kind"] for e in every] == ["worker_exit", "readiness", "decision"]
        readiness = every[1]
        assert (readiness["deployment"], readiness["build_id"], readiness["group"]) == (
            "orders",
            "v1",
            None,
        )
        assert set(readiness) == {
            "id",
            "at",
            "deployment",
            "build_id",
            "group",
            "kind",
            "severity",
            "reason",
            "message",
        }
        page = (await c.get("/v1/events", params={"limit": 2})).json()
        assert len(page["events"]) == 2 and page["next_until"] == pytest.approx(every[2]["at"])
        older = (await c.get("/v1/events", params={"until": page["next_until"]})).json()
        assert [e["id"] for e in older["events"]] == [every[2]["id"]]
        by_version = await c.get("/v1/events", params={"deployment": "orders", "build_id": "v1"})
        assert [e["kind"] for e in by_version.json()["events"]] == ["readiness", "decision"]
        by_group = await c.get("/v1/events", params={"group": "wf", "since": "24h"})
        assert len(by_group.json()["events"]) == 2
        kinds = await c.get("/v1/events", params={"kind": "decision,worker_exit"})
        assert [e["kind"] for e in kinds.json()["events"]] == ["worker_exit", "decision"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "soon"}, "until"),
        ({"since": "25h"}, "since"),
        ({"since": "1m", "until": "2m"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"kind": "explosion"}, "kind"),
        ({"kind": ""}, "kind"),
        ({"until": ""}, "until"),
    ],
)
async def test_bad_queries_are_422_naming_the_field(
    seeded: Api, params: dict[str, Any], field: str
) -> None:
    async with seeded.client() as c:
        response = await c.get("/v1/events", params=params)
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_max_points_and_unknown_resources(seeded: Api) -> None:
    async with seeded.client() as c:
        url = "/v1/worker-deployments/orders/versions/v1/groups/wf/metrics"
        bad = await c.get(url, params={"max_points": 0})
        assert bad.status_code == 422
        assert bad.json()["error"]["details"][0]["field"] == "max_points"
        for missing in (
            "/v1/worker-deployments/nope/versions/v1/groups/wf/metrics",
            "/v1/worker-deployments/orders/versions/v9/groups/wf/metrics",
            "/v1/worker-deployments/orders/versions/v1/groups/nope/metrics",
            "/v1/endpoints/nope/metrics",
            "/v1/endpoints/nope/events",
        ):
            response = await c.get(missing)
            assert response.status_code == 404, missing
            assert response.json()["error"]["code"] == "not_found"


async def test_read_tokens_may_read_and_anonymous_may_not(seeded: Api) -> None:
    reader = generate_token()
    seeded.store.tokens.add(reader, "reader", scope="read")
    async with seeded.client(token=reader) as c:
        assert (await c.get("/v1/events")).status_code == 200
        assert (await c.get("/v1/endpoints/ep/metrics")).status_code == 200
    async with seeded.anonymous() as anon:
        assert (await anon.get("/v1/events")).status_code == 401


def test_time_forms() -> None:
    now = 1_800_000_000.0
    assert parse_time("15m", now, "since") == now - 900
    assert parse_time("2h", now, "since") == now - 7200
    assert parse_time("1700000000.5", now, "since") == 1_700_000_000.5
    assert parse_time("2023-11-14T22:13:20Z", now, "since") == 1_700_000_000.0
    assert parse_time("2023-11-14T22:13:20", now, "since") == 1_700_000_000.0
    assert parse_time("2023-11-14T23:13:20+01:00", now, "since") == 1_700_000_000.0
    span = window(None, None, now)
    assert (span.since, span.until) == (now - 900, now)
    with pytest.raises(Invalid, match="until"):
        parse_time("next week", now, "until")
