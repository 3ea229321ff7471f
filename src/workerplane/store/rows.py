"""Reads and writes inside one session that several resources share: finding rows, loading
statuses, marking versions draining, removing a version.

Concurrency rules (they hold for several API and controller processes on one PostgreSQL):

* creates rely on unique constraints: a losing concurrent insert gets ``IntegrityError`` and is
  answered from the winner's row (same ``request_id``: success; otherwise 409);
* updates are compare-and-swap on ``conflict_token`` (``UPDATE ... WHERE conflict_token = :seen``),
  so of two writers that read the same state, exactly one wins and the other gets 409;
* ``generation`` only ever increases inside such a guarded update, so the controller never sees a
  change twice or applies a stale one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from workerplane.errors import Conflict, NotFound
from workerplane.planning.status import GroupStatus
from workerplane.store.lifecycle import UPDATE_PENDING
from workerplane.store.models import DeploymentVersion, Endpoint, GroupStatusRow, WorkerDeployment

#: Endpoint-owned versions use this build ID: the endpoint's workers are unversioned.
ENDPOINT_BUILD_ID = "default"


def new_token() -> str:
    return uuid.uuid4().hex


def version_key(deployment: str, build_id: str) -> str:
    return f"{deployment}/{build_id}"


class StaleToken(Conflict):
    """A compare-and-swap lost: the resource's conflict token is no longer the one expected.

    The API answers 409 when the client sent that token; a write sent without a token is redone
    on a fresh read instead (:func:`workerplane.api.service.write_unguarded`).
    """


def stale_token(what: str) -> StaleToken:
    return StaleToken(f"conflict token is stale: the {what} changed since it was read")


def changed_concurrently(what: str) -> StaleToken:
    return StaleToken(f"conflict token is stale: the {what} changed concurrently")


class _Created(Protocol):
    @property
    def request_id(self) -> str | None: ...

    @property
    def request_hash(self) -> str | None: ...


CreatedT = TypeVar("CreatedT", bound=_Created)


def is_replay(
    request_id: str | None,
    fingerprint: str | None,
    *,
    stored_id: str | None,
    stored_hash: str | None,
) -> bool:
    """Whether a request carrying ``request_id`` was already applied (answer it with the stored
    object). A request ID is a promise that the body is the same: reused with another body (its
    ``fingerprint`` differs from the stored one) it is refused rather than answered with an
    object the client did not ask for.

    Raises:
        Conflict: ``request_id`` was used before with a different body.
    """
    if not request_id or stored_id != request_id:
        return False
    if fingerprint and stored_hash and fingerprint != stored_hash:
        raise Conflict(
            f"request_id '{request_id}' was already used with a different request body; "
            "use a new request_id for a different request"
        )
    return True


def replayed_create(
    existing: CreatedT, request_id: str | None, taken: str, fingerprint: str | None = None
) -> tuple[CreatedT, bool]:
    """The answer to a create that lost to ``existing`` on a unique constraint: a retry of the
    same request (same ``request_id`` and body) gets the row back, ``False`` meaning "not created
    now"; anything else is the conflict ``taken``.

    Raises:
        Conflict: ``request_id`` is missing, is another request's, or came with another body.
    """
    if is_replay(
        request_id, fingerprint, stored_id=existing.request_id, stored_hash=existing.request_hash
    ):
        return existing, False
    raise Conflict(taken) from None


def refuse_endpoint_owned(deployment: WorkerDeployment) -> None:
    """An endpoint's deployment and version are edited through ``/v1/endpoints`` only: the
    endpoint's fields (its ``max_workers`` and the rest) are what its version was rendered from,
    so an edit of the version alone would leave the endpoint showing one thing while the
    controller runs another.

    Raises:
        Conflict: ``deployment`` belongs to an endpoint.
    """
    if deployment.owner == "endpoint":
        raise Conflict(
            f"worker deployment '{deployment.name}' belongs to an endpoint; change it through "
            f"/v1/endpoints/{deployment.name}"
        )


def find_deployment(s: Session, name: str, *, lock: bool = False) -> WorkerDeployment:
    """The deployment ``name``; with ``lock``, its row stays locked until the transaction ends."""
    query = select(WorkerDeployment).where(WorkerDeployment.name == name)
    row = s.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"worker deployment '{name}' not found")
    return row


def find_version(s: Session, deployment: str, build_id: str) -> DeploymentVersion:
    row = s.scalar(
        select(DeploymentVersion)
        .options(selectinload(DeploymentVersion.deployment))
        .where(DeploymentVersion.key == version_key(deployment, build_id))
    )
    if row is None:
        raise NotFound(f"version '{build_id}' of worker deployment '{deployment}' not found")
    return row


def status_payload(status: GroupStatus) -> str:
    return json.dumps(asdict(status), sort_keys=True)


def load_statuses(s: Session, keys: Iterable[str]) -> dict[str, list[GroupStatus]]:
    """The last published statuses of the versions ``keys``, by version key, in group order."""
    result: dict[str, list[GroupStatus]] = {k: [] for k in keys}
    if not result:
        return result
    rows = s.scalars(
        select(GroupStatusRow)
        .where(GroupStatusRow.version_key.in_(list(result)))
        .order_by(GroupStatusRow.group_id)
    )
    for row in rows:
        result[row.version_key].append(GroupStatus(**json.loads(row.payload_json)))
    return result


def mark_draining(s: Session, deployment: str, build_id: str, draining: bool) -> None:
    """Set a version's ``draining`` flag (a new generation) if it is not set that way yet."""
    s.execute(
        update(DeploymentVersion)
        .where(
            DeploymentVersion.key == version_key(deployment, build_id),
            DeploymentVersion.draining.is_not(draining),
        )
        .values(
            draining=draining,
            generation=DeploymentVersion.generation + 1,
            conflict_token=new_token(),
            updated_at=time.time(),
        )
    )


def purge(s: Session, row: DeploymentVersion) -> None:
    """Remove a version, its statuses and endpoint; an endpoint's deployment goes too."""
    dep = row.deployment
    s.execute(delete(GroupStatusRow).where(GroupStatusRow.version_key == row.key))
    s.execute(delete(Endpoint).where(Endpoint.version_id == row.id))
    s.execute(delete(DeploymentVersion).where(DeploymentVersion.id == row.id))
    if dep.owner == "endpoint":
        # A versioned endpoint's deployment goes with its last version (older builds drain on).
        others = select(DeploymentVersion.id).where(DeploymentVersion.deployment_id == dep.id)
        if s.scalar(others.limit(1)) is None:
            s.execute(delete(WorkerDeployment).where(WorkerDeployment.id == dep.id))
    elif row.build_id in (dep.current_build_id, dep.ramping_build_id):
        values: dict[str, Any] = {
            "current_build_id": None
            if dep.current_build_id == row.build_id
            else dep.current_build_id,
            "ramping_build_id": None
            if dep.ramping_build_id == row.build_id
            else dep.ramping_build_id,
        }
        s.execute(update(WorkerDeployment).where(WorkerDeployment.id == dep.id).values(**values))


def swap_spec(
    s: Session,
    version: DeploymentVersion,
    sealed: str,
    *,
    expected_token: str,
    request_id: str | None,
    what: str,
    fingerprint: str | None = None,
) -> float:
    """Write ``sealed`` as the version's next generation if its conflict token is still
    ``expected_token`` (compare-and-swap); ``what`` names the resource in the 409; ``fingerprint``
    is the update's body, kept beside its ``request_id``. Returns the time of the change."""
    if expected_token != version.conflict_token:
        raise stale_token(what)
    now = time.time()
    result = s.execute(
        update(DeploymentVersion)
        .where(
            DeploymentVersion.id == version.id,
            DeploymentVersion.conflict_token == expected_token,
        )
        .values(
            spec_json=sealed,
            generation=DeploymentVersion.generation + 1,
            conflict_token=new_token(),
            last_update_request_id=request_id,
            last_update_request_hash=fingerprint,
            status=UPDATE_PENDING,
            status_reason=None,
            last_validation_at=now,
            last_validation_error=None,
            updated_at=now,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise changed_concurrently(what)
    return now
