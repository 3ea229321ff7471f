"""What the controller derives from a spec to run one scaling group: its connection, scaler and
read target, its workers' environment, the signature that says when it must be rebuilt, and
the report of a group whose provider cannot start."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from workerplane.config.model import ScalingGroup, effective_task_queue_types
from workerplane.planning.identity import MARKER_ENV, WorkerMarker
from workerplane.planning.plan import unstarted_status
from workerplane.planning.status import GroupStatus, ManagedVersion
from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.registry import provider_strategy
from workerplane.scaling.base import Scaler
from workerplane.scaling.registry import DEFAULT_SCALER, build_scaler
from workerplane.scaling.types import Strategy
from workerplane.temporal.connection import ResolvedConnection, resolve_connection
from workerplane.temporal.metrics import QueueTarget, read_types

logger = logging.getLogger("workerplane.controller")

#: Retrying a group whose provider cannot start: 1 s, 2 s, 4 s, ... at most this long apart.
START_RETRY_CAP_S = 60.0


@dataclass(frozen=True)
class GroupParts:
    """A group's spec, resolved: what to connect to, which scaler decides, what to read."""

    version: ManagedVersion
    group_id: str
    group: ScalingGroup
    connection: ResolvedConnection
    strategy: Strategy
    scaler: Scaler[Any]
    served_types: tuple[str, ...]
    target: QueueTarget

    @classmethod
    def of(
        cls, version: ManagedVersion, group_id: str, address: str | None, namespace: str | None
    ) -> GroupParts:
        """Resolve group ``group_id`` of ``version`` (``address``/``namespace`` override the
        spec's connection, as ``--address`` does)."""
        spec = version.spec
        group = spec.compute.scaling_groups[group_id]
        connection = resolve_connection(spec.temporal, address=address, namespace=namespace)
        served = effective_task_queue_types(spec.compute, group_id)
        strategy = provider_strategy(group.provider.type, group.provider.details)
        scaler = build_scaler(group.scaler.type or DEFAULT_SCALER, group.scaler.details, strategy)
        target = QueueTarget(
            namespace=connection.namespace,
            task_queues=tuple(spec.task_queues),
            task_queue_types=read_types(served, group.task_queue_types),
            deployment_name=spec.deployment.name if spec.deployment else None,
            build_id=spec.deployment.build_id if spec.deployment else None,
        )
        return cls(version, group_id, group, connection, strategy, scaler, served, target)

    @property
    def marker(self) -> WorkerMarker:
        """The identity marker of the group's workers (:mod:`workerplane.planning.identity`)."""
        spec = self.version.spec
        return WorkerMarker(spec.name, spec.target()[1], self.group_id)

    def worker_env(self) -> WorkerEnvironment:
        """What the group's workers are started with (they poll every type they serve, under
        an identity marked as this deployment's: :mod:`workerplane.planning.identity`)."""
        spec = self.version.spec
        plain, secret = self.connection.worker_env()
        plain[MARKER_ENV] = self.marker.text
        return WorkerEnvironment(
            address=self.connection.address,
            namespace=self.connection.namespace,
            task_queues=tuple(spec.task_queues),
            task_queue_types=self.served_types,
            deployment_name=spec.deployment.name if spec.deployment else None,
            build_id=spec.deployment.build_id if spec.deployment else None,
            secret_env=secret,
            extra_env=plain,
        )


def spec_signature(version: ManagedVersion, group_id: str) -> str:
    """Everything of the spec a running group depends on: when it changes, the group is
    rebuilt (or only its scaler swapped, if its provider stayed the same)."""
    spec = version.spec
    parts = [
        spec.compute.model_dump_json(),
        spec.temporal.model_dump_json(),
        ",".join(spec.task_queues),
        spec.deployment.model_dump_json() if spec.deployment else "",
        group_id,
    ]
    return "|".join(parts)


@dataclass
class StartFailure:
    """A group whose provider could not be built or started, reported until it starts."""

    signature: str
    status: GroupStatus
    attempts: int
    retry_at: float


def start_failure(
    version: ManagedVersion,
    group_id: str,
    signature: str,
    err: Exception,
    previous: StartFailure | None,
) -> StartFailure:
    """Report a group whose provider cannot start (its version fails with the reason), and
    retry it with a capped backoff, logging it once per spec and error."""
    error = f"cannot start: {err}"
    same = previous is not None and previous.signature == signature
    attempts = previous.attempts + 1 if previous is not None and same else 1
    if previous is None or not same or previous.status.last_error != error:
        logger.error("%s/%s %s (retrying with backoff)", version.key, group_id, error)
    else:
        logger.debug("%s/%s still %s", version.key, group_id, error)
    group = version.spec.compute.scaling_groups[group_id]
    try:
        strategy = provider_strategy(group.provider.type, group.provider.details).value
    except ValueError:
        strategy = "unknown"
    status = unstarted_status(
        version.key,
        group_id,
        group.provider.type,
        group.scaler.type or DEFAULT_SCALER,
        strategy,
        error=error,
        wall_time=time.time(),
    )
    delay = min(START_RETRY_CAP_S, 2.0 ** (attempts - 1))
    return StartFailure(signature, status, attempts, time.monotonic() + delay)
