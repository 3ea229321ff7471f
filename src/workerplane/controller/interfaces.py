"""What the controller is wired to: where specs come from, where status goes, how it reads queue
metrics and how it builds providers.

The controller does not care whether specs come from a YAML file (``workerplane run -f``) or from
the API's database (``workerplane serve``): both implement :class:`SpecSource`. Likewise, status
goes to a :class:`StatusSink` (a JSON file for ``workerplane status``, the store for the API).
Metrics and providers come through :class:`MetricsConnector` and :class:`ProviderFactory`, so
tests drive the controller with in-memory fakes and no server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from workerplane.planning.status import (
    ControllerStatus,
    GroupStatus,
    ManagedVersion,
    VersionStatus,
)
from workerplane.planning.worker_beats import WorkerBeat
from workerplane.providers.base import Provider, WorkerEnvironment, WorkerReads
from workerplane.providers.nexus.caller import NexusRoute
from workerplane.scaling.types import QueueStats
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.metrics import QueueTarget

if TYPE_CHECKING:  # cycle.py imports this module: the report type is for annotations only
    from workerplane.controller.cycle import CycleReport


class SpecSource(Protocol):
    """Where the desired state comes from."""

    async def snapshot(self) -> list[ManagedVersion]:
        """Every version to manage now. A version missing from the list is drained and dropped."""
        ...


class StatusSink(Protocol):
    """Where the controller publishes status, about once a second (see
    :mod:`workerplane.controller.publisher`)."""

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        """Record group statuses and, in ``versions``, the status of the versions they belong
        to (all their groups and their readiness).

        With ``partial``, ``statuses`` holds only the groups whose status changed since the
        last publish (possibly none) and ``versions`` only their versions: every other group
        and version keeps what was published before. Without it, ``statuses`` and ``versions``
        are everything the controller runs: anything else is gone. ``controller`` is the
        controller's own status (its load on Temporal), for sinks that show it.
        """
        ...


class MetricsSource(Protocol):
    """Reads a group's task-queue stats.

    ``read`` raises :class:`~workerplane.temporal.metrics.MetricsUnavailable` (or ``OSError``,
    ``RuntimeError``) when it cannot; the group then holds its size.
    """

    async def read(self, target: QueueTarget) -> dict[str, QueueStats]:
        """Stats per task-queue type, summed over the target's queues."""
        ...

    async def read_fresh(self, target: QueueTarget) -> Mapping[str, int]:
        """Tasks waiting now per task-queue type, from signals that bypass the server's stats
        cache (empty when the target has none, e.g. a versioned queue)."""
        ...

    async def read_beats(self, target: QueueTarget) -> Mapping[str, WorkerBeat]:
        """The newest heartbeat of each worker of the target's queues (``identity -> beat``;
        :mod:`workerplane.temporal.worker_heartbeats`)."""
        ...

    async def read_pollers(self, target: QueueTarget) -> Mapping[str, float]:
        """When each poller of the target's queues and types last started a poll
        (``identity -> epoch seconds``, newest over every partition;
        :mod:`workerplane.temporal.pollers`)."""
        ...


class MetricsConnector(Protocol):
    """Gives the metrics source of a Temporal connection (connecting on first use)."""

    async def __call__(self, connection: ResolvedConnection) -> MetricsSource: ...


class ProviderFactory(Protocol):
    """Builds a scaling group's provider, as
    :func:`~workerplane.providers.factory.build_provider` does: validates the spec's
    ``provider.details`` and builds the implementation."""

    def __call__(
        self,
        type_name: str,
        details: Mapping[str, Any],
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        state_dir: Path,
        nexus: NexusRoute | None = None,
        worker_reads: WorkerReads | None = None,
    ) -> Provider: ...


class CycleObserver(Protocol):
    """Told about every finished group cycle (counters, histograms, the console's telemetry).

    Called on the controller's event loop right after the cycle, so it must be quick and must
    not block: buffer, and write elsewhere. An observer that raises is logged and skipped.
    """

    def on_cycle(self, report: CycleReport) -> None: ...
