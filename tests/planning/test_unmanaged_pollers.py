"""Table tests of the poller census: managed and unmanaged pollers, and unmanaged pollers
counted as capacity or not."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from workerplane.planning.actions import GroupState, Resize
from workerplane.planning.identity import WorkerMarker, worker_identity
from workerplane.planning.observe import Observation
from workerplane.planning.plan import GroupIntent, plan_cycle
from workerplane.planning.pollers import (
    LISTED_IDENTITIES,
    REMEMBERED_IDENTITIES,
    UNMANAGED_MEMORY_S,
    census_pollers,
    counted_metrics,
    managed_share,
)
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)

OURS = worker_identity("1@a", WorkerMarker("orders", "default", "g"))
OURS_OTHER_GROUP = worker_identity("2@a", WorkerMarker("orders", "v2", "workflows"))
OTHER_DEPLOYMENT = worker_identity("3@b", WorkerMarker("billing", "default", "g"))
BY_HAND = "99@laptop"


@pytest.mark.parametrize(
    ("identities", "managed", "unmanaged"),
    [
        ((), 0, ()),
        ((OURS,), 1, ()),
        ((OURS, OURS_OTHER_GROUP), 2, ()),
        ((OURS, BY_HAND), 1, (BY_HAND,)),
        ((OURS, OTHER_DEPLOYMENT, BY_HAND), 1, (OTHER_DEPLOYMENT, BY_HAND)),
        ((BY_HAND, BY_HAND), 0, (BY_HAND,)),  # one poller listed for two types
    ],
)
def test_the_census_splits_pollers_by_their_deployment_marker(
    identities: tuple[str, ...], managed: int, unmanaged: tuple[str, ...]
) -> None:
    census = census_pollers(identities, "orders")
    assert census.managed == managed
    assert census.unmanaged == len(unmanaged)
    assert census.unmanaged_identities == tuple(sorted(unmanaged))


def test_the_listed_identities_are_bounded_but_the_count_is_exact() -> None:
    many = [f"{i}@host" for i in range(LISTED_IDENTITIES + 5)]
    census = census_pollers(many, "orders")
    assert census.unmanaged == LISTED_IDENTITIES + 5
    assert len(census.unmanaged_identities) == LISTED_IDENTITIES


def test_the_census_remembers_a_bounded_number_of_identities() -> None:
    old = census_pollers([f"{i}@old" for i in range(REMEMBERED_IDENTITIES)], "orders", now=0.0)
    census = census_pollers(["1@new", "2@new"], "orders", previous=old, now=1.0)
    assert census.unmanaged == REMEMBERED_IDENTITIES
    assert {"1@new", "2@new"} <= {identity for identity, _ in census.last_seen}


def _metrics(running: int, ready: int | None, identities: tuple[str, ...] = ()) -> GroupMetrics:
    stats = QueueStats(
        backlog_count=4, pollers=len(identities), poller_identities=frozenset(identities)
    )
    census = WorkerCensus(running=running, ready=ready, in_flight=2)
    return GroupMetrics(stats=stats, workers=census, observed_at=1.0)


@pytest.mark.parametrize(
    ("running", "ready", "unmanaged", "seen_running", "seen_ready"),
    [
        (2, 2, 0, 2, 2),
        (2, 1, 3, 5, 4),
        (2, None, 3, 5, None),  # readiness unknown stays unknown
    ],
)
def test_counted_pollers_are_ready_workers_to_the_scaler(
    running: int, ready: int | None, unmanaged: int, seen_running: int, seen_ready: int | None
) -> None:
    seen = counted_metrics(_metrics(running, ready), unmanaged)
    assert seen is not None
    assert (seen.workers.running, seen.workers.ready) == (seen_running, seen_ready)
    assert seen.workers.in_flight == 2
    assert counted_metrics(None, unmanaged) is None


@pytest.mark.parametrize(
    ("case", "decision", "counted", "held", "covered", "expected", "now_covered"),
    [
        ("a size is shared", SetSize(5, "r"), 2, 3, 0, 3, 2),
        ("never below zero", SetSize(1, "r"), 3, 1, 0, 0, 1),
        ("nothing counted", SetSize(4, "r"), 0, 2, 0, 4, 0),
        ("a hold, unmanaged came", Hold("r"), 1, 2, 0, 1, 1),
        ("a hold, unmanaged left", Hold("r"), 0, 1, 1, 2, 0),
        ("a hold, no change", Hold("r"), 1, 1, 1, None, 1),
        ("a hold before any size", Hold("r"), 2, None, 0, None, 0),
        ("ignored: a hold stays", Hold("r"), 0, 3, 0, None, 0),
    ],
)
def test_the_provider_holds_what_the_unmanaged_pollers_do_not_cover(
    case: str,
    decision: Decision,
    counted: int,
    held: int | None,
    covered: int,
    expected: int | None,
    now_covered: int,
) -> None:
    shared, share = managed_share(decision, counted, held, covered)
    if expected is None:
        assert shared == decision, case
    else:
        assert isinstance(shared, SetSize) and shared.size == expected, case
    assert share == now_covered, case


def test_a_start_is_already_net_of_every_running_worker() -> None:
    assert managed_share(StartWorkers(2, "r"), 3, None, 0) == (StartWorkers(2, "r"), 0)


@dataclass(frozen=True)
class TotalScaler:
    """Wants ``total`` workers, and remembers the census it was shown."""

    total: int

    def decide(self, state: Any, metrics: GroupMetrics | None, now: float) -> tuple[Any, Decision]:
        if metrics is None:
            return state, Hold("no metrics")
        return metrics.workers, SetSize(self.total, "wants total")


def _intent(count: bool) -> GroupIntent:
    return GroupIntent(
        version_key="orders",
        group_id="g",
        provider_type="subprocess",
        scaler_type="backlog",
        strategy=Strategy.WORKER_SET,
        scaler=TotalScaler(3),
        deployment="orders",
        count_unmanaged=count,
    )


def _observed(*identities: str, at: float = 10.0) -> Observation:
    metrics = _metrics(1, 1, identities)
    return Observation(census=metrics.workers, metrics=metrics, wall_time=at)


@pytest.mark.parametrize(
    ("count", "scaler_sees", "size"),
    [(False, 1, 3), (True, 2, 2)],
)
def test_plan_counts_unmanaged_pollers_only_when_asked(
    count: bool, scaler_sees: int, size: int
) -> None:
    plan, status = plan_cycle(_observed(OURS, BY_HAND), _intent(count), GroupState(None), 1.0)
    assert plan.state.scaler_state.running == scaler_sees
    assert plan.action == Resize(size, plan.decision.reason)
    assert status.workers_running == 1, "the status reports the group's own workers"
    assert (status.unmanaged_pollers, status.unmanaged_identities) == (1, (BY_HAND,))
    assert status.unmanaged_counted is count


def test_a_change_of_unmanaged_pollers_is_logged_once() -> None:
    state = GroupState(None)
    notices = []
    gone = UNMANAGED_MEMORY_S + 30
    for at, identities in [
        (0, (OURS,)),
        (10, (OURS, BY_HAND)),
        (20, (OURS, OURS_OTHER_GROUP, BY_HAND)),  # only the group's own workers changed
        (10 + gone, (OURS,)),
        (20 + gone, (OURS,)),
    ]:
        plan, _ = plan_cycle(_observed(*identities, at=at), _intent(False), state, 1.0)
        state = plan.state
        notices.append(plan.notice)
    assert notices[0] is None
    assert notices[1] is not None and notices[1].level == logging.WARNING
    assert BY_HAND in notices[1].message and "not counted" in notices[1].message
    assert notices[2] is None
    assert notices[3] is not None and notices[3].level == logging.INFO
    assert notices[4] is None


def test_unread_stats_keep_the_last_split() -> None:
    plan, _ = plan_cycle(_observed(BY_HAND), _intent(False), GroupState(None), 1.0)
    blind = Observation(census=WorkerCensus(running=1), metrics=None, metrics_error="down")
    again, status = plan_cycle(blind, _intent(False), plan.state, 2.0)
    assert again.notice is None
    assert again.state.pollers == plan.state.pollers
    assert status.unmanaged_pollers == 1


@pytest.mark.parametrize(
    ("later", "still_counted"),
    [(UNMANAGED_MEMORY_S / 2, 1), (UNMANAGED_MEMORY_S, 1), (UNMANAGED_MEMORY_S + 1, 0)],
)
def test_an_unmanaged_poller_is_remembered_a_while_after_it_was_listed(
    later: float, still_counted: int
) -> None:
    first = census_pollers([BY_HAND, OURS], "orders", now=1000.0)
    unlisted = census_pollers([OURS], "orders", previous=first, now=1000.0 + later)
    assert unlisted.unmanaged == still_counted
    assert unlisted.managed == 1
    relisted = census_pollers([BY_HAND], "orders", previous=unlisted, now=1000.0 + later)
    assert relisted.last_seen == ((BY_HAND, 1000.0 + later),)


@dataclass(frozen=True)
class SteadyScaler:
    """Holds whatever size it has."""

    def decide(self, state: Any, metrics: GroupMetrics | None, now: float) -> tuple[Any, Decision]:
        return state, Hold("steady")


def test_a_steady_group_gives_way_to_counted_pollers_and_takes_it_back() -> None:
    steady = dataclasses.replace(_intent(True), scaler=SteadyScaler())
    state = GroupState(None, held_size=1)
    came, _ = plan_cycle(_observed(OURS, BY_HAND, at=0), steady, state, 1.0)
    assert came.action == Resize(0, came.decision.reason)
    gone, _ = plan_cycle(_observed(OURS, at=UNMANAGED_MEMORY_S + 1), steady, came.state, 2.0)
    assert gone.action == Resize(1, gone.decision.reason)
