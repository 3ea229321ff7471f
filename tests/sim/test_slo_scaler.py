"""The ``slo`` scaler: decisions on hand-made observations, validation, its SLO in the sim."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workerplane.scaling.registry import ScalerConfigError, build_scaler
from workerplane.scaling.slo import SloDetails, SloScaler, SloState, is_fresh
from workerplane.scaling.slo_floor import reachable_slo, slo_below_reachable
from workerplane.scaling.types import (
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)
from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import slo_policy
from workerplane.sim.synthetic import bursts, spikes


def m(
    t: float,
    backlog: int = 0,
    age: float = 0.0,
    add: float = 0.0,
    dispatch: float = 0.0,
    running: int = 0,
    ready: int = 0,
    in_flight: int = 0,
    desired: int | None = None,
) -> GroupMetrics:
    return GroupMetrics(
        stats=QueueStats(
            backlog_count=backlog, backlog_age_s=age, add_rate=add, dispatch_rate=dispatch
        ),
        workers=WorkerCensus(running=running, ready=ready, in_flight=in_flight, desired=desired),
        observed_at=t,
    )


def scaler(strategy: Strategy = Strategy.WORKER_SET, **details: object) -> SloScaler:
    s = build_scaler("slo", {"max_count": 50, **details}, strategy)
    assert isinstance(s, SloScaler)
    return s


def test_only_the_slo_and_bounds_need_setting() -> None:
    d = SloDetails.model_validate(
        {"schedule_to_start_slo_ms": 5000, "min_count": 0, "max_count": 9}
    )
    assert d.target_per_worker is None and d.scale_down_delay_ms is None
    assert SloDetails.model_validate({}).schedule_to_start_slo_ms == 5000


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"bogus": 1}, 'unknown config key "bogus" for slo scaling algorithm'),
        ({"min_count": 5, "max_count": 2}, "min_count (5) must not exceed max_count (2)"),
        ({"schedule_to_start_slo_ms": 0}, "schedule_to_start_slo_ms must be at least 1"),
        ({"target_wait_fraction": 2}, "target_wait_fraction must be at most 1"),
    ],
)
def test_bad_details_are_rejected_with_a_clear_message(
    details: dict[str, object], message: str
) -> None:
    with pytest.raises(ScalerConfigError) as err:
        build_scaler("slo", details, Strategy.WORKER_SET)
    assert message in str(err.value)


def test_first_backlog_on_an_idle_group_scales_up_at_once() -> None:
    s = scaler()
    st = s.initial_state(0.0)
    st, dec = s.decide(st, m(0.0), 0.0)
    assert isinstance(dec, Hold)
    st, dec = s.decide(st, m(1.0, backlog=12, age=1.0, add=3.0), 1.0)
    # Slots and durations unknown yet: every waiting task gets a slot (1 per worker).
    assert isinstance(dec, SetSize) and dec.size == 12


def test_cached_stats_are_not_counted_twice() -> None:
    s = scaler(target_per_worker=4)
    st = s.initial_state(0.0)
    st, dec = s.decide(st, m(0.0, backlog=40, age=3.0, add=5.0), 0.0)
    assert isinstance(dec, SetSize) and dec.size == 10
    # One second later the server returns the SAME cached stats; the 10 workers now run 40 tasks.
    st, dec = s.decide(
        st,
        m(1.0, backlog=40, age=3.0, add=5.0, running=10, ready=10, in_flight=40, desired=10),
        1.0,
    )
    assert not isinstance(dec, SetSize) or dec.size <= 10


def test_never_scales_to_zero_while_work_runs_and_never_on_missing_metrics() -> None:
    s = scaler(target_per_worker=4, scale_down_delay_ms=0)
    st = s.initial_state(0.0)
    st, _ = s.decide(st, m(0.0, backlog=8, age=1.0), 0.0)
    for t in range(1, 30):
        st, dec = s.decide(st, m(float(t), running=2, ready=2, in_flight=1, desired=2), float(t))
        assert not (isinstance(dec, SetSize) and dec.size == 0)
    st, dec = s.decide(st, None, 31.0)
    assert isinstance(dec, Hold)
    st, dec = s.decide(st, m(40.0, running=1, ready=1, in_flight=0, desired=1), 40.0)
    assert isinstance(dec, SetSize) and dec.size == 0


def test_min_and_max_count_bound_the_size() -> None:
    s = build_scaler(
        "slo", {"min_count": 2, "max_count": 5, "target_per_worker": 1}, Strategy.WORKER_SET
    )
    st = s.initial_state(0.0)
    st, dec = s.decide(st, m(0.0), 0.0)
    assert isinstance(dec, SetSize) and dec.size == 2
    st, dec = s.decide(st, m(1.0, backlog=100, age=4.0, desired=2, running=2), 1.0)
    assert isinstance(dec, SetSize) and dec.size == 5


def test_invoke_strategy_starts_the_missing_workers() -> None:
    s = scaler(Strategy.INVOKE, target_per_worker=2)
    st = s.initial_state(0.0)
    st, dec = s.decide(st, m(0.0, backlog=9, age=2.0, running=1, ready=1, in_flight=2), 0.0)
    assert isinstance(dec, StartWorkers) and dec.count == 5  # (2 running + 9 waiting) / 2 = 6


def test_learns_slots_per_worker_from_the_census() -> None:
    s = scaler()
    st = s.initial_state(0.0)
    st, _ = s.decide(
        st, m(0.0, backlog=5, age=1.0, running=3, ready=3, in_flight=12, desired=3), 0.0
    )
    assert st.slots == 4


def test_uses_the_slots_the_workers_report() -> None:
    s = scaler()
    st = s.initial_state(0.0)
    reported = GroupMetrics(
        stats=QueueStats(backlog_count=12, backlog_age_s=1.0, add_rate=3.0),
        workers=WorkerCensus(running=0, ready=0, in_flight=0, desired=0, slots=4),
        observed_at=1.0,
    )
    st, dec = s.decide(st, reported, 1.0)
    # Durations are unknown, so each waiting task gets a slot, but 4 of them fit on a worker.
    assert isinstance(dec, SetSize) and dec.size == 3
    assert st.slots == 4


def by_type(
    workflow_backlog: int,
    activity_backlog: int,
    *,
    workflow_rate: float = 6.0,
    activity_rate: float = 3.0,
    workflow_dispatch_rate: float | None = None,
    **census: int,
) -> GroupMetrics:
    """Stats of a group serving both types; its workflow tasks are dispatched as they come
    unless ``workflow_dispatch_rate`` says otherwise."""
    dispatched = workflow_rate if workflow_dispatch_rate is None else workflow_dispatch_rate
    workflow = QueueStats(
        backlog_count=workflow_backlog,
        backlog_age_s=1.0,
        add_rate=workflow_rate,
        dispatch_rate=dispatched,
    )
    activity = QueueStats(backlog_count=activity_backlog, backlog_age_s=1.0, add_rate=activity_rate)
    return GroupMetrics(
        stats=workflow + activity,
        workers=WorkerCensus(**census),
        observed_at=0.0,
        by_type={"WORKFLOW": workflow, "ACTIVITY": activity},
    )


@pytest.mark.parametrize(
    ("case", "workflow_rate", "activity_rate", "workflow_dispatch_rate", "size"),
    [
        # The queue adds one activity per two workflow tasks run: 30 waiting bring 15, a slot
        # each while durations are unknown, 4 to a worker.
        ("half an activity per workflow task", 6.0, 3.0, None, 4),
        ("no rates yet (a burst on an idle queue): one each", 0.0, 0.0, None, 8),
        # A real server's first fresh stats of a burst: its workflow tasks are added (75/s)
        # and none is dispatched yet, so no activity was added either. Not "no activities".
        ("workflow tasks added, none run yet: one each", 75.0, 0.0, 0.0, 8),
        # The first workers run workflow tasks: each one they ran added an activity, however
        # many more were added meanwhile.
        ("the first workflow tasks run, an activity each", 75.0, 0.5, 0.5, 8),
        # Ten activities per workflow: a fan-out, or ten run one by one over a workflow's life;
        # the rates cannot tell, so each waiting workflow task counts for one at most.
        ("ten activities per workflow task", 6.0, 60.0, None, 8),
        # Workflow tasks run and no activity was added: the activity stats may be a cached
        # copy from before the first of them ran (see the test below).
        ("workflow tasks run, no activity added yet: one each", 6.0, 0.0, None, 8),
    ],
)
def test_waiting_workflow_tasks_count_for_the_activities_they_will_schedule(
    case: str,
    workflow_rate: float,
    activity_rate: float,
    workflow_dispatch_rate: float | None,
    size: int,
) -> None:
    """Workflow tasks run in their own large slot pool and take milliseconds, so they need no
    slot; but a burst of new workflows on a group at zero shows first as workflow tasks only,
    and the activities they schedule need slots a moment later."""
    s = scaler(target_per_worker=4)
    metrics = by_type(
        30,
        0,
        workflow_rate=workflow_rate,
        activity_rate=activity_rate,
        workflow_dispatch_rate=workflow_dispatch_rate,
        desired=0,
    )
    _, dec = s.decide(s.initial_state(0.0), metrics, 0.0)
    assert isinstance(dec, SetSize) and dec.size == size, case


def test_workflows_that_run_no_activities_need_no_slots_once_the_activity_stats_caught_up() -> None:
    """The server caches each type's stats on its own clock (5 s by default). At a wave's start
    the workflow reply can show its first workflow tasks run while the activity reply, older,
    shows no activity added: that is no evidence of "no activities" until the activity stats
    have been refreshed since. After that, workflows that run no activity here need a poller
    for their workflow tasks, no slots."""
    s = scaler(target_per_worker=4)
    metrics = by_type(30, 0, workflow_rate=6.0, activity_rate=0.0, desired=0)
    first, dec = s.decide(s.initial_state(0.0), metrics, 0.0)
    assert isinstance(dec, SetSize) and dec.size == 8
    assert first.workflows_since_ms == 0
    seen_long_enough = replace(s.initial_state(0.0), workflows_since_ms=-6_000)
    _, dec = s.decide(seen_long_enough, metrics, 0.0)
    assert isinstance(dec, SetSize) and dec.size == 1
    # A queue that stops dispatching workflow tasks starts the clock again.
    idle = by_type(30, 0, workflow_rate=6.0, activity_rate=0.0, workflow_dispatch_rate=0.0)
    later, _ = s.decide(seen_long_enough, idle, 0.0)
    assert later.workflows_since_ms is None


def test_a_mixed_group_sizes_activity_slots_on_the_activity_backlog() -> None:
    s = scaler(target_per_worker=4)
    _, dec = s.decide(s.initial_state(0.0), by_type(30, 8, desired=0), 0.0)
    # The 8 waiting activities and the 15 the workflow tasks will schedule get a slot each
    # (durations unknown).
    assert isinstance(dec, SetSize) and dec.size == 6


@pytest.mark.parametrize("trace", [bursts(horizon_s=900.0), spikes(horizon_s=900.0, n_spikes=1)])
def test_meets_the_slo_in_the_simulator(trace) -> None:  # type: ignore[no-untyped-def]
    r = slo_policy(5.0).run(trace, WorkerModel())
    assert r.unfinished == 0
    assert r.percentile(95) <= 5.0


# ----------------------------------------------------------------- planning (duration known)
# These drive ``desired()`` from a hand-made state: d = 2 s, 4 slots, 2 s startup, 1 s polls.


def planned(**fields: object) -> SloState:
    base: dict[str, object] = {
        "slots": 4.0,
        "duration_s": 2.0,
        "load": 6.0,
        "startup_ms": 2000.0,
        "last_ms": 0,
        "last_stats": QueueStats(backlog_count=-1),  # so the next stats count as fresh
    }
    base.update(fields)
    return SloState(**base)  # type: ignore[arg-type]


def test_only_a_sliver_of_a_worker_is_duty_cycled() -> None:
    """1.5 workers of load and nothing waiting: both workers stay. A group cut below its load
    waits on a top-up once its queue grows, and a partitioned queue does not serve that
    overflow first-in, first-out (a real run cut to one worker with 1.9 of load: p95 5.09 s at
    a 5 s SLO). At 1.2 workers of load, the fifth of a worker goes and the queue holds the
    overflow, as a rounded size would let it go (``DOWN_HYSTERESIS``)."""
    s = scaler(target_per_worker=4)
    _, size, why = s.desired(
        planned(recent=((0, 6.0),)),
        m(1.0, add=3.0, dispatch=3.0, running=2, ready=2, in_flight=6, desired=2),
        1000,
        2,
    )
    assert size == 2, why
    _, size, why = s.desired(
        planned(recent=((0, 4.0),), load=4.8, arrival_rate=2.4),
        m(1.0, add=2.4, dispatch=2.4, running=2, ready=2, in_flight=4, desired=2),
        1000,
        2,
    )
    assert size == 1, why


def test_a_growing_queue_adds_one_worker_before_the_target_wait() -> None:
    """On 1 saturated worker at 3 tasks/s (2/s served), 10 waiting tasks need the 2nd worker:
    over 3 s (poll + startup) 9 arrive and 8 are served, so 11 wait for 8 slots: 2.75 s > the
    planned 3 s is not reached with 2 workers, and 1 worker cannot drain at all."""
    s = scaler(target_per_worker=4)
    _, size, why = s.desired(
        planned(arrival_rate=3.0),
        m(1.0, backlog=10, age=3.0, add=3.0, running=1, ready=1, in_flight=4, desired=1),
        1000,
        1,
    )
    assert size == 2, why
    # Four waiting tasks do not need it yet: the queue can hold them.
    _, size, why = s.desired(
        planned(arrival_rate=3.0),
        m(1.0, backlog=4, age=1.0, add=3.0, running=1, ready=1, in_flight=4, desired=1),
        1000,
        1,
    )
    assert size == 1, why


def test_a_spike_is_spread_over_the_target_wait_not_given_a_slot_per_task() -> None:
    """100 waiting on 2 ready workers at 3 tasks/s: the smallest n with
    (100 + 9 - 12 - 2 (n - 2)) * 2 / (4 n) <= 3 s is 13 for the tasks arriving after a startup;
    the 100 waiting now start within the SLO with 16 (a slot per task would be 27)."""
    s = scaler(target_per_worker=4)
    _, size, why = s.desired(
        planned(arrival_rate=3.0),
        m(1.0, backlog=100, age=2.0, add=3.0, running=2, ready=2, in_flight=8, desired=2),
        1000,
        2,
    )
    assert size == 16, why


def test_workers_already_starting_count_in_the_plan() -> None:
    s = scaler(target_per_worker=4)
    obs = m(1.0, backlog=100, age=2.0, add=3.0, running=13, ready=2, in_flight=8, desired=13)
    _, size, why = s.desired(planned(arrival_rate=3.0, last_up_ms=0), obs, 1000, 13)
    assert size == 13, why  # already asked for: no more


def test_the_group_shrinks_only_once_nothing_waits() -> None:
    s = scaler(target_per_worker=4)
    # Plenty of capacity but 2 tasks still wait (fresh stats): hold the 5 workers.
    _, size, why = s.desired(
        planned(arrival_rate=3.0),
        m(1.0, backlog=2, age=0.5, add=3.0, running=5, ready=5, in_flight=20, desired=5),
        1000,
        5,
    )
    assert size == 5, why


def test_cached_stats_carry_the_waiting_estimate_forward() -> None:
    """Between fresh stats a saturated worker's queue grows by arrivals minus completions."""
    s = scaler(target_per_worker=4)
    stats = QueueStats(backlog_count=4, backlog_age_s=1.0, add_rate=3.0)
    st = planned(
        arrival_rate=3.0, backlog_est=4.0, last_stats=stats, last_ms=0, fresh_ms=0,
        fresh_backlog=4.0, fresh_in_flight=4.0, last_in_flight=4.0,
    )  # fmt: skip
    obs = GroupMetrics(
        stats=stats,
        workers=WorkerCensus(running=1, ready=1, in_flight=4, desired=1, slots=4),
        observed_at=1.0,
    )
    st, _, _ = s.desired(st, obs, 1000, 1)
    assert st.backlog_est == pytest.approx(4.0 + (3.0 - 4 / 2.0) * 1.0)
    # A free slot: the 4 tasks seen waiting are gone once 4 tasks have started since. About
    # 2.75 have (3.75 completed, in flight 4 -> 3), so about 1.25 still wait.
    obs = GroupMetrics(
        stats=stats,
        workers=WorkerCensus(running=1, ready=1, in_flight=3, desired=1, slots=4),
        observed_at=2.0,
    )
    st, _, _ = s.desired(st, obs, 2000, 1)
    assert st.backlog_est == pytest.approx(4.0 - (2.0 + 3.5 / 2.0 + 3 - 4))


def test_free_slots_on_cached_stats_do_not_empty_the_queue_mid_burst() -> None:
    """Seen on a real server with 4 partitions: fresh stats showed 40 waiting on 4 workers (16
    slots), then for a few cached cycles only 3 slots were busy (the pollers were on partitions
    the backlog was not). Only 2 tasks started in that second (12 completed, in flight 13 -> 3):
    38 still wait, and the group holds its 4 workers instead of shrinking to 1. Once as many
    tasks have started as were seen waiting, the queue counts as empty."""
    s = scaler(target_per_worker=4)
    stats = QueueStats(backlog_count=40, backlog_age_s=2.0, add_rate=8.0)
    st = planned(
        duration_s=1.0, arrival_rate=8.0, backlog_est=40.0, last_stats=stats, last_ms=0,
        fresh_ms=0, fresh_backlog=40.0, fresh_in_flight=13.0, last_in_flight=13.0,
        last_completed=100, load=8.0, recent=((0, 13.0),), startup_ms=1500.0,
    )  # fmt: skip

    def census(in_flight: int, completed: int) -> WorkerCensus:
        return WorkerCensus(
            running=4, ready=4, in_flight=in_flight, desired=4, slots=4,
            tasks_completed=completed,
        )  # fmt: skip

    st, size, why = s.desired(st, GroupMetrics(stats, census(3, 112), 1.0), 1000, 4)
    assert st.backlog_est == pytest.approx(38.0)
    assert size == 4, why
    st, size, why = s.desired(st, GroupMetrics(stats, census(2, 151), 2.0), 2000, 4)
    assert st.backlog_est == 0.0


def test_the_arrival_rate_is_measured_between_fresh_stats() -> None:
    """Arrivals = more waiting + more in flight + completions (in flight / d per second)."""
    s = scaler(target_per_worker=4)
    st = planned(
        fresh_ms=0, fresh_backlog=0.0, fresh_in_flight=4.0, done_since=8.0, last_ms=4000,
        last_in_flight=4.0,
    )  # fmt: skip
    st, _, _ = s.desired(
        st,
        m(5.0, backlog=5, age=1.0, add=3.0, running=1, ready=1, in_flight=4, desired=1),
        5000,
        1,
    )
    # 5 more waiting + 0 more running + (8 + 4 / 2 * 1 s) completed = 15 in 5 s.
    assert st.arrival_rate == pytest.approx(3.0)
    assert st.fresh_ms == 5000 and st.done_since == 0.0


def test_a_falling_in_flight_count_is_counted_as_completions() -> None:
    """13 running became 4 in a second: at least 9 completed, whatever ``in flight / d`` says."""
    s = scaler(target_per_worker=4)
    st = planned(
        fresh_ms=0, fresh_backlog=0.0, fresh_in_flight=13.0, last_ms=0, last_in_flight=13.0,
        duration_s=2.0,
    )  # fmt: skip
    st, _, _ = s.desired(
        st, m(1.0, backlog=5, age=0.5, running=1, ready=1, in_flight=4, desired=1), 1000, 1
    )
    # 5 more waiting - 9 fewer running + 9 completed (not (13 + 4) / 2 / 2 s = 4.25).
    assert st.arrival_rate == pytest.approx(5.0)


def test_completions_are_counted_when_the_provider_reports_a_running_total() -> None:
    s = scaler(target_per_worker=4)
    st = planned(
        fresh_ms=0, fresh_backlog=0.0, fresh_in_flight=13.0, last_ms=0, last_in_flight=13.0,
        duration_s=2.0, last_completed=100,
    )  # fmt: skip
    census = WorkerCensus(running=1, ready=1, in_flight=4, desired=1, tasks_completed=114)
    stats = QueueStats(backlog_count=5, backlog_age_s=0.5)
    st, _, _ = s.desired(st, GroupMetrics(stats, census, 1.0), 1000, 1)
    # 5 more waiting - 9 fewer running + 14 completed (counted, not estimated) = 10 in 1 s.
    assert st.arrival_rate == pytest.approx(10.0)
    assert st.last_completed == 114


def test_cached_stats_carry_the_queue_forward_by_counted_starts() -> None:
    """With a running total of completions, the starts between two observations are exact:
    completions plus the change in flight. 8 long tasks hold 2 workers while 6 short ones
    started and finished in a second: 3 arrived, 6 started, so the queue of 4 fell to 1 (the
    ``in flight / d`` estimate, 8 / 6 s, would have had it grow to 5.7)."""
    s = scaler(target_per_worker=4)
    stats = QueueStats(backlog_count=4, backlog_age_s=1.0, add_rate=3.0)
    st = planned(
        arrival_rate=3.0, backlog_est=4.0, last_stats=stats, last_ms=0, duration_s=6.0,
        last_in_flight=8.0, last_completed=50,
    )  # fmt: skip
    census = WorkerCensus(running=2, ready=2, in_flight=8, desired=2, tasks_completed=56)
    st, _, _ = s.desired(st, GroupMetrics(stats, census, 1.0), 1000, 2)
    assert st.backlog_est == pytest.approx(4.0 + 3.0 - 6.0)


@pytest.mark.parametrize(("in_flight", "floor"), [(40, 10), (27, 6), (8, 2)])
def test_never_shrinks_below_the_workers_the_tasks_in_flight_fill(
    in_flight: int, floor: int
) -> None:
    """A retired worker whose slots are all busy saves nothing until its tasks end: the group
    keeps ``floor(in_flight / k)`` workers even when its load average says less (a storm
    still pouring in, its average lagging)."""
    s = scaler(target_per_worker=4)
    _, size, why = s.desired(
        planned(arrival_rate=0.5, load=2.0, recent=((0, 2.0),)),
        m(1.0, add=0.5, dispatch=0.5, running=12, ready=12, in_flight=in_flight, desired=12),
        1000,
        12,
    )
    assert size == floor, why


def test_a_size_that_keeps_up_is_judged_on_its_own_capacity() -> None:
    """2 workers x 4 slots exactly match 8 tasks/s of 1 s tasks, so a queue of 30 never drains:
    its newest task waits 30 / 8 s, and a third worker is needed for a 3 s target."""
    s = scaler(target_per_worker=4)
    st = planned(
        fresh_ms=0, fresh_backlog=30.0, fresh_in_flight=8.0, last_ms=0, last_in_flight=8.0,
        duration_s=1.0, arrival_rate=8.0, startup_ms=200.0,
    )  # fmt: skip
    st, size, _ = s.desired(
        st, m(1.0, backlog=30, age=3.0, running=2, ready=2, in_flight=8, desired=2), 1000, 2
    )
    assert size >= 3


def test_uses_the_task_duration_the_workers_report_once_enough_tasks_finished() -> None:
    """Reported run times win over Little's law on the server's rates (a real server's rates rise
    within a second of a burst, the running average does not), but not while the sample is only
    a burst's first, short finishers."""
    s = scaler()
    stats = QueueStats(add_rate=40.0, dispatch_rate=40.0)  # steady: Little's law says 8 / 40

    def census(finished: int) -> WorkerCensus:
        return WorkerCensus(
            running=2, ready=2, in_flight=8, desired=2, slots=4, mean_task_s=1.5,
            tasks_finished=finished,
        )  # fmt: skip

    st, _ = s.decide(s.initial_state(0.0), GroupMetrics(stats, census(3), 0.0), 0.0)
    assert st.duration_s == pytest.approx(0.2)
    st, _ = s.decide(st, GroupMetrics(stats, census(8), 1.0), 1.0)
    assert st.duration_s == 1.5
    # The workers that reported it have gone: the reported duration is kept.
    gone = WorkerCensus(running=0, ready=0, in_flight=0, desired=0)
    st, _ = s.decide(st, GroupMetrics(stats, gone, 2.0), 2.0)
    assert st.duration_s == 1.5


def test_a_starting_worker_is_not_free_capacity() -> None:
    """One task on an idle queue, its worker slow to start (8 s) and stats cached for 5 s: the
    group must hold that worker until it polls, never retire it (1 -> 0 -> 1 -> 0)."""
    s = scaler(target_per_worker=4)
    cached = QueueStats(backlog_count=1, backlog_age_s=0.5, add_rate=0.05)
    st = planned(load=0.0, recent=(), arrival_rate=0.05)
    sizes = []
    for t in range(10):
        stats = cached if t < 5 else QueueStats(backlog_count=1, backlog_age_s=5.5, add_rate=0.05)
        running = 0 if t == 0 else 1
        census = WorkerCensus(running=running, ready=0, in_flight=0, desired=running, slots=4)
        st, dec = s.decide(st, GroupMetrics(stats, census, float(t)), float(t))
        sizes.append(dec.size if isinstance(dec, SetSize) else running)
    assert sizes == [1] * 10, sizes


@pytest.mark.parametrize(
    ("details", "strategy", "fresh", "minimum"),
    [
        ({}, Strategy.INVOKE, False, 5_000 + 1_000 + 2_000),
        ({}, Strategy.WORKER_SET, False, 5_000 + 1_000 + 10_000),
        ({}, Strategy.INVOKE, True, 300 + 1_000 + 2_000),
        ({"worker_startup_ms": 500, "metrics_poll_interval_ms": 200}, Strategy.INVOKE, True, 1_000),
    ],
)
def test_the_reachable_slo_is_signal_plus_poll_plus_startup(
    details: dict[str, object], strategy: Strategy, fresh: bool, minimum: int
) -> None:
    reach = reachable_slo(SloDetails.model_validate(details), strategy, fresh_signals=fresh)
    assert reach.minimum_ms == minimum


@pytest.mark.parametrize(
    ("details", "warns"),
    [
        ({"schedule_to_start_slo_ms": 2_000}, True),
        ({"schedule_to_start_slo_ms": 8_000}, False),
        ({"schedule_to_start_slo_ms": 2_000, "max_warm_idle_ms": 600_000}, False),
        ({"schedule_to_start_slo_ms": 2_000, "max_warm_idle_ms": 0}, True),
    ],
)
def test_validate_warns_when_the_slo_is_below_a_cold_start(
    details: dict[str, object], warns: bool
) -> None:
    issue = slo_below_reachable(
        SloDetails.model_validate(details), Strategy.INVOKE, path="compute.x.scaler.details"
    )
    assert (issue is not None) == warns
    if issue is not None:
        assert issue.path == "compute.x.scaler.details"
        assert issue.code == "slo-below-reachable"
        assert "raise it to at least 8000" in issue.rule


def idle(t: float, size: int) -> GroupMetrics:
    census = WorkerCensus(running=size, ready=size, in_flight=0, desired=size, slots=4)
    return GroupMetrics(QueueStats(), census, t)


@pytest.mark.parametrize(
    ("rate", "idle_since_ms", "details", "size"),
    [
        # One task a minute: a cold start (2 s) is cheaper than a minute warm. Released at once,
        # without waiting out the scale-down window.
        (1 / 60, 9_000, {}, 0),
        # A task every half second: keep one warm.
        (2.0, 9_000, {}, 1),
        # ...but not once idle for longer than a start (the time idle is a floor of the gap).
        (2.0, 5_000, {}, 0),
        # A 2 s SLO cannot be met from zero (5 s cache + 1 s poll + 2 s start): the user's bound
        # keeps one warm for that long after the last task, then lets it go.
        (1 / 60, 0, {"schedule_to_start_slo_ms": 2_000, "max_warm_idle_ms": 30_000}, 1),
        (1 / 60, -25_000, {"schedule_to_start_slo_ms": 2_000, "max_warm_idle_ms": 30_000}, 0),
        # A reachable SLO never keeps a worker warm on the bound alone.
        (1 / 60, 9_000, {"schedule_to_start_slo_ms": 10_000, "max_warm_idle_ms": 30_000}, 0),
    ],
)
def test_sparse_load_is_decided_by_ski_rental(
    rate: float, idle_since_ms: int, details: dict[str, object], size: int
) -> None:
    s = scaler(target_per_worker=4, **details)
    st = planned(load=0.0, recent=(), arrival_rate=rate, idle_since_ms=idle_since_ms,
                 window=((9_000, 1),), last_ms=9_000)  # fmt: skip
    st, dec = s.decide(st, idle(10.0, 1), 10.0)
    got = dec.size if isinstance(dec, SetSize) else 1
    assert got == size, dec.reason


def test_the_cached_copy_under_a_hint_is_not_a_fresh_reply() -> None:
    """The hint raised the cached backlog of 0 to 241 (a storm on an idle queue). A cycle later
    a worker polls, so the hint is not read and the same cached copy (backlog 0) comes back. It
    is not a new reply: the 241 tasks still wait, and the group keeps its 10 workers."""
    cached = QueueStats(backlog_count=0, backlog_age_s=0.0, add_rate=0.4, dispatch_rate=0.4)
    raised = QueueStats(backlog_count=241, backlog_age_s=0.0, add_rate=0.4, dispatch_rate=0.4)
    assert is_fresh(raised, cached) and not is_fresh(cached, raised)
    assert is_fresh(QueueStats(add_rate=9.0), raised)  # a real refresh moves the rates
    # The pollers are listed live: more of them do not make the cached copy a new reply.
    assert not is_fresh(replace(raised, pollers=9, poller_identities=frozenset({"w"})), raised)
    s = scaler(target_per_worker=4)
    st = planned(duration_s=3.0, load=0.0, recent=(), arrival_rate=0.4, last_stats=cached)
    census = WorkerCensus(running=0, ready=0, in_flight=0, desired=0, slots=4)
    st, first, why = s.desired(st, GroupMetrics(raised, census, 1.0), 1000, 0)
    assert first >= 10, why
    census = WorkerCensus(running=first, ready=1, in_flight=4, desired=first, slots=4)
    st, size, why = s.desired(st, GroupMetrics(cached, census, 2.0), 2000, first)
    assert st.backlog_est > 200 and size == first, why


def test_before_the_duration_is_known_the_cached_copy_keeps_the_hint_backlog() -> None:
    """A storm of 215 tasks seen by the hint gave 54 workers (a slot each: the task duration is
    not known yet, and a 5 s SLO leaves no time to learn it). The next cycles read the cached
    stats under the hint (backlog 0): the group holds what it asked for while the first tasks
    run, not "no backlog" (13 workers, then 91 once the next fresh stats show the storm still
    waiting), nor what runs (46 workers, asked for again at the next fresh stats)."""
    s = scaler(target_per_worker=4, max_count=100)
    cached = QueueStats(backlog_count=0, add_rate=0.0)
    raised = QueueStats(backlog_count=215, add_rate=0.0)
    census = WorkerCensus(running=0, ready=0, in_flight=0, desired=0, slots=4)
    st = SloState(last_stats=cached)
    st, first, why = s.desired(st, GroupMetrics(raised, census, 1.0), 1000, 0)
    assert first == 54, why
    busy = WorkerCensus(running=54, ready=54, in_flight=180, desired=54, slots=4)
    st, size, why = s.desired(st, GroupMetrics(cached, busy, 4.0), 4000, 54)
    assert size == 54 and "cached" in why, why


def test_a_quiet_second_of_a_steady_stream_does_not_shrink_the_group() -> None:
    """3 tasks/s of 2 s tasks (6 slots: 1.5 workers) counted between fresh stats; for a moment
    only 2 run and the in-flight average dipped to 3. The counted arrival rate is the floor of
    the load: the group keeps its 2 workers (before, it went to 1 and was back at 2-3 within
    seconds, paying a startup each time: 107 scale actions in 30 minutes, now 43)."""
    s = scaler(target_per_worker=4, schedule_to_start_slo_ms=2000)
    st = planned(
        arrival_rate=3.0, arrival_sample=3.2, load=3.0, recent=((0, 3.0),), last_ms=0,
        last_stats=QueueStats(),  # this cycle's stats are the cached copy
    )  # fmt: skip
    census = WorkerCensus(running=2, ready=2, in_flight=2, desired=2, slots=4)
    _, size, why = s.desired(st, GroupMetrics(QueueStats(), census, 1.0), 1000, 2)
    assert size == 2, why
    # A burst's end: the latest count fell to nothing, the smoothed rate lags; no floor then.
    st = replace(st, arrival_sample=0.0)
    _, size, why = s.desired(st, GroupMetrics(QueueStats(), census, 1.0), 1000, 2)
    assert size == 1, why
