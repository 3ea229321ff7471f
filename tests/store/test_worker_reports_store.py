"""Pushed sketches: one row per live worker, stopped workers folded into their group (its total
never shrinks), idle groups forgotten."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from workerplane.scaling.latency import LatencySketch
from workerplane.security.report_tokens import ReportSubject
from workerplane.store.db import Database
from workerplane.store.models import WorkerReport
from workerplane.store.worker_reports import WorkerReportStore

GROUP = ReportSubject("orders/v1", "workers")
OTHER = ReportSubject("orders/v2", "workers")


def rows(db: Database) -> int:
    with db.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(WorkerReport)) or 0)


def test_stopped_workers_fold_into_their_group_and_the_total_keeps_growing(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    reports = WorkerReportStore(db, fold_after_s=60)
    for n in range(5):
        assert reports.record(GROUP, f"w{n}", 1, LatencySketch.of([0.1 * (n + 1)]), now=0.0)
    assert rows(db) == 5
    # Only w0 keeps pushing: the others are folded at its push after the minute.
    assert reports.record(GROUP, "w0", 2, LatencySketch.of([0.1, 2.0]), now=100.0)
    assert rows(db) == 2
    total = reports.totals()[GROUP]
    assert total == LatencySketch.of([0.1, 2.0, 0.2, 0.3, 0.4, 0.5])
    # Another fold adds to the stopped workers' row.
    assert reports.record(GROUP, "w9", 1, LatencySketch.of([7.0]), now=150.0)
    assert reports.record(GROUP, "w9", 2, LatencySketch.of([7.0, 8.0]), now=300.0)
    assert rows(db) == 2
    assert reports.totals()[GROUP].count == 8
    db.dispose()


def test_idle_groups_are_forgotten(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.migrate()
    reports = WorkerReportStore(db)
    reports.record(GROUP, "a", 1, LatencySketch.of([0.1]), now=10.0)
    reports.record(GROUP, "b", 1, LatencySketch.of([0.1]), now=500.0)
    reports.record(OTHER, "c", 1, LatencySketch.of([0.1]), now=20.0)
    assert reports.prune(before=100.0) == 1
    assert set(reports.totals()) == {GROUP}
    assert reports.totals()[GROUP].count == 2
    db.dispose()
