"""The provider contract: where workers run and how they are started, sized and retired.

A provider instance manages the workers of ONE scaling group. The controller calls it from a single
asyncio task, so implementations need no locking of their own.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, SecretStr

from workerplane.planning.worker_beats import WorkerBeat
from workerplane.scaling.types import Strategy, WorkerCensus

DetailsT = TypeVar("DetailsT", bound=BaseModel)


@dataclass(frozen=True)
class WorkerEnvironment:
    """What a worker needs to find its work. Providers pass it to workers as environment variables.

    The names follow Temporal's conventions (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
    ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``) and temporal-worker-controller's
    (``TEMPORAL_DEPLOYMENT_NAME``, ``TEMPORAL_WORKER_BUILD_ID``), so a worker written for either
    runs unchanged.
    """

    address: str
    namespace: str
    task_queues: tuple[str, ...]
    task_queue_types: tuple[str, ...] = ()
    deployment_name: str | None = None
    build_id: str | None = None
    #: Secret values (API key, inline TLS data). Providers must pass these by reference where the
    #: platform allows (a Kubernetes Secret, an encrypted Lambda payload), and never log them.
    secret_env: dict[str, str] = field(default_factory=dict, repr=False)
    #: Non-secret extras: TLS file paths, workerplane runtime knobs.
    extra_env: dict[str, str] = field(default_factory=dict)

    def as_env(self) -> dict[str, str]:
        """All variables, secrets included, for a process environment."""
        env = {
            "TEMPORAL_ADDRESS": self.address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "TEMPORAL_TASK_QUEUE": self.task_queues[0],
            "WORKERPLANE_TASK_QUEUES": ",".join(self.task_queues),
        }
        if self.task_queue_types:
            env["WORKERPLANE_TASK_QUEUE_TYPES"] = ",".join(self.task_queue_types)
        if self.deployment_name:
            env["TEMPORAL_DEPLOYMENT_NAME"] = self.deployment_name
        if self.build_id:
            env["TEMPORAL_WORKER_BUILD_ID"] = self.build_id
        env.update(self.extra_env)
        env.update(self.secret_env)
        return env

    def with_secrets(self, secrets: Mapping[str, SecretStr]) -> WorkerEnvironment:
        """This environment plus a group's own secret variables (its details' ``secret_env``)."""
        if not secrets:
            return self
        revealed = {name: value.get_secret_value() for name, value in secrets.items()}
        return replace(self, secret_env={**self.secret_env, **revealed})


class WorkerReads(Protocol):
    """What a provider's census may read from Temporal about its group's workers.

    The controller gives a provider whose type asks for them
    (:attr:`~workerplane.providers.registry.ProviderType.reads_workers`) its own reads: shared
    with the other groups of the same queues and paid for in its call budget. A provider built
    elsewhere (a Nexus handler, a benchmark) reads over a client of its own
    (:class:`workerplane.temporal.worker_reads.ClientWorkerReads`).

    Both raise :class:`~workerplane.temporal.metrics.MetricsUnavailable` (or ``OSError``,
    ``RuntimeError``) when they cannot read.
    """

    async def last_polls(self) -> Mapping[str, float]:
        """``identity -> newest poll start`` (epoch seconds) of every poller of the group's
        queues (:mod:`workerplane.temporal.pollers`)."""
        ...

    async def beats(self) -> Mapping[str, WorkerBeat]:
        """``identity -> newest heartbeat`` of every worker of the group's queues
        (:mod:`workerplane.temporal.worker_heartbeats`)."""
        ...


@dataclass(frozen=True)
class ProviderContext(Generic[DetailsT]):
    """Everything a provider is built from.

    Attributes:
        deployment: workerplane's deployment name.
        group_id: the scaling group's ID.
        details: the provider details, validated: the type's details model.
        worker_env: what workers need to connect to Temporal.
        state_dir: a directory the provider may use for local state (e.g. pid files).
        worker_reads: the controller's reads of the group's pollers and heartbeats, for a type
            that asks for them; ``None``: the provider reads them itself, if it needs them.
    """

    deployment: str
    group_id: str
    details: DetailsT
    worker_env: WorkerEnvironment
    state_dir: Path
    worker_reads: WorkerReads | None = None


@dataclass(frozen=True)
class ProviderCheck:
    """The result of a provider's own validation (e.g. "the command exists")."""

    ok: bool
    message: str = ""
    #: A machine-readable class: "not_found", "access_denied", "throttled", "internal", "invalid".
    kind: str = ""


class ProviderError(Exception):
    """A provider call failed.

    Attributes:
        kind: "not_found", "access_denied", "throttled", "internal" or "invalid".
        retryable: whether trying again later may succeed.
    """

    def __init__(self, message: str, *, kind: str = "internal", retryable: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class Provider(abc.ABC):
    """Starts, sizes and retires the workers of one scaling group."""

    #: The ``provider.type`` string in the compute config.
    type: ClassVar[str]

    #: INVOKE providers implement :meth:`invoke`; WORKER_SET providers implement :meth:`set_size`.
    strategy: Strategy

    @classmethod
    def from_context(cls, context: ProviderContext[Any]) -> Provider:
        """Build the provider for one group (the factory's one entry point).

        This default suits a constructor that takes the details, then ``deployment``,
        ``group_id`` and ``worker_env`` by keyword; a provider built otherwise overrides it.
        """
        # The constructor is the subclass's, unknown to this class: call it as a callable.
        build: Callable[..., Provider] = cls
        return build(
            context.details,
            deployment=context.deployment,
            group_id=context.group_id,
            worker_env=context.worker_env,
        )

    @property
    def claim(self) -> str | None:
        """What holds the group's workers outside this object: a Kubernetes Deployment, an ECS
        service, a local state directory. ``None``: its workers are its own (invocations).

        Two providers with the same claim manage the same workers. When a spec change replaces
        a group's provider with one of the same claim, the controller hands the workers over:
        the new provider's :meth:`start` takes them on (and brings them to its spec), and the
        old one is closed, not drained, since draining would retire the new one's workers too.
        """
        return None

    def take_over(self, previous: Provider) -> None:  # noqa: B027 - optional hook
        """Before :meth:`start`: carry over what ``previous``, the provider of the same
        :attr:`claim` this one replaces, knew of the workers and cannot be read back. A provider
        that reads its workers (a Deployment, a service) needs nothing; one that only remembers
        what it asked for (a webhook receiver without a list API) would otherwise count no
        workers until its first request."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Begin managing: adopt or stop workers left from an earlier controller run, or by the
        provider this one replaces (:attr:`claim`)."""

    @abc.abstractmethod
    async def validate(self) -> ProviderCheck:
        """Check the provider can work (the command exists, the function exists, ...)."""

    async def invoke(self, count: int) -> int:
        """INVOKE strategy: start ``count`` more workers. Returns how many were started."""
        raise NotImplementedError(f"{self.type} does not support the invoke strategy")

    async def set_size(self, size: int) -> None:
        """WORKER_SET strategy: hold ``size`` workers."""
        raise NotImplementedError(f"{self.type} does not support the worker-set strategy")

    @abc.abstractmethod
    async def census(self) -> WorkerCensus:
        """Observe the workers that actually exist now (never just the last requested size)."""

    async def drain(self, timeout_s: float) -> None:
        """Retire every worker gracefully: let in-flight work finish, within ``timeout_s``."""
        if self.strategy is Strategy.WORKER_SET:
            await self.set_size(0)

    async def remove_resources(self) -> None:  # noqa: B027 - optional hook
        """Delete what the provider created for the group (e.g. a Kubernetes Deployment), once
        its workers are drained for good: its version's sunset is over."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop managing without touching the workers (a later controller run adopts them)."""


class DelegatingProvider(Provider):
    """Another provider, but for what a subclass overrides (its census, say): every call goes
    to ``inner``."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.strategy = inner.strategy

    @property
    def claim(self) -> str | None:
        return self.inner.claim

    async def start(self) -> None:
        await self.inner.start()

    async def validate(self) -> ProviderCheck:
        return await self.inner.validate()

    async def invoke(self, count: int) -> int:
        return await self.inner.invoke(count)

    async def set_size(self, size: int) -> None:
        await self.inner.set_size(size)

    async def census(self) -> WorkerCensus:
        return await self.inner.census()

    async def drain(self, timeout_s: float) -> None:
        await self.inner.drain(timeout_s)

    async def remove_resources(self) -> None:
        await self.inner.remove_resources()

    async def close(self) -> None:
        await self.inner.close()
