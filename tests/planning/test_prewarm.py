"""Schedule-aware pre-warming: the warm floor the plan holds ahead of a schedule's runs."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from workerplane.planning.actions import GroupState
from workerplane.planning.observe import Observation
from workerplane.planning.plan import GroupIntent, plan_cycle
from workerplane.planning.prewarm import (
    WarmTiming,
    apply_warm_floor,
    taught,
    trusting_the_warmup,
    typical_startup_ms,
)
from workerplane.planning.status import GroupStatus, Warmup
from workerplane.planning.warmups import (
    PastRun,
    RunWork,
    UpcomingRun,
    WarmupSizing,
    learn_run_work,
    plan_warmups,
    workers_for,
)
from workerplane.scaling.prewarm import PrewarmDetails
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo_model import SloState
from workerplane.scaling.types import (
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)

NOON = 43_200.0  # 12:00:00 UTC on the epoch's first day

SIZING = WarmupSizing(
    startup_s=2.0, poll_s=1.0, margin_s=0.5, slots=4.0, target_wait_s=1.2, max_count=10
)


def test_learned_work_is_the_median_of_the_latest_runs() -> None:
    assert learn_run_work([]) is None
    runs = [PastRun(float(i), tasks, 2.0, spread) for i, (tasks, spread) in enumerate(
        [(100, 1.0), (8, 0.5), (10, 3.0), (12, 0.2), (9, 0.1), (11, 0.4)]
    )]  # fmt: skip
    work = learn_run_work(runs)
    # The oldest run (100 tasks) is beyond the last five; spreads: the widest.
    assert work == RunWork(tasks=10, mean_task_s=2.0, spread_s=3.0, runs=5)


@pytest.mark.parametrize(
    ("work", "expected"),
    [
        (RunWork(8, None, 0.0, 1), 2),  # duration unknown: a slot per task
        (RunWork(500, 2.0, 2.0, 3), 10),  # capped at max_count
        (RunWork(20, 1.0, 0.0, 3), 3),  # 20 * 1 / (1 + 1.2) = 9.1 slots -> 3 workers
        (RunWork(0, 1.0, 0.0, 3), 0),
    ],
)
def test_workers_for_a_run(work: RunWork, expected: int) -> None:
    assert workers_for(work, SIZING) == expected


def test_warmups_one_startup_ahead_hint_first_and_the_next_per_schedule() -> None:
    details = PrewarmDetails(enabled=True, schedules={"nightly": {"workers": 25}})  # type: ignore[arg-type]
    learned = RunWork(8, None, 0.5, 2)
    runs = [
        UpcomingRun("nightly", NOON),
        UpcomingRun("nightly", NOON + 60),
        UpcomingRun("hourly", NOON + 30, learned),
        UpcomingRun("unknown", NOON + 10),  # no past run, no hint: not warmed for
        UpcomingRun("done", NOON - 100, learned),  # landed long ago: released
    ]
    warmups = plan_warmups(runs, details, SIZING, now=NOON - 20)
    lead = 2.0 + 0.5  # the timed startup (cycle to cycle) and the margin
    assert warmups == (
        Warmup("nightly", NOON, NOON - lead, NOON + 2.0, 10, "hint: 25 workers"),
        Warmup(
            "hourly",
            NOON + 30,
            NOON + 30 - lead,
            NOON + 30 + 0.5 + 2.0,
            2,
            "learned: 8 tasks of ? over 0.5s (last 2 runs)",
        ),
    )


def _warm(workers: int = 5, at: float = NOON) -> Warmup:
    return Warmup("nightly", at, at - 5, at + 2, workers, "hint: 5 workers")


@pytest.mark.parametrize(
    ("decision", "strategy", "held", "census", "expected"),
    [
        (Hold("x"), Strategy.WORKER_SET, 0, WorkerCensus(), SetSize(5, "")),
        (SetSize(2, "x"), Strategy.WORKER_SET, 0, WorkerCensus(), SetSize(5, "")),
        (SetSize(7, "x"), Strategy.WORKER_SET, 0, WorkerCensus(), SetSize(7, "x")),
        (Hold("x"), Strategy.WORKER_SET, 6, WorkerCensus(), Hold("x")),
        (Hold("x"), Strategy.INVOKE, None, WorkerCensus(running=2), StartWorkers(3, "")),
        (StartWorkers(1, "x"), Strategy.INVOKE, None, WorkerCensus(running=2), StartWorkers(3, "")),
        (StartWorkers(4, "x"), Strategy.INVOKE, None, WorkerCensus(running=2),
         StartWorkers(4, "x")),
    ],
)  # fmt: skip
def test_the_floor_raises_a_smaller_decision(
    decision: Any, strategy: Strategy, held: int | None, census: WorkerCensus, expected: Any
) -> None:
    raised = apply_warm_floor(
        decision, [_warm()], now=NOON - 1, strategy=strategy, max_count=10, held_size=held,
        census=census,
    )  # fmt: skip
    assert type(raised) is type(expected)
    assert dataclasses.replace(raised, reason="") == dataclasses.replace(expected, reason="")
    if raised is not decision:
        assert raised.reason == "pre-warming 5 workers for schedule nightly at 12:00:00 UTC"


LEARNED = RunWork(tasks=500, mean_task_s=2.0, spread_s=2.0, runs=3)


@pytest.mark.parametrize(
    ("work", "shown", "size"),
    [
        (LEARNED, 418.0, 35),  # the run as learned: the warm pool holds
        (LEARNED, 501.0, 44),  # more tasks than learned: the scaler decides
        (None, 418.0, 44),  # a hint's warm-up is not trusted
        (RunWork(tasks=500, mean_task_s=None, spread_s=2.0, runs=1), 418.0, 44),  # no duration
    ],
)
def test_a_warmup_sized_on_the_learned_run_is_trusted_while_the_run_is_as_learned(
    work: RunWork | None, shown: float, size: int
) -> None:
    """35 workers warmed for a run of 500 learned tasks; 1.5 s in, the scaler's projection,
    which takes the newest waiting task as the first of many more, asks 44."""
    warm = _warm(35)
    runs = [UpcomingRun("nightly", NOON, work)]
    got = trusting_the_warmup(SetSize(44, "queue"), [warm], runs, held=35, shown=shown)
    assert isinstance(got, SetSize) and got.size == size
    if size == 35:
        assert got.reason == (
            "queue; held at 35: the warm-up was sized for the run's 500 tasks, 418 shown"
        )
    smaller = trusting_the_warmup(SetSize(30, "queue"), [warm], runs, held=35, shown=shown)
    assert smaller == SetSize(30, "queue")  # shrinking is the scaler's, and the floor's


def test_the_floor_holds_only_in_its_window_and_never_above_max_count() -> None:
    both = [_warm(6), dataclasses.replace(_warm(6), schedule_id="hourly")]
    for now in (NOON - 6, NOON + 2):
        kept = apply_warm_floor(
            Hold("x"), both, now=now, strategy=Strategy.WORKER_SET, max_count=10, held_size=0,
            census=WorkerCensus(),
        )  # fmt: skip
        assert kept == Hold("x")
    raised = apply_warm_floor(
        Hold("x"), both, now=NOON, strategy=Strategy.WORKER_SET, max_count=10, held_size=0,
        census=WorkerCensus(),
    )  # fmt: skip
    assert raised == SetSize(
        10, "pre-warming 10 workers for schedules hourly, nightly at 12:00:00 UTC"
    )


def test_a_warmup_times_the_startup() -> None:
    timing = WarmTiming().asked(WorkerCensus(ready=0), 4, now=100.0, action_at=105.0)
    assert timing == WarmTiming(None, asked_at=100.0, mark=2, action_at=105.0)
    assert timing.observe(WorkerCensus(ready=1), 101.0) == timing
    timed = timing.observe(WorkerCensus(ready=2), 102.5)
    assert timed == WarmTiming(startup_s=2.5, action_at=105.0)


@pytest.mark.parametrize(
    ("timing", "ready", "action_at", "timed_from"),
    [
        (WarmTiming(), 0, 105.0, 103.0),  # nothing timed yet
        # The same warm-up asked again while its last workers start: not timed again (it
        # would time the stragglers over one cycle and learn a startup far too short).
        (WarmTiming(startup_s=2.0, action_at=105.0), 2, 105.0, None),
        (WarmTiming(startup_s=2.0, action_at=105.0), 0, 905.0, 103.0),  # the next run's
        # One warm-up timed at a time.
        (WarmTiming(None, asked_at=101.0, mark=2, action_at=105.0), 1, 905.0, 101.0),
        (WarmTiming(), 4, 105.0, None),  # every worker already polls
    ],
)  # fmt: skip
def test_each_warmup_is_timed_once_from_its_first_ask(
    timing: WarmTiming, ready: int, action_at: float, timed_from: float | None
) -> None:
    asked = timing.asked(WorkerCensus(ready=ready), 4, now=103.0, action_at=action_at)
    assert asked.asked_at == timed_from


def _intent(prewarm: dict[str, Any], *, draining: bool = False) -> GroupIntent:
    details = {"schedule_to_start_slo_ms": 2000, "max_count": 8, "target_per_worker": 4,
               "worker_startup_ms": 2000, "prewarm": prewarm}  # fmt: skip
    return GroupIntent(
        version_key="v", group_id="g", provider_type="k8s", scaler_type="slo",
        strategy=Strategy.WORKER_SET, scaler=build_scaler("slo", details, Strategy.WORKER_SET),
        draining=draining,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("provider_type", "strategy", "own_ms", "expected_ms"),
    [
        ("k8s", Strategy.WORKER_SET, None, 15_000.0),  # the registry's figure
        ("simulated", Strategy.WORKER_SET, 2_000.0, 2_000.0),  # the simulator's workers
        ("simulated", Strategy.WORKER_SET, None, 10_000.0),  # unknown: the strategy's default
        ("simulated", Strategy.INVOKE, None, 2_000.0),
    ],
)
def test_the_startup_before_anything_is_timed(
    provider_type: str, strategy: Strategy, own_ms: float | None, expected_ms: float
) -> None:
    intent = GroupIntent(
        version_key="v", group_id="g", provider_type=provider_type, scaler_type="slo",
        strategy=strategy, scaler=build_scaler("slo", {"schedule_to_start_slo_ms": 2000}, strategy),
        typical_startup_ms=own_ms,
    )  # fmt: skip
    assert typical_startup_ms(intent) == expected_ms


_RUN = UpcomingRun("nightly", NOON, RunWork(20, 1.5, 0.0, 3))


@pytest.mark.parametrize(
    ("state", "timing", "runs", "startup_ms", "duration_s"),
    [
        (SloState(), WarmTiming(), (), None, None),  # nothing known
        (SloState(), WarmTiming(startup_s=2.0), (_RUN,), 2000.0, 1.5),  # both taught
        # The scaler's own figures win.
        (SloState(startup_ms=900.0, duration_s=3.0), WarmTiming(startup_s=2.0), (_RUN,), 900.0,
         3.0),
        # A run whose durations are unknown teaches none.
        (SloState(), WarmTiming(), (UpcomingRun("nightly", NOON, RunWork(8, None, 0.0, 1)),),
         None, None),
    ],
)  # fmt: skip
def test_the_scaler_is_taught_what_prewarming_knows_while_it_knows_nothing(
    state: SloState,
    timing: WarmTiming,
    runs: tuple[UpcomingRun, ...],
    startup_ms: float | None,
    duration_s: float | None,
) -> None:
    got = taught(state, timing, runs)
    assert (got.startup_ms, got.duration_s) == (startup_ms, duration_s)


def _observed(now: float) -> Observation:
    census = WorkerCensus(running=0, ready=0, in_flight=0, desired=0)
    metrics = GroupMetrics(QueueStats(), census, observed_at=now, by_type={})
    run = UpcomingRun("nightly", NOON, RunWork(20, 1.0, 0.0, 3))
    return Observation(census, metrics, wall_time=now, upcoming_runs=(run,))


def test_the_plan_warms_an_idle_group_ahead_of_the_run_and_reports_it() -> None:
    intent = _intent({"enabled": True})
    state = GroupState(scaler_state=intent.scaler.initial_state(0.0))
    plan, status = plan_cycle(_observed(NOON - 2), intent, state, now=10.0)
    assert plan.decision == SetSize(3, "pre-warming 3 workers for schedule nightly at 12:00:00 UTC")
    assert [w.workers for w in status.warmups] == [3]
    assert plan.state.prewarm == WarmTiming(None, asked_at=NOON - 2, mark=2, action_at=NOON)
    # The feedback loop will judge a miss of this run on the warm pool's size.
    assert plan.state.scaler_state.warmed
    # Too early: nothing is warmed yet, but the status lists what is coming.
    plan, status = plan_cycle(_observed(NOON - 60), intent, state, now=10.0)
    assert not isinstance(plan.decision, SetSize) or plan.decision.size == 0
    assert status.warmups[0].starts_at == NOON - 2.5  # a startup + the margin


@pytest.mark.parametrize(
    ("prewarm", "draining"),
    [({"enabled": False, "recurring": False}, False), ({"enabled": True}, True)],
)
def test_no_warmup_when_disabled_or_draining(prewarm: dict[str, Any], draining: bool) -> None:
    intent = _intent(prewarm, draining=draining)
    state = GroupState(scaler_state=intent.scaler.initial_state(0.0))
    plan, status = plan_cycle(_observed(NOON - 3), intent, state, now=10.0)
    assert "pre-warming" not in plan.decision.reason
    assert status.warmups == ()


def test_a_status_with_warmups_survives_json() -> None:
    intent = _intent({"enabled": True})
    state = GroupState(scaler_state=intent.scaler.initial_state(0.0))
    _, status = plan_cycle(_observed(NOON - 3), intent, state, now=10.0)
    again = GroupStatus(**json.loads(json.dumps(dataclasses.asdict(status))))
    assert again == status
