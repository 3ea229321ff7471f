"""The telemetry tables on SQLite and on a real PostgreSQL: bulk inserts, downsampling that keeps
spikes, event filters and paging, pruning by age and by row cap, and data that outlives the
process (a new Database on the same URL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from workerplane.planning.events import (
    ActionKind,
    ActionMarker,
    EventKind,
    GroupEvent,
    GroupSample,
    Severity,
)
from workerplane.scaling.latency import LatencySketch
from workerplane.store.db import Database
from workerplane.store.telemetry import (
    EventFilter,
    StoreTelemetrySink,
    TelemetryStore,
    parse_duration,
    split_version_key,
)

KEY = "orders/v1"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 't.db'}"
    value: str = request.getfixturevalue("pg_url")
    return value


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()


def sample(at: float, backlog: int = 0, running: int = 0, **kw: object) -> GroupSample:
    fields: dict[str, object] = {
        "version_key": KEY,
        "group_id": "g",
        "at": at,
        "backlog": backlog,
        "backlog_age_s": 0.0,
        "in_flight": 0,
        "workers_running": running,
        "workers_ready": None,
        "desired": running,
        "pollers": running,
        "add_rate": 0.0,
        "dispatch_rate": 0.0,
    }
    fields.update(kw)
    return GroupSample(**fields)  # type: ignore[arg-type]


def event(
    at: float, kind: EventKind = EventKind.DECISION, group: str | None = "g", key: str = KEY
) -> GroupEvent:
    return GroupEvent(at, key, group, kind, Severity.INFO, "why", f"{kind} at {at}")


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90s", "15m", "24h", "7d", "1.5h")] == [
        90.0,
        900.0,
        86400.0,
        604800.0,
        5400.0,
    ]
    for bad in ("", "15", "15 minutes", "-1h", "h"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_split_version_key() -> None:
    assert split_version_key("orders/v1") == ("orders", "v1")
    assert split_version_key("orders") == ("orders", "")


def test_series_downsamples_keeping_the_maximum_and_returns_actions(db: Database) -> None:
    store = TelemetryStore(db)
    samples = [sample(1000.0 + i, backlog=0, running=1) for i in range(100)]
    samples[37] = sample(1037.0, backlog=500, running=9)  # one spike
    samples[50] = sample(
        1050.0, running=3, action=ActionMarker(ActionKind.SCALE_UP, 3, "backlog 500")
    )
    store.insert(samples, [])
    series = store.series(KEY, "g", 1000.0, 1100.0, max_points=10)
    assert series.step_s == pytest.approx(10.0)
    assert len(series.samples) == 10
    assert [s.at for s in series.samples] == [1000.0 + 10 * i for i in range(10)]
    assert series.samples[3].backlog == 500 and series.samples[3].workers_running == 9
    assert series.samples[4].backlog == 0 and series.samples[5].workers_running == 3
    assert series.samples[0].workers_ready is None and series.samples[0].desired == 1
    assert [(a.at, a.marker) for a in series.actions] == [
        (1050.0, ActionMarker(ActionKind.SCALE_UP, 3, "backlog 500"))
    ]
    # Every point when there are fewer samples than buckets; other groups are not mixed in.
    store.insert([sample(1010.5, backlog=7, group_id="other")], [])
    fine = store.series(KEY, "g", 1000.0, 1010.0, max_points=600)
    assert [s.at for s in fine.samples] == [1000.0 + i for i in range(10)]


def test_metrics_gaps_stay_null(db: Database) -> None:
    store = TelemetryStore(db)
    store.insert([sample(5.0, backlog=None, pollers=None, add_rate=None)], [])  # type: ignore[arg-type]
    (only,) = store.series(KEY, "g", 0.0, 10.0, max_points=5).samples
    assert only.backlog is None and only.pollers is None and only.add_rate is None


def test_events_filter_and_page_without_splitting_an_instant(db: Database) -> None:
    store = TelemetryStore(db)
    events = [event(100.0 + i) for i in range(5)]
    events += [event(103.0, EventKind.PROVIDER_ERROR)]  # two events at one instant
    events += [event(104.5, EventKind.READINESS, group=None), event(102.0, key="billing/v2")]
    store.insert([], events)

    page = store.events(0.0, 1000.0, limit=3)
    assert [e.event.at for e in page.events] == [104.5, 104.0]
    assert page.next_until == 103.0
    page2 = store.events(0.0, page.next_until, limit=3)
    assert [(e.event.at, e.event.kind) for e in page2.events][:2] == [
        (103.0, EventKind.PROVIDER_ERROR),
        (103.0, EventKind.DECISION),
    ]
    stored = page.events[0]
    assert (stored.deployment, stored.build_id, stored.event.group_id) == ("orders", "v1", None)

    by_deployment = store.events(0.0, 1000.0, 100, EventFilter(deployment="billing"))
    assert [e.build_id for e in by_deployment.events] == ["v2"]
    kinds = store.events(0.0, 1000.0, 100, EventFilter(kinds=("provider_error", "readiness")))
    assert {e.event.kind for e in kinds.events} == {EventKind.PROVIDER_ERROR, EventKind.READINESS}
    group = store.events(0.0, 1000.0, 100, EventFilter(version_key=KEY, group_id="g"))
    assert len(group.events) == 6 and group.next_until is None
    window = store.events(101.0, 102.0, 100, EventFilter(version_key=KEY))
    assert [e.event.at for e in window.events] == [102.0, 101.0]


def test_prune_by_age_and_by_cap(db: Database) -> None:
    store = TelemetryStore(db, retention_s=100.0, max_samples=5, max_events=2)
    store.insert(
        [sample(float(t)) for t in range(0, 200, 10)],
        [event(float(t)) for t in range(150, 200, 10)],
    )
    removed = store.prune(now=200.0)
    assert removed == 10 + 5 + 3  # 0..90 by age, then 100..140 by the cap; events by the cap
    kept = store.series(KEY, "g", 0.0, 1000.0, 1000).samples
    assert [s.at for s in kept] == [150.0, 160.0, 170.0, 180.0, 190.0]
    assert [e.event.at for e in store.events(0.0, 1000.0, 10).events] == [190.0, 180.0]
    assert store.prune(now=200.0) == 0


def test_data_outlives_the_process(url: str) -> None:
    first = Database(url)
    first.migrate()
    TelemetryStore(first).insert([sample(1.0, backlog=3)], [event(1.0)])
    first.dispose()
    again = Database(url)
    again.migrate()
    store = TelemetryStore(again)
    assert store.series(KEY, "g", 0.0, 10.0, 10).samples[0].backlog == 3
    assert store.events(0.0, 10.0, 10).events[0].event.kind is EventKind.DECISION
    again.dispose()


def test_the_sink_writes_every_batch_and_prunes_once_a_minute(db: Database) -> None:
    store = TelemetryStore(db, retention_s=100.0)
    clock = {"mono": 0.0, "wall": 1000.0}
    sink = StoreTelemetrySink(
        store, prune_every_s=60.0, monotonic=lambda: clock["mono"], wall_clock=lambda: clock["wall"]
    )

    async def write(at: float) -> None:
        await sink.write([sample(at)], [])

    asyncio.run(write(950.0))  # the first write prunes (nothing old yet)
    clock["wall"] = 1200.0
    clock["mono"] = 30.0
    asyncio.run(write(1190.0))  # not a minute since: 950 stays
    assert len(store.series(KEY, "g", 0.0, 2000.0, 1000).samples) == 2
    clock["mono"] = 61.0
    asyncio.run(write(1195.0))  # a minute since: 950 is past the retention
    assert [s.at for s in store.series(KEY, "g", 0.0, 2000.0, 1000).samples] == [1190.0, 1195.0]


def test_the_series_keeps_every_measured_latency_per_bucket_and_for_the_window(
    db: Database,
) -> None:
    store = TelemetryStore(db)
    store.insert(
        [
            sample(100.0, waited=LatencySketch.of([0.2, 0.4])),
            sample(101.0),
            sample(130.0, waited=LatencySketch.of([6.0])),
        ],
        [],
    )
    series = store.series(KEY, "g", 100.0, 160.0, max_points=2)
    assert series.waited.count == 3
    first, second = series.samples
    assert first.waited is not None and first.waited.count == 2
    assert second.waited is not None and second.waited.quantile(0.95) == pytest.approx(
        6.0, rel=0.02
    )
