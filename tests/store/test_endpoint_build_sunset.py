"""A versioned endpoint's older builds drain and are deleted by their sunset like any version;
the endpoint and its deployment stay. The version an endpoint shows is never sunset (a
rolled-back build), only deleted with its endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store.test_store_concurrency import BOX
from tests.store.test_sunset_delete import OVER, _publish
from workerplane.api.service import render_endpoint
from workerplane.errors import NotFound
from workerplane.store.db import Database
from workerplane.store.endpoint_fields import EndpointRecord
from workerplane.store.rollout_io import StoreRolloutIO
from workerplane.store.store import Store


def _fields(module: str) -> EndpointRecord:
    return EndpointRecord(
        temporal_task_queue="q", command=["python", "-m", module],
        versioning={"build_id": "auto"},  # type: ignore[arg-type]
    )  # fmt: skip


def _store(tmp_path: Path) -> tuple[Store, str, str]:
    """An endpoint with builds v1 (draining) and v2 (current, the one it shows)."""
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.migrate()
    store = Store(db, BOX)
    v1, v2 = _fields("one"), _fields("two")
    view, _ = store.endpoints.create("e", "temporal", v1, render_endpoint("e", v1, {}), None)
    StoreRolloutIO(store).set_current("e", view.version.build_id)
    updated, _ = store.endpoints.update(
        view.id, v2, render_endpoint("e", v2, {}), expected_token=view.conflict_token,
        request_id=None,
    )  # fmt: skip
    StoreRolloutIO(store).set_current("e", updated.version.build_id)
    return store, view.version.build_id, updated.version.build_id


def test_an_older_build_is_deleted_at_its_sunset_and_the_endpoint_stays(tmp_path: Path) -> None:
    store, v1, v2 = _store(tmp_path)
    _publish(store, v1, OVER)
    store.controller.snapshot("default")
    with pytest.raises(NotFound):
        store.versions.get("e", v1)
    assert store.endpoints.get("e").version.build_id == v2
    assert store.deployments.get("e").current_build_id == v2


def test_the_build_an_endpoint_shows_is_not_sunset(tmp_path: Path) -> None:
    store, v1, v2 = _store(tmp_path)
    StoreRolloutIO(store).set_current("e", v1)  # a rollback: v2 drains
    assert store.versions.get("e", v2).draining
    _publish(store, v2, OVER)
    assert not store.versions.get("e", v2).deleting
    assert store.endpoints.get("e").version.build_id == v2
