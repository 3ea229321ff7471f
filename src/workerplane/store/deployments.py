"""Worker deployments and their routing (Temporal's current and ramping versions)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workerplane.errors import Conflict, NotFound
from workerplane.store.db import Database
from workerplane.store.models import DeploymentVersion, WorkerDeployment
from workerplane.store.rows import (
    changed_concurrently,
    find_deployment,
    mark_draining,
    new_token,
    refuse_endpoint_owned,
    replayed_create,
    stale_token,
    version_key,
)
from workerplane.store.views import DeploymentView, deployment_view


class Keep:
    """Marks a routing argument meaning "leave this as it is"."""


KEEP = Keep()


def _build_ids(s: Session, deployment_ids: list[int]) -> dict[int, list[str]]:
    """The build IDs of each deployment, oldest first."""
    builds: dict[int, list[str]] = {i: [] for i in deployment_ids}
    if deployment_ids:
        for dep_id, build in s.execute(
            select(DeploymentVersion.deployment_id, DeploymentVersion.build_id)
            .where(DeploymentVersion.deployment_id.in_(deployment_ids))
            .order_by(DeploymentVersion.created_at)
        ):
            builds[dep_id].append(build)
    return builds


class DeploymentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        name: str,
        namespace: str | None,
        request_id: str | None,
        owner: str = "api",
        fingerprint: str | None = None,
    ) -> tuple[DeploymentView, bool]:
        """Create a deployment. Returns (view, created). Same ``request_id`` and body (its
        ``fingerprint``) again: no-op."""
        now = time.time()
        try:
            with self._db.write_session() as s:
                s.add(
                    WorkerDeployment(
                        name=name, namespace=namespace, request_id=request_id,
                        request_hash=fingerprint, conflict_token=new_token(), owner=owner,
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            return self.get(name), True
        except IntegrityError:
            return replayed_create(
                self.get(name), request_id, f"worker deployment '{name}' already exists",
                fingerprint,
            )  # fmt: skip

    def get(self, name: str) -> DeploymentView:
        with self._db.read_session() as s:
            row = find_deployment(s, name)
            builds = list(
                s.scalars(
                    select(DeploymentVersion.build_id)
                    .where(DeploymentVersion.deployment_id == row.id)
                    .order_by(DeploymentVersion.created_at)
                )
            )
            return deployment_view(row, builds)

    def page(self, size: int, after: str | None = None) -> tuple[list[DeploymentView], str | None]:
        """Up to ``size`` deployments in name order, named after ``after`` (keyset pagination),
        and the name to continue after (``None`` on the last page). No count of the table."""
        with self._db.read_session() as s:
            query = select(WorkerDeployment).order_by(WorkerDeployment.name).limit(size + 1)
            if after is not None:
                query = query.where(WorkerDeployment.name > after)
            rows = list(s.scalars(query))
            more, rows = len(rows) > size, rows[:size]
            builds = _build_ids(s, [r.id for r in rows])
            views = [deployment_view(r, builds[r.id]) for r in rows]
            return views, rows[-1].name if more and rows else None

    def list(self, limit: int, offset: int) -> tuple[list[DeploymentView], int]:
        """One page in name order, and the total."""
        with self._db.read_session() as s:
            total = int(s.scalar(select(func.count()).select_from(WorkerDeployment)) or 0)
            rows = list(
                s.scalars(
                    select(WorkerDeployment)
                    .order_by(WorkerDeployment.name)
                    .limit(limit)
                    .offset(offset)
                )
            )
            builds = _build_ids(s, [r.id for r in rows])
            return [deployment_view(r, builds[r.id]) for r in rows], total

    def delete(self, name: str) -> None:
        """Delete a deployment that has no versions left."""
        with self._db.write_session() as s:
            row = find_deployment(s, name)
            refuse_endpoint_owned(row)
            version = s.scalar(
                select(DeploymentVersion.id)
                .where(DeploymentVersion.deployment_id == row.id)
                .limit(1)
            )
            if version is not None:
                raise Conflict(f"worker deployment '{name}' still has versions; delete them first")
            s.delete(row)

    def set_routing(
        self,
        name: str,
        *,
        current: str | Keep | None = KEEP,
        ramping: str | Keep | None = KEEP,
        percentage: float | None = None,
        conflict_token: str | None = None,
        by_rollout: bool = False,
    ) -> DeploymentView:
        """Set the current and/or ramping version (Temporal's Set*Version semantics).

        A version that stops being current or ramping is marked draining, as Temporal does; a
        version that becomes current or ramping stops draining. A versioned endpoint's routing
        is its rollout's alone (``by_rollout``).
        """
        with self._db.write_session() as s:
            # Locked until the end: a change without a conflict token never loses to another.
            row = find_deployment(s, name, lock=True)
            if not by_rollout:
                refuse_endpoint_owned(row)
            if conflict_token and conflict_token != row.conflict_token:
                raise stale_token("deployment")
            before = {row.current_build_id, row.ramping_build_id} - {None}
            new_current = row.current_build_id if isinstance(current, Keep) else current
            new_ramping = row.ramping_build_id if isinstance(ramping, Keep) else ramping
            if not isinstance(current, Keep) and current is not None and current == new_ramping:
                # Temporal: promoting the ramping version to current ends the ramp.
                new_ramping = None
            for build in {new_current, new_ramping} - {None}:
                version = s.scalar(
                    select(DeploymentVersion).where(
                        DeploymentVersion.key == version_key(name, str(build))
                    )
                )
                if version is None or version.deleting:
                    raise NotFound(f"version '{build}' of worker deployment '{name}' not found")
            if new_ramping is not None and new_ramping == new_current:
                raise Conflict(f"version '{new_ramping}' is already the current version")
            values: dict[str, Any] = {
                "conflict_token": new_token(),
                "updated_at": time.time(),
                "current_build_id": new_current,
                "ramping_build_id": new_ramping,
                "ramp_percentage": percentage if new_ramping is not None else None,
            }
            result = s.execute(
                update(WorkerDeployment)
                .where(
                    WorkerDeployment.id == row.id,
                    WorkerDeployment.conflict_token == row.conflict_token,
                )
                .values(**values)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise changed_concurrently("deployment")
            after = {new_current, new_ramping} - {None}
            for build in before - after:
                mark_draining(s, name, str(build), True)
            for build in after:
                mark_draining(s, name, str(build), False)
        return self.get(name)
