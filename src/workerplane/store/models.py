"""SQLAlchemy 2 models of the control-plane store.

Times are epoch seconds (floats) so SQLite and PostgreSQL behave the same. JSON documents are kept
in ``Text`` columns as canonical JSON: secrets inside them are already encrypted
(:mod:`workerplane.security.crypto`), and both databases store them identically.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 hash only.

    ``scope`` is ``admin`` (everything) or ``read`` (GET only); a token past ``expires_at`` or
    ``revoked`` is refused.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    scope: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class AuditEntry(Base):
    """One write through the API: who (the token), what (method, path, resource), when, and how
    it ended (the HTTP status). The table is bounded: the oldest entries go first."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1024))
    resource: Mapped[str] = mapped_column(String(512))
    status: Mapped[int] = mapped_column(Integer)


class WorkerDeployment(Base):
    """A Temporal worker deployment (the series of versions of one set of workers)."""

    __tablename__ = "worker_deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    namespace: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: The fingerprint of the create's body: a reused ``request_id`` with another body is a 409.
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conflict_token: Mapped[str] = mapped_column(String(64))
    current_build_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ramping_build_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ramp_percentage: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: "api" for deployments made through /v1/worker-deployments, "endpoint" for endpoints.
    owner: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    versions: Mapped[list[DeploymentVersion]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", passive_deletes=True
    )


class DeploymentVersion(Base):
    """A worker deployment version and its compute config (inside ``spec_json``).

    Lifecycle: ``generation`` increases on every change of the spec or of ``draining``; the
    controller's snapshot records the generation it picked up in ``picked_generation``; the status
    sink moves ``status`` to READY / UPDATE_FAILED from what the controller published.
    """

    __tablename__ = "deployment_versions"
    __table_args__ = (UniqueConstraint("deployment_id", "build_id", name="uq_version_build"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("worker_deployments.id", ondelete="CASCADE"), index=True
    )
    build_id: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(512), unique=True)
    spec_json: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    picked_generation: Mapped[int] = mapped_column(Integer, default=0)
    picked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    conflict_token: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_update_request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_update_request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    draining: Mapped[bool] = mapped_column(Boolean, default=False)
    deleting: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When the controller's snapshot stopped listing this (deleting) version.
    delete_seen_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_validation_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_validation_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    deployment: Mapped[WorkerDeployment] = relationship(back_populates="versions")


class Endpoint(Base):
    """A Launch-style ``temporal`` endpoint: a projection of one deployment version."""

    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    endpoint_type: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("deployment_versions.id", ondelete="CASCADE"), unique=True
    )
    #: The endpoint's fields (:class:`~workerplane.store.endpoint_fields.EndpointRecord`): the
    #: names of its secret env entries, never their values (those live in the version's sealed
    #: spec). Updates are guarded by the version's conflict token and request ID.
    fields_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    version: Mapped[DeploymentVersion] = relationship()


class GroupStatusRow(Base):
    """The last compute status the controller published for one scaling group."""

    __tablename__ = "group_statuses"

    version_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    payload_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)


class Lease(Base):
    """A named lease: only its holder may run the controller until ``expires_at``.

    ``fencing_token`` grows each time the lease changes hands (never reset: a released lease
    only expires), so a write carrying an older token comes from a stale leader.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Float)
    acquired_at: Mapped[float] = mapped_column(Float)
    fencing_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


#: A 64-bit key on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit (and only that
#: exact type is its autoincrementing rowid).
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class TelemetrySample(Base):
    """One chart point of a scaling group (:class:`~workerplane.planning.events.GroupSample`),
    with the scale action of that cycle if it made one. Bounded by age and row count."""

    __tablename__ = "telemetry_samples"
    __table_args__ = (Index("ix_telemetry_samples_group_at", "version_key", "group_id", "at"),)

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    version_key: Mapped[str] = mapped_column(String(512))
    group_id: Mapped[str] = mapped_column(String(255))
    at: Mapped[float] = mapped_column(Float, index=True)
    backlog: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backlog_age_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    in_flight: Mapped[int | None] = mapped_column(Integer, nullable=True)
    workers_running: Mapped[int] = mapped_column(Integer)
    workers_ready: Mapped[int | None] = mapped_column(Integer, nullable=True)
    desired: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pollers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    add_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    dispatch_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    action_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The schedule-to-start of the tasks measured since the previous sample (a latency
    #: sketch's wire form), ``None`` when none was.
    waited_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class TelemetryEvent(Base):
    """One event of the log (:class:`~workerplane.planning.events.GroupEvent`); ``group_id``
    is ``None`` for an event of the whole version. ``deployment`` and ``build_id`` are split
    from the version key when written, so the events of a deleted version still say whose
    they were."""

    __tablename__ = "telemetry_events"
    __table_args__ = (
        Index("ix_telemetry_events_group_at", "version_key", "group_id", "at"),
        Index("ix_telemetry_events_deployment_at", "deployment", "at"),
    )

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    version_key: Mapped[str] = mapped_column(String(512))
    deployment: Mapped[str] = mapped_column(String(255))
    build_id: Mapped[str] = mapped_column(String(255))
    group_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)


class ControllerMember(Base):
    """A ``serve`` replica running sharded controllers: live while ``heartbeat_at`` is recent.

    ``shards`` is the shard count it hashes versions into; replicas only share shards with
    replicas that use the same count (another count would map a version to another shard).
    """

    __tablename__ = "controller_members"

    holder: Mapped[str] = mapped_column(String(128), primary_key=True)
    shards: Mapped[int] = mapped_column(Integer)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float] = mapped_column(Float)


class WorkerReport(Base):
    """The latest latency sketch one worker pushed for its scaling group
    (:mod:`workerplane.store.worker_reports`). ``worker`` ``""`` holds the sum of the group's
    workers that stopped reporting, so the group's total only grows while the table stays at one
    row per live worker."""

    __tablename__ = "worker_reports"

    version_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    worker: Mapped[str] = mapped_column(String(128), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    #: The worker's schedule-to-start since it started (a latency sketch's wire form).
    sketch_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float, index=True)


class Rollout(Base):
    """The rollout of a deployment's newest build: its ``rollout`` spec and its state, both
    JSON (:class:`~workerplane.planning.rollout.RolloutState`). One per deployment: a newer
    build's rollout replaces it. ``revision`` grows on every write (compare-and-swap between the
    runner and the API's commands); ``phase`` is copied out of the state to find live ones."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("worker_deployments.id", ondelete="CASCADE"), unique=True
    )
    phase: Mapped[str] = mapped_column(String(32), index=True)
    spec_json: Mapped[str] = mapped_column(Text)
    state_json: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Float)
