"""Which providers are built to count their tasks from heartbeats, and what the wrapper does when
the heartbeats cannot be read (:mod:`workerplane.providers.heartbeat_counting`). The read against a
real server and real workers is ``test_heartbeat_counting_e2e.py``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from workerplane.planning.identity import MARKER_ENV, WorkerMarker, worker_identity
from workerplane.providers.base import Provider, ProviderCheck, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.heartbeat_counting import HeartbeatCountingProvider
from workerplane.scaling.types import Strategy, WorkerCensus
from workerplane.temporal.worker_heartbeats import HeartbeatsUnavailable, WorkerBeat

MARKER = WorkerMarker("shop", "v2", "acts")
ENV = WorkerEnvironment(
    address="127.0.0.1:7233",
    namespace="default",
    task_queues=("orders",),
    extra_env={MARKER_ENV: MARKER.text},
)
WORKER = worker_identity("1@host", MARKER)


class Fleet(Provider):
    """A worker-set provider that knows only how many workers it holds (ECS, Cloud Run)."""

    type = "fleet"
    strategy = Strategy.WORKER_SET

    def __init__(self) -> None:
        self.size = 0
        self.removed = False

    async def validate(self) -> ProviderCheck:
        return ProviderCheck(True, "ok")

    async def set_size(self, size: int) -> None:
        self.size = size

    async def census(self) -> WorkerCensus:
        return WorkerCensus(running=self.size, desired=self.size)

    async def remove_resources(self) -> None:
        self.removed = True


class Beats:
    def __init__(self) -> None:
        self.reads = 0
        self.fail: Exception | None = None
        self.beats: dict[str, WorkerBeat] = {}

    async def __call__(self) -> Mapping[str, WorkerBeat]:
        self.reads += 1
        if self.fail is not None:
            raise self.fail
        return self.beats


@pytest.mark.parametrize(
    ("type_name", "details", "wrapped"),
    [
        ("webhook", {"url": "https://launcher.example/w", "secret": "s"}, True),
        ("aws-ecs", {"cluster": "c", "service": "s", "region": "us-east-1"}, True),
        ("subprocess", {"command": "python", "args": ["-m", "examples.worker"]}, False),
    ],
)
def test_providers_that_cannot_count_their_tasks_are_built_to_read_heartbeats(
    type_name: str, details: dict[str, object], wrapped: bool, tmp_path: Path
) -> None:
    def build(env: WorkerEnvironment) -> Provider:
        return build_provider(
            type_name, details, deployment="shop", group_id="acts", worker_env=env,
            state_dir=tmp_path,
        )  # fmt: skip

    assert isinstance(build(ENV), HeartbeatCountingProvider) is wrapped
    # Without the group's marker its workers cannot be told from others: nothing to read.
    unmarked = WorkerEnvironment(address="127.0.0.1:7233", namespace="default", task_queues=("q",))
    assert not isinstance(build(unmarked), HeartbeatCountingProvider)


async def test_the_census_is_filled_in_and_every_other_call_is_the_inner_provider_s() -> None:
    fleet, beats = Fleet(), Beats()
    provider = HeartbeatCountingProvider(fleet, ENV, MARKER, read_beats=beats)
    assert await provider.census() == WorkerCensus(running=0, desired=0)
    assert beats.reads == 0, "nothing runs and nothing beats: nothing to read"
    await provider.set_size(1)
    beats.beats = {WORKER: WorkerBeat(WORKER, "orders", True, 1000.0, 3, 7, activity_slots=4)}
    census = await provider.census()
    assert (census.ready, census.in_flight, census.slots, census.tasks_completed) == (1, 3, 4, 7)
    await provider.remove_resources()
    assert fleet.size == 1 and fleet.removed


async def test_heartbeats_that_cannot_be_read_leave_the_census_as_the_provider_gave_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An older server (no ``ListWorkers``) or a failed call: the scalers take every polling
    worker as full, as before; the warning is logged once, not every cycle."""
    fleet, beats = Fleet(), Beats()
    fleet.size = 2
    beats.fail = HeartbeatsUnavailable("unimplemented: ListWorkers")
    provider = HeartbeatCountingProvider(fleet, ENV, MARKER, read_beats=beats)
    with caplog.at_level(logging.WARNING, logger="workerplane.providers"):
        for _ in range(3):
            assert await provider.census() == WorkerCensus(running=2, desired=2)
    assert beats.reads == 3
    assert len([r for r in caplog.records if "heartbeats cannot be read" in r.message]) == 1
