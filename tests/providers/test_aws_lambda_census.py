"""The Lambda census ends an invocation from what its worker reports (its polls and its
heartbeats), not at a TTL, and counts the activities its workers run from their heartbeats.

A fake clock and hand-made poller lists (``identity -> last poll``) and heartbeats: the situation
of issue 12 item 8, where every handler had returned at the end of a burst while the TTL still
counted them.
"""

from __future__ import annotations

from workerplane.planning.worker_beats import WorkerBeat
from workerplane.providers.aws_lambda.census import (
    InvocationCensus,
    invocation_of,
    worker_identity,
)

TTL_S, START_GRACE_S, POLL_GAP_S = 60.0, 20.0, 10.0


def _census(start_grace_s: float | None = START_GRACE_S) -> tuple[InvocationCensus, list[float]]:
    now = [1000.0]
    census = InvocationCensus(
        ttl_s=TTL_S, start_grace_s=start_grace_s, poll_gap_s=POLL_GAP_S, clock=lambda: now[0]
    )
    return census, now


def test_identity_round_trip() -> None:
    assert invocation_of(worker_identity("abc-1")) == "abc-1"
    assert invocation_of("1234@host") is None


def test_a_returned_invocation_stops_counting_once_its_polls_stop() -> None:
    census, now = _census()
    census.add(["a", "b"])
    census.observe_pollers({})
    assert (census.running(), census.ready()) == (2, 0), "both starting: counted, not ready"

    for second in range(1, 6):  # both poll while they work
        now[0] += 1
        census.observe_pollers({worker_identity("a"): second, worker_identity("b"): second})
    assert (census.running(), census.ready()) == (2, 2)

    # "a" returns; the server keeps its last poll in the list (PollerHistoryTTL), unchanged.
    for second in range(6, 6 + int(POLL_GAP_S)):
        now[0] += 1
        census.observe_pollers({worker_identity("a"): 5, worker_identity("b"): second})
    assert census.running() == 1, "a returned invocation is no longer counted"
    assert census.ready() == 1
    assert now[0] - 1000.0 < TTL_S, "and long before its TTL"

    # "b" returns too and drops out of the list (a short PollerHistoryTTL): nothing counts.
    now[0] += POLL_GAP_S
    census.observe_pollers({})
    assert (census.running(), census.ready()) == (0, 0)


def test_a_cold_start_counts_until_its_grace_then_again_once_it_polls() -> None:
    census, now = _census()
    census.add(["slow"])
    now[0] += START_GRACE_S - 1
    census.observe_pollers({})
    assert census.running() == 1
    now[0] += 2
    census.observe_pollers({})
    assert census.running() == 0, "never polled within the grace: not counted"
    now[0] += 1
    census.observe_pollers({worker_identity("slow"): 1.0})
    assert (census.running(), census.ready()) == (1, 1), "a late poll brings it back"


def test_unreadable_pollers_fall_back_to_the_ttl() -> None:
    census, now = _census()
    census.add(["a"])
    census.observe_pollers({worker_identity("a"): 1.0})
    now[0] += POLL_GAP_S + 1
    census.observe_pollers(None)
    assert (census.running(), census.ready()) == (1, None), "unknown: the upper bound"
    now[0] += TTL_S
    assert census.running() == 0 and not census.pending()


def test_other_pollers_are_ignored() -> None:
    census, _ = _census()
    census.add(["a"])
    census.observe_pollers({"1234@laptop": 5.0, worker_identity("not-ours"): 5.0})
    assert (census.running(), census.ready()) == (1, 0)


def test_by_default_a_cold_start_counts_for_its_whole_ttl() -> None:
    """A slow cold start (a loaded host) is never taken for gone and invoked again."""
    census, now = _census(start_grace_s=None)
    census.add(["slow"])
    now[0] += TTL_S - 1
    census.observe_pollers({})
    assert census.running() == 1
    now[0] += 2
    assert census.running() == 0


def _beat(
    invocation: str, at: float, in_flight: int, processed: int, *, running: bool = True
) -> tuple[str, WorkerBeat]:
    identity = worker_identity(invocation)
    return identity, WorkerBeat(
        identity=identity,
        task_queue="q",
        running=running,
        beat_at=at,
        activities_in_flight=in_flight,
        activities_processed=processed,
    )


def test_tasks_are_unknown_until_a_worker_of_the_census_sends_a_heartbeat() -> None:
    """An older server, or a handler without heartbeats: the scalers keep assuming every
    polling worker full (``in_flight`` ``None``), as before heartbeats."""
    census, _ = _census()
    census.add(["a"])
    census.observe_pollers({worker_identity("a"): 1.0})
    census.observe_beats({})
    assert (census.in_flight(), census.tasks_completed(), census.mean_task_s()) == (None,) * 3
    # Another group's worker on the same queue beats: not ours, still unknown.
    census.observe_beats(dict([_beat("someone-else", 1.0, 3, 9)]))
    assert census.in_flight() is None
    census.observe_beats(dict([_beat("a", 1.0, 2, 0)]))
    assert (census.in_flight(), census.tasks_completed()) == (2, 0)
    census.observe_beats(None)  # unreadable this cycle
    assert census.in_flight() is None


def test_in_flight_counts_the_running_invocations_slots_and_completed_only_grows() -> None:
    census, now = _census()
    census.add(["a", "b", "c"])
    census.observe_pollers({})
    census.observe_beats(dict([_beat("a", 1.0, 4, 0), _beat("b", 1.0, 3, 0)]))
    assert census.in_flight() == 7, "c has not started: it holds nothing"
    assert census.running() == 3 and census.ready() == 2, "a worker that beats is up"

    now[0] += 2
    census.observe_beats(
        dict([_beat("a", 3.0, 1, 8), _beat("b", 3.0, 0, 6, running=False), _beat("c", 3.0, 4, 0)])
    )
    # b returned (its heartbeat says so): not running at once, its tasks stay in the total.
    assert census.running() == 2
    assert census.in_flight() == 5
    assert census.tasks_completed() == 14


def test_the_mean_run_time_is_the_slots_held_over_the_activities_finished() -> None:
    """Little's law on each worker's own heartbeats: 4 slots held for 2 s, 8 activities finished
    by then, is 1 s an activity, whatever the queue's rates say."""
    census, now = _census()
    census.add(["a"])
    census.observe_pollers({})
    for second, (in_flight, processed) in enumerate([(4, 0), (4, 4), (0, 8)]):
        now[0] = 1000.0 + second
        census.observe_beats(dict([_beat("a", float(second), in_flight, processed)]))
    assert census.tasks_completed() == 8
    assert census.mean_task_s() == 1.0
    # The same heartbeat read again adds nothing.
    census.observe_beats(dict([_beat("a", 2.0, 0, 8)]))
    assert census.mean_task_s() == 1.0


def test_a_full_worker_that_still_beats_is_not_counted_as_returned() -> None:
    """Every slot held longer than the poll gap: no poll starts, but the heartbeats go on."""
    census, now = _census()
    census.add(["a"])
    census.observe_pollers({worker_identity("a"): 1.0})
    for second in range(1, int(POLL_GAP_S) + 5):
        now[0] += 1
        census.observe_pollers({worker_identity("a"): 1.0})
        census.observe_beats(dict([_beat("a", float(second), 4, 0)]))
    assert (census.running(), census.in_flight()) == (1, 4)


def test_totals_outlive_the_invocations_past_their_ttl() -> None:
    census, now = _census()
    census.add(["a"])
    census.observe_pollers({})
    census.observe_beats(dict([_beat("a", 0.0, 2, 0)]))
    now[0] += 1
    census.observe_beats(dict([_beat("a", 1.0, 0, 2, running=False)]))
    now[0] += TTL_S + 1
    assert not census.pending()
    assert (census.tasks_completed(), census.mean_task_s()) == (2, 1.0)


def test_heartbeats_stand_in_for_the_poller_lists_once_the_workers_beat() -> None:
    """The lists cost a call per partition of every queue and type; once the census's workers
    beat, they are read only while some invocation has not beaten yet."""
    census, now = _census()
    census.add(["a", "b"])
    assert census.needs_pollers(), "nothing beats yet"
    census.observe_beats(dict([_beat("a", now[0], 2, 0)]))
    assert census.needs_pollers(), "'b' has not beaten: it may poll already"
    census.observe_pollers({worker_identity("b"): now[0]})
    assert (census.running(), census.ready(), census.in_flight()) == (2, 2, 2)

    now[0] += 1
    census.observe_beats(dict([_beat("a", now[0], 2, 0), _beat("b", now[0], 1, 0)]))
    assert not census.needs_pollers(), "both beat"
    assert (census.running(), census.ready(), census.in_flight()) == (2, 2, 3)

    census.add(["c"])
    assert census.needs_pollers(), "a new invocation"
    census.observe_beats(None)  # ListWorkers fails: the lists are all there is
    assert census.needs_pollers()
