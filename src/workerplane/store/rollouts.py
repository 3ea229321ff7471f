"""Rollouts: one per deployment, its ``rollout`` spec and state as JSON.

The runner and the API's commands both read a rollout, compute its next state, and write it
only if its ``revision`` is still the one read (compare-and-swap): a command is never lost to a
runner's tick, and a tick that lost the race is simply planned again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workerplane.config.rollout import RolloutSpec
from workerplane.errors import Conflict, NotFound
from workerplane.planning.rollout_model import FINAL_PHASES, RolloutRecord, RolloutState
from workerplane.store.db import Database
from workerplane.store.models import Rollout, WorkerDeployment
from workerplane.store.rows import find_deployment

#: How often :meth:`RolloutStore.change` re-reads a rollout that a tick changed under it.
_CHANGE_ATTEMPTS = 5


def _record(row: Rollout, namespace: str | None) -> RolloutRecord:
    return RolloutRecord(
        namespace=namespace,
        spec=RolloutSpec.model_validate_json(row.spec_json),
        state=RolloutState.model_validate_json(row.state_json),
        revision=row.revision,
    )


def _row(s: Session, deployment: WorkerDeployment) -> Rollout | None:
    return s.scalar(select(Rollout).where(Rollout.deployment_id == deployment.id))


def put_rollout(
    s: Session, dep: WorkerDeployment, spec: RolloutSpec, state: RolloutState
) -> Rollout:
    """Store a new rollout of ``dep`` in the caller's transaction, replacing the one it had (an
    endpoint's new build stores its version and its rollout in one transaction)."""
    row = _row(s, dep)
    values = {
        "phase": str(state.phase), "spec_json": spec.model_dump_json(),
        "state_json": state.model_dump_json(), "updated_at": time.time(),
    }  # fmt: skip
    if row is None:
        row = Rollout(deployment_id=dep.id, revision=1, **values)
        s.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
        row.revision += 1
    s.flush()
    return row


class RolloutStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def start(self, spec: RolloutSpec, state: RolloutState) -> RolloutRecord:
        """Store a new rollout of ``state.deployment``, replacing the one it had."""
        with self._db.write_session() as s:
            dep = find_deployment(s, state.deployment, lock=True)
            return _record(put_rollout(s, dep, spec, state), dep.namespace)

    def get(self, deployment: str) -> RolloutRecord:
        with self._db.read_session() as s:
            dep = find_deployment(s, deployment)
            row = _row(s, dep)
            if row is None:
                raise NotFound(
                    f"worker deployment '{deployment}' has no rollout: create a version with a"
                    " new build_id on a spec with a `rollout` section to start one"
                )
            return _record(row, dep.namespace)

    def live(self) -> list[RolloutRecord]:
        """The rollouts still moving (not succeeded, failed or rolled back)."""
        with self._db.read_session() as s:
            rows = s.execute(
                select(Rollout, WorkerDeployment.namespace)
                .join(WorkerDeployment, WorkerDeployment.id == Rollout.deployment_id)
                .where(Rollout.phase.not_in([str(p) for p in FINAL_PHASES]))
                .order_by(Rollout.id)
            )
            return [_record(row, namespace) for row, namespace in rows]

    def save(self, state: RolloutState, expected_revision: int) -> bool:
        """Write ``state`` if the rollout is still at ``expected_revision``; ``False`` when
        another write came first (or the rollout was replaced or deleted)."""
        with self._db.write_session() as s:
            dep = s.scalar(
                select(WorkerDeployment).where(WorkerDeployment.name == state.deployment)
            )
            if dep is None:
                return False
            result = s.execute(
                update(Rollout)
                .where(Rollout.deployment_id == dep.id, Rollout.revision == expected_revision)
                .values(
                    phase=str(state.phase), state_json=state.model_dump_json(),
                    revision=expected_revision + 1, updated_at=time.time(),
                )
            )  # fmt: skip
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def change(
        self, deployment: str, change: Callable[[RolloutRecord], RolloutState]
    ) -> RolloutRecord:
        """Apply ``change`` to the rollout's latest state and store it (a user's command)."""
        for _ in range(_CHANGE_ATTEMPTS):
            record = self.get(deployment)
            state = change(record)
            if self.save(state, record.revision):
                return RolloutRecord(record.namespace, record.spec, state, record.revision + 1)
        raise Conflict(f"the rollout of '{deployment}' kept changing; try again")
