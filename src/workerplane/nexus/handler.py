"""The handler a team runs next to its workers: a Temporal worker that serves the worker-provider
Nexus service (:mod:`workerplane.nexus.service`) by driving one of workerplane's providers.

The controller never holds credentials for the place where the workers run: the handler does (its
environment, its provider file). Its provider file names the one provider type it wraps and the
details it pins; the caller's details fill in only what the file leaves open (and, with
``caller_keys``, only the keys listed there).

Restart-safe: a group's provider keeps its state in ``state_dir`` (the subprocess provider's worker
records and lease), so a restarted handler adopts the workers it started before on the first call
for their group: none is orphaned, none started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from nexusrpc.handler import StartOperationContext, service_handler, sync_operation
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from temporalio.client import Client
from temporalio.worker import Worker

from workerplane.nexus.service import (
    CensusInput,
    CensusOutput,
    DrainInput,
    DrainOutput,
    GroupRef,
    SetSizeInput,
    SetSizeOutput,
    StartWorkersInput,
    StartWorkersOutput,
    ValidateInput,
    ValidateOutput,
    WorkerProviderService,
    handler_error,
)
from workerplane.providers.base import Provider, ProviderError
from workerplane.providers.factory import build_provider
from workerplane.providers.registry import provider_type

logger = logging.getLogger("workerplane.nexus.handler")

#: Start requests remembered, so a call Nexus or the controller retried starts its workers once.
REMEMBERED_REQUESTS = 4096


class ProviderFile(BaseModel):
    """The handler's provider file (YAML): what it wraps and what it pins.

    Attributes:
        type: the provider type this handler wraps; a call naming another type is refused.
        details: details the handler pins (command, cluster, role, secrets...); they win over the
            caller's.
        caller_keys: the details keys a caller may set; ``None``: every key the file leaves open.
    """

    # Its details may hold the team's secrets: an error never repeats the input.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: str
    details: dict[str, Any] = Field(default_factory=dict)
    caller_keys: list[str] | None = None

    @model_validator(mode="after")
    def _keys_fit_the_type(self) -> ProviderFile:
        """The type is known, ``caller_keys`` name keys of its details that the file leaves
        open, and each pinned key is valid for the type (the keys a caller must give are
        checked when the details are merged, at the group's first call)."""
        model = provider_type(self.type).details_model
        known = ", ".join(model.model_fields)
        problems = []
        for index, key in enumerate(self.caller_keys or ()):
            if key not in model.model_fields:
                problems.append(
                    f"caller_keys[{index}]: '{key}' is not a {self.type} details key "
                    f"(known: {known})"
                )
            elif key in self.details:
                problems.append(
                    f"caller_keys[{index}]: '{key}' is pinned in details, so a caller's value "
                    "would never be used: leave it out of one of them"
                )
        problems.extend(_pinned_problems(model, self.details, known))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def load(cls, path: Path) -> ProviderFile:
        """Read and check a provider file.

        Raises:
            ValueError: unknown provider type, or a file that breaks the model, every problem
                named by its field (``caller_keys[0]``, ``details.slots``); no value is quoted.
        """
        try:
            return cls.model_validate(yaml.safe_load(path.read_text()) or {})
        except ValidationError as err:
            raise ValueError("; ".join(map(_problem, err.errors(include_input=False)))) from None

    def details_for(self, caller: dict[str, Any]) -> dict[str, Any]:
        """The details a group's provider is built with: the caller's open keys, then ours."""
        allowed = set(caller) if self.caller_keys is None else set(self.caller_keys)
        return {**{k: v for k, v in caller.items() if k in allowed}, **self.details}


def _problem(error: ErrorDetails) -> str:
    """One of pydantic's errors as ``field: rule``; the file's own checks say their fields."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return f"{'.'.join(map(str, error['loc'])) or 'file'}: {error['msg']}"


def _pinned_problems(model: type[BaseModel], details: dict[str, Any], known: str) -> list[str]:
    """What is wrong with the keys ``details`` pins, alone: an unknown key, a value the type
    refuses. A key left for the caller is not missing here."""
    try:
        model.model_validate(details)
    except ValidationError as err:
        return [
            f"details.{'.'.join(map(str, e['loc']))}: "
            + (
                f"not a details key (known: {known})"
                if e["type"] == "extra_forbidden"
                else e["msg"]
            )
            for e in err.errors(include_input=False)
            if e["loc"] and e["type"] != "missing"
        ]
    return []


@dataclass
class _Group:
    provider: Provider
    fingerprint: str


@service_handler(service=WorkerProviderService)
class WorkerProviderHandler:
    """Serves the worker-provider service for every group the controller names.

    One provider per (deployment, group), built on the group's first call and kept until it is
    drained; calls for one group run one at a time (the provider contract wants one caller).
    """

    def __init__(self, local: ProviderFile, state_dir: Path) -> None:
        self._local = local
        self._state_dir = state_dir
        self._groups: dict[tuple[str, str], _Group] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._started: OrderedDict[str, int] = OrderedDict()

    @sync_operation
    async def start_workers(
        self, ctx: StartOperationContext, input: StartWorkersInput
    ) -> StartWorkersOutput:
        async with self._provider(input.group) as provider:
            if input.request_id in self._started:
                return StartWorkersOutput(started=self._started[input.request_id])
            started = await provider.invoke(input.count)
            self._started[input.request_id] = started
            while len(self._started) > REMEMBERED_REQUESTS:
                self._started.popitem(last=False)
            return StartWorkersOutput(started=started)

    @sync_operation
    async def set_size(self, ctx: StartOperationContext, input: SetSizeInput) -> SetSizeOutput:
        async with self._provider(input.group) as provider:
            await provider.set_size(input.size)
            return SetSizeOutput(desired=input.size)

    @sync_operation
    async def census(self, ctx: StartOperationContext, input: CensusInput) -> CensusOutput:
        async with self._provider(input.group) as provider:
            return CensusOutput.of(await provider.census())

    @sync_operation
    async def validate(self, ctx: StartOperationContext, input: ValidateInput) -> ValidateOutput:
        async with self._provider(input.group) as provider:
            check = await provider.validate()
            return ValidateOutput(check.ok, check.message, check.kind, provider.strategy.value)

    @sync_operation
    async def drain(self, ctx: StartOperationContext, input: DrainInput) -> DrainOutput:
        key = (input.group.deployment, input.group.group_id)
        async with self._provider(input.group) as provider:
            await provider.drain(input.timeout_s)
            running = (await provider.census()).running
            if running == 0:
                self._groups.pop(key, None)
                await provider.close()
            return DrainOutput(running=running)

    async def close(self) -> None:
        """Stop managing every group, leaving the workers running (a restart adopts them)."""
        groups, self._groups = list(self._groups.values()), {}
        for group in groups:
            with contextlib.suppress(Exception):
                await group.provider.close()

    @contextlib.asynccontextmanager
    async def _provider(self, group: GroupRef) -> AsyncIterator[Provider]:
        """The group's provider, built (and its workers adopted) on first use; its failures
        become Nexus handler errors the controller can classify."""
        key = (group.deployment, group.group_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                yield await self._current(key, group)
            except ProviderError as err:
                logger.warning("%s/%s: %s (%s)", *key, err, err.kind)
                raise handler_error(err) from None
            except ValidationError as err:
                # Field paths and rules only: the input values may be the handler's secrets.
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'details'}: {e['msg']}" for e in err.errors()
                )
                raise handler_error(ProviderError(problems, kind="invalid")) from None
            except ValueError as err:
                raise handler_error(ProviderError(str(err), kind="invalid")) from None

    async def _current(self, key: tuple[str, str], group: GroupRef) -> Provider:
        if group.provider_type != self._local.type:
            raise ProviderError(
                f"this handler wraps '{self._local.type}', not '{group.provider_type}'",
                kind="invalid",
                retryable=False,
            )
        details = self._local.details_for(group.details)
        fingerprint = json.dumps([details, asdict(group.worker_env)], sort_keys=True, default=str)
        known = self._groups.get(key)
        if known is not None and known.fingerprint == fingerprint:
            return known.provider
        if known is not None:
            # The spec changed: the new provider adopts the workers from the same state.
            await known.provider.close()
            del self._groups[key]
        provider = build_provider(
            group.provider_type,
            details,
            deployment=group.deployment,
            group_id=group.group_id,
            worker_env=group.worker_env.environment(),
            state_dir=self._state_dir,
        )
        await provider.start()
        self._groups[key] = _Group(provider, fingerprint)
        logger.info("%s/%s: managing its %s workers", *key, group.provider_type)
        return provider


async def serve(
    client: Client, task_queue: str, local: ProviderFile, state_dir: Path, stop: asyncio.Event
) -> None:
    """Serve the service on ``task_queue`` until ``stop`` is set; the workers keep running."""
    handler = WorkerProviderHandler(local, state_dir)
    worker = Worker(client, task_queue=task_queue, nexus_service_handlers=[handler])
    try:
        async with worker:
            logger.info("serving %s on %s/%s", local.type, client.namespace, task_queue)
            await stop.wait()
    finally:
        await handler.close()
