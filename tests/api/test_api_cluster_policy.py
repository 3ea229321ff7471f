"""The API refuses a Kubernetes group whose namespace the cluster policy does not allow, when it
is created or changed (not later, when the controller would fail to start it), naming the field
and the rule; ``POST /v1/validate`` reports it the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_support import Api, make_store

from workerplane.api.app import create_app
from workerplane.api.settings import ApiSettings
from workerplane.providers.kubernetes.details import ClusterPolicy
from workerplane.security.tokens import generate_token

FIELD = "compute.scaling_groups.workers.provider.details.namespace"


def _api(tmp_path: Path) -> Api:
    store = make_store(f"sqlite:///{tmp_path / 'api.db'}")
    token = generate_token()
    store.tokens.add(token, "test")
    policy = ClusterPolicy(allowed_namespaces=["workers"])
    settings = ApiSettings(controller="none", cluster_policy=policy)
    return Api(create_app(store, settings), store, token)


def _version(namespace: str) -> dict[str, Any]:
    return {
        "build_id": "v1",
        "task_queues": ["orders"],
        "compute_config": {
            "scaling_groups": {
                "workers": {
                    "provider": {
                        "type": "k8s",
                        "details": {"namespace": namespace, "deployment": "orders-workers"},
                    },
                    "scaler": {"type": "backlog", "details": {"max_count": 3}},
                }
            }
        },
    }


async def test_a_namespace_outside_the_policy_is_refused_by_field_and_rule(
    tmp_path: Path,
) -> None:
    api = _api(tmp_path)
    async with api.client() as c:
        assert (await c.post("/v1/worker-deployments", json={"name": "orders"})).status_code == 201
        refused = await c.post("/v1/worker-deployments/orders/versions", json=_version("ml"))
        assert refused.status_code == 400, refused.text
        (detail,) = refused.json()["error"]["details"]
        assert detail["field"] == FIELD
        assert "not allowed by the cluster policy" in detail["message"]
        assert "allowed_namespaces: workers" in detail["message"]
        listed = await c.get("/v1/worker-deployments/orders/versions")
        assert listed.json()["items"] == []  # nothing half-applied

        checked = await c.post(
            "/v1/validate", json={"compute_config": _version("ml")["compute_config"],
                                  "provider_checks": False},
        )  # fmt: skip
        assert checked.status_code == 200
        assert [i["field"] for i in checked.json()["issues"]] == [FIELD]

        accepted = await c.post("/v1/worker-deployments/orders/versions", json=_version("workers"))
        assert accepted.status_code == 201, accepted.text
        moved = await c.patch(
            "/v1/worker-deployments/orders/versions/v1/compute-config",
            json={
                "scaling_groups": {
                    "workers": {
                        "scaling_group": {
                            "provider": {
                                "type": "k8s",
                                "details": {"namespace": "ml", "deployment": "orders-workers"},
                            }
                        },
                        "update_mask": {"paths": ["provider"]},
                    }
                }
            },
        )
        assert moved.status_code == 400, moved.text
        assert moved.json()["error"]["details"][0]["field"] == FIELD
    api.store.db.dispose()
