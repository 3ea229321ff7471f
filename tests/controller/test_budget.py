"""The call budget: it caps calls at its rate and serves active groups first (fake clock)."""

from __future__ import annotations

import asyncio

import pytest

from workerplane.controller.budget import CallBudget, Priority, call_priority


class FakeClock:
    """Time that moves only when the budget sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def _call(
    budget: CallBudget, priority: Priority, log: list[tuple[Priority, float]], clock: FakeClock
) -> None:
    call_priority.set(priority)
    await budget.acquire()
    log.append((priority, clock.now))


async def test_the_bucket_caps_calls_at_its_rate() -> None:
    clock = FakeClock()
    budget = CallBudget(10, clock=clock, sleep=clock.sleep)
    log: list[tuple[Priority, float]] = []
    await asyncio.gather(*(_call(budget, Priority.ACTIVE, log, clock) for _ in range(50)))
    times = [at for _priority, at in log]
    assert len(times) == 50
    # A full bucket (one second's worth) goes at once, then 10 a second.
    assert sum(1 for t in times if t == 0.0) == 10
    for horizon in (1.0, 2.0, 4.0):
        assert sum(1 for t in times if t <= horizon + 1e-9) <= 10 + 10 * horizon
    assert max(times) == pytest.approx(4.0)


async def test_active_groups_are_served_before_idle_ones() -> None:
    clock = FakeClock()
    budget = CallBudget(5, clock=clock, sleep=clock.sleep)
    log: list[tuple[Priority, float]] = []
    # Drain the bucket, then queue idle calls before active ones.
    await asyncio.gather(*(_call(budget, Priority.IDLE, log, clock) for _ in range(5)))
    log.clear()
    idle = [asyncio.create_task(_call(budget, Priority.IDLE, log, clock)) for _ in range(10)]
    await asyncio.sleep(0)
    active = [asyncio.create_task(_call(budget, Priority.ACTIVE, log, clock)) for _ in range(10)]
    await asyncio.gather(*idle, *active)
    order = [priority for priority, _at in log]
    # The dispatcher had started on the first idle call when the active ones arrived; every
    # active call goes before the remaining idle ones.
    first_active = order.index(Priority.ACTIVE)
    assert first_active <= 1
    assert order[first_active : first_active + 10] == [Priority.ACTIVE] * 10
    assert clock.now == pytest.approx(4.0)  # 20 calls at 5 a second, the bucket empty


async def test_an_active_call_skips_ahead_of_waiting_idle_calls_without_a_wait() -> None:
    clock = FakeClock()
    budget = CallBudget(1, burst=1, clock=clock, sleep=clock.sleep)
    log: list[tuple[Priority, float]] = []
    await _call(budget, Priority.IDLE, log, clock)  # empties the bucket
    waiting_idle = asyncio.create_task(_call(budget, Priority.IDLE, log, clock))
    await asyncio.sleep(0)
    await _call(budget, Priority.ACTIVE, log, clock)
    await waiting_idle
    assert [p for p, _ in log] == [Priority.IDLE, Priority.ACTIVE, Priority.IDLE]


async def test_usage_reports_calls_per_second_and_waiters() -> None:
    clock = FakeClock()
    budget = CallBudget(20, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        await budget.acquire()
    usage = budget.usage()
    assert (usage.rps_budget, usage.rps_used, usage.waiting) == (20, 2.0, 0)


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CallBudget(0)
