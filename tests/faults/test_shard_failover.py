"""Issue 14, item 3: three ``serve --shards`` replicas on one PostgreSQL share the groups.
One is killed with SIGKILL in the middle of a burst: once its TTL has run out the other two take
its shards over (under higher fencing tokens, never before its leases expired), adopt its
workers, and every workflow of the burst completes. No group ever has two sets of workers (two
acting controllers), and nothing is left running once the queues are idle."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from faults_support import ServeProcess, start_serve, wait_until
from sqlalchemy import select
from temporalio.client import Client

from examples.app import ProcessItem
from workerplane.providers.subprocess.procfs import environ_value, live_worker_pids
from workerplane.security.tokens import generate_token
from workerplane.store.db import Database
from workerplane.store.models import Lease
from workerplane.store.shards import shard_lease_name, shard_of

SHARDS = 8
LEASE_TTL_S = 6
ENDPOINTS = 6
WORKFLOWS_PER_QUEUE = 2
ACTIVITY_S = 12.0


def _shards(process: ServeProcess) -> set[int] | None:
    body = process.readiness()
    controller = body.get("controller") if body else None
    shards = controller.get("shards") if isinstance(controller, dict) else None
    return set(shards) if isinstance(shards, list) else None


def _balanced(processes: list[ServeProcess]) -> list[set[int]] | None:
    """Each process's shards, once they are disjoint, cover every shard and are fair shares."""
    held = [_shards(p) for p in processes]
    if any(h is None for h in held):
        return None
    sets = [h for h in held if h is not None]
    fair = -(-SHARDS // len(processes))
    covered = set().union(*sets) == set(range(SHARDS)) and sum(map(len, sets)) == SHARDS
    return sets if covered and all(len(h) <= fair for h in sets) else None


class WorkerCensus:
    """Counts each queue's live worker processes every few hundred ms; keeps the maximum."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.most: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            now = Counter(
                environ_value(pid, "TEMPORAL_TASK_QUEUE") or "?"
                for pid in live_worker_pids(self.state)
            )
            for queue, count in now.items():
                self.most[queue] = max(self.most[queue], count)

    def __enter__(self) -> WorkerCensus:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[ServeProcess]]:
    processes: list[ServeProcess] = []
    yield processes
    for process in processes:
        process.stop()
    for pid in live_worker_pids(tmp_path / "state"):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def _burst(address: str, queues: list[str]) -> list[str]:
    client = await Client.connect(address)
    handles = [
        await client.start_workflow(
            ProcessItem.run, ACTIVITY_S, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        for queue in queues
        for _ in range(WORKFLOWS_PER_QUEUE)
    ]
    return list(await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 600))


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_killed_replica_shards_move_and_every_workflow_completes(
    pg_url: str, temporal_address: str, tmp_path: Path, unique_name: str,
    replicas: list[ServeProcess],
) -> None:  # fmt: skip
    state = tmp_path / "state"  # shared: a new shard holder adopts the workers of the old one
    token = generate_token()
    for name in ("a", "b", "c"):
        process = start_serve(
            tmp_path, name, token=token, state_dir=state,
            args=["--db", pg_url, "--address", temporal_address, "--shards", str(SHARDS),
                  "--lease-ttl", str(LEASE_TTL_S)],
        )  # fmt: skip
        replicas.append(process)
    for process in replicas:
        process.wait_for("/healthz", lambda r: r.status_code == 200)
    shares = wait_until(lambda: _balanced(replicas), "three replicas sharing the shards evenly")
    assert sorted(map(len, shares)) == [2, 3, 3]

    prefix = "sh" + str(abs(hash(unique_name)) % 10**6)
    names = [f"{prefix}-{i}" for i in range(ENDPOINTS)]
    for name in names:
        created = replicas[0].request("POST", "/v1/endpoints", json={
            "name": name, "endpoint_type": "temporal", "temporal_task_queue": f"{name}-q",
            "command": [sys.executable, "-m", "examples.worker"],
            "min_workers": 0, "max_workers": 1, "per_worker": 8,
        })  # fmt: skip
        assert created is not None and created.status_code == 201, created
    owner = {name: shard_of(f"{name}/default", SHARDS) for name in names}
    victim = max(replicas, key=lambda p: sum(owner[n] in (_shards(p) or set()) for n in names))
    victims_queues = [f"{n}-q" for n in names if owner[n] in (_shards(victim) or set())]
    assert victims_queues  # the test needs the victim to run some of the burst
    readiness = victim.readiness()
    assert readiness is not None
    victim_name = readiness["controller"]["holder"]  # type: ignore[index]

    db = Database(pg_url)
    with WorkerCensus(state) as census:
        results: list[str] = []
        burst = threading.Thread(
            target=lambda: results.extend(
                asyncio.run(_burst(temporal_address, [f"{n}-q" for n in names]))
            )
        )
        burst.start()
        wait_until(lambda: census.most[victims_queues[0]] > 0, "the victim's workers at work")
        victim.kill()  # SIGKILL mid-burst: no shutdown, no release
        with db.read_session() as s:
            before = {
                row.name: row
                for row in s.scalars(select(Lease).where(Lease.name.startswith("shard:")))
            }
        survivors = [p for p in replicas if p is not victim]
        wait_until(lambda: _balanced(survivors), "the survivors to take every shard over")
        burst.join(700)
        assert len(results) == len(names) * WORKFLOWS_PER_QUEUE

    # Every shard of the victim moved under a higher token, and not before its lease expired.
    lost = {s for s in range(SHARDS) if before[shard_lease_name(s)].holder == victim_name}
    assert lost
    with db.read_session() as s:
        after = {r.name: r for r in s.scalars(select(Lease).where(Lease.name.startswith("shard:")))}
    for shard in lost:
        old, new = before[shard_lease_name(shard)], after[shard_lease_name(shard)]
        assert new.holder != old.holder and new.fencing_token > old.fencing_token
        assert new.acquired_at >= old.expires_at
    # One controller per group: never two workers on a queue whose max_workers is 1.
    assert census.most and max(census.most.values()) == 1, census.most
    # Nothing orphaned: every queue idles back to zero workers (min_workers 0).
    wait_until(lambda: not live_worker_pids(state), "every worker to be retired", 600)
    db.dispose()
