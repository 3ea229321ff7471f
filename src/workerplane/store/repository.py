"""All reads and writes of the control-plane store.

Concurrency rules (they hold for several API and controller processes on one PostgreSQL):

* creates rely on unique constraints: a losing concurrent insert gets ``IntegrityError`` and is
  answered from the winner's row (same ``request_id``: success; otherwise 409);
* updates are compare-and-swap on ``conflict_token`` (``UPDATE ... WHERE conflict_token = :seen``),
  so of two writers that read the same state, exactly one wins and the other gets 409 or retries;
* ``generation`` only ever increases inside such a guarded update, so the controller never sees a
  change twice or applies a stale one;
* only the holder of the ``controller`` lease runs a controller (:meth:`Store.acquire_lease`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Row, Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from workerplane.config.model import DeploymentSpec
from workerplane.planning.status import GroupStatus, ManagedVersion
from workerplane.security.crypto import PREFIX as CIPHERTEXT_PREFIX
from workerplane.security.crypto import SecretBox
from workerplane.security.tokens import hash_token
from workerplane.store.db import Database
from workerplane.store.models import (
    ApiToken,
    DeploymentVersion,
    Endpoint,
    GroupStatusRow,
    Lease,
    WorkerDeployment,
)
from workerplane.store.secrets import open_doc, redact_doc, seal_document

UPDATE_PENDING = "UPDATE_PENDING"
UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
READY = "READY"
UPDATE_FAILED = "UPDATE_FAILED"
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"

#: Endpoint-owned versions use this build ID: the endpoint's workers are unversioned.
ENDPOINT_BUILD_ID = "default"


class StoreError(Exception):
    """Base of the errors the API maps to HTTP statuses."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Invalid(StoreError):
    """Input that breaks a rule; ``issues`` are (field, message) pairs."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{f}: {m}" for f, m in issues))


class _Keep:
    """Marks an argument meaning "leave this field as it is"."""


KEEP = _Keep()


def _token() -> str:
    return uuid.uuid4().hex


def version_key(deployment: str, build_id: str) -> str:
    return f"{deployment}/{build_id}"


@dataclass(frozen=True)
class VersionView:
    """A version as the API shows it (secrets redacted) plus its compute status."""

    deployment: str
    build_id: str
    key: str
    namespace: str | None
    spec: dict[str, Any]
    generation: int
    conflict_token: str
    draining: bool
    deleting: bool
    status: str
    status_reason: str | None
    last_validation_at: float | None
    last_validation_error: str | None
    is_current: bool
    ramping_percentage: float | None
    groups: list[dict[str, Any]]
    created_at: float
    updated_at: float
    request_id: str | None

    @property
    def available_workers(self) -> int:
        return sum(_available(g) for g in self.groups)

    @property
    def unavailable_workers(self) -> int:
        running = sum(int(g.get("workers_running", 0)) for g in self.groups)
        return max(0, running - self.available_workers)


@dataclass(frozen=True)
class DeploymentView:
    name: str
    namespace: str | None
    conflict_token: str
    current_build_id: str | None
    ramping_build_id: str | None
    ramp_percentage: float | None
    owner: str
    build_ids: list[str]
    created_at: float
    updated_at: float
    request_id: str | None


@dataclass(frozen=True)
class EndpointView:
    id: str
    name: str
    endpoint_type: str
    fields: dict[str, Any]
    conflict_token: str
    version: VersionView
    created_at: float
    updated_at: float
    request_id: str | None


def _available(group: dict[str, Any]) -> int:
    ready = group.get("workers_ready")
    running = int(group.get("workers_running", 0))
    if ready is not None:
        return int(ready)
    return min(int(group.get("pollers", 0)), running)


def _min_workers(spec: dict[str, Any]) -> int:
    total = 0
    for group in ((spec.get("compute") or {}).get("scaling_groups") or {}).values():
        details = (group.get("scaler") or {}).get("details") or {}
        value = details.get("min_count", 0)
        total += int(value) if isinstance(value, int | float) else 0
    return total


class _Attrs:
    """Attribute access over a dict: lets the view builders read Core rows like ORM rows."""

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    def __getattr__(self, name: str) -> Any:
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(name) from None


_EP = Endpoint.__table__
_DV = DeploymentVersion.__table__
_WD = WorkerDeployment.__table__
_VERSION_COLUMNS = (
    "build_id", "key", "spec_json", "generation", "conflict_token", "draining", "deleting",
    "status", "status_reason", "last_validation_at", "last_validation_error", "created_at",
    "updated_at", "request_id",
)  # fmt: skip
_DEP_COLUMNS = ("name", "namespace", "current_build_id", "ramping_build_id", "ramp_percentage")
_VERSION_LABELS = tuple(f"v_{c}" for c in _VERSION_COLUMNS)
_DEP_LABELS = tuple(f"d_{c}" for c in _DEP_COLUMNS)
#: An endpoint with its version and deployment, as plain rows in one statement.
_ENDPOINT_ROWS = select(
    _EP.c.id, _EP.c.name, _EP.c.endpoint_type, _EP.c.fields_json, _EP.c.conflict_token,
    _EP.c.created_at, _EP.c.updated_at, _EP.c.request_id,
    *(_DV.c[c].label(f"v_{c}") for c in _VERSION_COLUMNS),
    *(_WD.c[c].label(f"d_{c}") for c in _DEP_COLUMNS),
).select_from(
    _EP.join(_DV, _EP.c.version_id == _DV.c.id).join(_WD, _DV.c.deployment_id == _WD.c.id)
)  # fmt: skip


class Store:
    """The repository. Thread-safe: every method opens its own session."""

    def __init__(self, db: Database, box: SecretBox, *, token_cache_s: float = 10.0) -> None:
        self.db = db
        self.box = box
        self._token_cache: dict[str, float] = {}
        self._token_cache_s = token_cache_s

    # -- tokens ------------------------------------------------------------------------------

    def add_token(self, token: str, name: str = "default") -> bool:
        """Store a token's hash; returns False when it was already there."""
        try:
            with self.db.write_session() as s:
                s.add(
                    ApiToken(
                        name=name, token_hash=hash_token(token), created_at=time.time(),
                        revoked=False,
                    )
                )  # fmt: skip
            return True
        except IntegrityError:
            return False

    def has_tokens(self) -> bool:
        with self.db.read_session() as s:
            return s.scalar(select(ApiToken.id).limit(1)) is not None

    def revoke_token(self, token: str) -> bool:
        digest = hash_token(token)
        self._token_cache.pop(digest, None)
        with self.db.write_session() as s:
            result = s.execute(
                update(ApiToken).where(ApiToken.token_hash == digest).values(revoked=True)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def token_cached(self, token: str) -> bool:
        """Whether ``token`` was verified recently (no I/O: safe on the event loop)."""
        expiry = self._token_cache.get(hash_token(token))
        return expiry is not None and expiry > time.monotonic()

    def verify_token(self, token: str) -> bool:
        """Whether ``token`` is a live token. Positive answers are cached briefly per process."""
        digest = hash_token(token)
        now = time.monotonic()
        expiry = self._token_cache.get(digest)
        if expiry is not None and expiry > now:
            return True
        with self.db.read_session() as s:
            ok = (
                s.scalar(
                    select(ApiToken.id).where(
                        ApiToken.token_hash == digest, ApiToken.revoked.is_(False)
                    )
                )
                is not None
            )
        if ok:
            self._token_cache[digest] = now + self._token_cache_s
        return ok

    # -- helpers -----------------------------------------------------------------------------

    def _deployment(self, s: Session, name: str) -> WorkerDeployment:
        row = s.scalar(select(WorkerDeployment).where(WorkerDeployment.name == name))
        if row is None:
            raise NotFound(f"worker deployment '{name}' not found")
        return row

    def _version(self, s: Session, deployment: str, build_id: str) -> DeploymentVersion:
        row = s.scalar(
            select(DeploymentVersion)
            .options(selectinload(DeploymentVersion.deployment))
            .where(DeploymentVersion.key == version_key(deployment, build_id))
        )
        if row is None:
            raise NotFound(f"version '{build_id}' of worker deployment '{deployment}' not found")
        return row

    def _statuses(self, s: Session, keys: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        keys = list(keys)
        result: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
        if not keys:
            return result
        rows = s.scalars(
            select(GroupStatusRow)
            .where(GroupStatusRow.version_key.in_(keys))
            .order_by(GroupStatusRow.group_id)
        )
        for row in rows:
            result[row.version_key].append(json.loads(row.payload_json))
        return result

    def _view(self, row: DeploymentVersion, groups: list[dict[str, Any]]) -> VersionView:
        return self._version_view(row.deployment, row, groups)

    def _version_view(self, dep: Any, row: Any, groups: list[dict[str, Any]]) -> VersionView:
        """``dep``/``row``: ORM rows or anything with their attributes (the Core read path)."""
        doc = json.loads(row.spec_json)
        # Walking the document only matters when it holds ciphertext; most specs hold none, and
        # the walk was a fifth of a list request's CPU.
        spec = redact_doc(doc) if CIPHERTEXT_PREFIX in row.spec_json else doc
        live_groups = set(((spec.get("compute") or {}).get("scaling_groups") or {}).keys())
        return VersionView(
            deployment=dep.name,
            build_id=row.build_id,
            key=row.key,
            namespace=(spec.get("temporal") or {}).get("namespace") or dep.namespace,
            spec=spec,
            generation=row.generation,
            conflict_token=row.conflict_token,
            draining=row.draining,
            deleting=row.deleting,
            status=row.status,
            status_reason=row.status_reason,
            last_validation_at=row.last_validation_at,
            last_validation_error=row.last_validation_error,
            is_current=dep.current_build_id == row.build_id,
            ramping_percentage=(
                dep.ramp_percentage if dep.ramping_build_id == row.build_id else None
            ),
            groups=[g for g in groups if g.get("group_id") in live_groups],
            created_at=row.created_at,
            updated_at=row.updated_at,
            request_id=row.request_id,
        )

    @staticmethod
    def _deployment_view(row: WorkerDeployment, build_ids: list[str]) -> DeploymentView:
        return DeploymentView(
            name=row.name,
            namespace=row.namespace,
            conflict_token=row.conflict_token,
            current_build_id=row.current_build_id,
            ramping_build_id=row.ramping_build_id,
            ramp_percentage=row.ramp_percentage,
            owner=row.owner,
            build_ids=build_ids,
            created_at=row.created_at,
            updated_at=row.updated_at,
            request_id=row.request_id,
        )

    # -- worker deployments ------------------------------------------------------------------

    def create_deployment(
        self, name: str, namespace: str | None, request_id: str | None, owner: str = "api"
    ) -> tuple[DeploymentView, bool]:
        """Create a deployment. Returns (view, created). Same ``request_id`` again: no-op."""
        now = time.time()
        try:
            with self.db.write_session() as s:
                s.add(
                    WorkerDeployment(
                        name=name, namespace=namespace, request_id=request_id,
                        conflict_token=_token(), owner=owner, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            return self.get_deployment(name), True
        except IntegrityError:
            existing = self.get_deployment(name)
            if request_id and existing.request_id == request_id:
                return existing, False
            raise Conflict(f"worker deployment '{name}' already exists") from None

    def get_deployment(self, name: str) -> DeploymentView:
        with self.db.read_session() as s:
            row = self._deployment(s, name)
            builds = list(
                s.scalars(
                    select(DeploymentVersion.build_id)
                    .where(DeploymentVersion.deployment_id == row.id)
                    .order_by(DeploymentVersion.created_at)
                )
            )
            return self._deployment_view(row, builds)

    def list_deployments(self, limit: int, offset: int) -> tuple[list[DeploymentView], int]:
        with self.db.read_session() as s:
            total = len(list(s.scalars(select(WorkerDeployment.id))))
            rows = list(
                s.scalars(
                    select(WorkerDeployment)
                    .order_by(WorkerDeployment.name)
                    .limit(limit)
                    .offset(offset)
                )
            )
            builds: dict[int, list[str]] = {r.id: [] for r in rows}
            if rows:
                for dep_id, build in s.execute(
                    select(DeploymentVersion.deployment_id, DeploymentVersion.build_id).where(
                        DeploymentVersion.deployment_id.in_(list(builds))
                    )
                ):
                    builds[dep_id].append(build)
            return [self._deployment_view(r, builds[r.id]) for r in rows], total

    def delete_deployment(self, name: str) -> None:
        with self.db.write_session() as s:
            row = self._deployment(s, name)
            count = s.scalar(
                select(DeploymentVersion.id)
                .where(DeploymentVersion.deployment_id == row.id)
                .limit(1)
            )
            if count is not None:
                raise Conflict(f"worker deployment '{name}' still has versions; delete them first")
            s.delete(row)

    def set_routing(
        self,
        name: str,
        *,
        current: str | _Keep | None = KEEP,
        ramping: str | _Keep | None = KEEP,
        percentage: float | None = None,
        conflict_token: str | None = None,
    ) -> DeploymentView:
        """Set the current and/or ramping version (Temporal's Set*Version semantics).

        A version that stops being current or ramping is marked draining, as Temporal does; a
        version that becomes current or ramping stops draining.
        """
        with self.db.write_session() as s:
            row = self._deployment(s, name)
            if conflict_token and conflict_token != row.conflict_token:
                raise Conflict("conflict token is stale: the deployment changed since it was read")
            before = {row.current_build_id, row.ramping_build_id} - {None}
            values: dict[str, Any] = {"conflict_token": _token(), "updated_at": time.time()}
            new_current = row.current_build_id if isinstance(current, _Keep) else current
            new_ramping = row.ramping_build_id if isinstance(ramping, _Keep) else ramping
            if not isinstance(current, _Keep) and current is not None and current == new_ramping:
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
            values["current_build_id"] = new_current
            values["ramping_build_id"] = new_ramping
            values["ramp_percentage"] = percentage if new_ramping is not None else None
            result = s.execute(
                update(WorkerDeployment)
                .where(
                    WorkerDeployment.id == row.id,
                    WorkerDeployment.conflict_token == row.conflict_token,
                )
                .values(**values)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Conflict("conflict token is stale: the deployment changed concurrently")
            after = {new_current, new_ramping} - {None}
            for build in before - after:
                self._set_draining(s, name, str(build), True)
            for build in after:
                self._set_draining(s, name, str(build), False)
        return self.get_deployment(name)

    def _set_draining(self, s: Session, deployment: str, build_id: str, draining: bool) -> None:
        s.execute(
            update(DeploymentVersion)
            .where(
                DeploymentVersion.key == version_key(deployment, build_id),
                DeploymentVersion.draining.is_not(draining),
            )
            .values(
                draining=draining,
                generation=DeploymentVersion.generation + 1,
                conflict_token=_token(),
                updated_at=time.time(),
            )
        )

    # -- versions ----------------------------------------------------------------------------

    def create_version(
        self,
        deployment: str,
        build_id: str,
        spec: DeploymentSpec,
        request_id: str | None,
        *,
        extra_secret_env: Iterable[str] = (),
        session: Session | None = None,
    ) -> tuple[VersionView, bool]:
        """Create a version with its spec. Returns (view, created)."""
        now = time.time()
        sealed = seal_document(self.box, spec)
        key = version_key(deployment, build_id)
        try:
            with self.db.write_session() as s:
                dep = self._deployment(s, deployment)
                s.add(
                    DeploymentVersion(
                        deployment_id=dep.id, build_id=build_id, key=key,
                        spec_json=json.dumps(sealed, sort_keys=True), generation=1,
                        picked_generation=0, conflict_token=_token(), request_id=request_id,
                        draining=False, deleting=False, status=UPDATE_PENDING,
                        last_validation_at=now, last_validation_error=None,
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            return self.get_version(deployment, build_id), True
        except IntegrityError:
            existing = self.get_version(deployment, build_id)
            if request_id and existing.request_id == request_id:
                return existing, False
            raise Conflict(
                f"version '{build_id}' of worker deployment '{deployment}' already exists"
            ) from None

    def get_version(self, deployment: str, build_id: str) -> VersionView:
        with self.db.read_session() as s:
            row = self._version(s, deployment, build_id)
            return self._view(row, self._statuses(s, [row.key])[row.key])

    def list_versions(self, deployment: str) -> list[VersionView]:
        with self.db.read_session() as s:
            dep = self._deployment(s, deployment)
            rows = list(
                s.scalars(
                    select(DeploymentVersion)
                    .options(selectinload(DeploymentVersion.deployment))
                    .where(DeploymentVersion.deployment_id == dep.id)
                    .order_by(DeploymentVersion.created_at)
                )
            )
            statuses = self._statuses(s, [r.key for r in rows])
            return [self._view(r, statuses[r.key]) for r in rows]

    def sealed_spec(self, deployment: str, build_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            result: dict[str, Any] = json.loads(self._version(s, deployment, build_id).spec_json)
            return result

    def open_spec(self, deployment: str, build_id: str) -> DeploymentSpec:
        """The version's spec with secrets decrypted (controller and Temporal push only)."""
        return DeploymentSpec.model_validate(
            open_doc(self.box, self.sealed_spec(deployment, build_id))
        )

    def update_version_spec(
        self,
        deployment: str,
        build_id: str,
        mutate: Callable[[DeploymentSpec, dict[str, Any]], DeploymentSpec],
        *,
        conflict_token: str | None,
        request_id: str | None,
        extra_secret_env: Iterable[str] = (),
    ) -> tuple[VersionView, bool]:
        """Replace a version's spec by ``mutate(current_spec, sealed_current)``.

        Compare-and-swap on the conflict token (the client's, or the one read here when the
        client sent none). A repeated ``request_id`` is a no-op success. Returns (view, changed).
        """
        with self.db.write_session() as s:
            row = self._version(s, deployment, build_id)
            if row.deleting:
                raise Conflict(f"version '{build_id}' is being deleted")
            if request_id and row.last_update_request_id == request_id:
                return self._view(row, self._statuses(s, [row.key])[row.key]), False
            if conflict_token and conflict_token != row.conflict_token:
                raise Conflict("conflict token is stale: the version changed since it was read")
            previous = json.loads(row.spec_json)
            current = DeploymentSpec.model_validate(open_doc(self.box, previous))
            new_spec = mutate(current, previous)
            sealed = seal_document(self.box, new_spec, previous)
            now = time.time()
            result = s.execute(
                update(DeploymentVersion)
                .where(
                    DeploymentVersion.id == row.id,
                    DeploymentVersion.conflict_token == row.conflict_token,
                )
                .values(
                    spec_json=json.dumps(sealed, sort_keys=True),
                    generation=DeploymentVersion.generation + 1,
                    conflict_token=_token(),
                    last_update_request_id=request_id,
                    status=UPDATE_PENDING,
                    status_reason=None,
                    last_validation_at=now,
                    last_validation_error=None,
                    updated_at=now,
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Conflict("conflict token is stale: the version changed concurrently")
        return self.get_version(deployment, build_id), True

    def set_version_draining(
        self, deployment: str, build_id: str, draining: bool, conflict_token: str | None
    ) -> VersionView:
        with self.db.write_session() as s:
            row = self._version(s, deployment, build_id)
            if conflict_token and conflict_token != row.conflict_token:
                raise Conflict("conflict token is stale: the version changed since it was read")
            dep = row.deployment
            if draining and build_id in (dep.current_build_id, dep.ramping_build_id):
                raise Conflict(
                    f"version '{build_id}' is current or ramping; make another version current"
                    " first"
                )
            self._set_draining(s, deployment, build_id, draining)
        return self.get_version(deployment, build_id)

    def delete_version(
        self, deployment: str, build_id: str, conflict_token: str | None = None
    ) -> VersionView:
        """Mark a version deleting: the controller drains its workers, then the row goes away."""
        with self.db.write_session() as s:
            row = self._version(s, deployment, build_id)
            if conflict_token and conflict_token != row.conflict_token:
                raise Conflict("conflict token is stale: the version changed since it was read")
            dep = row.deployment
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
                        conflict_token=_token(),
                        updated_at=time.time(),
                    )
                )
        return self.get_version(deployment, build_id)

    def purge_version(self, deployment: str, build_id: str) -> None:
        """Remove a version row now (no controller to drain it)."""
        with self.db.write_session() as s:
            row = self._version(s, deployment, build_id)
            self._purge(s, row)

    def _purge(self, s: Session, row: DeploymentVersion) -> None:
        dep = row.deployment
        s.execute(delete(GroupStatusRow).where(GroupStatusRow.version_key == row.key))
        s.execute(delete(Endpoint).where(Endpoint.version_id == row.id))
        s.execute(delete(DeploymentVersion).where(DeploymentVersion.id == row.id))
        if dep.owner == "endpoint":
            s.execute(delete(WorkerDeployment).where(WorkerDeployment.id == dep.id))
        elif row.build_id in (dep.current_build_id, dep.ramping_build_id):
            s.execute(
                update(WorkerDeployment)
                .where(WorkerDeployment.id == dep.id)
                .values(
                    current_build_id=(
                        None if dep.current_build_id == row.build_id else dep.current_build_id
                    ),
                    ramping_build_id=(
                        None if dep.ramping_build_id == row.build_id else dep.ramping_build_id
                    ),
                )
            )

    def record_validation(self, deployment: str, build_id: str, error: str | None) -> None:
        with self.db.write_session() as s:
            s.execute(
                update(DeploymentVersion)
                .where(DeploymentVersion.key == version_key(deployment, build_id))
                .values(last_validation_at=time.time(), last_validation_error=error)
            )

    # -- endpoints ---------------------------------------------------------------------------

    def create_endpoint(
        self,
        name: str,
        endpoint_type: str,
        fields: dict[str, Any],
        spec: DeploymentSpec,
        namespace: str | None,
        request_id: str | None,
        secret_env: Iterable[str],
    ) -> tuple[EndpointView, bool]:
        """Create the endpoint, its deployment and its version in ONE transaction."""
        now = time.time()
        sealed = seal_document(self.box, spec)
        endpoint_id = "end_" + uuid.uuid4().hex[:20]
        try:
            with self.db.write_session() as s:
                dep = WorkerDeployment(
                    name=name, namespace=namespace, request_id=request_id,
                    conflict_token=_token(), owner="endpoint", created_at=now, updated_at=now,
                )  # fmt: skip
                s.add(dep)
                s.flush()
                version = DeploymentVersion(
                    deployment_id=dep.id, build_id=ENDPOINT_BUILD_ID,
                    key=version_key(name, ENDPOINT_BUILD_ID),
                    spec_json=json.dumps(sealed, sort_keys=True), generation=1,
                    picked_generation=0, conflict_token=_token(), request_id=request_id,
                    draining=False, deleting=False, status=UPDATE_PENDING,
                    last_validation_at=now, created_at=now, updated_at=now,
                )  # fmt: skip
                s.add(version)
                s.flush()
                s.add(
                    Endpoint(
                        id=endpoint_id, name=name, endpoint_type=endpoint_type,
                        request_id=request_id, version_id=version.id,
                        fields_json=json.dumps(fields, sort_keys=True),
                        conflict_token=_token(), created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            return self.get_endpoint(endpoint_id), True
        except IntegrityError:
            try:
                existing = self.get_endpoint(name)
            except NotFound:
                raise Conflict(f"the name '{name}' is taken by a worker deployment") from None
            if request_id and existing.request_id == request_id:
                return existing, False
            raise Conflict(f"endpoint '{name}' already exists") from None

    @staticmethod
    def _endpoint_query() -> Select[Any]:
        # One statement with JOINs (not one SELECT per relationship): reads are the hot path.
        return select(Endpoint).options(
            joinedload(Endpoint.version, innerjoin=True).joinedload(
                DeploymentVersion.deployment, innerjoin=True
            )
        )

    def _endpoint(self, s: Session, ref: str) -> Endpoint:
        row: Endpoint | None = s.scalar(
            self._endpoint_query().where((Endpoint.id == ref) | (Endpoint.name == ref))
        )
        if row is None:
            raise NotFound(f"endpoint '{ref}' not found")
        return row

    def _endpoint_view(self, row: Endpoint, groups: list[dict[str, Any]]) -> EndpointView:
        return EndpointView(
            id=row.id,
            name=row.name,
            endpoint_type=row.endpoint_type,
            fields=json.loads(row.fields_json),
            conflict_token=row.conflict_token,
            version=self._view(row.version, groups),
            created_at=row.created_at,
            updated_at=row.updated_at,
            request_id=row.request_id,
        )

    def _endpoint_view_of(self, r: Row[Any], groups: list[dict[str, Any]]) -> EndpointView:
        """An endpoint view from one row of :data:`_ENDPOINT_ROWS` (no ORM objects)."""
        m = r._mapping
        dep = _Attrs({k[2:]: m[k] for k in _DEP_LABELS})
        version = _Attrs({k[2:]: m[k] for k in _VERSION_LABELS})
        return EndpointView(
            id=m["id"],
            name=m["name"],
            endpoint_type=m["endpoint_type"],
            fields=json.loads(m["fields_json"]),
            conflict_token=m["conflict_token"],
            version=self._version_view(dep, version, groups),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            request_id=m["request_id"],
        )

    def get_endpoint(self, ref: str) -> EndpointView:
        # Reads are the hot path: plain rows from one JOIN, no ORM objects (a third of the CPU).
        with self.db.read_session() as s:
            row = s.execute(_ENDPOINT_ROWS.where((_EP.c.id == ref) | (_EP.c.name == ref))).first()
            if row is None:
                raise NotFound(f"endpoint '{ref}' not found")
            key = row._mapping["v_key"]
            return self._endpoint_view_of(row, self._statuses(s, [key])[key])

    def list_endpoints(
        self, limit: int, offset: int, label: tuple[str, str] | None = None
    ) -> tuple[list[EndpointView], int]:
        """One page in name order, and the total. The page is cut in SQL (LIMIT/OFFSET), so a
        list costs the same with 10 or 100,000 endpoints stored."""
        with self.db.read_session() as s:
            query = _ENDPOINT_ROWS.order_by(_EP.c.name)
            if label is None:
                total = int(s.scalar(select(func.count()).select_from(Endpoint)) or 0)
                page = list(s.execute(query.limit(limit).offset(offset)))
            else:
                # Labels live inside fields_json: match them on (id, fields_json) only, then load
                # just the page's rows.
                ids = [
                    endpoint_id
                    for endpoint_id, fields_json in s.execute(
                        select(Endpoint.id, Endpoint.fields_json).order_by(Endpoint.name)
                    )
                    if (json.loads(fields_json).get("labels") or {}).get(label[0]) == label[1]
                ]
                total = len(ids)
                wanted = ids[offset : offset + limit]
                page = list(s.execute(query.where(_EP.c.id.in_(wanted)))) if wanted else []
            keys = [r._mapping["v_key"] for r in page]
            statuses = self._statuses(s, keys)
            return [
                self._endpoint_view_of(r, statuses[k]) for r, k in zip(page, keys, strict=True)
            ], total

    def update_endpoint(
        self,
        ref: str,
        mutate: Callable[[dict[str, Any]], tuple[dict[str, Any], DeploymentSpec, list[str]]],
        *,
        conflict_token: str | None,
        request_id: str | None,
    ) -> tuple[EndpointView, bool]:
        """``mutate(fields) -> (new_fields, new_spec, secret_env_keys)``; CAS on the endpoint's
        conflict token; the version's spec is replaced in the same transaction."""
        with self.db.write_session() as s:
            row = self._endpoint(s, ref)
            version = row.version
            if version.deleting:
                raise Conflict(f"endpoint '{row.name}' is being deleted")
            if request_id and row.last_update_request_id == request_id:
                return self._endpoint_view(row, []), False
            if conflict_token and conflict_token != row.conflict_token:
                raise Conflict("conflict token is stale: the endpoint changed since it was read")
            fields, spec, _ = mutate(json.loads(row.fields_json))
            previous = json.loads(version.spec_json)
            sealed = seal_document(self.box, spec, previous)
            now = time.time()
            result = s.execute(
                update(Endpoint)
                .where(Endpoint.id == row.id, Endpoint.conflict_token == row.conflict_token)
                .values(
                    fields_json=json.dumps(fields, sort_keys=True),
                    conflict_token=_token(),
                    last_update_request_id=request_id,
                    updated_at=now,
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Conflict("conflict token is stale: the endpoint changed concurrently")
            s.execute(
                update(DeploymentVersion)
                .where(DeploymentVersion.id == version.id)
                .values(
                    spec_json=json.dumps(sealed, sort_keys=True),
                    generation=DeploymentVersion.generation + 1,
                    conflict_token=_token(),
                    status=UPDATE_PENDING,
                    status_reason=None,
                    last_validation_at=now,
                    last_validation_error=None,
                    updated_at=now,
                )
            )
            endpoint_id = row.id
        return self.get_endpoint(endpoint_id), True

    def sealed_endpoint_spec(self, ref: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            result: dict[str, Any] = json.loads(self._endpoint(s, ref).version.spec_json)
            return result

    def delete_endpoint(self, ref: str, conflict_token: str | None = None) -> EndpointView:
        with self.db.read_session() as s:
            row = self._endpoint(s, ref)
            if conflict_token and conflict_token != row.conflict_token:
                raise Conflict("conflict token is stale: the endpoint changed since it was read")
            deployment, endpoint_id = row.name, row.id
        self.delete_version(deployment, ENDPOINT_BUILD_ID)
        return self.get_endpoint(endpoint_id)

    # -- controller side ---------------------------------------------------------------------

    def snapshot(self, default_namespace: str | None = None) -> list[ManagedVersion]:
        """Every version the controller should run now (secrets decrypted).

        Records that the controller picked up each version's current generation, so its status
        moves from UPDATE_PENDING to UPDATE_IN_PROGRESS. Deleting versions stay listed (draining)
        until their workers are gone; then they are left out, and the next status publish removes
        them (:meth:`publish`).
        """
        now = time.time()
        result: list[ManagedVersion] = []
        with self.db.write_session() as s:
            rows = list(
                s.scalars(
                    select(DeploymentVersion).options(selectinload(DeploymentVersion.deployment))
                )
            )
            for row in rows:
                if row.deleting and row.delete_seen_at is not None:
                    # Its workers are gone: the controller drops it now, and the row goes too.
                    self._purge(s, row)
                    continue
                doc = open_doc(self.box, json.loads(row.spec_json))
                temporal = doc.setdefault("temporal", {})
                if not temporal.get("namespace"):
                    temporal["namespace"] = row.deployment.namespace or default_namespace
                try:
                    spec = DeploymentSpec.model_validate(doc)
                except ValueError:
                    continue
                result.append(
                    ManagedVersion(
                        key=row.key,
                        spec=spec,
                        draining=row.draining or row.deleting,
                        generation=row.generation,
                    )
                )
                if row.picked_generation != row.generation:
                    values: dict[str, Any] = {"picked_generation": row.generation, "picked_at": now}
                    if row.status == UPDATE_PENDING:
                        values["status"] = UPDATE_IN_PROGRESS
                    s.execute(
                        update(DeploymentVersion)
                        .where(
                            DeploymentVersion.id == row.id,
                            DeploymentVersion.generation == row.generation,
                        )
                        .values(**values)
                    )
        return result

    def publish(self, statuses: list[GroupStatus]) -> None:
        """Store the controller's statuses and move each version's lifecycle forward."""
        now = time.time()
        by_key: dict[str, list[dict[str, Any]]] = {}
        for st in statuses:
            by_key.setdefault(st.version_key, []).append(asdict(st))
        with self.db.write_session() as s:
            versions = list(
                s.scalars(
                    select(DeploymentVersion).options(selectinload(DeploymentVersion.deployment))
                )
            )
            known = {v.key for v in versions}
            existing = {(r.version_key, r.group_id): r for r in s.scalars(select(GroupStatusRow))}
            for st in statuses:
                if st.version_key not in known:
                    continue  # a version deleted meanwhile: do not resurrect its status
                payload = json.dumps(asdict(st), sort_keys=True)
                row = existing.get((st.version_key, st.group_id))
                if row is None:
                    s.add(
                        GroupStatusRow(
                            version_key=st.version_key, group_id=st.group_id,
                            payload_json=payload, updated_at=now,
                        )
                    )  # fmt: skip
                elif row.payload_json != payload:
                    row.payload_json = payload
                    row.updated_at = now
            for version in versions:
                groups = by_key.get(version.key, [])
                if version.deleting:
                    self._advance_delete(s, version, groups, now)
                else:
                    self._advance_lifecycle(s, version, groups, now)

    def _advance_delete(
        self, s: Session, version: DeploymentVersion, groups: list[dict[str, Any]], now: float
    ) -> None:
        if version.delete_seen_at is None and all(
            int(g.get("workers_running", 0)) == 0 for g in groups
        ):
            # Drained (or never started): the next snapshot leaves it out and removes the row.
            version.delete_seen_at = now

    def _advance_lifecycle(
        self, s: Session, version: DeploymentVersion, groups: list[dict[str, Any]], now: float
    ) -> None:
        if version.picked_generation != version.generation or version.status == UPDATE_PENDING:
            return
        spec = json.loads(version.spec_json)
        wanted = set(((spec.get("compute") or {}).get("scaling_groups") or {}).keys())
        seen = {g["group_id"] for g in groups}
        if not wanted <= seen:
            return
        live = [g for g in groups if g["group_id"] in wanted]
        validation = next(
            (g["provider_validation_error"] for g in live if g.get("provider_validation_error")),
            None,
        )
        version.last_validation_at = now
        version.last_validation_error = validation
        if validation:
            status, reason = UPDATE_FAILED, f"provider validation failed: {validation}"
        else:
            available = sum(_available(g) for g in live)
            required = 0 if version.draining else _min_workers(spec)
            error = next((g["last_error"] for g in live if g.get("last_error")), None)
            if available >= required:
                status, reason = READY, None
            elif error:
                status, reason = UPDATE_FAILED, error
            else:
                status = UPDATE_IN_PROGRESS
                reason = f"{available} of {required} minimum workers polling"
        if version.status != status or version.status_reason != reason:
            version.status = status
            version.status_reason = reason
            version.updated_at = now

    # -- leases ------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``holder``. True while ``holder`` holds it."""
        now = time.time()
        try:
            with self.db.write_session() as s:
                row = s.scalar(select(Lease).where(Lease.name == name).with_for_update())
                if row is None:
                    s.add(Lease(name=name, holder=holder, expires_at=now + ttl_s, acquired_at=now))
                    return True
                if row.holder != holder and row.expires_at > now:
                    return False
                if row.holder != holder:
                    row.acquired_at = now
                row.holder = holder
                row.expires_at = now + ttl_s
                return True
        except IntegrityError:
            return False

    def release_lease(self, name: str, holder: str) -> None:
        with self.db.write_session() as s:
            s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
