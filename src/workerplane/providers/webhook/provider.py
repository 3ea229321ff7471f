"""The ``webhook`` provider: ask any launcher (Modal, Nomad, Slurm, a home-made script) for workers.

Each request is an HTTP ``POST`` with a JSON body::

    {"version": 1, "delivery_id": "...", "attempt": 1, "action": "start" | "set_size" | "validate",
     "count": 3, "deployment": "orders", "group": "activities",
     "deployment_name": "orders" | null, "build_id": "v2" | null,
     "task_queue": "orders", "task_queues": ["orders"], "task_types": ["ACTIVITY"],
     "temporal": {"address": "...", "namespace": "..."}, "sent_at": 1700000000,
     "report": {"url": "https://.../v1/worker-reports", "token": "wpr_..."}}

``action`` is ``start`` (invoke strategy: start ``count`` more workers) or ``set_size`` (worker-set
strategy: hold ``count`` workers); ``validate`` is sent by :meth:`WebhookProvider.validate` and must
start nothing. Secrets (API keys) are never sent: the launcher supplies them to its workers itself.
The one exception is ``report`` (present under ``workerplane serve``): the launcher gives its
workers ``WORKERPLANE_REPORT_URL`` and ``WORKERPLANE_REPORT_TOKEN`` from it, so they push their
schedule-to-start; that token can only report measurements for this group.

**Signature.** The header ``Workerplane-Signature: t=<unix seconds>,v1=<hex>`` carries
``HMAC-SHA256(secret, "<t>." + raw body)``. A receiver recomputes it over the raw bytes, compares in
constant time, rejects timestamps older than its tolerance (5 minutes is usual), and remembers the
signatures it accepted within that window so that a captured request replayed later is refused.
:func:`~workerplane.providers.webhook.signature.verify_signature` does all of it.
``delivery_id`` stays the same across retries of one request (``attempt`` and ``t`` change, hence
the signature), so a receiver can also make retries idempotent.

**Where requests may go.** :mod:`~workerplane.providers.webhook.egress` resolves the URL, refuses
loopback, link-local, metadata and private addresses unless the operator allows them, and pins the
connection to the checked address. A reply's body is never repeated in an error (only its status),
so the provider cannot be used to read a service the caller could not reach.

**Retries.** 2xx is success. Other 4xx are final (bad signature, bad request: a retry cannot heal
them), except 429 which is throttling. 5xx, 429, timeouts and refused connections are retried with
exponential backoff and jitter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import httpx

from workerplane.planning.identity import MARKER_ENV
from workerplane.providers._retry import Backoff, InflightLedger, retry_async
from workerplane.providers.base import (
    Provider,
    ProviderCheck,
    ProviderError,
    WorkerEnvironment,
)
from workerplane.providers.webhook.details import WebhookDetails
from workerplane.providers.webhook.egress import EgressPolicy, EgressRefused, pinned_target
from workerplane.providers.webhook.signature import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from workerplane.scaling.types import Strategy, WorkerCensus
from workerplane.worker.push import REPORT_TOKEN_ENV, REPORT_URL_ENV

log = logging.getLogger(__name__)


class WebhookProvider(Provider):
    """Starts or sizes workers by POSTing signed JSON to a launcher."""

    type = "webhook"

    def __init__(
        self,
        details: WebhookDetails,
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.details = details
        self.strategy = details.launch_strategy
        self._deployment = deployment
        self._group_id = group_id
        self._env = worker_env
        self._backoff = backoff or Backoff(attempts=details.max_attempts)
        self._clock = clock
        self._ledger = InflightLedger(ttl_s=details.worker_ttl_s)
        self._desired: int | None = None
        self._reported_running: int | None = None
        self._egress = egress or EgressPolicy.from_environment()
        # Redirects are not followed: a redirect would lead past the egress check.
        self._client = httpx.AsyncClient(timeout=details.timeout_s, follow_redirects=False)

    @property
    def claim(self) -> str | None:
        """Worker-set: the receiver's workers of this group (its URL, with the deployment and the
        group every request names). A provider built anew for a rotated secret or a new timeout
        posts to the same workers, so the old one hands them over instead of sizing them to zero
        for a cycle. The URL is digested: it may carry a token. Invoke: ``None``, the
        invocations are its own."""
        if self.strategy is not Strategy.WORKER_SET:
            return None
        url = hashlib.sha256(str(self.details.url).encode()).hexdigest()[:16]
        return f"webhook:{url}:{self._deployment}/{self._group_id}"

    def _body(self, action: str, count: int, delivery_id: str, attempt: int) -> dict[str, Any]:
        env = self._env
        return {
            "version": 1,
            "delivery_id": delivery_id,
            "attempt": attempt,
            "action": action,
            "count": count,
            "deployment": self._deployment,
            "group": self._group_id,
            "deployment_name": env.deployment_name,
            "build_id": env.build_id,
            "task_queue": env.task_queues[0] if env.task_queues else None,
            "task_queues": list(env.task_queues),
            "task_types": list(env.task_queue_types),
            "temporal": {"address": env.address, "namespace": env.namespace},
            # The workers' identity marker: the launcher passes it on as this variable.
            "worker_identity": env.extra_env.get(MARKER_ENV),
            "sent_at": int(self._clock()),
            **self._report(),
        }

    def _report(self) -> dict[str, Any]:
        """Where the workers push their measurements, when the controller asks them to."""
        url = self._env.extra_env.get(REPORT_URL_ENV)
        token = self._env.secret_env.get(REPORT_TOKEN_ENV)
        return {"report": {"url": url, "token": token}} if url and token else {}

    async def _post_once(self, action: str, count: int, delivery_id: str, attempt: int) -> Any:
        body = json.dumps(self._body(action, count, delivery_id, attempt)).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(
                self.details.secret.get_secret_value(), body, int(self._clock())
            ),
            DELIVERY_HEADER: delivery_id,
        }
        try:
            target = await pinned_target(self.details.url, self._egress)
        except EgressRefused as exc:
            raise ProviderError(
                f"webhook refused: {exc}", kind="invalid", retryable=False
            ) from None
        try:
            response = await self._client.post(
                target.url, content=body, headers={**headers, **target.headers},
                extensions=target.extensions,
            )  # fmt: skip
        except httpx.TimeoutException:
            raise ProviderError("webhook timed out", kind="internal", retryable=True) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                f"webhook unreachable: {type(exc).__name__}", kind="internal", retryable=True
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            try:
                return response.json() if response.content else None
            except ValueError:
                return None
        reason = f"webhook answered HTTP {status}"
        if status == 429:
            raise ProviderError(reason, kind="throttled", retryable=True)
        if status >= 500:
            raise ProviderError(reason, kind="internal", retryable=True)
        if status in (401, 403):
            raise ProviderError(reason, kind="access_denied", retryable=False)
        if status in (404, 410):
            raise ProviderError(reason, kind="not_found", retryable=False)
        raise ProviderError(reason, kind="invalid", retryable=False)

    async def _post(self, action: str, count: int) -> Any:
        delivery_id = str(uuid.uuid4())
        attempt = 0

        async def once() -> Any:
            nonlocal attempt
            attempt += 1
            return await self._post_once(action, count, delivery_id, attempt)

        return await retry_async(
            once, backoff=self._backoff, what=f"webhook {action}({count}) to {self._safe_url()}"
        )

    def _safe_url(self) -> str:
        """The URL without credentials or query (which may carry tokens), for log lines."""
        parsed = urlparse(self.details.url)
        return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or ''}{parsed.path}"

    async def validate(self) -> ProviderCheck:
        parsed = urlparse(self.details.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return ProviderCheck(False, "details.url: must be an http(s) URL", kind="invalid")
        if not self.details.validate_ping:
            return ProviderCheck(True, "url looks valid (ping disabled)")
        try:
            await self._post("validate", 0)
        except ProviderError as exc:
            return ProviderCheck(False, str(exc), kind=exc.kind)
        return ProviderCheck(True, "receiver accepted a signed validate request")

    async def invoke(self, count: int) -> int:
        if self.strategy is not Strategy.INVOKE:
            return await super().invoke(count)
        if count <= 0:
            return 0
        # One request for K workers: the receiver starts them; the delivery ID makes retries safe.
        reply = await self._post("start", count)
        started = count
        if isinstance(reply, dict) and isinstance(reply.get("started"), int):
            started = max(0, min(count, int(reply["started"])))
        self._ledger.add(started)
        log.info("webhook start: requested %d, receiver started %d", count, started)
        return started

    async def set_size(self, size: int) -> None:
        if self.strategy is not Strategy.WORKER_SET:
            await super().set_size(size)
            return
        reply = await self._post("set_size", size)
        self._desired = size
        if isinstance(reply, dict) and isinstance(reply.get("running"), int):
            self._reported_running = int(reply["running"])
        log.info("webhook set_size: %d", size)

    def take_over(self, previous: Provider) -> None:
        """The receiver has no list API: the size the provider replaced last asked for, and the
        running count the receiver last reported, stand until this one's first request."""
        if isinstance(previous, WebhookProvider) and previous.claim == self.claim:
            self._desired = previous._desired
            self._reported_running = previous._reported_running

    async def census(self) -> WorkerCensus:
        """What we know without a list API.

        Invoke strategy: workers started within ``worker_ttl_s`` (our own count, an upper bound).
        Worker-set strategy: the ``running`` count the receiver last reported, else the desired
        size; before the first request, ``size_unknown`` (an earlier controller run may have
        left the receiver holding workers), so the plan asks for a size at once.
        """
        if self.strategy is Strategy.INVOKE:
            return WorkerCensus(running=self._ledger.count())
        running = self._reported_running if self._reported_running is not None else self._desired
        return WorkerCensus(
            running=running or 0, desired=self._desired, size_unknown=self._desired is None
        )

    async def close(self) -> None:
        await self._client.aclose()
