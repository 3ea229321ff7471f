"""Under ``serve``, a version whose sunset is over is deleted through the store's delete path:
the controller's verdict marks it deleting, and the next snapshot removes its record."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.store.test_store_concurrency import BOX, _spec
from workerplane.errors import NotFound
from workerplane.planning.plan import unstarted_status
from workerplane.planning.readiness import version_status
from workerplane.planning.sunset import DrainageState, SunsetPhase, SunsetStatus
from workerplane.store.db import Database
from workerplane.store.lifecycle import DELETE_IN_PROGRESS
from workerplane.store.store import Store

OVER = SunsetStatus(SunsetPhase.DELETE, DrainageState.DRAINED, 1.0, 1.0, 2.0, 3.0)


def _store(tmp_path: Path) -> Store:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.migrate()
    store = Store(db, BOX)
    store.deployments.create("d", None, None)
    store.versions.create("d", "v1", _spec(3), None)
    store.versions.create("d", "v2", _spec(3), None)
    store.deployments.set_routing("d", current="v1")
    store.deployments.set_routing("d", current="v2")  # v1 drains
    return store


def _publish(store: Store, build_id: str, sunset: SunsetStatus | None) -> None:
    version = next(v for v in store.controller.snapshot("default") if v.key.endswith(build_id))
    status = unstarted_status(
        version.key, "g", "subprocess", "backlog", "worker-set", error="x", wall_time=1
    )
    status = dataclasses.replace(status, sunset=sunset)
    store.controller.publish([status], [version_status(version, [status], sunset=sunset)])


def test_a_version_whose_sunset_is_over_is_deleted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _publish(store, "v1", OVER)
    view = store.versions.get("d", "v1")
    assert view.deleting and view.status == DELETE_IN_PROGRESS
    assert view.sunset == OVER  # the API shows it
    store.controller.snapshot("default")  # drained: the record goes
    with pytest.raises(NotFound):
        store.versions.get("d", "v1")
    assert store.versions.get("d", "v2").is_current


def test_the_current_version_is_never_deleted_by_a_sunset(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _publish(store, "v2", OVER)
    assert not store.versions.get("d", "v2").deleting
