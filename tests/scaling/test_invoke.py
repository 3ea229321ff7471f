"""An invoke group does not start again the workers that returned idle while nothing waits, and
one whose provider cannot count the tasks in flight starts at most a slot per waiting task
(``workerplane.scaling.invoke``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.scaling.scaler_helpers import m, run, summary
from workerplane.scaling.invoke import invoke_target
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy


@pytest.mark.parametrize(
    ("case", "desired", "metrics", "min_count", "target"),
    [
        ("5 wait: what runs and a worker per 4 of them", 8, m(5, running=4), 0, 6),
        ("a slot each for the waiting", 8, m(40, running=0), 0, 8),
        ("a wave's tail: 2 wait, none runs", 6, m(2, running=0), 0, 1),
        (
            "in flight counted, no slot free: a worker per 4 waiting",
            8,
            m(6, running=4, in_flight=16),
            0,
            6,
        ),
        ("in flight counted, slots free take the waiting", 8, m(6, running=4, in_flight=10), 0, 4),
        (
            "a wave on an idle group: a slot each, not its rate ahead",
            19,
            m(40, running=0, in_flight=0),
            0,
            10,
        ),
        ("in flight counted, the plan asks fewer", 3, m(40, running=0, in_flight=0), 0, 3),
        ("nothing waits, in flight counted: none started", 8, m(0, running=4, in_flight=3), 0, 4),
        ("nothing waits, none runs, in flight counted", 1, m(0, running=0, in_flight=0), 0, 0),
        ("nothing waits, in flight unknown: what runs", 8, m(0, running=4, ready=4), 0, 4),
        ("nothing waits, none runs: none started", 3, m(0, running=0), 0, 0),
        ("min_count still kept", 8, m(0, running=1), 2, 2),
        ("min_count never above desired", 1, m(0, running=0), 2, 1),
        ("already enough", 3, m(0, running=5), 0, 3),
        (
            "workflow tasks wait (another type's backlog)",
            4,
            m(
                running=1,
                by_type={
                    "WORKFLOW": QueueStats(backlog_count=3),
                    "ACTIVITY": QueueStats(backlog_count=0),
                },
            ),
            0,
            2,
        ),
        (
            "workflow tasks and their activities waiting together: each workflow once",
            19,
            m(
                running=0,
                in_flight=0,
                by_type={
                    "WORKFLOW": QueueStats(backlog_count=40),
                    "ACTIVITY": QueueStats(backlog_count=13, add_rate=13.0),
                },
            ),
            0,
            10,
        ),
        (
            "a wave's workflow tasks dispatch before any activity is added: still counted",
            19,
            m(
                running=0,
                in_flight=0,
                by_type={
                    "WORKFLOW": QueueStats(backlog_count=121, dispatch_rate=0.24),
                    "ACTIVITY": QueueStats(backlog_count=0),
                },
            ),
            0,
            19,
        ),
        (
            "activities waiting beyond the workflows still to run",
            19,
            m(
                running=0,
                in_flight=0,
                by_type={
                    "WORKFLOW": QueueStats(backlog_count=4),
                    "ACTIVITY": QueueStats(backlog_count=30),
                },
            ),
            0,
            8,
        ),
    ],
)
def test_invoke_target(
    case: str, desired: int, metrics: GroupMetrics, min_count: int, target: int
) -> None:
    got, why = invoke_target(desired, metrics, min_count, slots=4)
    assert got == target, case
    assert bool(why) == (target < desired), case


def _after_a_wave(running_after: int) -> list[tuple[float, GroupMetrics]]:
    """Ten Lambda handlers (4 slots, in flight unknown) ran a wave; the queue emptied, and the
    server's decaying dispatch rate still shows activity. Then six handlers return idle."""
    steps = [(0.0, m(40, add=50.0, running=10, ready=10))]
    steps += [(t, m(0, add=10.0, dispatch=10.0, running=10, ready=10)) for t in range(1, 10)]
    steps.append((10.0, m(0, add=5.0, dispatch=5.0, running=running_after, ready=running_after)))
    return steps


def test_handlers_that_returned_idle_are_not_invoked_again_while_nothing_waits() -> None:
    """Measured before on `bench/vs_temporal.py` (two waves of 40 one-second tasks, `slo`):
    31 invokes where 10 a wave ran every task, 16 handlers that ran nothing."""
    scaler = build_scaler("slo", {"target_per_worker": 4}, Strategy.INVOKE)
    state, decisions = run(scaler, _after_a_wave(running_after=4))
    assert summary(decisions[-1]) == ("hold", None), decisions[-1]
    # The next wave's first waiting tasks start workers as before.
    _, decisions = run(scaler, [(20.0, m(40, add=50.0, running=0))], state)
    assert summary(decisions[-1])[0] == "start"


def test_min_count_is_kept_warm_after_a_wave() -> None:
    scaler = build_scaler("slo", {"target_per_worker": 4, "min_count": 6}, Strategy.INVOKE)
    _, decisions = run(scaler, _after_a_wave(running_after=4))
    assert summary(decisions[-1]) == ("start", 2)


def test_a_cached_reply_read_again_is_not_counted_again_as_handlers_come_up() -> None:
    """The decisions logged by `bench/vs_temporal.py --server-defaults` (40 workflows one after
    another, Lambda, `slo`), replayed. The server caches the stats for 5 s but lists the pollers
    live: as handlers came up, each cycle's copy of one cached reply (19 waiting, 2.6 s old)
    differed from the last only in its pollers, was taken for a new reply, and its 19 tasks were
    sized again on top of every polling handler counted full: 15 invokes where 10 ran the wave,
    9 of them handlers that ran nothing."""
    scaler = build_scaler("slo", {"target_per_worker": 4, "max_count": 25}, Strategy.INVOKE)
    cached = {"age": 2.6, "add": 20.03, "dispatch": 15.71}
    steps = [
        (0.0, m(0)),
        (2.2, m(40, running=0)),
        (3.0, m(0, pollers=1, running=10, ready=1)),
        (5.7, m(19, pollers=4, running=10, ready=4, **cached)),
        (6.7, m(19, pollers=9, running=10, ready=10, **cached)),
        (7.7, m(19, pollers=9, running=10, ready=10, **cached)),
        (8.8, m(19, pollers=12, running=10, ready=10, **cached)),
        (9.9, m(19, pollers=14, running=10, ready=10, **cached)),
    ]
    _, decisions = run(scaler, steps)
    assert summary(decisions[1]) == ("start", 10)
    started_after = [summary(d) for d in decisions[2:] if summary(d)[0] == "start"]
    assert started_after == [], [d.reason for d in decisions[2:]]


def test_a_few_tasks_after_a_wave_get_a_few_handlers() -> None:
    """Replayed from `bench/vs_temporal.py --server-defaults` (200 workflows at once, Lambda,
    `slo`): 25 handlers ran the wave and all but one returned idle; then 4 tasks waited. The
    load average still held the wave's 67 assumed slots, and 16 handlers were invoked."""
    scaler = build_scaler("slo", {"target_per_worker": 4, "max_count": 25}, Strategy.INVOKE)
    steps = [(0.0, m(0)), (1.0, m(120, running=0))]
    steps += [(t, m(80, age=3.0, add=60.0, dispatch=40.0, running=25, ready=25)) for t in (6, 7)]
    steps += [(float(t), m(0, add=25.0, dispatch=23.0, running=25, ready=25)) for t in range(8, 20)]
    steps.append((20.0, m(4, age=1.3, add=15.2, dispatch=13.6, running=1, ready=1)))
    _, decisions = run(scaler, steps)
    kind, count = summary(decisions[-1])
    assert kind == "hold" or (count or 0) <= 5, decisions[-1].reason


def _counted(metrics: GroupMetrics, completed: int) -> GroupMetrics:
    """``metrics`` with a census that counts the tasks (the handlers' heartbeats): the 1 s tasks
    of a first wave finished."""
    census = replace(
        metrics.workers,
        in_flight=metrics.workers.in_flight or 0,
        mean_task_s=1.0,
        tasks_finished=completed,
        tasks_completed=completed,
        slots=4,
    )
    return replace(metrics, workers=census)


def test_a_second_wave_gets_the_handlers_that_serve_it_in_time_not_its_rate_ahead() -> None:
    """Replayed from `bench/vs_temporal.py` (two waves of 40 one-second tasks 90 s apart, Lambda
    handlers that send heartbeats). The second wave's first reading, 36 waiting, counted as 36
    tasks/s arriving, and the planner projected that rate over a startup: 16 handlers asked (9
    started, a slot each), where 4 handlers of 4 slots start 36 one-second tasks within the 3 s
    the 5 s SLO targets."""
    scaler = build_scaler("slo", {"max_count": 25}, Strategy.INVOKE)
    steps = [(0.0, _counted(m(0), 0)), (1.0, _counted(m(40, running=0), 0))]
    steps += [(float(t), _counted(m(0, add=8.0, dispatch=8.0), 40)) for t in range(10, 90)]
    state, _ = run(scaler, steps)
    _, decisions = run(scaler, [(91.0, _counted(m(36, age=0.5, add=1.1), 40))], state)
    kind, count = summary(decisions[-1])
    assert kind == "start" and count is not None and count <= 4, decisions[-1].reason
