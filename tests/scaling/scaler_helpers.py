"""Builders shared by the scaler test tables (plain values, no fakes: scalers are pure)."""

from __future__ import annotations

from typing import Any

from workerplane.scaling.base import Scaler
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    WorkerCensus,
)


def q(
    backlog: int = 0, age: float = 0.0, add: float = 0.0, dispatch: float = 0.0, pollers: int = 0
) -> QueueStats:
    return QueueStats(
        backlog_count=backlog,
        backlog_age_s=age,
        add_rate=add,
        dispatch_rate=dispatch,
        pollers=pollers,
    )


def m(
    backlog: int = 0,
    *,
    age: float = 0.0,
    add: float = 0.0,
    dispatch: float = 0.0,
    pollers: int = 0,
    running: int = 0,
    ready: int | None = None,
    in_flight: int | None = None,
    desired: int | None = None,
    by_type: dict[str, QueueStats] | None = None,
    at: float = 0.0,
) -> GroupMetrics:
    """One observation. With ``by_type`` the summed ``stats`` are derived from it."""
    if by_type:
        stats = QueueStats()
        for s in by_type.values():
            stats = stats + s
    else:
        stats = q(backlog, age, add, dispatch, pollers)
    return GroupMetrics(
        stats=stats,
        workers=WorkerCensus(running=running, ready=ready, in_flight=in_flight, desired=desired),
        observed_at=at,
        by_type=dict(by_type or {}),
    )


def run(
    scaler: Scaler[Any], steps: list[tuple[float, GroupMetrics | None]], state: Any = None
) -> tuple[Any, list[Decision]]:
    """Feed ``(now, metrics)`` steps through ``decide``; return the last state and all decisions."""
    if state is None:
        state = scaler.initial_state(steps[0][0] if steps else 0.0)
    decisions: list[Decision] = []
    for now, metrics in steps:
        state, decision = scaler.decide(state, metrics, now)
        decisions.append(decision)
    return state, decisions


def summary(decision: Decision) -> tuple[str, int | None]:
    """``("start", n)``, ``("size", n)`` or ``("hold", None)``: what a table row expects."""
    if isinstance(decision, StartWorkers):
        return ("start", decision.count)
    if isinstance(decision, SetSize):
        return ("size", decision.size)
    assert isinstance(decision, Hold)
    return ("hold", None)
