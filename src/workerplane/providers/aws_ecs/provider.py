"""The ``aws-ecs`` provider: hold an ECS service at a size by setting its ``desiredCount``.

Details keys (Temporal's): ``cluster``, ``service``, ``region``, ``role``, ``role_external_id``;
plus workerplane's optional ``endpoint_url``, ``max_attempts`` and static credentials (see
:mod:`workerplane.providers.aws_lambda`; boto3's default chain applies when they are absent).

* :meth:`EcsProvider.set_size` calls ``UpdateService(desiredCount=N)``, retrying throttling and 5xx.
* :meth:`EcsProvider.validate` calls ``DescribeServices``: the service must exist and be ``ACTIVE``
  (a ``MISSING`` failure is ``not_found``; ``DRAINING``/``INACTIVE`` is ``invalid``). With a role,
  it first checks that the role can be assumed with the external ID.
* :meth:`EcsProvider.census` reads ``runningCount`` + ``pendingCount`` (tasks that exist) and
  ``desiredCount`` from ECS, never just the last size we asked for.

**Graceful scale-down.** When ``desiredCount`` drops, ECS picks tasks to stop and sends them
SIGTERM, then SIGKILL after the container's ``stopTimeout`` (up to 120 s on Fargate). Two
things make this safe for long activities:

1. the worker runtime (:mod:`workerplane.worker`) stops polling on SIGTERM and finishes in-flight
   activities within ``graceful_shutdown_s`` (set the container's ``stopTimeout`` above it);
2. **ECS task scale-in protection**: ECS never picks a *protected* task when a service scales in.
   :class:`EcsTaskProtection` runs inside the worker task and turns protection on while the worker
   has work in flight and off when it is idle, through the ECS agent's
   ``$ECS_AGENT_URI/task-protection/v1/state`` endpoint. Plug it in as the runtime's ``should_stop``
   hook (it never asks to stop); it reads the runtime's status file (``WORKERPLANE_STATUS_FILE``).
   So a scale-in removes idle tasks first and busy ones only once they finish. Protection expires
   by itself (``expires_in_minutes``) so a stuck worker cannot pin the service forever.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from workerplane.providers._retry import Backoff, retry_async, run_blocking
from workerplane.providers.aws.access import session_name
from workerplane.providers.aws.clients import AwsClients, classify_aws_error
from workerplane.providers.aws_ecs.details import EcsDetails
from workerplane.providers.base import Provider, ProviderCheck, ProviderContext, ProviderError
from workerplane.scaling.types import Strategy, WorkerCensus
from workerplane.worker.status import STATUS_FILE_ENV, read_status

log = logging.getLogger(__name__)

T = TypeVar("T")


class EcsProvider(Provider):
    """Sets an ECS service's desiredCount (worker-set strategy)."""

    type = "aws-ecs"
    strategy = Strategy.WORKER_SET

    def __init__(
        self,
        details: EcsDetails,
        *,
        role_session_name: str = "workerplane",
        backoff: Backoff | None = None,
    ) -> None:
        self.details = details
        self._backoff = backoff or Backoff(attempts=details.max_attempts)
        self._aws = AwsClients(details, role_session_name)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wp-ecs")
        self._desired: int | None = None

    @classmethod
    def from_context(cls, ctx: ProviderContext[EcsDetails]) -> EcsProvider:
        return cls(ctx.details, role_session_name=session_name(ctx.deployment))

    @property
    def claim(self) -> str:
        """The ECS service (a replacement provider sizes the same one)."""
        return self.details.sized_object()

    async def _call(self, fn: Callable[[], T], what: str) -> T:
        return await retry_async(
            lambda: run_blocking(self._pool, fn, classify_aws_error, what),
            backoff=self._backoff,
            what=what,
        )

    async def _describe(self) -> dict[str, Any]:
        d = self.details
        what = f"ecs:DescribeServices {d.cluster}/{d.service}"
        reply: dict[str, Any] = await self._call(
            lambda: self._aws.client("ecs").describe_services(
                cluster=d.cluster, services=[d.service]
            ),
            what,
        )
        services = reply.get("services", [])
        if not services:
            failures = reply.get("failures", [])
            reason = failures[0].get("reason", "MISSING") if failures else "MISSING"
            raise ProviderError(
                f"{what}: service not found ({reason})", kind="not_found", retryable=False
            )
        service: dict[str, Any] = services[0]
        return service

    async def validate(self) -> ProviderCheck:
        try:
            if self.details.role:
                await self._call(self._aws.assume_role, f"sts:AssumeRole {self.details.role}")
            service = await self._describe()
        except ProviderError as exc:
            return ProviderCheck(False, str(exc), kind=exc.kind)
        status = service.get("status", "")
        if status != "ACTIVE":
            return ProviderCheck(
                False, f"service {self.details.service} is {status}, not ACTIVE", kind="invalid"
            )
        return ProviderCheck(True, f"service {self.details.service} is ACTIVE")

    async def set_size(self, size: int) -> None:
        d = self.details
        await self._call(
            lambda: self._aws.client("ecs").update_service(
                cluster=d.cluster, service=d.service, desiredCount=int(size)
            ),
            f"ecs:UpdateService {d.cluster}/{d.service}",
        )
        self._desired = size
        log.info("ecs %s/%s desiredCount=%d", d.cluster, d.service, size)

    async def census(self) -> WorkerCensus:
        service = await self._describe()
        running = int(service.get("runningCount", 0)) + int(service.get("pendingCount", 0))
        return WorkerCensus(
            running=running,
            ready=None,
            desired=int(service.get("desiredCount", self._desired or 0)),
        )

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class EcsTaskProtection:
    """Worker-side ECS task scale-in protection, driven by the worker runtime's status file.

    Use it as ``WorkerOptions(should_stop=EcsTaskProtection())``: each call reads the status file
    and, when the in-flight count changes between zero and non-zero, asks the ECS agent (in a
    background thread, so the worker's event loop never blocks) to protect or unprotect this task.
    Outside ECS (no ``ECS_AGENT_URI``) it does nothing.
    """

    def __init__(
        self,
        *,
        agent_uri: str | None = None,
        status_file: str | None = None,
        expires_in_minutes: int = 60,
        min_interval_s: float = 0.5,
    ) -> None:
        self.agent_uri = agent_uri if agent_uri is not None else os.environ.get("ECS_AGENT_URI")
        path = status_file or os.environ.get(STATUS_FILE_ENV)
        self.status_path = Path(path) if path else None
        self.expires_in_minutes = expires_in_minutes
        self.min_interval_s = min_interval_s
        self.protected: bool | None = None
        self._last_check = 0.0
        self._busy = threading.Lock()
        #: Every state sent to the agent, in order (for logs and tests).
        self.history: list[bool] = []

    def __call__(self) -> str | None:
        now = time.monotonic()
        if (
            not self.agent_uri
            or self.status_path is None
            or now - self._last_check < self.min_interval_s
        ):
            return None
        self._last_check = now
        status = read_status(self.status_path)
        if status is None:
            return None
        want = status.in_flight > 0
        if want != self.protected and self._busy.acquire(blocking=False):
            threading.Thread(target=self._send, args=(want,), daemon=True).start()
        return None

    def _send(self, enabled: bool) -> None:
        try:
            body: dict[str, Any] = {"ProtectionEnabled": enabled}
            if enabled:
                body["ExpiresInMinutes"] = self.expires_in_minutes
            request = urllib.request.Request(
                f"{self.agent_uri}/task-protection/v1/state",
                data=json.dumps(body).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=2.0) as response:
                if 200 <= response.status < 300:
                    self.protected = enabled
                    self.history.append(enabled)
                    log.info("ecs task scale-in protection %s", "on" if enabled else "off")
        except OSError as exc:
            log.warning("ecs task protection update failed: %s", exc)
        finally:
            self._busy.release()
