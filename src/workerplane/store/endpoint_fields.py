"""The fields of a Launch-style endpoint: one typed model for the request schema, the renderer
and the store.

An endpoint is a projection of one deployment version: these fields render into its spec
(:func:`workerplane.api.service.render_endpoint`), and the store keeps them beside the version so
they read back exactly as given. The version's conflict token and request ID guard both.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from workerplane.config.build_id import AUTO_BUILD_ID, worker_build_id
from workerplane.config.rollout import RolloutSpec

Namespace = Annotated[str, StringConstraints(min_length=1, max_length=255)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$")]
LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,252})?$")]
LabelValue = Annotated[str, StringConstraints(max_length=255)]
ShortText = Annotated[str, StringConstraints(max_length=4096)]
#: Not blank and no surrounding whitespace (:func:`check_task_queue` says why when it is refused).
TaskQueue = Annotated[
    str, StringConstraints(max_length=255, pattern=r"^[^\s\x00]([^\x00]*[^\s\x00])?$")
]
Command = list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]]
Image = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
GpuType = Annotated[str, StringConstraints(max_length=128)]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")]
KubeNamespace = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
#: A Temporal build ID as the versions API takes it, or ``auto``.
EndpointBuildId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")]

#: The fields that define an endpoint's workers: a change to any of them is a new build. The
#: scaling knobs (min/max/per_worker), the labels and the queue are not among them.
WORKER_DEFINITION = (
    "command", "image", "env", "cpus", "gpus", "gpu_type", "memory", "storage", "k8s_namespace",
)  # fmt: skip


def check_task_queue(queue: str | None) -> str:
    """A task queue must be given, not blank, and without surrounding whitespace."""
    if queue is None or not queue.strip():
        raise ValueError("temporal_task_queue must not be empty")
    if queue != queue.strip():
        raise ValueError("temporal_task_queue must not have leading or trailing whitespace")
    return queue


class EndpointVersioning(BaseModel):
    """Opt-in: the endpoint's workers poll as versioned workers of its deployment, and a change
    to what defines them (:data:`WORKER_DEFINITION`) is a new version rolled out under
    ``rollout`` (docs/rollouts.md)."""

    model_config = ConfigDict(extra="forbid")

    #: ``auto``: a hash of the worker definition (:func:`endpoint_build_id`); anything else is
    #: used as given, and a new value is a new version.
    build_id: EndpointBuildId = AUTO_BUILD_ID
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)


class EndpointFields(BaseModel):
    """What an endpoint runs: its queue, its workers' command or image, and their bounds."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    temporal_task_queue: TaskQueue
    temporal_namespace: Namespace | None = None
    command: Command | None = Field(default=None, min_length=1, max_length=256)
    image: Image | None = None
    env: dict[EnvName, ShortText] = Field(default_factory=dict, max_length=256)
    cpus: float | None = Field(default=None, gt=0, le=1024)
    gpus: int = Field(default=0, ge=0, le=64)
    gpu_type: GpuType | None = None
    memory: Quantity | None = None
    storage: Quantity | None = None
    k8s_namespace: KubeNamespace | None = None
    min_workers: int = Field(default=0, ge=0, le=1000)
    max_workers: int = Field(default=1, ge=1, le=1000)
    per_worker: int = Field(default=10, ge=1, le=100_000)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    versioning: EndpointVersioning | None = None

    @field_validator("temporal_task_queue")
    @classmethod
    def _queue_not_blank(cls, queue: str) -> str:
        return check_task_queue(queue)

    @model_validator(mode="after")
    def _consistent(self) -> EndpointFields:
        if (self.command is None) == (self.image is None):
            raise ValueError("exactly one of command or image is required")
        if self.min_workers > self.max_workers:
            raise ValueError(
                f"min_workers ({self.min_workers}) must not exceed max_workers ({self.max_workers})"
            )
        return self


class EndpointRecord(EndpointFields):
    """The fields as stored: plus the names (never the values) of the secret env entries."""

    secret_env_keys: list[str] = Field(default_factory=list)


def worker_definition(fields: EndpointRecord) -> dict[str, Any]:
    """What defines the endpoint's workers: :data:`WORKER_DEFINITION` and the secret env
    *names* (a new secret value under the same name is not a new build)."""
    definition = fields.model_dump(include=set(WORKER_DEFINITION))
    return {**definition, "secret_env_keys": sorted(fields.secret_env_keys)}


def endpoint_build_id(fields: EndpointRecord) -> str | None:
    """The build ID of a versioned endpoint's workers (``None``: the endpoint is unversioned)."""
    if fields.versioning is None:
        return None
    if fields.versioning.build_id == AUTO_BUILD_ID:
        return worker_build_id(worker_definition(fields))
    return fields.versioning.build_id
