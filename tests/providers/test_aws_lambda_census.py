"""The Lambda census ends an invocation from what its worker reports (its polls), not at a TTL.

A fake clock and hand-made poller lists (``identity -> last poll``): the situation of issue 12
item 8, where every handler had returned at the end of a burst while the TTL still counted them.
"""

from __future__ import annotations

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
