"""Two processes' worth of store instances on ONE PostgreSQL: no change is applied twice."""

from __future__ import annotations

import threading

import pytest

from workerplane.config.model import DeploymentSpec
from workerplane.errors import Conflict
from workerplane.security.crypto import SecretBox
from workerplane.store.db import Database
from workerplane.store.leases import LeaseLost
from workerplane.store.store import Store

BOX = SecretBox(b"\x02" * 32)


def _spec(max_count: int) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": "d.v1",
            "task_queues": ["q"],
            "compute": {"scaling_groups": {"g": {
                "provider": {"type": "subprocess", "details": {"command": "python"}},
                "scaler": {"type": "backlog", "details": {"max_count": max_count}},
            }}},
        }
    )  # fmt: skip


def _stores(url: str, n: int) -> list[Store]:
    first = Database(url)
    first.migrate()
    return [Store(first, BOX)] + [Store(Database(url), BOX) for _ in range(n - 1)]


def test_concurrent_updates_with_one_token_apply_once(pg_url: str) -> None:
    stores = _stores(pg_url, 4)
    stores[0].deployments.create("d", None, None)
    view, _ = stores[0].versions.create("d", "v1", _spec(3), None)
    token = view.conflict_token
    results: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        store = stores[i % len(stores)]
        barrier.wait()
        try:
            store.versions.replace_spec(
                "d", "v1", _spec(10 + i), expected_token=token, request_id=None
            )
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 7 + ["ok"]
    assert stores[1].versions.get("d", "v1").generation == 2


def test_concurrent_idempotent_creates_make_one_row(pg_url: str) -> None:
    stores = _stores(pg_url, 4)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            _, created = stores[i % 4].deployments.create(
                "same", None, "req-1" if i < 6 else f"other-{i}"
            )
            outcomes.append("created" if created else "noop")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("created") == 1
    assert outcomes.count("created") + outcomes.count("noop") + outcomes.count("conflict") == 8
    _, total = stores[0].deployments.list(10, 0)
    assert total == 1


def test_controller_lease_is_exclusive_and_fenced(pg_url: str) -> None:
    a, b = _stores(pg_url, 2)
    first = a.leases.acquire("controller", "A", ttl_s=30)
    assert first is not None and first.token == 1
    assert b.leases.acquire("controller", "B", ttl_s=30) is None
    assert a.leases.renew(first, ttl_s=30)
    a.leases.release(first)
    second = b.leases.acquire("controller", "B", ttl_s=30)
    assert second is not None and second.token == 2  # tokens never go back, even on release
    assert not a.leases.renew(first, ttl_s=30)
    a.deployments.create("d", None, None)
    a.versions.create("d", "v1", _spec(3), None)
    with pytest.raises(LeaseLost):
        a.controller.snapshot("default", first)  # a stale leader's lifecycle move is refused
    assert b.versions.get("d", "v1").status == "UPDATE_PENDING"
    with pytest.raises(LeaseLost):
        a.controller.publish([], (), first)
    [version] = b.controller.snapshot("default", second)
    assert version.key and b.versions.get("d", "v1").status == "UPDATE_IN_PROGRESS"
    b.leases.release(second)
    third = a.leases.acquire("controller", "A", ttl_s=30)
    assert third is not None and third.token == 3


def test_snapshot_marks_generation_once(pg_url: str) -> None:
    a, b = _stores(pg_url, 2)
    a.deployments.create("d", None, None)
    a.versions.create("d", "v1", _spec(3), None)
    [first] = a.controller.snapshot("default")
    assert first.generation == 1
    read = b.versions.editable("d", "v1")
    assert b.versions.get("d", "v1").status == "UPDATE_IN_PROGRESS"
    for max_count in (4, 5):
        b.versions.replace_spec(
            "d", "v1", _spec(max_count), expected_token=read.conflict_token, request_id="r"
        )
    [second] = a.controller.snapshot("default")
    assert second.generation == 2  # the repeated request_id was a no-op
