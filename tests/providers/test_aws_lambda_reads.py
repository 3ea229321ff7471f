"""The ``aws-lambda`` provider's census reads its workers through the reads it is given.

Under the controller those are the controller's shared, budgeted reads
(``tests/controller/test_worker_reads.py``); here a recording stand-in serves them, and the
group's Temporal address is a closed port, so a census that opened a client of its own would
find the pollers unreadable and count by TTL alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.worker.lambda_offline import free_port
from workerplane.planning.worker_beats import WorkerBeat
from workerplane.providers.aws_lambda.census import worker_identity
from workerplane.providers.aws_lambda.details import LambdaDetails
from workerplane.providers.aws_lambda.provider import LambdaProvider
from workerplane.providers.base import ProviderContext, WorkerEnvironment
from workerplane.temporal.metrics import MetricsUnavailable


@dataclass
class Reads:
    """Serves ``polls`` and ``served_beats``; ``fail`` makes every read raise."""

    polls: dict[str, float] = field(default_factory=dict)
    served_beats: dict[str, WorkerBeat] = field(default_factory=dict)
    fail: bool = False
    calls: list[str] = field(default_factory=list)

    async def last_polls(self) -> Mapping[str, float]:
        self.calls.append("polls")
        if self.fail:
            raise MetricsUnavailable("server down")
        return self.polls

    async def beats(self) -> Mapping[str, WorkerBeat]:
        self.calls.append("beats")
        if self.fail:
            raise MetricsUnavailable("server down")
        return self.served_beats


def provider(reads: Reads) -> LambdaProvider:
    details = LambdaDetails.model_validate(
        {
            "arn": "workerplane-worker-dev-worker",
            "region": "us-east-1",
            "endpoint_url": f"http://127.0.0.1:{free_port()}",
            "aws_access_key_id": "offline",
            "aws_secret_access_key": "offline",
            "slots": 4,
        }
    )
    env = WorkerEnvironment(
        address=f"127.0.0.1:{free_port()}", namespace="default", task_queues=("orders",)
    )
    built = LambdaProvider.from_context(
        ProviderContext(
            deployment="shop",
            group_id="g",
            details=details,
            worker_env=env,
            state_dir=Path("."),
            worker_reads=reads,
        )
    )
    assert isinstance(built, LambdaProvider)
    return built


async def test_the_census_counts_from_the_reads_it_is_given() -> None:
    now = time.time()
    polling, starting = worker_identity("a"), worker_identity("b")
    beat = WorkerBeat(polling, "orders", True, now, 3, 5, activity_slots=4, interval_s=1.0)
    reads = Reads(
        polls={polling: now, worker_identity("not-ours"): now}, served_beats={polling: beat}
    )
    lam = provider(reads)
    lam._census.add(["a", "b"])
    census = await lam.census()
    assert (census.running, census.ready, census.in_flight) == (2, 1, 3)
    assert census.in_flight_s is not None and census.in_flight_s > 0, "its tasks' ages too"
    assert census.tasks_completed == 5
    assert reads.calls == ["beats", "polls"], "'b' has not beaten yet: its polls may tell"
    assert starting not in reads.polls

    reads.calls.clear()
    reads.served_beats = {
        polling: beat,
        starting: WorkerBeat(starting, "orders", True, now, 0, 0, activity_slots=4, interval_s=1.0),
    }
    census = await lam.census()
    await lam.close()
    assert (census.running, census.ready) == (2, 2)
    assert reads.calls == ["beats"], "every worker beats: the poller lists add nothing"


async def test_before_any_worker_beats_the_poller_lists_count() -> None:
    """An older server, or handlers that send no heartbeats."""
    now = time.time()
    reads = Reads(polls={worker_identity("a"): now})
    lam = provider(reads)
    lam._census.add(["a"])
    census = await lam.census()
    await lam.close()
    assert reads.calls == ["beats", "polls"]
    assert (census.running, census.ready, census.in_flight) == (1, 1, None)


async def test_unreadable_reads_count_by_ttl_and_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reads = Reads(fail=True)
    lam = provider(reads)
    lam._census.add(["a", "b"])
    with caplog.at_level(logging.WARNING):
        first = await lam.census()
        second = await lam.census()
    await lam.close()
    assert (first.running, first.ready, first.in_flight) == (2, None, None)
    assert second == first
    assert sum("pollers unavailable" in r.getMessage() for r in caplog.records) == 1


async def test_nothing_is_read_while_no_invocation_is_counted() -> None:
    reads = Reads()
    lam = provider(reads)
    census = await lam.census()
    await lam.close()
    assert census.running == 0
    assert reads.calls == []
