"""A scaling group whose provider sits behind a Nexus endpoint (``provider.nexus_endpoint``).

The group's ``provider.type`` names what the remote handler wraps (``subprocess``, ``k8s``,
``aws-lambda``...); this provider drives it through the endpoint with the worker-provider service
(:mod:`workerplane.nexus.service`). Each call is a caller workflow on the controller's own queue
with a bounded schedule-to-close timeout, retried with the remote providers' backoff
(:mod:`~workerplane.providers._retry`); what still fails is a :class:`ProviderError`, shown in the
group's status like any provider's. The census runs every cycle, so it is kept cheap: one short
operation, its answer reused for :data:`CENSUS_TTL_S` unless this provider changed the size since.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import nexusrpc
from temporalio.client import WorkflowFailureError
from temporalio.converter import value_to_type
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError

from workerplane.nexus.service import (
    SERVICE_NAME,
    CensusInput,
    CensusOutput,
    DrainInput,
    GroupRef,
    SetSizeInput,
    StartWorkersInput,
    ValidateInput,
    WorkerEnv,
    WorkerProviderService,
    provider_error,
)
from workerplane.providers._retry import Backoff, retry_async
from workerplane.providers.base import Provider, ProviderCheck, ProviderError, WorkerEnvironment
from workerplane.providers.nexus.caller import CallerHost, NexusRoute, acquire, release
from workerplane.providers.nexus.workflow import ProviderCall
from workerplane.providers.registry import provider_strategy
from workerplane.scaling.types import WorkerCensus

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

InputT = TypeVar("InputT", bound="DataclassInstance")
OutputT = TypeVar("OutputT")

#: A census this young answers the next cycle's census (the handler's costs one operation).
CENSUS_TTL_S = 1.0
#: Schedule-to-close timeouts: a handler that is down fails a census within seconds.
CENSUS_TIMEOUT_S = 5.0
CALL_TIMEOUT_S = 8.0
#: A size change is tried twice (a retried start is deduplicated by the handler): a handler that
#: is down holds the group's cycle for at most two timeouts, then the next cycle plans afresh.
#: A census, a check and a drain are tried once: the next cycle counts again, a group that
#: cannot start is retried by the controller, and a drain that cannot reach the handler must not
#: hold a controller's shutdown for minutes.
RETRIED = Backoff(attempts=2, base_s=0.5, max_s=1.0)
ONCE = Backoff(attempts=1)


class NexusProvider(Provider):
    """Drives a remote provider of type ``remote_type`` through a Nexus endpoint."""

    type = "nexus"

    def __init__(
        self,
        route: NexusRoute,
        remote_type: str,
        details: dict[str, Any],
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.strategy = provider_strategy(remote_type, details)
        self._route = route
        self._group = GroupRef(
            deployment=deployment,
            group_id=group_id,
            provider_type=remote_type,
            details=details,
            worker_env=WorkerEnv.of(worker_env),
        )
        self._where = f"nexus endpoint '{route.endpoint}'"
        self._host: CallerHost | None = None
        self._clock = clock
        self._census: tuple[float, WorkerCensus] | None = None

    async def start(self) -> None:
        if self._host is None:
            self._host = await acquire(self._route.connection)

    async def close(self) -> None:
        host, self._host = self._host, None
        if host is not None:
            await release(self._route.connection, host)

    async def validate(self) -> ProviderCheck:
        out = await self._call(
            WorkerProviderService.validate, ValidateInput(self._group), CALL_TIMEOUT_S, ONCE
        )
        if out.ok and out.strategy != self.strategy.value:
            return ProviderCheck(
                False,
                f"{self._where} runs the '{out.strategy}' strategy, the spec says "
                f"'{self.strategy.value}'",
                "invalid",
            )
        return ProviderCheck(out.ok, f"{self._where}: {out.message}", out.kind)

    async def invoke(self, count: int) -> int:
        request = StartWorkersInput(self._group, count, uuid.uuid4().hex)
        self._census = None
        out = await self._call(
            WorkerProviderService.start_workers, request, CALL_TIMEOUT_S, RETRIED
        )
        return out.started

    async def set_size(self, size: int) -> None:
        self._census = None
        await self._call(
            WorkerProviderService.set_size, SetSizeInput(self._group, size), CALL_TIMEOUT_S, RETRIED
        )

    async def census(self) -> WorkerCensus:
        now = self._clock()
        if self._census is not None and now - self._census[0] < CENSUS_TTL_S:
            return self._census[1]
        out: CensusOutput = await self._call(
            WorkerProviderService.census, CensusInput(self._group), CENSUS_TIMEOUT_S, ONCE
        )
        census = out.census()
        self._census = (self._clock(), census)
        return census

    async def drain(self, timeout_s: float) -> None:
        self._census = None
        await self._call(
            WorkerProviderService.drain,
            DrainInput(self._group, timeout_s),
            timeout_s + CALL_TIMEOUT_S,
            ONCE,
        )

    async def _call(
        self,
        operation: nexusrpc.Operation[InputT, OutputT],
        input: InputT,
        timeout_s: float,
        backoff: Backoff,
    ) -> OutputT:
        """One operation, retried; its output typed as the service declares it."""
        host = self._host
        if host is None:
            raise ProviderError(f"{self._where}: the provider was not started", retryable=False)
        call = ProviderCall(
            endpoint=self._route.endpoint,
            service=SERVICE_NAME,
            operation=operation.name,
            input=dataclasses.asdict(input),
            timeout_s=timeout_s,
        )

        async def once() -> Any:
            try:
                return await host.call(call)
            except WorkflowFailureError as err:
                raise self._failure(err, operation.name, timeout_s) from None
            except RPCError as err:
                raise ProviderError(f"{self._where}: Temporal: {err}", kind="internal") from None

        raw = await retry_async(once, backoff=backoff, what=f"{self._where} {operation.name}")
        output_type = operation.output_type
        assert output_type is not None, "every operation of the service declares its output"
        output: OutputT = value_to_type(output_type, raw)
        return output

    def _failure(
        self, err: WorkflowFailureError, operation: str, timeout_s: float
    ) -> ProviderError:
        """What went wrong, from the failure chain of the caller workflow."""
        cause: BaseException | None = err.cause
        while cause is not None:
            if isinstance(cause, nexusrpc.HandlerError):
                return provider_error(cause, self._where)
            if isinstance(cause, TemporalTimeoutError):
                return ProviderError(
                    f"{self._where}: {operation} got no answer within {timeout_s:g}s "
                    "(is the handler running?)",
                    kind="internal",
                )
            cause = cause.__cause__
        return ProviderError(f"{self._where}: {operation} failed: {err.cause or err}")
