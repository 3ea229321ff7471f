"""Issue 12, item 9: secret endpoint env is sealed wherever it is stored and never comes back.

Regression test: on the base commit the endpoint's secret env already travels as the provider's
``secret_env`` (sealed by the model's ``Secret`` type). This pins it down for every stored JSON
column, every read and write route, and the log.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from api_support import Api
from sqlalchemy import text

from workerplane.security.redact import REDACTED

SECRET = "hunter2-" + "x" * 24
OTHER_SECRET = "correct-horse-battery-staple-42"

ENDPOINT: dict[str, Any] = {
    "name": "orders",
    "endpoint_type": "temporal",
    "temporal_task_queue": "orders",
    "command": ["python", "-m", "worker"],
    "env": {"LOG_LEVEL": "debug"},
    "secret_env": {"DB_PASSWORD": SECRET},
}


def _stored_text(api: Api) -> str:
    """Every text column of every table, as one string."""
    dumped: list[str] = []
    with api.store.db.engine.connect() as conn:
        for table in ("worker_deployments", "deployment_versions", "endpoints", "group_statuses"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                dumped.extend(str(value) for value in row)
    return "\n".join(dumped)


async def test_secret_env_is_sealed_in_storage_and_never_returned(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with api.client() as client:
        created = await client.post("/v1/endpoints", json=ENDPOINT)
        assert created.status_code == 201, created.text
        assert created.json()["secret_env"] == {"DB_PASSWORD": REDACTED}
        endpoint_id = created.json()["id"]
        responses = [
            created,
            await client.get(f"/v1/endpoints/{endpoint_id}"),
            await client.get("/v1/endpoints/orders"),
            await client.get("/v1/endpoints"),
            await client.get("/v1/worker-deployments/orders/versions/default"),
            await client.get("/v1/worker-deployments/orders/versions"),
        ]
        updated = await client.put(
            f"/v1/endpoints/{endpoint_id}",
            json={"max_workers": 2, "secret_env": {"DB_PASSWORD": OTHER_SECRET}},
        )
        assert updated.status_code == 200, updated.text
        responses.append(updated)
        kept = await client.put(f"/v1/endpoints/{endpoint_id}", json={"max_workers": 3})
        assert kept.status_code == 200, kept.text
        responses.append(kept)
    for response in responses:
        assert response.status_code == 200 or response.status_code == 201, response.text
        assert SECRET not in response.text and OTHER_SECRET not in response.text
    assert "LOG_LEVEL" in created.text  # plain env still reads back
    stored = _stored_text(api)
    assert "DB_PASSWORD" in stored  # the name is kept ...
    assert SECRET not in stored and OTHER_SECRET not in stored  # ... the value only sealed
    with api.store.db.engine.connect() as conn:
        fields = [row[0] for row in conn.execute(text("SELECT fields_json FROM endpoints"))]
    assert fields and all(OTHER_SECRET not in f and 'secret_env"' not in f for f in fields)
    assert SECRET not in caplog.text and OTHER_SECRET not in caplog.text
    # the sealed value still opens to the secret the workers get
    spec = api.store.versions.editable("orders", "default").spec
    opened = {
        name: getattr(value, "get_secret_value", lambda v=value: v)()
        for group in spec.compute.scaling_groups.values()
        for name, value in group.provider.details["secret_env"].items()
    }
    assert opened == {"DB_PASSWORD": OTHER_SECRET}
