"""A partial publish touches only the versions it names (the controller sends what changed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sqlalchemy import select

from tests.store.test_store_concurrency import BOX, _spec
from workerplane.planning.plan import unstarted_status
from workerplane.planning.readiness import version_statuses
from workerplane.store.db import Database
from workerplane.store.models import GroupStatusRow
from workerplane.store.store import Store


def test_a_partial_publish_writes_only_the_versions_it_names(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.migrate()
    store = Store(db, BOX)
    store.deployments.create("d", None, None)
    store.versions.create("d", "v1", _spec(3), None)
    store.versions.create("d", "v2", _spec(3), None)
    versions = store.controller.snapshot("default")
    statuses = [
        unstarted_status(v.key, "g", "subprocess", "backlog", "worker-set", error=None, wall_time=1)
        for v in versions
    ]
    store.controller.publish(statuses, version_statuses(versions, statuses))
    changed = dataclasses.replace(statuses[0], workers_running=2, updated_at=2)
    store.controller.publish([changed], version_statuses(versions[:1], [changed]), partial=True)
    with db.write_session() as s:
        rows = {r.version_key: r for r in s.scalars(select(GroupStatusRow))}
    assert set(rows) == {versions[0].key, versions[1].key}  # the other one is kept
    assert json.loads(rows[versions[0].key].payload_json)["workers_running"] == 2
    assert rows[versions[1].key].updated_at < rows[versions[0].key].updated_at
