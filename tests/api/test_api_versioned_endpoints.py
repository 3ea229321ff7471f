"""Versioned endpoints in process, on SQLite and on a real PostgreSQL: a change to what defines
the workers is a new build, a new version and its rollout; scaling knobs change in place."""

from __future__ import annotations

from typing import Any

from api_support import Api

from workerplane.store.rollout_io import StoreRolloutIO

ENDPOINT: dict[str, Any] = {
    "endpoint_type": "temporal",
    "temporal_task_queue": "orders",
    "command": ["python", "-m", "workerplane.examples.worker"],
    "min_workers": 1,
    "max_workers": 3,
    "versioning": {"build_id": "auto"},
}


async def _create(api: Api, name: str, **changes: Any) -> dict[str, Any]:
    async with api.client() as c:
        r = await c.post("/v1/endpoints", json={**ENDPOINT, "name": name, **changes})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body


def _versions(api: Api, name: str) -> dict[str, bool]:
    """Build ID → draining, as the controller reads them."""
    return {
        v.spec.deployment.build_id: v.draining
        for v in api.store.controller.snapshot("default")
        if v.spec.deployment is not None and v.spec.deployment.name == name
    }


async def test_auto_build_id_follows_the_worker_definition_not_the_scaling_knobs(
    api: Api,
) -> None:
    first = await _create(api, "a1")
    same = await _create(api, "a2", min_workers=0, max_workers=9, per_worker=3)
    image = await _create(api, "a3", command=None, image="ghcr.io/acme/worker:1")
    command = await _create(api, "a4", command=["python", "-m", "other"])
    assert first["build_id"].startswith("auto-")
    assert first["build_id"] == same["build_id"]
    assert len({first["build_id"], image["build_id"], command["build_id"]}) == 3
    assert first["versioning"]["rollout"]["strategy"] == "all-at-once"
    assert first["rollout"]["target_version"] == first["build_id"]
    assert first["rollout"]["previous_version"] is None
    [version] = [v for v in api.store.controller.snapshot("default") if v.key.startswith("a1/")]
    assert version.spec.deployment is not None
    assert version.spec.deployment.name == "a1"
    assert version.spec.deployment.build_id == first["build_id"]


async def test_scaling_change_updates_the_version_in_place(api: Api) -> None:
    created = await _create(api, "knobs")
    async with api.client() as c:
        r = await c.put("/v1/endpoints/knobs", json={"max_workers": 7, "min_workers": 2})
        assert r.status_code == 200, r.text
    assert r.json()["build_id"] == created["build_id"]
    assert r.json()["max_workers"] == 7
    assert _versions(api, "knobs") == {created["build_id"]: False}


async def test_new_command_is_a_new_version_rolled_out_while_the_old_one_drains(
    api: Api,
) -> None:
    v1 = await _create(api, "orders")
    StoreRolloutIO(api.store).set_current("orders", v1["build_id"])
    async with api.client() as c:
        r = await c.put(
            "/v1/endpoints/orders",
            json={"command": ["python", "-m", "v2"], "conflict_token": v1["conflict_token"]},
        )
        assert r.status_code == 200, r.text
        v2 = r.json()
        assert v2["build_id"] != v1["build_id"]
        assert v2["id"] == v1["id"] and v2["min_workers"] == 1 and v2["max_workers"] == 3
        assert v2["rollout"]["target_version"] == v2["build_id"]
        assert v2["rollout"]["previous_version"] == v1["build_id"]
        assert v2["rollout"]["phase"] == "waiting-for-workers"
        # The old version keeps its spec and workers until the rollout moves Temporal.
        assert _versions(api, "orders") == {v1["build_id"]: False, v2["build_id"]: False}
        StoreRolloutIO(api.store).set_current("orders", v2["build_id"])
        assert _versions(api, "orders") == {v1["build_id"]: True, v2["build_id"]: False}
        # The token read before the change is stale now: no half-applied second change.
        stale = await c.put(
            "/v1/endpoints/orders",
            json={"command": ["python", "-m", "v3"], "conflict_token": v1["conflict_token"]},
        )
        assert stale.status_code == 409
        got = (await c.get("/v1/endpoints/orders")).json()
        assert got["build_id"] == v2["build_id"] and got["command"][-1] == "v2"
        # Undoing the change goes back to v1's version, which stops draining once current.
        back = await c.put("/v1/endpoints/orders", json={"command": ENDPOINT["command"]})
        assert back.json()["build_id"] == v1["build_id"]
        assert back.json()["rollout"]["previous_version"] == v2["build_id"]
        # Deleting the endpoint removes every version of it.
        assert (await c.delete("/v1/endpoints/orders")).status_code == 204
        assert (await c.get("/v1/endpoints/orders")).status_code == 404
    assert _versions(api, "orders") == {}


async def test_explicit_build_id_is_new_only_when_it_changes(api: Api) -> None:
    created = await _create(api, "pinned", versioning={"build_id": "1.0"})
    assert created["build_id"] == "1.0"
    async with api.client() as c:
        same = await c.put("/v1/endpoints/pinned", json={"command": ["python", "-m", "hotfix"]})
        assert same.json()["build_id"] == "1.0"
        assert _versions(api, "pinned") == {"1.0": False}
        body = {
            "versioning": {"build_id": "1.1", "rollout": {"strategy": "manual"}},
            "request_id": "bump-1",
        }
        bumped = await c.put("/v1/endpoints/pinned", json=body)
        assert bumped.status_code == 200, bumped.text
        assert bumped.json()["build_id"] == "1.1"
        assert bumped.json()["rollout"]["strategy"] == "manual"
        replayed = await c.put("/v1/endpoints/pinned", json=body)  # a retry: the same change
        assert replayed.status_code == 200
        assert replayed.json()["conflict_token"] == bumped.json()["conflict_token"]
    # 1.0 never became current (no rollout runner here): it had no work to keep, so it goes.
    assert _versions(api, "pinned") == {"1.0": True, "1.1": False}
    assert api.store.versions.get("pinned", "1.0").deleting


async def test_unversioned_endpoints_are_unchanged(api: Api) -> None:
    plain = await _create(api, "plain", versioning=None)
    assert plain["build_id"] == "default"
    assert plain["versioning"] is None and plain["rollout"] is None
    async with api.client() as c:
        r = await c.put("/v1/endpoints/plain", json={"command": ["python", "-m", "v2"]})
        assert r.json()["build_id"] == "default"


async def test_bad_versioning_is_400_naming_the_field(api: Api) -> None:
    async with api.client() as c:
        bad = [
            {"versioning": {"build_id": "not ok"}},
            {"versioning": {"build_id": "auto", "colour": "blue"}},
            {"versioning": {"rollout": {"strategy": "progressive"}}},
            {"versioning": {"rollout": {"strategy": "sideways"}}},
        ]
        for n, changes in enumerate(bad):
            r = await c.post("/v1/endpoints", json={**ENDPOINT, "name": f"bad{n}", **changes})
            assert r.status_code == 400, (changes, r.text)
            fields = [d["field"] for d in r.json()["error"]["details"]]
            assert any(f.startswith("versioning") for f in fields), (changes, fields)
    await _create(api, "on")
    await _create(api, "off", versioning=None)
    async with api.client() as c:
        for name, versioning in [("on", None), ("off", {"build_id": "auto"})]:
            r = await c.put(f"/v1/endpoints/{name}", json={"versioning": versioning})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["details"][0]["field"] == "versioning"


async def test_secret_env_names_define_the_build_not_their_values(api: Api) -> None:
    first = await _create(api, "s1", secret_env={"TOKEN": "a"}, labels={"team": "x"})
    other_value = await _create(api, "s2", secret_env={"TOKEN": "b"})
    other_name = await _create(api, "s3", secret_env={"API_TOKEN": "a"})
    assert first["build_id"] == other_value["build_id"] != other_name["build_id"]
    async with api.client() as c:
        rotated = await c.put("/v1/endpoints/s1", json={"secret_env": {"TOKEN": "c"}})
        assert rotated.json()["build_id"] == first["build_id"]
    assert _versions(api, "s1") == {first["build_id"]: False}
