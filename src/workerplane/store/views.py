"""What the store returns: typed, read-only views of its rows (secrets redacted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from workerplane.config.model import DeploymentSpec
from workerplane.planning.readiness import available_workers, unavailable_workers
from workerplane.planning.status import GroupStatus
from workerplane.planning.sunset import SunsetStatus
from workerplane.store.endpoint_fields import EndpointRecord
from workerplane.store.models import DeploymentVersion, Endpoint, WorkerDeployment
from workerplane.store.spec_codec import redacted_spec


@dataclass(frozen=True)
class VersionView:
    """A version as the API shows it (secrets redacted) plus its groups' compute status."""

    deployment: str
    deployment_namespace: str | None
    build_id: str
    key: str
    stored_spec: str = field(repr=False)
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
    groups: tuple[GroupStatus, ...]
    created_at: float
    updated_at: float
    request_id: str | None
    last_update_request_id: str | None
    request_hash: str | None = None
    last_update_request_hash: str | None = None

    @cached_property
    def spec(self) -> DeploymentSpec:
        """The spec, secrets redacted (parsed on first use: an endpoint's response needs none
        of it)."""
        return redacted_spec(self.stored_spec)

    @property
    def namespace(self) -> str | None:
        return self.spec.temporal.namespace or self.deployment_namespace

    @property
    def available_workers(self) -> int:
        return sum(available_workers(g) for g in self.groups)

    @property
    def unavailable_workers(self) -> int:
        return unavailable_workers(self.groups)

    @property
    def sunset(self) -> SunsetStatus | None:
        """The version's sunset, as its groups last reported it."""
        return next((g.sunset for g in self.groups if g.sunset is not None), None)


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
    request_hash: str | None = None


@dataclass(frozen=True)
class EndpointView:
    """An endpoint: its fields, and the version it projects (whose token guards both)."""

    id: str
    name: str
    endpoint_type: str
    fields: EndpointRecord
    version: VersionView
    created_at: float
    updated_at: float
    request_id: str | None
    request_hash: str | None = None

    @property
    def conflict_token(self) -> str:
        return self.version.conflict_token


def version_view(row: DeploymentVersion, groups: list[GroupStatus]) -> VersionView:
    """The view of a version row (its ``deployment`` loaded) with its groups' statuses."""
    dep = row.deployment
    return VersionView(
        deployment=dep.name,
        deployment_namespace=dep.namespace,
        build_id=row.build_id,
        key=row.key,
        stored_spec=row.spec_json,
        generation=row.generation,
        conflict_token=row.conflict_token,
        draining=row.draining,
        deleting=row.deleting,
        status=row.status,
        status_reason=row.status_reason,
        last_validation_at=row.last_validation_at,
        last_validation_error=row.last_validation_error,
        is_current=dep.current_build_id == row.build_id,
        ramping_percentage=dep.ramp_percentage if dep.ramping_build_id == row.build_id else None,
        groups=tuple(groups),
        created_at=row.created_at,
        updated_at=row.updated_at,
        request_id=row.request_id,
        last_update_request_id=row.last_update_request_id,
        request_hash=row.request_hash,
        last_update_request_hash=row.last_update_request_hash,
    )


def deployment_view(row: WorkerDeployment, build_ids: list[str]) -> DeploymentView:
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
        request_hash=row.request_hash,
    )


def endpoint_view(row: Endpoint, groups: list[GroupStatus]) -> EndpointView:
    """The view of an endpoint row (its version and deployment loaded)."""
    return EndpointView(
        id=row.id,
        name=row.name,
        endpoint_type=row.endpoint_type,
        fields=EndpointRecord.model_validate_json(row.fields_json),
        version=version_view(row.version, groups),
        created_at=row.created_at,
        updated_at=row.updated_at,
        request_id=row.request_id,
        request_hash=row.request_hash,
    )
