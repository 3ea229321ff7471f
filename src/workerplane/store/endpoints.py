"""Launch-style endpoints: each is a projection of one deployment version.

Creating an endpoint creates its deployment (owner ``endpoint``) and its version
(:data:`ENDPOINT_BUILD_ID`, or its build ID when it has ``versioning``) in the same transaction.
The endpoint row keeps the typed fields the version was rendered from; the version's conflict
token and request ID guard both, and reads go through the version's read path.

A versioned endpoint whose update changes its build ID gets a new version, its rollout, and
points at it, all in one transaction; the older versions drain and sunset like any other.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from workerplane.config.model import DeploymentSpec
from workerplane.errors import Conflict, NotFound
from workerplane.planning.rollout_model import RolloutState
from workerplane.security.crypto import SecretBox
from workerplane.store import spec_codec
from workerplane.store.db import Database
from workerplane.store.endpoint_fields import EndpointRecord
from workerplane.store.lifecycle import DELETE_IN_PROGRESS, UPDATE_PENDING
from workerplane.store.models import DeploymentVersion, Endpoint, WorkerDeployment
from workerplane.store.rollouts import put_rollout
from workerplane.store.rows import (
    ENDPOINT_BUILD_ID,
    is_replay,
    load_statuses,
    new_token,
    purge,
    replayed_create,
    stale_token,
    swap_spec,
    version_key,
)
from workerplane.store.versions import VersionStore
from workerplane.store.views import EndpointView, endpoint_view


def _with_version() -> Select[Endpoint]:
    # One statement with JOINs (not one SELECT per relationship): reads are the hot path.
    return select(Endpoint).options(
        joinedload(Endpoint.version, innerjoin=True).joinedload(
            DeploymentVersion.deployment, innerjoin=True
        )
    )


def _find(s: Session, ref: str) -> Endpoint:
    row = s.scalar(_with_version().where((Endpoint.id == ref) | (Endpoint.name == ref)))
    if row is None:
        raise NotFound(f"endpoint '{ref}' not found")
    return row


#: Rows read per step while looking for endpoints with a label (labels live in ``fields_json``).
LABEL_SCAN_BATCH = 500


def _labelled_ids(s: Session, after: str | None, label: tuple[str, str], wanted: int) -> list[str]:
    """The IDs of the first ``wanted`` endpoints named after ``after`` that carry ``label``,
    read in batches (it stops as soon as it has them)."""
    key, value = label
    found: list[str] = []
    cursor = after
    while len(found) < wanted:
        query = select(Endpoint.id, Endpoint.name, Endpoint.fields_json).order_by(Endpoint.name)
        if cursor is not None:
            query = query.where(Endpoint.name > cursor)
        batch = list(s.execute(query.limit(LABEL_SCAN_BATCH)))
        for endpoint_id, _, fields_json in batch:
            if EndpointRecord.model_validate_json(fields_json).labels.get(key) == value:
                found.append(endpoint_id)
        if len(batch) < LABEL_SCAN_BATCH:
            break
        cursor = batch[-1][1]
    return found[:wanted]


class EndpointStore:
    def __init__(self, db: Database, box: SecretBox, versions: VersionStore) -> None:
        self._db = db
        self._box = box
        self._versions = versions

    def create(
        self,
        name: str,
        endpoint_type: str,
        fields: EndpointRecord,
        spec: DeploymentSpec,
        request_id: str | None,
        fingerprint: str | None = None,
        rollout: RolloutState | None = None,
    ) -> tuple[EndpointView, bool]:
        """Create the endpoint, its deployment, its version and its ``rollout`` (a versioned
        endpoint's) in ONE transaction; ``fingerprint`` is the request body's, kept beside
        ``request_id``."""
        now = time.time()
        build_id = spec.deployment.build_id if spec.deployment else ENDPOINT_BUILD_ID
        sealed = spec_codec.seal(self._box, spec)
        endpoint_id = "end_" + uuid.uuid4().hex[:20]
        try:
            with self._db.write_session() as s:
                dep = WorkerDeployment(
                    name=name, namespace=fields.temporal_namespace, request_id=request_id,
                    conflict_token=new_token(), owner="endpoint", created_at=now, updated_at=now,
                )  # fmt: skip
                s.add(dep)
                s.flush()
                version = DeploymentVersion(
                    deployment_id=dep.id, build_id=build_id,
                    key=version_key(name, build_id), spec_json=sealed, generation=1,
                    picked_generation=0, conflict_token=new_token(), request_id=request_id,
                    draining=False, deleting=False, status=UPDATE_PENDING,
                    last_validation_at=now, created_at=now, updated_at=now,
                )  # fmt: skip
                s.add(version)
                s.flush()
                s.add(
                    Endpoint(
                        id=endpoint_id, name=name, endpoint_type=endpoint_type,
                        request_id=request_id, request_hash=fingerprint, version_id=version.id,
                        fields_json=fields.model_dump_json(), created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                if rollout is not None and spec.rollout is not None:
                    put_rollout(s, dep, spec.rollout, rollout)
            return self.get(endpoint_id), True
        except IntegrityError:
            try:
                existing = self.get(name)
            except NotFound:
                raise Conflict(f"the name '{name}' is taken by a worker deployment") from None
            return replayed_create(
                existing, request_id, f"endpoint '{name}' already exists", fingerprint
            )

    def get(self, ref: str) -> EndpointView:
        """The endpoint with ID or name ``ref``."""
        with self._db.read_session() as s:
            row = _find(s, ref)
            key = row.version.key
            return endpoint_view(row, load_statuses(s, [key])[key])

    def page(
        self, size: int, after: str | None = None, label: tuple[str, str] | None = None
    ) -> tuple[list[EndpointView], str | None]:
        """Up to ``size`` endpoints in name order, named after ``after`` (keyset pagination:
        each page costs the same however deep, and rows inserted meanwhile never shift it), and
        the name to continue after (``None`` on the last page). No count of the table."""
        with self._db.read_session() as s:
            query = _with_version().order_by(Endpoint.name).limit(size + 1)
            if after is not None:
                query = query.where(Endpoint.name > after)
            if label is not None:
                wanted = _labelled_ids(s, after, label, size + 1)
                query = query.where(Endpoint.id.in_(wanted))
            rows = list(s.scalars(query))
            more, rows = len(rows) > size, rows[:size]
            statuses = load_statuses(s, [r.version.key for r in rows])
            views = [endpoint_view(r, statuses[r.version.key]) for r in rows]
            return views, rows[-1].name if more and rows else None

    def list(
        self, limit: int, offset: int, label: tuple[str, str] | None = None
    ) -> tuple[list[EndpointView], int]:
        """One page in name order, and the total. Without a label the page is cut in SQL, so a
        list costs the same with 10 or 100,000 endpoints stored."""
        with self._db.read_session() as s:
            query = _with_version().order_by(Endpoint.name)
            if label is None:
                total = int(s.scalar(select(func.count()).select_from(Endpoint)) or 0)
                page = list(s.scalars(query.limit(limit).offset(offset)))
            else:
                key, value = label
                ids = [
                    endpoint_id
                    for endpoint_id, fields_json in s.execute(
                        select(Endpoint.id, Endpoint.fields_json).order_by(Endpoint.name)
                    )
                    if EndpointRecord.model_validate_json(fields_json).labels.get(key) == value
                ]
                total = len(ids)
                wanted = ids[offset : offset + limit]
                page = list(s.scalars(query.where(Endpoint.id.in_(wanted)))) if wanted else []
            statuses = load_statuses(s, [r.version.key for r in page])
            return [endpoint_view(r, statuses[r.version.key]) for r in page], total

    def update(
        self,
        endpoint_id: str,
        fields: EndpointRecord,
        spec: DeploymentSpec,
        *,
        expected_token: str,
        request_id: str | None,
        fingerprint: str | None = None,
        rollout: RolloutState | None = None,
    ) -> tuple[EndpointView, bool]:
        """Store new fields and their rendered spec as the version's next generation, if the
        version's conflict token is still ``expected_token``; a spec with another build ID is a
        new version instead (:func:`_new_build`). A repeated ``request_id`` (with the same body
        ``fingerprint``) is a no-op success. Returns (view, changed)."""
        with self._db.write_session() as s:
            row = _find(s, endpoint_id)
            version = row.version
            if version.deleting:
                raise Conflict(f"endpoint '{row.name}' is being deleted")
            if is_replay(
                request_id, fingerprint, stored_id=version.last_update_request_id,
                stored_hash=version.last_update_request_hash,
            ):  # fmt: skip
                return endpoint_view(row, load_statuses(s, [version.key])[version.key]), False
            sealed = spec_codec.seal(self._box, spec, version.spec_json)
            values: dict[str, object] = {"fields_json": fields.model_dump_json()}
            if spec.deployment is not None and spec.deployment.build_id != version.build_id:
                values["version_id"] = _new_build(
                    s, version, spec.deployment.build_id, sealed, expected_token, request_id,
                    fingerprint,
                )  # fmt: skip
                if rollout is not None and spec.rollout is not None:
                    put_rollout(s, version.deployment, spec.rollout, rollout)
                values["updated_at"] = time.time()
            else:
                values["updated_at"] = swap_spec(
                    s, version, sealed, expected_token=expected_token, request_id=request_id,
                    what="endpoint", fingerprint=fingerprint,
                )  # fmt: skip
            s.execute(update(Endpoint).where(Endpoint.id == row.id).values(**values))
        return self.get(endpoint_id), True

    def delete(self, ref: str, conflict_token: str | None = None) -> EndpointView:
        """Mark the endpoint's version deleting (see :meth:`VersionStore.delete`), and the older
        versions of a versioned endpoint still draining with it."""
        endpoint = self.get(ref)
        build_id = endpoint.version.build_id
        self._versions.delete(endpoint.name, build_id, conflict_token, for_endpoint=True)
        for older in self._versions.list(endpoint.name):
            if older.build_id != build_id and not older.deleting:
                self._versions.delete(endpoint.name, older.build_id, for_endpoint=True)
        return self.get(endpoint.id)

    def purge(self, name: str) -> None:
        """Remove every version of the endpoint ``name`` now (no controller to drain them)."""
        with self._db.write_session() as s:
            dep = s.scalar(select(WorkerDeployment).where(WorkerDeployment.name == name))
            if dep is None:
                raise NotFound(f"endpoint '{name}' not found")
            for version in list(dep.versions):
                purge(s, version)


def _new_build(
    s: Session,
    current: DeploymentVersion,
    build_id: str,
    sealed: str,
    expected_token: str,
    request_id: str | None,
    fingerprint: str | None,
) -> int:
    """Make the version of ``build_id`` (spec ``sealed``) the endpoint's, if ``current`` (the
    version the endpoint shows now) still has ``expected_token``; returns its ID. ``current``
    keeps its spec and workers: the rollout moves Temporal's current version, and the old one
    drains.

    The build's version is new, or an older one of the same build still draining (a change
    undone), which takes ``sealed`` as its next generation. A ``current`` that never became
    current or ramping (replaced before its rollout moved) has no pinned work to keep: it is
    deleted, so it never lingers with its workers and no drainage for a sunset to follow.
    """
    dep = current.deployment
    took_work = current.build_id in (dep.current_build_id, dep.ramping_build_id)
    values: dict[str, object] = {"conflict_token": new_token(), "updated_at": time.time()}
    if not took_work:
        values.update(
            deleting=True, draining=True, status=DELETE_IN_PROGRESS,
            status_reason=f"replaced by build {build_id} before it took work",
            generation=DeploymentVersion.generation + 1,
        )  # fmt: skip
    bumped = s.execute(
        update(DeploymentVersion)
        .where(
            DeploymentVersion.id == current.id,
            DeploymentVersion.conflict_token == expected_token,
        )
        .values(**values)
    )
    if not bumped.rowcount:  # type: ignore[attr-defined]
        raise stale_token("endpoint")
    key = version_key(dep.name, build_id)
    existing = s.scalar(select(DeploymentVersion).where(DeploymentVersion.key == key))
    if existing is not None:
        if existing.deleting:
            raise Conflict(f"version '{build_id}' is being deleted; try again once it is gone")
        swap_spec(
            s, existing, sealed, expected_token=existing.conflict_token, request_id=request_id,
            what="endpoint", fingerprint=fingerprint,
        )  # fmt: skip
        return existing.id
    now = time.time()
    version = DeploymentVersion(
        deployment_id=current.deployment_id, build_id=build_id, key=key, spec_json=sealed,
        generation=1, picked_generation=0, conflict_token=new_token(), request_id=request_id,
        last_update_request_id=request_id, last_update_request_hash=fingerprint,
        draining=False, deleting=False, status=UPDATE_PENDING, last_validation_at=now,
        created_at=now, updated_at=now,
    )  # fmt: skip
    s.add(version)
    s.flush()
    return version.id
