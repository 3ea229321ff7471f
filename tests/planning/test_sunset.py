"""The sunset rule: a table of what Temporal reports, the policy and the time, to the phase."""

from __future__ import annotations

import dataclasses

import pytest

from workerplane.config.rollout import SunsetPolicy
from workerplane.planning.plan import GroupIntent, apply_rules
from workerplane.planning.sunset import (
    SCALED_DOWN_REASON,
    Drainage,
    DrainageState,
    SunsetPhase,
    SunsetStatus,
    sunset_status,
)
from workerplane.scaling.types import (
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    Strategy,
    WorkerCensus,
)

POLICY = SunsetPolicy(scale_down_delay=60, delete_delay=600)
DRAINED = Drainage(DrainageState.DRAINED, changed_at=1000.0, checked_at=1000.0)
DRAINING = Drainage(DrainageState.DRAINING, changed_at=900.0, checked_at=950.0)


@pytest.mark.parametrize(
    ("drainage", "draining", "workers", "now", "phase"),
    [
        (None, True, 0, 5000.0, SunsetPhase.ACTIVE),  # not read, or unknown to Temporal
        (DRAINED, False, 0, 5000.0, SunsetPhase.ACTIVE),  # current again in workerplane
        (dataclasses.replace(DRAINED, routed=True), True, 0, 5000.0, SunsetPhase.ACTIVE),
        (Drainage(DrainageState.NONE), True, 1, 5000.0, SunsetPhase.ACTIVE),  # never activated
        (DRAINING, True, 0, 5000.0, SunsetPhase.DRAINING),  # pinned workflows still open
        (DRAINED, True, 2, 1059.0, SunsetPhase.DRAINED),  # scale_down_delay not over
        (DRAINED, True, 2, 1060.0, SunsetPhase.SCALED_DOWN),  # scale down now
        (DRAINED, True, 0, 1659.0, SunsetPhase.SCALED_DOWN),  # delete_delay not over
        (DRAINED, True, 1, 1660.0, SunsetPhase.SCALED_DOWN),  # a worker is still going
        (DRAINED, True, 0, 1660.0, SunsetPhase.DELETE),
    ],
)
def test_sunset_phase(
    drainage: Drainage | None, draining: bool, workers: int, now: float, phase: SunsetPhase
) -> None:
    status = sunset_status(drainage, POLICY, draining=draining, workers_running=workers, now=now)
    assert status.phase is phase


def test_due_times_come_from_temporal_change_time() -> None:
    status = sunset_status(DRAINED, POLICY, draining=True, workers_running=0, now=1001.0)
    assert (status.drained_at, status.scale_down_at, status.delete_at) == (1000.0, 1060.0, 1660.0)
    assert status.drainage is DrainageState.DRAINED and not status.holds_zero


def test_drained_without_any_time_is_never_due() -> None:
    status = sunset_status(
        Drainage(DrainageState.DRAINED), POLICY, draining=True, workers_running=0, now=1e9
    )
    assert status.phase is SunsetPhase.DRAINED and status.scale_down_at is None


def test_status_round_trips_through_json() -> None:
    status = sunset_status(DRAINED, POLICY, draining=True, workers_running=0, now=1100.0)
    assert SunsetStatus.coerce(dataclasses.asdict(status)) == status


def _intent(strategy: Strategy, sunset: SunsetStatus | None) -> GroupIntent:
    return GroupIntent(
        version_key="orders/v1",
        group_id="workers",
        provider_type="subprocess",
        scaler_type="backlog",
        strategy=strategy,
        scaler=None,  # type: ignore[arg-type]  # apply_rules never calls the scaler
        draining=True,
        sunset=sunset,
    )


def _metrics(backlog: int, in_flight: int | None) -> GroupMetrics:
    census = WorkerCensus(running=1, in_flight=in_flight)
    return GroupMetrics(stats=QueueStats(backlog_count=backlog), workers=census, observed_at=0.0)


SCALED_DOWN = SunsetStatus(SunsetPhase.SCALED_DOWN, DrainageState.DRAINED)
DRAINING_SUNSET = SunsetStatus(SunsetPhase.DRAINING, DrainageState.DRAINING)


@pytest.mark.parametrize(
    ("strategy", "sunset", "backlog", "decision", "expected"),
    [
        # Scaled down: held at zero, even with a task waiting.
        (
            Strategy.WORKER_SET,
            SCALED_DOWN,
            3,
            SetSize(2, "backlog"),
            SetSize(0, SCALED_DOWN_REASON),
        ),
        (Strategy.INVOKE, SCALED_DOWN, 3, Hold("x"), Hold(SCALED_DOWN_REASON)),
        # Draining: a pinned task on a version at zero starts a worker ...
        (Strategy.WORKER_SET, DRAINING_SUNSET, 1, SetSize(1, "backlog"), SetSize(1, "backlog")),
        # ... and an idle draining version goes to zero.
        (
            Strategy.WORKER_SET,
            DRAINING_SUNSET,
            0,
            SetSize(1, "min"),
            SetSize(0, "version is draining and has no work left"),
        ),
    ],
)
def test_apply_rules_with_a_sunset(
    strategy: Strategy, sunset: SunsetStatus, backlog: int, decision: object, expected: object
) -> None:
    idle_for_s = None if backlog else 60.0  # idle past the default 30 s cooldown
    result = apply_rules(decision, _intent(strategy, sunset), _metrics(backlog, 0), idle_for_s)  # type: ignore[arg-type]
    assert result == expected
