"""Deployment versions: their specs (sealed), draining and deletion.

Updates are read, compute, compare-and-swap: :meth:`VersionStore.editable` reads the spec and
its conflict token, the caller computes the new spec, and :meth:`VersionStore.replace_spec`
writes it only if the token is still the one read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from workerplane.config.model import DeploymentSpec
from workerplane.errors import Conflict
from workerplane.security.crypto import SecretBox
from workerplane.store import spec_codec
from workerplane.store.db import Database
from workerplane.store.lifecycle import DELETE_IN_PROGRESS, UPDATE_PENDING
from workerplane.store.models import DeploymentVersion
from workerplane.store.rows import (
    find_deployment,
    find_version,
    is_replay,
    load_statuses,
    mark_draining,
    new_token,
    purge,
    refuse_endpoint_owned,
    replayed_create,
    stale_token,
    swap_spec,
    version_key,
)
from workerplane.store.views import VersionView, version_view


def _version_matching(
    s: Session, deployment: str, build_id: str, conflict_token: str | None
) -> DeploymentVersion:
    """The version row, if the caller's conflict token (when given) is still its current one."""
    row = find_version(s, deployment, build_id)
    if conflict_token and conflict_token != row.conflict_token:
        raise stale_token("version")
    return row


@dataclass(frozen=True)
class EditableSpec:
    """A version's spec (secrets decrypted) with the conflict token it was read under."""

    spec: DeploymentSpec
    conflict_token: str
    last_update_request_id: str | None
    last_update_request_hash: str | None


class VersionStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def create(
        self,
        deployment: str,
        build_id: str,
        spec: DeploymentSpec,
        request_id: str | None,
        fingerprint: str | None = None,
    ) -> tuple[VersionView, bool]:
        """Create a version with its spec. Returns (view, created); ``fingerprint`` is the
        request body's, kept beside ``request_id``."""
        now = time.time()
        try:
            with self._db.write_session() as s:
                dep = find_deployment(s, deployment)
                refuse_endpoint_owned(dep)
                s.add(
                    DeploymentVersion(
                        deployment_id=dep.id, build_id=build_id,
                        key=version_key(deployment, build_id),
                        spec_json=spec_codec.seal(self._box, spec), generation=1,
                        picked_generation=0, conflict_token=new_token(), request_id=request_id,
                        request_hash=fingerprint, draining=False, deleting=False,
                        status=UPDATE_PENDING,
                        last_validation_at=now, last_validation_error=None,
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            return self.get(deployment, build_id), True
        except IntegrityError:
            return replayed_create(
                self.get(deployment, build_id),
                request_id,
                f"version '{build_id}' of worker deployment '{deployment}' already exists",
                fingerprint,
            )

    def get(self, deployment: str, build_id: str) -> VersionView:
        with self._db.read_session() as s:
            row = find_version(s, deployment, build_id)
            return version_view(row, load_statuses(s, [row.key])[row.key])

    def list(self, deployment: str) -> list[VersionView]:
        with self._db.read_session() as s:
            dep = find_deployment(s, deployment)
            rows = list(
                s.scalars(
                    select(DeploymentVersion)
                    .options(selectinload(DeploymentVersion.deployment))
                    .where(DeploymentVersion.deployment_id == dep.id)
                    .order_by(DeploymentVersion.created_at)
                )
            )
            statuses = load_statuses(s, [r.key for r in rows])
            return [version_view(r, statuses[r.key]) for r in rows]

    def editable(self, deployment: str, build_id: str) -> EditableSpec:
        """The spec with secrets decrypted (for validation, provider checks and updates)."""
        with self._db.read_session() as s:
            row = find_version(s, deployment, build_id)
            return EditableSpec(
                spec=spec_codec.open_spec(self._box, row.spec_json),
                conflict_token=row.conflict_token,
                last_update_request_id=row.last_update_request_id,
                last_update_request_hash=row.last_update_request_hash,
            )

    def replace_spec(
        self,
        deployment: str,
        build_id: str,
        spec: DeploymentSpec,
        *,
        expected_token: str,
        request_id: str | None,
        fingerprint: str | None = None,
    ) -> tuple[VersionView, bool]:
        """Store ``spec`` as a new generation if the version's conflict token is still
        ``expected_token``. A repeated ``request_id`` (with the same body ``fingerprint``) is a
        no-op success. Returns (view, changed).
        ``REDACTED`` secret values in ``spec`` keep the stored secrets."""
        with self._db.write_session() as s:
            row = find_version(s, deployment, build_id)
            refuse_endpoint_owned(row.deployment)
            if row.deleting:
                raise Conflict(f"version '{build_id}' is being deleted")
            if is_replay(
                request_id, fingerprint, stored_id=row.last_update_request_id,
                stored_hash=row.last_update_request_hash,
            ):  # fmt: skip
                return version_view(row, load_statuses(s, [row.key])[row.key]), False
            sealed = spec_codec.seal(self._box, spec, row.spec_json)
            swap_spec(
                s, row, sealed, expected_token=expected_token, request_id=request_id,
                what="version", fingerprint=fingerprint,
            )  # fmt: skip
        return self.get(deployment, build_id), True

    def set_draining(
        self, deployment: str, build_id: str, draining: bool, conflict_token: str | None
    ) -> VersionView:
        with self._db.write_session() as s:
            row = _version_matching(s, deployment, build_id, conflict_token)
            dep = row.deployment
            refuse_endpoint_owned(dep)
            if draining and build_id in (dep.current_build_id, dep.ramping_build_id):
                raise Conflict(
                    f"version '{build_id}' is current or ramping; make another version current"
                    " first"
                )
            mark_draining(s, deployment, build_id, draining)
        return self.get(deployment, build_id)

    def delete(
        self,
        deployment: str,
        build_id: str,
        conflict_token: str | None = None,
        *,
        for_endpoint: bool = False,
    ) -> VersionView:
        """Mark a version deleting: the controller drains its workers, then the row goes away.
        An endpoint's version is deleted only with its endpoint (``for_endpoint``)."""
        with self._db.write_session() as s:
            row = _version_matching(s, deployment, build_id, conflict_token)
            dep = row.deployment
            if not for_endpoint:
                refuse_endpoint_owned(dep)
            if dep.owner == "api" and build_id in (dep.current_build_id, dep.ramping_build_id):
                raise Conflict(
                    f"version '{build_id}' cannot be deleted since it is current or ramping"
                )
            if not row.deleting:
                s.execute(
                    update(DeploymentVersion)
                    .where(DeploymentVersion.id == row.id)
                    .values(
                        deleting=True,
                        draining=True,
                        status=DELETE_IN_PROGRESS,
                        status_reason="draining workers before deletion",
                        generation=DeploymentVersion.generation + 1,
                        conflict_token=new_token(),
                        updated_at=time.time(),
                    )
                )
        return self.get(deployment, build_id)

    def purge(self, deployment: str, build_id: str) -> None:
        """Remove a version row now (no controller to drain it)."""
        with self._db.write_session() as s:
            purge(s, find_version(s, deployment, build_id))

    def record_validation(self, deployment: str, build_id: str, error: str | None) -> None:
        with self._db.write_session() as s:
            s.execute(
                update(DeploymentVersion)
                .where(DeploymentVersion.key == version_key(deployment, build_id))
                .values(last_validation_at=time.time(), last_validation_error=error)
            )
