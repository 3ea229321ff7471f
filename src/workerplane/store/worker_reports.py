"""The latency sketches workers push (``POST /v1/worker-reports``), summed per scaling group.

Each worker pushes its whole schedule-to-start sketch since it started, with a sequence number
that grows with each push. The store keeps one row per worker, the latest sequence only, so a
retried or reordered push changes nothing (idempotent per worker and sequence), and the sum of a
group's rows only grows, as :attr:`WorkerCensus.schedule_to_start` must.

Bounded: a worker silent for :data:`FOLD_AFTER_S` is folded into its group's row for stopped
workers (``worker == ""``), so the table holds one row per live worker plus one per group; a
group nobody has reported for in :data:`RETENTION_S` is forgotten (:meth:`prune`).
"""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workerplane.scaling.latency import LatencySketch
from workerplane.security.report_tokens import ReportSubject
from workerplane.store.db import Database
from workerplane.store.models import WorkerReport

#: A worker that has not pushed for this long is taken for stopped and folded into its group.
FOLD_AFTER_S = 900.0
#: A group with no push for this long is forgotten (its version was deleted, most likely).
RETENTION_S = 7 * 86400.0
#: The row holding the sum of a group's stopped workers.
STOPPED = ""


def _sketch(row: WorkerReport) -> LatencySketch:
    return LatencySketch.from_wire(json.loads(row.sketch_json))


def _wire(sketch: LatencySketch) -> str:
    return json.dumps(sketch.to_wire(), separators=(",", ":"), sort_keys=True)


def _new_row(
    subject: ReportSubject, worker: str, sequence: int, sketch: LatencySketch, now: float
) -> WorkerReport:
    return WorkerReport(
        version_key=subject.version_key,
        group_id=subject.group_id,
        worker=worker,
        sequence=sequence,
        sketch_json=_wire(sketch),
        updated_at=now,
    )


class WorkerReportStore:
    """Pushed sketches: recorded by the API, summed per group for the controller's census."""

    def __init__(self, db: Database, *, fold_after_s: float = FOLD_AFTER_S) -> None:
        self._db = db
        self._fold_after_s = fold_after_s

    def record(
        self,
        subject: ReportSubject,
        worker: str,
        sequence: int,
        sketch: LatencySketch,
        now: float,
    ) -> bool:
        """Keep ``sketch`` as ``worker``'s latest; ``False`` when a push with this sequence or
        a later one was already kept (a retry: nothing changes)."""
        key = (subject.version_key, subject.group_id, worker)
        for _ in range(2):  # a concurrent first push of the same worker wins the insert once
            try:
                with self._db.write_session() as s:
                    row = s.get(WorkerReport, key)
                    if row is not None and row.sequence >= sequence:
                        return False
                    if row is None:
                        s.add(_new_row(subject, worker, sequence, sketch, now))
                    else:
                        row.sequence, row.sketch_json = sequence, _wire(sketch)
                        row.updated_at = now
                    s.flush()
                    self._fold_stopped(s, subject, now - self._fold_after_s, now)
                    return True
            except IntegrityError:
                continue
        return False

    def _fold_stopped(
        self, s: Session, subject: ReportSubject, silent_since: float, now: float
    ) -> None:
        """Add the sketches of the group's workers silent since ``silent_since`` to the group's
        stopped-workers row, and drop their rows."""
        in_group = (
            WorkerReport.version_key == subject.version_key,
            WorkerReport.group_id == subject.group_id,
        )
        stale = list(
            s.scalars(
                select(WorkerReport).where(
                    *in_group,
                    WorkerReport.worker != STOPPED,
                    WorkerReport.updated_at < silent_since,
                )
            )
        )
        if not stale:
            return
        stopped = s.get(WorkerReport, (subject.version_key, subject.group_id, STOPPED))
        total = _sketch(stopped) if stopped is not None else LatencySketch()
        for row in stale:
            total = total.merge(_sketch(row))
            s.delete(row)
        if stopped is None:
            s.add(_new_row(subject, STOPPED, 0, total, now))
        else:
            stopped.sketch_json, stopped.updated_at = _wire(total), now

    def totals(self) -> dict[ReportSubject, LatencySketch]:
        """Every group's sum of what its workers pushed (stopped workers included)."""
        result: dict[ReportSubject, LatencySketch] = {}
        with self._db.read_session() as s:
            for row in s.scalars(select(WorkerReport)):
                subject = ReportSubject(row.version_key, row.group_id)
                result[subject] = result.get(subject, LatencySketch()).merge(_sketch(row))
        return result

    def prune(self, before: float) -> int:
        """Forget the groups with no push since ``before``; how many rows went."""
        removed = 0
        with self._db.write_session() as s:
            idle = s.execute(
                select(WorkerReport.version_key, WorkerReport.group_id)
                .group_by(WorkerReport.version_key, WorkerReport.group_id)
                .having(func.max(WorkerReport.updated_at) < before)
            ).all()
            for version_key, group_id in idle:
                result = s.execute(
                    delete(WorkerReport).where(
                        WorkerReport.version_key == version_key, WorkerReport.group_id == group_id
                    )
                )
                removed += int(result.rowcount)  # type: ignore[attr-defined]
        return removed
