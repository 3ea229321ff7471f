"""The Nexus service a remote worker provider offers: the contract between the controller (the
caller) and the handler a team runs next to its workers.

Every operation names the scaling group it acts on (:class:`GroupRef`): the provider type the
handler wraps, the spec's details, and the non-secret part of the workers' environment. The handler
builds (or reuses) that group's provider from them and its own local settings, so the controller
never needs credentials for the place where the workers run.

The service name carries a version (``v1``): an incompatible change is a new service, and a handler
may serve both while callers move over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nexusrpc

from workerplane.providers.base import ProviderError, WorkerEnvironment
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.types import WorkerCensus

SERVICE_NAME = "workerplane.WorkerProvider.v1"

#: Provider error kinds a handler reports; the other kinds are passing faults, worth a retry.
PERMANENT_KINDS = frozenset({"invalid", "not_found", "access_denied"})


@dataclass(frozen=True)
class WorkerEnv:
    """What workers need to find their work, without secrets (a handler adds its own)."""

    address: str
    namespace: str
    task_queues: list[str]
    task_queue_types: list[str] = field(default_factory=list)
    deployment_name: str | None = None
    build_id: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, env: WorkerEnvironment) -> WorkerEnv:
        """The part of ``env`` that may travel: its secrets stay with the controller."""
        return cls(
            address=env.address,
            namespace=env.namespace,
            task_queues=list(env.task_queues),
            task_queue_types=list(env.task_queue_types),
            deployment_name=env.deployment_name,
            build_id=env.build_id,
            extra_env=dict(env.extra_env),
        )

    def environment(self) -> WorkerEnvironment:
        """The provider-side environment (secrets come from the handler's own details)."""
        return WorkerEnvironment(
            address=self.address,
            namespace=self.namespace,
            task_queues=tuple(self.task_queues),
            task_queue_types=tuple(self.task_queue_types),
            deployment_name=self.deployment_name,
            build_id=self.build_id,
            extra_env=dict(self.extra_env),
        )


@dataclass(frozen=True)
class GroupRef:
    """The scaling group an operation acts on.

    Attributes:
        deployment: the controller's version key of the group's deployment.
        group_id: the scaling group's ID.
        provider_type: the ``provider.type`` the handler must wrap (it refuses another).
        details: the spec's ``provider.details`` (the handler's own details win over them).
        worker_env: the workers' environment, secrets left out.
    """

    deployment: str
    group_id: str
    provider_type: str
    details: dict[str, Any]
    worker_env: WorkerEnv


@dataclass(frozen=True)
class StartWorkersInput:
    """Invoke strategy: start ``count`` more workers. ``request_id`` makes a retried call start
    them once."""

    group: GroupRef
    count: int
    request_id: str


@dataclass(frozen=True)
class StartWorkersOutput:
    started: int


@dataclass(frozen=True)
class SetSizeInput:
    """Worker-set strategy: hold ``size`` workers (setting a size twice is harmless)."""

    group: GroupRef
    size: int


@dataclass(frozen=True)
class SetSizeOutput:
    desired: int


@dataclass(frozen=True)
class CensusInput:
    group: GroupRef


@dataclass(frozen=True)
class CensusOutput:
    """The workers that exist now, as the wrapped provider observes them (see
    :class:`~workerplane.scaling.types.WorkerCensus`, field for field)."""

    running: int = 0
    ready: int | None = None
    in_flight: int | None = None
    desired: int | None = None
    slots: int | None = None
    mean_task_s: float | None = None
    tasks_finished: int = 0
    tasks_completed: int | None = None
    last_worker_exit: str | None = None
    #: The workers' schedule-to-start sketch in its wire form (``LatencySketch.to_wire``).
    schedule_to_start: dict[str, Any] | None = None

    @classmethod
    def of(cls, census: WorkerCensus) -> CensusOutput:
        sketch = census.schedule_to_start
        return cls(
            running=census.running,
            ready=census.ready,
            in_flight=census.in_flight,
            desired=census.desired,
            slots=census.slots,
            mean_task_s=census.mean_task_s,
            tasks_finished=census.tasks_finished,
            tasks_completed=census.tasks_completed,
            last_worker_exit=census.last_worker_exit,
            schedule_to_start=None if sketch is None else sketch.to_wire(),
        )

    def census(self) -> WorkerCensus:
        wire = self.schedule_to_start
        return WorkerCensus(
            running=self.running,
            ready=self.ready,
            in_flight=self.in_flight,
            desired=self.desired,
            slots=self.slots,
            mean_task_s=self.mean_task_s,
            tasks_finished=self.tasks_finished,
            tasks_completed=self.tasks_completed,
            last_worker_exit=self.last_worker_exit,
            schedule_to_start=None if wire is None else LatencySketch.from_wire(wire),
        )


@dataclass(frozen=True)
class ValidateInput:
    group: GroupRef


@dataclass(frozen=True)
class ValidateOutput:
    """The wrapped provider's own check, and the launch strategy the handler runs it with (the
    controller refuses a handler whose strategy differs from its own)."""

    ok: bool
    message: str
    kind: str
    strategy: str


@dataclass(frozen=True)
class DrainInput:
    """Retire every worker of the group gracefully within ``timeout_s``; the handler then stops
    managing the group."""

    group: GroupRef
    timeout_s: float


@dataclass(frozen=True)
class DrainOutput:
    running: int


@nexusrpc.service(name=SERVICE_NAME)
class WorkerProviderService:
    """Start, size, count, check and retire the workers of one scaling group."""

    start_workers: nexusrpc.Operation[StartWorkersInput, StartWorkersOutput]
    set_size: nexusrpc.Operation[SetSizeInput, SetSizeOutput]
    census: nexusrpc.Operation[CensusInput, CensusOutput]
    validate: nexusrpc.Operation[ValidateInput, ValidateOutput]
    drain: nexusrpc.Operation[DrainInput, DrainOutput]


#: A provider error kind as a Nexus handler error type, and back.
HANDLER_ERROR_TYPES: dict[str, nexusrpc.HandlerErrorType] = {
    "invalid": nexusrpc.HandlerErrorType.BAD_REQUEST,
    "not_found": nexusrpc.HandlerErrorType.NOT_FOUND,
    "access_denied": nexusrpc.HandlerErrorType.UNAUTHORIZED,
    "throttled": nexusrpc.HandlerErrorType.RESOURCE_EXHAUSTED,
    "internal": nexusrpc.HandlerErrorType.INTERNAL,
}
_KINDS = {error_type: kind for kind, error_type in HANDLER_ERROR_TYPES.items()}


def handler_error(err: ProviderError) -> nexusrpc.HandlerError:
    """A provider's failure as the handler reports it. Never retried by Nexus itself: the
    controller retries with its own bounded backoff, and shows the error meanwhile."""
    error_type = HANDLER_ERROR_TYPES.get(err.kind, nexusrpc.HandlerErrorType.INTERNAL)
    return nexusrpc.HandlerError(str(err), type=error_type, retryable_override=False)


def provider_error(err: nexusrpc.HandlerError, where: str) -> ProviderError:
    """A handler's failure as the controller sees it (``where`` names the endpoint)."""
    kind = _KINDS.get(err.type, "internal")
    return ProviderError(f"{where}: {err}", kind=kind, retryable=kind not in PERMANENT_KINDS)
