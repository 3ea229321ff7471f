"""Issue 12, "the encryption key and its rotation": secrets sealed with key A stay readable when
B becomes the primary key and A a previous key; new writes use B; ``workerplane keys rotate``
re-seals every stored spec with B (without changing generations or conflict tokens), after which
B alone reads everything; a secret sealed with a key that is not configured is a clear error that
names its key id. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Api
from security.test_key_rotation_crypto import legacy_token
from sqlalchemy import text
from typer.testing import CliRunner

from workerplane.api.app import create_app
from workerplane.api.settings import ApiSettings
from workerplane.cli.main import app as cli
from workerplane.security.crypto import SecretBox, UnknownKeyError, generate_key, key_id
from workerplane.security.tokens import generate_token
from workerplane.store.db import Database
from workerplane.store.store import Store

KEY_A, KEY_B, KEY_C = generate_key(), generate_key(), generate_key()
ID_A, ID_B, ID_C = (key_id(base64.b64decode(k)) for k in (KEY_A, KEY_B, KEY_C))


def _endpoint(name: str, secret: str) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint_type": "temporal",
        "temporal_task_queue": name,
        "command": ["python", "-m", "worker"],
        "secret_env": {"DB_PASSWORD": secret},
    }


class Service:
    """``serve`` started over one database with some keys (the API in process, no controller)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.api: Api | None = None

    def restart(self, primary: str, *previous: str) -> Api:
        if self.api is not None:
            self.api.store.db.dispose()
        box = SecretBox(base64.b64decode(primary), [base64.b64decode(k) for k in previous])
        db = Database(self.url)
        db.migrate()
        store = Store(db, box)
        if not store.tokens.any():
            store.tokens.add(self.token, "test")
        self.api = Api(create_app(store, ApiSettings(controller="none")), store, self.token)
        return self.api


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    made = Service(url, generate_token())
    yield made
    if made.api is not None:
        made.api.store.db.dispose()


def _rows(api: Api) -> dict[str, tuple[str, int, str]]:
    """Each version's stored spec, generation and conflict token, by version key."""
    with api.store.db.engine.connect() as conn:
        result = conn.execute(
            text("SELECT key, spec_json, generation, conflict_token FROM deployment_versions")
        )
        return {key: (spec, gen, token) for key, spec, gen, token in result}


def _secrets_seen_by_controller(api: Api) -> dict[str, str]:
    """The secret env of every version, as the controller's snapshot opens it."""
    opened = {}
    for version in api.store.controller.snapshot():
        for group in version.spec.compute.scaling_groups.values():
            value = group.provider.details["secret_env"]["DB_PASSWORD"]
            opened[version.key] = getattr(value, "get_secret_value", lambda v=value: v)()
    return opened


def _rotate(url: str, state_dir: Path, primary: str, *previous: str) -> tuple[int, str]:
    env = {
        "WORKERPLANE_ENCRYPTION_KEY": primary,
        "WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS": ",".join(previous),
        "WORKERPLANE_ENCRYPTION_KEY_FILE": "",
        "WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS_FILE": "",
    }
    args = ["keys", "rotate", "--database-url", url, "--state-dir", str(state_dir), "-o", "json"]
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.output


async def test_rotate_from_key_a_to_key_b(service: Service, tmp_path: Path) -> None:
    # 1. Data sealed with key A, one row still in the legacy (wpenc:v1, no key id) format.
    api = service.restart(KEY_A)
    async with api.client() as client:
        for name in ("orders", "billing", "legacy"):
            made = await client.post("/v1/endpoints", json=_endpoint(name, f"{name}-pw"))
            assert made.status_code == 201, made.text
    key_legacy = next(key for key in _rows(api) if key.startswith("legacy"))
    spec_legacy = _rows(api)[key_legacy][0]
    sealed = json.loads(spec_legacy)
    group = next(iter(sealed["compute"]["scaling_groups"].values()))
    group["provider"]["details"]["secret_env"]["DB_PASSWORD"] = legacy_token(
        base64.b64decode(KEY_A), "legacy-pw"
    )
    with api.store.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE deployment_versions SET spec_json = :s WHERE key = :k"),
            {"s": json.dumps(sealed, sort_keys=True), "k": key_legacy},
        )
    expected = {key: f"{key.split('/')[0]}-pw" for key in _rows(api)}
    assert _secrets_seen_by_controller(api) == expected, "key A reads its own data"

    # 2. Restart with primary B and previous A: everything reads, new writes use B.
    api = service.restart(KEY_B, KEY_A)
    assert _secrets_seen_by_controller(api) == expected
    async with api.client() as client:
        made = await client.post("/v1/endpoints", json=_endpoint("fresh", "fresh-pw"))
        assert made.status_code == 201, made.text
        updated = await client.put(
            "/v1/endpoints/orders", json={"secret_env": {"DB_PASSWORD": "orders-pw2"}}
        )
        assert updated.status_code == 200, updated.text
        kept = await client.put("/v1/endpoints/orders", json={"max_workers": 3})
        assert kept.status_code == 200, kept.text  # its redacted secret keeps its value
    rows = _rows(api)
    fresh, orders = (next(k for k in rows if k.startswith(n)) for n in ("fresh", "orders"))
    expected |= {fresh: "fresh-pw", orders: "orders-pw2"}
    assert _secrets_seen_by_controller(api) == expected
    for key in (fresh, orders):
        assert f"wpenc:v2:{ID_B}:" in rows[key][0] and ID_A not in rows[key][0]
    assert "wpenc:v1:" in rows[key_legacy][0]

    # 3. Rotate (while this "serve" still runs): every row not yet under B is re-sealed.
    stale = [key for key, (spec, _, _) in rows.items() if f"wpenc:v2:{ID_B}:" not in spec]
    assert sorted(k.split("/")[0] for k in stale) == ["billing", "legacy"]
    code, output = _rotate(service.url, tmp_path / "state", KEY_B, KEY_A)
    assert code == 0, output
    summary = json.loads(output)
    assert summary == {
        "primary_key_id": ID_B, "resealed": len(stale), "current": len(rows) - len(stale),
        "failed": [],
    }  # fmt: skip
    after = _rows(api)
    for key, (spec, generation, token) in after.items():
        assert f"wpenc:v2:{ID_B}:" in spec and ID_A not in spec and "wpenc:v1:" not in spec
        assert (generation, token) == rows[key][1:], "re-sealing is not a change of the spec"
    code, output = _rotate(service.url, tmp_path / "state", KEY_B, KEY_A)
    assert code == 0 and json.loads(output)["resealed"] == 0, output

    # 4. Restart with B alone: everything reads.
    api = service.restart(KEY_B)
    assert _secrets_seen_by_controller(api) == expected
    async with api.client() as client:
        updated = await client.put("/v1/endpoints/legacy", json={"max_workers": 2})
        assert updated.status_code == 200, updated.text


async def test_a_key_that_is_not_configured_is_a_clear_error(
    service: Service, tmp_path: Path
) -> None:
    api = service.restart(KEY_C)
    async with api.client() as client:
        made = await client.post("/v1/endpoints", json=_endpoint("orders", "orders-pw"))
        assert made.status_code == 201, made.text
    api = service.restart(KEY_B, KEY_A)
    with pytest.raises(UnknownKeyError) as err:
        api.store.versions.editable("orders", "default")
    message = str(err.value)
    assert f"encryption key '{ID_C}', which is not configured" in message
    assert "wpenc:" not in message and "orders-pw" not in message
    async with api.client() as client:
        assert (await client.get("/v1/endpoints/orders")).status_code == 200  # redacted reads
        refused = await client.put("/v1/endpoints/orders", json={"max_workers": 2})
        assert refused.status_code == 500, refused.text
        assert refused.json()["error"]["code"] == "encryption_key"
        assert f"'{ID_C}', which is not configured" in refused.json()["error"]["message"]
    code, output = _rotate(service.url, tmp_path / "state", KEY_B, KEY_A)
    assert code == 1, output
    failed = json.loads(output)["failed"]
    assert [f["version"] for f in failed] == list(_rows(api))
    assert ID_C in failed[0]["error"] and "Traceback" not in output
