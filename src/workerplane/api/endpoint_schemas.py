"""The bodies of ``/v1/endpoints`` (Launch's ``temporal`` endpoint type): create, update, read."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workerplane.api.rollout_schemas import RolloutOut
from workerplane.api.schemas import ConflictToken, EndpointName, RequestId, RequestModel
from workerplane.store.endpoint_fields import (
    Command,
    EndpointFields,
    EndpointVersioning,
    EnvName,
    GpuType,
    Image,
    LabelKey,
    LabelValue,
    Namespace,
    Quantity,
    ShortText,
    TaskQueue,
    check_task_queue,
)

EndpointStatus = Literal[
    "UPDATE_PENDING", "UPDATE_IN_PROGRESS", "READY", "UPDATE_FAILED", "DELETE_IN_PROGRESS"
]


#: "Exactly one of command or image", as JSON Schema (each may also be sent as null).
_COMMAND_OR_IMAGE: dict[str, Any] = {
    "oneOf": [
        {"required": ["command"], "properties": {"command": {"type": "array"}}},
        {"required": ["image"], "properties": {"image": {"type": "string"}}},
    ]
}


class EndpointCreate(RequestModel, EndpointFields):
    """``POST /v1/endpoints`` (Launch's ``temporal`` endpoint type)."""

    model_config = ConfigDict(json_schema_extra=_COMMAND_OR_IMAGE)

    name: EndpointName
    endpoint_type: Literal["temporal"]
    secret_env: dict[EnvName, ShortText] = Field(default_factory=dict, max_length=256)
    request_id: RequestId | None = None


class EndpointUpdate(RequestModel):
    """``PUT /v1/endpoints/{id}``: only the fields given change (an explicit null resets a field
    to its default)."""

    #: "Not both command and image", as JSON Schema.
    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["command", "image"],
                "properties": {"command": {"type": "array"}, "image": {"type": "string"}},
            }
        }
    )

    temporal_task_queue: TaskQueue | None = None
    temporal_namespace: Namespace | None = None
    command: Command | None = Field(default=None, min_length=1, max_length=256)
    image: Image | None = None
    env: dict[EnvName, ShortText] | None = Field(default=None, max_length=256)
    secret_env: dict[EnvName, ShortText] | None = Field(default=None, max_length=256)
    cpus: float | None = Field(default=None, gt=0, le=1024)
    gpus: int | None = Field(default=None, ge=0, le=64)
    gpu_type: GpuType | None = None
    memory: Quantity | None = None
    storage: Quantity | None = None
    min_workers: int | None = Field(default=None, ge=0, le=1000)
    max_workers: int | None = Field(default=None, ge=1, le=1000)
    per_worker: int | None = Field(default=None, ge=1, le=100_000)
    labels: dict[LabelKey, LabelValue] | None = Field(default=None, max_length=64)
    versioning: EndpointVersioning | None = None
    conflict_token: ConflictToken | None = None
    request_id: RequestId | None = None

    @field_validator("temporal_task_queue")
    @classmethod
    def _queue_rule(cls, queue: str | None) -> str:
        # The defect Launch's review found: an update could blank the task queue. Validators run
        # only for fields the client sent, so an explicit null or "" is refused here.
        return check_task_queue(queue)

    @model_validator(mode="after")
    def _one_source(self) -> EndpointUpdate:
        if self.command is not None and self.image is not None:
            raise ValueError("exactly one of command or image is allowed")
        return self


class EndpointOut(BaseModel):
    id: str
    name: str
    endpoint_type: str
    status: EndpointStatus
    status_reason: str | None
    temporal_task_queue: str
    temporal_namespace: str | None
    command: list[str] | None
    image: str | None
    env: dict[str, str]
    secret_env: dict[str, str]
    cpus: float | None
    gpus: int
    gpu_type: str | None
    memory: str | None
    storage: str | None
    k8s_namespace: str | None
    min_workers: int
    max_workers: int
    per_worker: int
    labels: dict[str, str]
    versioning: EndpointVersioning | None = None
    #: A versioned endpoint's latest rollout (single reads; ``None`` in lists).
    rollout: RolloutOut | None = None
    available_workers: int
    unavailable_workers: int
    deployment_name: str
    build_id: str
    conflict_token: str
    created_at: float
    updated_at: float


class EndpointList(BaseModel):
    """One page. ``next_page_token`` continues it (``None``: the last page); ``total`` and
    ``next_offset`` are only set for a request with ``offset``."""

    items: list[EndpointOut]
    next_page_token: str | None = None
    total: int | None = None
    next_offset: int | None = None
