"""Keyset pages (``page_token``) on SQLite and a real PostgreSQL: every row once, in name order,
also while rows are inserted; a bad token is a 400. And several writers without a conflict token
on one endpoint or deployment all succeed (409 only for a client's own stale token)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from api_support import Api, RunningApi

from workerplane.config.model import DeploymentSpec
from workerplane.store.endpoint_fields import EndpointRecord
from workerplane.store.store import Store


def _endpoint(name: str, team: str = "t0") -> dict[str, Any]:
    return {
        "name": name, "endpoint_type": "temporal", "temporal_task_queue": f"{name}-q",
        "command": ["python", "-m", "examples.worker"], "min_workers": 0, "max_workers": 2,
        "labels": {"team": team},
    }  # fmt: skip


def _seed(store: Store, names: list[str], team: str = "t0") -> None:
    """Endpoints straight into the store (the API's create path, minus HTTP)."""
    for name in names:
        body = _endpoint(name, team)
        record = EndpointRecord.model_validate(
            {k: v for k, v in body.items() if k not in ("name", "endpoint_type")}
        )
        spec = DeploymentSpec.model_validate({
            "name": f"{name}.default", "task_queues": [body["temporal_task_queue"]],
            "compute": {"scaling_groups": {"workers": {
                "provider": {"type": "subprocess", "details": {"command": "python"}},
                "scaler": {"type": "backlog", "details": {"max_count": 2}},
            }}},
        })  # fmt: skip
        store.endpoints.create(name, "temporal", record, spec, None)


def _all_pages(client: httpx.Client, size: int, **params: str) -> list[str]:
    names: list[str] = []
    token: str | None = None
    while True:
        query: dict[str, Any] = {"page_size": size, **params}
        if token:
            query["page_token"] = token
        page = client.get("/v1/endpoints", params=query).json()
        assert page["total"] is None and page["next_offset"] is None  # nothing counted
        names += [item["name"] for item in page["items"]]
        token = page["next_page_token"]
        if token is None:
            return names


def test_pages_cover_every_row_once_while_rows_are_inserted(served_api: RunningApi) -> None:
    before = [f"ep-{i:04d}" for i in range(0, 400, 2)]
    _seed(served_api.store, before[:100], "t0")
    _seed(served_api.store, before[100:], "t1")
    inserted = [f"ep-{i:04d}" for i in range(1, 400, 2)]  # between the existing names
    stop = threading.Event()

    def insert() -> None:
        for name in inserted:
            if stop.is_set():
                return
            _seed(served_api.store, [name], "t1")

    writer = threading.Thread(target=insert)
    writer.start()
    try:
        with served_api.client() as client:
            listed = _all_pages(client, 13)
            team = _all_pages(client, 7, label="team=t1")
    finally:
        stop.set()
        writer.join()
    assert len(listed) == len(set(listed)) and listed == sorted(listed)
    assert set(before) <= set(listed) and set(listed) <= set(before) | set(inserted)
    assert len(team) == len(set(team)) and team == sorted(team)
    assert set(before[100:]) <= set(team) and not set(before[:100]) & set(team)


async def test_page_tokens_and_the_old_offset_pages(api: Api) -> None:
    _seed(api.store, [f"e{i:02d}" for i in range(5)])
    async with api.client() as c:
        first = (await c.get("/v1/endpoints", params={"page_size": 2})).json()
        assert [i["name"] for i in first["items"]] == ["e00", "e01"]
        token = first["next_page_token"]
        second = await c.get("/v1/endpoints", params={"page_size": 2, "page_token": token})
        assert [i["name"] for i in second.json()["items"]] == ["e02", "e03"]
        old = (await c.get("/v1/endpoints", params={"limit": 2, "offset": 4})).json()
        assert old["total"] == 5 and old["next_offset"] is None and len(old["items"]) == 1
        for bad in ("nope", "eyJsIjoid29ya2VyLWRlcGxveW1lbnRzIiwiYSI6ImUwMCJ9"):
            refused = await c.get("/v1/endpoints", params={"page_token": bad})
            assert refused.status_code == 400 and "page_token" in refused.text
        both = await c.get("/v1/endpoints", params={"page_token": token, "offset": 1})
        assert both.status_code == 400
        for name in ("d1", "d2", "d3"):
            await c.post("/v1/worker-deployments", json={"name": name})
        deps = (await c.get("/v1/worker-deployments", params={"page_size": 2})).json()
        rest = await c.get("/v1/worker-deployments", params={"page_token": deps["next_page_token"]})
        names = [d["name"] for d in deps["items"] + rest.json()["items"]]
        endpoints = [f"e{i:02d}" for i in range(5)]  # each endpoint has its deployment
        assert names == ["d1", "d2", "d3", *endpoints] and rest.json()["next_page_token"] is None


async def test_writes_without_a_conflict_token_never_get_409(api: Api) -> None:
    _seed(api.store, ["busy"])
    async with api.client() as c:
        await c.post("/v1/worker-deployments", json={"name": "routed"})
        for build in ("a", "b"):
            version = {
                "build_id": build, "task_queues": ["q"],
                "compute_config": {"scaling_groups": {"g": {
                    "provider": {"type": "subprocess", "details": {"command": "python"}},
                    "scaler": {"type": "backlog", "details": {"max_count": 3}},
                }}},
            }  # fmt: skip
            await c.post("/v1/worker-deployments/routed/versions", json=version)
        puts = [c.put("/v1/endpoints/busy", json={"max_workers": 2 + i % 5}) for i in range(24)]
        mask = {"scaling_groups": {"g": {"update_mask": ["scaler.details"]}}}
        patches = [
            c.patch(
                "/v1/worker-deployments/routed/versions/a/compute-config",
                json=_masked(mask, {"scaler": {"details": {"max_count": 2 + i}}}),
            )
            for i in range(12)
        ]
        routes = [
            c.post("/v1/worker-deployments/routed/set-current", json={"build_id": build})
            for build in ("a", "b") * 6
        ]
        results = await asyncio.gather(*puts, *patches, *routes)
        assert [r.status_code for r in results] == [200] * len(results), [
            r.text for r in results if r.status_code != 200
        ]
        # A client's own stale token is still refused.
        current = (await c.get("/v1/endpoints/busy")).json()["conflict_token"]
        await c.put("/v1/endpoints/busy", json={"max_workers": 3})
        stale = await c.put(
            "/v1/endpoints/busy", json={"max_workers": 4, "conflict_token": current}
        )
        assert stale.status_code == 409


def _masked(mask: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    """A compute-config update of group ``g`` with ``group`` under ``mask``."""
    return {"scaling_groups": {"g": {**mask["scaling_groups"]["g"], "scaling_group": group}}}
