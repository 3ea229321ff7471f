"""Issue 12, item 13: an endpoint's version is changed through ``/v1/endpoints`` only (an edit
through the versions or deployments API would leave the endpoint showing one ``max_workers``
while the controller runs another), and a reused ``request_id`` with a different body is a 409
that says so, never 200 with the old object."""

from __future__ import annotations

from typing import Any

from api_support import Api

ENDPOINT: dict[str, Any] = {
    "name": "orders",
    "endpoint_type": "temporal",
    "temporal_task_queue": "orders",
    "command": ["python", "-m", "worker"],
    "max_workers": 1,
}
ENDPOINT_VERSION = "/v1/worker-deployments/orders/versions/default"


def _max_count(count: int) -> dict[str, Any]:
    """A masked update of one group that sets its scaler's ``max_count``."""
    scaler = {"type": "backlog", "details": {"max_count": count}}
    return {"scaling_group": {"scaler": scaler}, "update_mask": ["scaler"]}


def _version(build_id: str, max_count: int = 3) -> dict[str, Any]:
    return {
        "build_id": build_id,
        "task_queues": ["q"],
        "compute_config": {
            "scaling_groups": {
                "w": {
                    "provider": {"type": "subprocess", "details": {"command": "python"}},
                    "scaler": {"type": "backlog", "details": {"max_count": max_count}},
                }
            }
        },
    }


def _refused_for_endpoint(response: Any) -> None:
    assert response.status_code == 409, (response.request.url, response.text)
    assert "/v1/endpoints/orders" in response.json()["error"]["message"]


async def test_an_endpoint_is_changed_through_the_endpoints_api_only(api: Api) -> None:
    async with api.client() as client:
        created = await client.post("/v1/endpoints", json=ENDPOINT)
        assert created.status_code == 201, created.text
        groups = list(api.store.versions.get("orders", "default").spec.compute.scaling_groups)
        mask = {"scaling_groups": {groups[0]: _max_count(50)}}
        _refused_for_endpoint(await client.patch(ENDPOINT_VERSION + "/compute-config", json=mask))
        _refused_for_endpoint(await client.post(ENDPOINT_VERSION + "/drain", json={}))
        _refused_for_endpoint(await client.delete(ENDPOINT_VERSION))
        _refused_for_endpoint(
            await client.post("/v1/worker-deployments/orders/versions", json=_version("v2"))
        )
        _refused_for_endpoint(
            await client.post(
                "/v1/worker-deployments/orders/set-current", json={"build_id": "default"}
            )
        )
        _refused_for_endpoint(await client.delete("/v1/worker-deployments/orders"))
        # what the endpoint shows is still what its version runs
        endpoint = (await client.get("/v1/endpoints/orders")).json()
        assert endpoint["max_workers"] == 1
        version = (await client.get(ENDPOINT_VERSION)).json()
        scalers = [g["scaler"] for g in version["compute_config"]["scaling_groups"].values()]
        assert [s["details"]["max_count"] for s in scalers] == [1]
        # the endpoints API still changes both
        updated = await client.put("/v1/endpoints/orders", json={"max_workers": 50})
        assert updated.status_code == 200, updated.text
        version = (await client.get(ENDPOINT_VERSION)).json()
        scalers = [g["scaler"] for g in version["compute_config"]["scaling_groups"].values()]
        assert [s["details"]["max_count"] for s in scalers] == [50]
        deleted = await client.delete("/v1/endpoints/orders")
        assert deleted.status_code == 204, deleted.text


def _says_request_id_reused(response: Any) -> None:
    assert response.status_code == 409, (response.request.url, response.text)
    message = response.json()["error"]["message"]
    assert "request_id" in message and "different request body" in message, message


async def test_a_reused_request_id_with_another_body_is_refused(api: Api) -> None:
    async with api.client() as client:
        first = {"name": "d1", "namespace": "a", "request_id": "r-dep"}
        assert (await client.post("/v1/worker-deployments", json=first)).status_code == 201
        again = await client.post("/v1/worker-deployments", json=first)
        assert again.status_code == 200  # an honest retry still gets the object back
        _says_request_id_reused(
            await client.post("/v1/worker-deployments", json={**first, "namespace": "b"})
        )

        versions = "/v1/worker-deployments/d1/versions"
        v1 = {**_version("v1"), "request_id": "r-ver"}
        assert (await client.post(versions, json=v1)).status_code == 201
        assert (await client.post(versions, json=v1)).status_code == 200
        _says_request_id_reused(
            await client.post(versions, json={**_version("v1", 9), "request_id": "r-ver"})
        )

        patch = {"scaling_groups": {"w": _max_count(4)}, "request_id": "r-up"}
        assert (await client.patch(versions + "/v1/compute-config", json=patch)).status_code == 200
        assert (await client.patch(versions + "/v1/compute-config", json=patch)).status_code == 200
        other = {**patch, "scaling_groups": {"w": _max_count(8)}}
        _says_request_id_reused(await client.patch(versions + "/v1/compute-config", json=other))
        version = (await client.get(versions + "/v1")).json()
        assert version["compute_config"]["scaling_groups"]["w"]["scaler"]["details"] == {
            "max_count": 4
        }

        endpoint = {**ENDPOINT, "request_id": "r-end"}
        assert (await client.post("/v1/endpoints", json=endpoint)).status_code == 201
        assert (await client.post("/v1/endpoints", json=endpoint)).status_code == 200
        _says_request_id_reused(
            await client.post("/v1/endpoints", json={**endpoint, "max_workers": 7})
        )
        change = {"max_workers": 2, "request_id": "r-put"}
        assert (await client.put("/v1/endpoints/orders", json=change)).status_code == 200
        assert (await client.put("/v1/endpoints/orders", json=change)).status_code == 200
        _says_request_id_reused(
            await client.put("/v1/endpoints/orders", json={**change, "max_workers": 5})
        )
        assert (await client.get("/v1/endpoints/orders")).json()["max_workers"] == 2
