"""The tasks started since each cached stats copy first appeared."""

from __future__ import annotations

from workerplane.planning.copies import CopyStarts
from workerplane.scaling.types import GroupMetrics, QueueStats, WorkerCensus


def metrics(**backlogs: int) -> GroupMetrics:
    by_type = {kind: QueueStats(backlog_count=n, pollers=1) for kind, n in backlogs.items()}
    return GroupMetrics(
        stats=sum(by_type.values(), QueueStats()), workers=WorkerCensus(), observed_at=0.0,
        by_type=by_type,
    )  # fmt: skip


def census(completed: int | None, in_flight: int | None) -> WorkerCensus:
    return WorkerCensus(running=2, ready=2, in_flight=in_flight, tasks_completed=completed)


def test_each_type_counts_the_starts_since_its_copy_first_appeared() -> None:
    copies = CopyStarts().after(metrics(WORKFLOW=40, ACTIVITY=0), census(0, 0))
    assert copies.taken_since(census(0, 0)) == {"WORKFLOW": 0, "ACTIVITY": 0}
    # The same copies read again, 12 tasks later (10 finished, 2 running).
    copies = copies.after(metrics(WORKFLOW=40, ACTIVITY=0), census(10, 2))
    assert copies.taken_since(census(10, 2)) == {"WORKFLOW": 12, "ACTIVITY": 12}
    # The activity copy is new: it counts from here; the workflow copy goes on counting.
    copies = copies.after(metrics(WORKFLOW=40, ACTIVITY=9), census(15, 4))
    assert copies.taken_since(census(20, 4)) == {"WORKFLOW": 24, "ACTIVITY": 5}


def test_pollers_alone_do_not_make_a_new_copy() -> None:
    first = CopyStarts().after(metrics(ACTIVITY=5), census(0, 0))
    busier = metrics(ACTIVITY=5)
    busier = GroupMetrics(
        stats=busier.stats, workers=busier.workers, observed_at=1.0,
        by_type={"ACTIVITY": QueueStats(backlog_count=5, pollers=4)},
    )  # fmt: skip
    assert first.after(busier, census(3, 1)).taken_since(census(3, 1)) == {"ACTIVITY": 4}


def test_nothing_is_counted_where_the_census_cannot_count_starts() -> None:
    copies = CopyStarts().after(metrics(ACTIVITY=5), census(None, 3))
    assert copies.taken_since(census(None, 3)) is None
    assert CopyStarts().after(metrics(ACTIVITY=5), census(4, None)) == CopyStarts()


def test_unread_metrics_keep_the_record_and_a_count_that_fell_starts_again() -> None:
    copies = CopyStarts().after(metrics(ACTIVITY=5), census(10, 0))
    assert copies.after(None, census(12, 0)) is copies
    restarted = copies.after(metrics(ACTIVITY=5), census(2, 0))  # the provider restarted
    assert restarted.taken_since(census(2, 0)) == {"ACTIVITY": 0}
