"""The ``aws-lambda`` provider: invoke a Lambda function whose handler runs a Temporal worker.

Details keys (Temporal's, so configs are portable): ``arn``, ``role``, ``role_external_id``; plus
workerplane's optional ``region``, ``endpoint_url``, ``max_concurrency``, ``worker_ttl_s``,
``start_grace_s``, ``poll_gap_s``, ``max_attempts``, ``include_secrets``, ``check_function`` and
static credentials
(``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``; normally left out so that
boto3's default chain applies: environment, shared config/SSO, container or instance role).

What it does better than Temporal's controller:

* **Sized invokes.** ``invoke(K)`` sends K asynchronous invocations (``InvocationType=Event``) at
  once, in parallel threads, instead of one per trigger. ``max_concurrency`` caps the workers we
  believe are running (ours, counted with a TTL), so a huge backlog cannot exhaust the account's
  concurrency.
* **Retries that finish the job.** Throttling (HTTP 429, ``TooManyRequestsException``) and 5xx /
  connection failures are retried with capped exponential backoff and full jitter, not twice.
* **Classified failures.** Every error becomes a :class:`ProviderError` whose ``kind`` is
  ``access_denied``, ``not_found``, ``throttled``, ``internal`` or ``invalid``; access denied and
  not found are final (``retryable=False``) so the controller reports them as validation errors in
  the compute status instead of retrying forever.

Lambda gives no list of running invocations, so :meth:`LambdaProvider.census` counts the
provider's own invocations and ends each one from what its worker reports: the handler polls
under an identity carrying its invocation ID, and an invocation whose worker has stopped polling
is no longer counted (:mod:`.census`). The worker's heartbeats (Temporal's ``ListWorkers``) add
the activities it runs and has finished, so the scalers count the tasks in flight instead of
assuming every polling worker full. ``worker_ttl_s`` (default: the function's timeout) bounds
every count, and is all that is left when Temporal's poller lists cannot be read.

boto3 calls block, so they run in a small thread pool owned by the provider.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from workerplane.planning.worker_beats import WorkerBeat
from workerplane.providers._retry import Backoff, retry_async, run_blocking
from workerplane.providers.aws.access import session_name
from workerplane.providers.aws.clients import AwsClients, classify_aws_error
from workerplane.providers.aws_lambda.census import InvocationCensus
from workerplane.providers.aws_lambda.details import LambdaDetails
from workerplane.providers.base import (
    Provider,
    ProviderCheck,
    ProviderContext,
    ProviderError,
    WorkerEnvironment,
    WorkerReads,
)
from workerplane.scaling.types import Strategy, WorkerCensus
from workerplane.temporal.metrics import MetricsUnavailable
from workerplane.temporal.worker_reads import ClientWorkerReads
from workerplane.worker.push import REPORT_TOKEN_ENV

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The event key the handler adapter looks for (:mod:`workerplane.worker.aws_lambda`).
EVENT_KEY = "workerplane"


class InvokeError(ProviderError):
    """Some invocations of a batch failed; ``started`` of them went through and are counted."""

    def __init__(self, message: str, *, kind: str, retryable: bool, started: int) -> None:
        super().__init__(message, kind=kind, retryable=retryable)
        self.started = started


def build_event(
    env: WorkerEnvironment,
    *,
    deployment: str,
    group_id: str,
    invocation_id: str,
    invoked_at: float | None = None,
    include_secrets: bool = False,
) -> dict[str, Any]:
    """The invoke payload: what the handler needs to find its work.

    Secrets are left out unless ``include_secrets`` (Lambda encrypts payloads in transit and at
    rest, but they then appear in the function's event, so the default is to give the function its
    API key through its own configuration, e.g. an encrypted environment variable).
    ``invoked_at`` (Unix seconds) lets an emulated handler count its deadline from the invoke,
    as Lambda does, rather than from its own (possibly slow) start.
    """
    variables = {k: v for k, v in env.as_env().items() if k not in env.secret_env}
    if include_secrets:
        variables.update(env.secret_env)
    elif REPORT_TOKEN_ENV in env.secret_env:
        # Only lets the invocation push its measurements for this group (and is never logged).
        variables[REPORT_TOKEN_ENV] = env.secret_env[REPORT_TOKEN_ENV]
    return {
        EVENT_KEY: {
            "version": 1,
            "invocation_id": invocation_id,
            **({"invoked_at": invoked_at} if invoked_at is not None else {}),
            "deployment": deployment,
            "group": group_id,
            "env": variables,
        }
    }


class LambdaProvider(Provider):
    """Invokes a Lambda function asynchronously, K workers at a time."""

    type = "aws-lambda"
    strategy = Strategy.INVOKE

    DEFAULT_TTL_S = 900.0
    MAX_PARALLEL_CALLS = 16

    def __init__(
        self,
        details: LambdaDetails,
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        worker_reads: WorkerReads | None = None,
    ) -> None:
        self.details = details
        self._deployment = deployment
        self._group_id = group_id
        self._env = worker_env
        self._backoff = backoff or Backoff(attempts=details.max_attempts)
        self._aws = AwsClients(details, session_name(deployment))
        ttl_s = details.worker_ttl_s or self.DEFAULT_TTL_S
        self._census = InvocationCensus(
            ttl_s=ttl_s,
            start_grace_s=details.start_grace_s,
            poll_gap_s=details.poll_gap_s,
            clock=clock,
        )
        #: The controller's shared, budgeted reads; else a client of its own, with the workers'
        #: connection settings (what they poll is what it reads).
        self._reads = worker_reads or ClientWorkerReads(
            worker_env.as_env(),
            worker_env.namespace,
            worker_env.task_queues,
            worker_env.task_queue_types or ("WORKFLOW", "ACTIVITY"),
        )
        self._pollers_warned = False
        self._beats_warned = False
        self._pool = ThreadPoolExecutor(
            max_workers=self.MAX_PARALLEL_CALLS, thread_name_prefix="wp-lambda"
        )
        #: Invocation IDs of every successful invoke, for audit (and the tests).
        self.invocation_ids: list[str] = []
        #: Invokes whose outcome was unknown (sent, then no answer) and so were retried: each may
        #: have started one extra, short-lived run of the same invocation ID.
        self.ambiguous_invokes = 0

    @classmethod
    def from_context(cls, context: ProviderContext[Any]) -> LambdaProvider:
        return cls(
            context.details,
            deployment=context.deployment,
            group_id=context.group_id,
            worker_env=context.worker_env,
            worker_reads=context.worker_reads,
        )

    async def _call(self, fn: Callable[[], T], what: str) -> T:
        """Run a blocking boto3 call in the pool, classifying its failure."""
        return await run_blocking(self._pool, fn, classify_aws_error, what)

    async def validate(self) -> ProviderCheck:
        """GetFunction (exists, not failed) and, with a role, AssumeRole with the external ID."""
        try:
            if self.details.role:
                await self._call(self._aws.assume_role, f"sts:AssumeRole {self.details.role}")
            if not self.details.check_function:
                return ProviderCheck(True, "function not checked (check_function: false)")
            fn = await retry_async(
                lambda: self._call(
                    lambda: self._aws.client("lambda").get_function(FunctionName=self.details.arn),
                    f"lambda:GetFunction {self.details.arn}",
                ),
                backoff=self._backoff,
                what="lambda:GetFunction",
            )
        except ProviderError as exc:
            return ProviderCheck(False, str(exc), kind=exc.kind)
        config = fn.get("Configuration", {})
        state = config.get("State", "Active")
        if state == "Failed":
            reason = config.get("StateReason", "")
            return ProviderCheck(False, f"function state is Failed: {reason}", kind="invalid")
        timeout = config.get("Timeout")
        if self.details.worker_ttl_s is None and isinstance(timeout, int | float) and timeout > 0:
            # A worker cannot outlive the function timeout: count it at most that long.
            self._census.ttl_s = float(timeout)
        role_note = " and role assumable with the external ID" if self.details.role else ""
        return ProviderCheck(True, f"function {config.get('FunctionName', '?')} found{role_note}")

    def _event(self, invocation_id: str) -> bytes:
        event = build_event(
            self._env,
            deployment=self._deployment,
            group_id=self._group_id,
            invocation_id=invocation_id,
            invoked_at=time.time(),
            include_secrets=self.details.include_secrets,
        )
        return json.dumps(event).encode()

    async def _invoke_one(self) -> str:
        invocation_id = str(uuid.uuid4())
        payload = self._event(invocation_id)

        def call() -> None:
            try:
                reply = self._aws.client("lambda").invoke(
                    FunctionName=self.details.arn, InvocationType="Event", Payload=payload
                )
            except (ReadTimeoutError, ConnectionClosedError):
                # Sent, but no answer: Lambda may have queued it. Invoke takes no idempotency
                # token, so the retry below may start a second run of this invocation ID; that
                # run finds no work and exits when idle, which costs far less than counting a
                # worker that never started against max_concurrency for its whole TTL.
                self.ambiguous_invokes += 1
                log.warning("lambda:Invoke %s: no answer; retrying (may run twice)", invocation_id)
                raise
            status = int(reply.get("StatusCode", 202))
            if status >= 300 or reply.get("FunctionError"):
                raise ProviderError(
                    f"lambda:Invoke answered {status} {reply.get('FunctionError', '')}".strip(),
                    kind="internal",
                    retryable=status >= 500,
                )

        # The same payload (same invocation ID) on every try: a retry after a throttle or refused
        # connection cannot double an invocation, since the first try was never accepted; only an
        # unanswered one can (counted in ``ambiguous_invokes``).
        await retry_async(
            lambda: self._call(call, f"lambda:Invoke {self.details.arn}"),
            backoff=self._backoff,
            what="lambda:Invoke",
        )
        return invocation_id

    def capacity(self) -> int | None:
        """How many more workers ``max_concurrency`` allows now (``None``: unlimited)."""
        if self.details.max_concurrency is None:
            return None
        return max(0, self.details.max_concurrency - self._census.running())

    async def invoke(self, count: int) -> int:
        """Invoke ``count`` workers at once, capped by ``max_concurrency``; return how many began.

        Raises :class:`InvokeError` if any invocation failed after its retries; its ``started``
        says how many did go through (they are counted in :meth:`census` either way).
        """
        room = self.capacity()
        wanted = count if room is None else min(count, room)
        if wanted <= 0:
            if count > 0:
                log.info("lambda invoke: %d requested, concurrency limit reached", count)
            return 0
        results = await asyncio.gather(
            *(self._invoke_one() for _ in range(wanted)), return_exceptions=True
        )
        ok = [r for r in results if isinstance(r, str)]
        errors = [r for r in results if isinstance(r, BaseException)]
        self._census.add(ok)
        self.invocation_ids.extend(ok)
        log.info(
            "lambda invoke %s: requested %d, allowed %d, started %d, failed %d",
            self.details.arn,
            count,
            wanted,
            len(ok),
            len(errors),
        )
        if errors:
            first = errors[0]
            kind = first.kind if isinstance(first, ProviderError) else "internal"
            retryable = first.retryable if isinstance(first, ProviderError) else True
            raise InvokeError(
                f"{len(errors)} of {wanted} invocations failed: {first}",
                kind=kind,
                retryable=retryable,
                started=len(ok),
            )
        return len(ok)

    async def census(self) -> WorkerCensus:
        """Our invocations whose worker still starts or polls, and what their heartbeats say
        they run (:mod:`.census`)."""
        if self._census.pending():
            self._census.observe_beats(await self._read_beats())
            if self._census.needs_pollers():
                self._census.observe_pollers(await self._read_pollers())
        completed = self._census.tasks_completed()
        return WorkerCensus(
            running=self._census.running(),
            ready=self._census.ready(),
            in_flight=self._census.in_flight(),
            in_flight_s=self._census.in_flight_s(),
            slots=self.details.slots,
            mean_task_s=self._census.mean_task_s(),
            tasks_finished=completed or 0,
            tasks_completed=completed,
            in_flight_lag_s=self._census.in_flight_lag_s(),
        )

    async def _read_pollers(self) -> Mapping[str, float] | None:
        """The group's pollers (``identity -> last poll``), or ``None`` when unreadable."""
        try:
            polls = await self._reads.last_polls()
        except (MetricsUnavailable, OSError, RuntimeError) as err:  # connect: RuntimeError
            if not self._pollers_warned:
                log.warning("lambda census: pollers unavailable, counting by TTL: %s", err)
                self._pollers_warned = True
            return None
        self._pollers_warned = False
        return polls

    async def _read_beats(self) -> Mapping[str, WorkerBeat] | None:
        """The group's workers' heartbeats, or ``None`` when unreadable (the census then counts
        no tasks, as before heartbeats)."""
        try:
            return await self._reads.beats()
        except (MetricsUnavailable, OSError, RuntimeError) as err:
            if not self._beats_warned:
                log.warning("lambda census: worker heartbeats unavailable: %s", err)
                self._beats_warned = True
            return None

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
