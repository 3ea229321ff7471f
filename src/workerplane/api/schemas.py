"""Request and response bodies of the REST API.

Every request model rejects unknown fields, NaN/Infinity, NUL characters and unpaired surrogates
(which neither database can store), and bounds every number, so no input can reach the database
in a form it would refuse with an internal error.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from workerplane.api.rollout_schemas import RolloutOut
from workerplane.api.status_schemas import ComputeStatusOut, SunsetOut
from workerplane.config.model import ComputeConfig, ScalingGroup
from workerplane.config.rollout import RolloutSpec
from workerplane.security.crypto import SEALED_PREFIX
from workerplane.store.endpoint_fields import (
    Namespace,
)

#: Deployment names: Temporal allows more, but these are also file and label names here.
DeploymentName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")]
BuildId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")]
#: Endpoint names are DNS labels (they become Kubernetes object names).
EndpointName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
#: An endpoint's ID (``end_...``) or name.
EndpointRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,63}$")]
RequestId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ConflictToken = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _checked(value: Any, path: str = "") -> Any:
    """``value`` with integral floats as integers (JSON has one number type: ``2.0`` is the
    integer 2), after refusing what no database column can hold and our ciphertext marker."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'value'}: must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{path or 'value'}: must be valid UTF-8 text") from None
        if value.startswith(SEALED_PREFIX):
            raise ValueError(
                f"{path or 'value'}: values starting with '{SEALED_PREFIX}' are reserved"
            )
    elif isinstance(value, dict):
        return {
            _checked(key, path): _checked(item, f"{path}.{key}" if path else str(key))
            for key, item in value.items()
        }
    elif isinstance(value, list):
        return [_checked(item, f"{path}[{i}]") for i, item in enumerate(value)]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if abs(value) > 2**53:
            raise ValueError(f"{path or 'value'}: number out of range (at most 2**53 either way)")
        if isinstance(value, float) and value.is_integer():
            return int(value)
    return value


class RequestModel(BaseModel):
    """A request body. Strict: JSON types are not coerced (``false`` is no integer, ``"1"`` no
    number), so a field accepts what the OpenAPI document says its type is."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, str_max_length=65536, strict=True
    )

    @model_validator(mode="before")
    @classmethod
    def _safe_values(cls, data: Any) -> Any:
        return _checked(data)

    def fingerprint(self) -> str:
        """What identifies this request's body, stored beside its ``request_id`` so that a
        reused ID with another body is refused. The conflict token (which a retry may refresh)
        is left out, and secret values are not hashed (only their names), so no digest of a
        secret is ever stored: two bodies that differ only in a secret value match."""
        data = self.model_dump(mode="json", exclude={"conflict_token"})
        if isinstance(data.get("secret_env"), dict):
            data["secret_env"] = sorted(data["secret_env"])
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


#: The answer to a create repeated with the same ``request_id`` and body (documented beside 201).
REPLAYED: dict[str, Any] = {"description": "Already created by this request_id: the resource"}
#: The answer to a delete that completed at once (no controller to drain the workers).
DELETED: dict[str, Any] = {"description": "Deleted at once (no controller runs)"}


# -- errors ---------------------------------------------------------------------------------


class FieldIssue(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[FieldIssue] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


# -- worker deployments ---------------------------------------------------------------------


class DeploymentCreate(RequestModel):
    """``POST /v1/worker-deployments``."""

    name: DeploymentName
    namespace: Namespace | None = None
    request_id: RequestId | None = None


class DeploymentOut(BaseModel):
    name: str
    namespace: str | None
    owner: str
    current_version: str | None
    ramping_version: str | None
    ramping_percentage: float | None
    build_ids: list[str]
    conflict_token: str
    created_at: float
    updated_at: float
    #: The rollout of its newest build (only when one deployment is described).
    rollout: RolloutOut | None = None


class DeploymentList(BaseModel):
    """One page. ``next_page_token`` continues it (``None``: the last page); ``total`` and
    ``next_offset`` are only set for a request with ``offset``."""

    items: list[DeploymentOut]
    next_page_token: str | None = None
    total: int | None = None
    next_offset: int | None = None


class SetCurrentVersion(RequestModel):
    """``SetWorkerDeploymentCurrentVersion``."""

    build_id: BuildId | None = None
    conflict_token: ConflictToken | None = None


class SetRampingVersion(RequestModel):
    """``SetWorkerDeploymentRampingVersion``: ``build_id`` null removes the ramp."""

    build_id: BuildId | None = None
    percentage: float = Field(default=0.0, ge=0.0, le=100.0)
    conflict_token: ConflictToken | None = None


# -- versions -------------------------------------------------------------------------------


class VersionCreate(RequestModel):
    """``CreateWorkerDeploymentVersion`` plus what workerplane needs to run the workers.

    A new build of a deployment that has versions may leave out ``task_queues``,
    ``compute_config`` and ``rollout``: they are copied from its current (else newest) version.
    With a ``rollout`` the new version is rolled out (docs/rollouts.md).
    """

    build_id: BuildId
    task_queues: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] | None = (
        Field(default=None, min_length=1, max_length=100)
    )
    compute_config: ComputeConfig | None = None
    temporal_namespace: Namespace | None = None
    rollout: RolloutSpec | None = None
    request_id: RequestId | None = None


class FieldMaskIn(RequestModel):
    paths: list[Annotated[str, StringConstraints(max_length=255)]] = Field(max_length=32)


class GroupUpdateIn(RequestModel):
    """``ComputeConfigScalingGroupUpdate``."""

    scaling_group: ScalingGroup = Field(default_factory=ScalingGroup)
    update_mask: FieldMaskIn | list[Annotated[str, StringConstraints(max_length=255)]] = Field(
        default_factory=list
    )

    def paths(self) -> tuple[str, ...]:
        mask = self.update_mask
        return tuple(mask.paths if isinstance(mask, FieldMaskIn) else mask)


class ComputeConfigUpdate(RequestModel):
    """``UpdateWorkerDeploymentVersionComputeConfig`` (and ``Validate...`` without the token)."""

    scaling_groups: dict[Annotated[str, StringConstraints(max_length=255)], GroupUpdateIn] = Field(
        default_factory=dict, max_length=64
    )
    remove_scaling_groups: list[Annotated[str, StringConstraints(max_length=255)]] = Field(
        default_factory=list, max_length=64
    )
    conflict_token: ConflictToken | None = None
    request_id: RequestId | None = None


class ConfigValidate(RequestModel):
    """``POST /v1/validate``: a whole config, checked without storing anything."""

    task_queues: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] = Field(
        default_factory=lambda: ["validate"], min_length=1, max_length=100
    )
    compute_config: ComputeConfig
    temporal_namespace: Namespace | None = None
    provider_checks: bool = True


class VersionAction(RequestModel):
    conflict_token: ConflictToken | None = None


class ProviderCheckOut(BaseModel):
    group_id: str
    provider_type: str
    ok: bool
    message: str
    kind: str = ""


class ValidationOut(BaseModel):
    valid: bool
    issues: list[FieldIssue]
    provider_checks: list[ProviderCheckOut]
    warnings: list[FieldIssue] = Field(
        default_factory=list,
        description="Valid settings that cannot give what they ask for (e.g. an SLO below what "
        "a cold start can reach); they do not make the spec invalid.",
    )


class VersionOut(BaseModel):
    deployment_name: str
    build_id: str
    namespace: str | None
    task_queues: list[str]
    compute_config: dict[str, Any]
    status: str
    status_reason: str | None
    draining: bool
    deleting: bool
    is_current: bool
    ramping_percentage: float | None
    generation: int
    conflict_token: str
    available_workers: int
    unavailable_workers: int
    compute_status: ComputeStatusOut
    created_at: float
    updated_at: float
    sunset: SunsetOut | None = None


class VersionList(BaseModel):
    items: list[VersionOut]


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    controller: str
