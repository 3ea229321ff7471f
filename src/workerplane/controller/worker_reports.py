"""Groups whose workers push their schedule-to-start to the API (every provider that cannot read
its workers' status files: Kubernetes, ECS, Cloud Run, webhook, Lambda).

Under ``serve`` the controller builds each such group's provider through
:func:`reporting_providers`: its workers get ``WORKERPLANE_REPORT_URL`` (plain) and
``WORKERPLANE_REPORT_TOKEN`` (a secret variable: the group's report token, minted here, never
stored), and its census carries the sum of what they pushed, read from the store by
:class:`PushedSketches` (one query for every group, at most every ``refresh_s``). Planning then
consumes :attr:`WorkerCensus.schedule_to_start` exactly as it does the subprocess provider's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from workerplane.controller.interfaces import ProviderFactory
from workerplane.providers.base import (
    DelegatingProvider,
    Provider,
    WorkerEnvironment,
    WorkerReads,
)
from workerplane.providers.factory import build_provider
from workerplane.providers.nexus.caller import NexusRoute
from workerplane.providers.registry import provider_type
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.types import WorkerCensus
from workerplane.security.crypto import SecretBox
from workerplane.security.redact import register_secret
from workerplane.security.report_tokens import ReportSubject, mint_report_token
from workerplane.worker.push import REPORT_PATH, REPORT_TOKEN_ENV, REPORT_URL_ENV

logger = logging.getLogger("workerplane.controller")

#: How often the pushed sums are read from the store (shared by every group).
REFRESH_S = 2.0
#: How often groups nobody reported for in ``retention_s`` are forgotten.
PRUNE_EVERY_S = 3600.0


class PushedReports(Protocol):
    """Where pushed sketches are kept (the store's ``WorkerReportStore``)."""

    def totals(self) -> dict[ReportSubject, LatencySketch]: ...

    def prune(self, before: float) -> int: ...


class PushedSketches:
    """Every group's pushed total, read in one query at most every ``refresh_s``."""

    def __init__(
        self,
        reports: PushedReports,
        *,
        refresh_s: float = REFRESH_S,
        retention_s: float = 7 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reports = reports
        self._refresh_s = refresh_s
        self._retention_s = retention_s
        self._clock = clock
        self._totals: Mapping[ReportSubject, LatencySketch] = {}
        self._read_at = float("-inf")
        self._pruned_at = float("-inf")
        self._lock = asyncio.Lock()

    async def total(self, subject: ReportSubject) -> LatencySketch:
        """What ``subject``'s workers pushed (empty before the first push)."""
        async with self._lock:
            now = self._clock()
            if now - self._read_at >= self._refresh_s:
                self._read_at = now
                try:
                    self._totals = await asyncio.to_thread(self._read, now)
                except Exception as err:  # the store is down: keep the last figures
                    logger.warning("could not read the workers' pushed reports: %s", err)
        return self._totals.get(subject, LatencySketch())

    def _read(self, now: float) -> dict[ReportSubject, LatencySketch]:
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self._reports.prune(time.time() - self._retention_s)
        return self._reports.totals()


class PushingProvider(DelegatingProvider):
    """A provider whose workers push their measurements: everything is the inner provider's,
    but a census without a sketch of its own gets what the workers pushed."""

    def __init__(self, inner: Provider, subject: ReportSubject, pushed: PushedSketches) -> None:
        super().__init__(inner)
        self._subject = subject
        self._pushed = pushed

    async def census(self) -> WorkerCensus:
        census = await self.inner.census()
        if census.schedule_to_start is not None:
            return census
        pushed = await self._pushed.total(self._subject)
        return dataclasses.replace(census, schedule_to_start=pushed)


def reporting_providers(
    base_url: str,
    box: SecretBox,
    pushed: PushedSketches,
    build: ProviderFactory = build_provider,
) -> ProviderFactory:
    """A provider factory whose groups (those not reading their workers' reports themselves)
    have their workers push to ``base_url`` and their census read what was pushed."""
    url = base_url.rstrip("/") + REPORT_PATH

    def factory(
        type_name: str,
        details: Mapping[str, Any],
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        state_dir: Path,
        nexus: NexusRoute | None = None,
        worker_reads: WorkerReads | None = None,
    ) -> Provider:
        # Only a type whose census reads its workers gets the reads (factories may not know them).
        reads: dict[str, Any] = {"worker_reads": worker_reads} if worker_reads else {}
        # A group behind a Nexus endpoint: its handler builds the provider and never receives
        # the controller's secrets, so its workers have no report token to push with.
        if provider_type(type_name).reads_worker_reports or nexus is not None:
            return build(
                type_name, details, deployment=deployment, group_id=group_id,
                worker_env=worker_env, state_dir=state_dir, nexus=nexus, **reads,
            )  # fmt: skip
        subject = ReportSubject(deployment, group_id)
        token = mint_report_token(box, subject)
        register_secret(token)
        env = dataclasses.replace(
            worker_env,
            extra_env={**worker_env.extra_env, REPORT_URL_ENV: url},
            secret_env={**worker_env.secret_env, REPORT_TOKEN_ENV: token},
        )
        inner = build(
            type_name, details, deployment=deployment, group_id=group_id, worker_env=env,
            state_dir=state_dir, **reads,
        )  # fmt: skip
        return PushingProvider(inner, subject, pushed)

    return factory
