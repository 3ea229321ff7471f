"""The controller-side provider without a server: its census is cached briefly and dropped on a
size change, and a call that got no answer says the handler may be down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.exceptions import TimeoutType

from workerplane.providers.base import ProviderError, WorkerEnvironment
from workerplane.providers.nexus import provider as nexus_provider
from workerplane.providers.nexus.caller import NexusRoute
from workerplane.providers.nexus.provider import CENSUS_TTL_S, NexusProvider
from workerplane.providers.nexus.workflow import ProviderCall
from workerplane.temporal.connection import ResolvedConnection


@dataclass
class FakeHost:
    """Answers caller workflows from a table (or fails them all)."""

    failure: BaseException | None = None
    calls: list[ProviderCall] = field(default_factory=list)

    async def call(self, call: ProviderCall) -> Any:
        self.calls.append(call)
        if self.failure is not None:
            raise self.failure
        return {"census": {"running": 2, "ready": 1}, "set_size": {"desired": 3}}[call.operation]


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


async def _provider(monkeypatch: pytest.MonkeyPatch, host: FakeHost, clock: Clock) -> NexusProvider:
    async def acquire(connection: ResolvedConnection) -> FakeHost:
        return host

    monkeypatch.setattr(nexus_provider, "acquire", acquire)
    provider = NexusProvider(
        NexusRoute("team-a-workers", ResolvedConnection("t:7233", "default")),
        "subprocess",
        {"command": "python", "strategy": "worker-set"},
        deployment="orders",
        group_id="workers",
        worker_env=WorkerEnvironment("t:7233", "default", ("orders",)),
        clock=clock,
    )
    await provider.start()
    return provider


async def test_census_is_cached_briefly_and_dropped_on_a_size_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, clock = FakeHost(), Clock()
    provider = await _provider(monkeypatch, host, clock)

    first = await provider.census()
    await provider.census()
    assert (first.running, first.ready) == (2, 1)
    assert [c.operation for c in host.calls] == ["census"]

    clock.now += CENSUS_TTL_S
    await provider.census()
    await provider.set_size(3)
    await provider.census()
    assert [c.operation for c in host.calls] == ["census", "census", "set_size", "census"]
    assert host.calls[2].input["size"] == 3
    assert host.calls[2].input["group"]["provider_type"] == "subprocess"


async def test_no_answer_says_the_handler_may_be_down(monkeypatch: pytest.MonkeyPatch) -> None:
    timeout = TemporalTimeoutError(
        "operation timed out", type=TimeoutType.SCHEDULE_TO_CLOSE, last_heartbeat_details=[]
    )
    host = FakeHost(failure=WorkflowFailureError(cause=timeout))
    provider = await _provider(monkeypatch, host, Clock())
    with pytest.raises(ProviderError) as failed:
        await provider.census()
    assert failed.value.retryable
    assert str(failed.value) == (
        "nexus endpoint 'team-a-workers': census got no answer within 5s (is the handler running?)"
    )
