"""Which Lambda invocations still run a worker, from what the workers themselves report.

Lambda cannot list running invocations, and an asynchronous invoke (``InvocationType=Event``)
drops the handler's result. What the workers do report is their polls: Temporal keeps, per task
queue, the identity of each poller and when it last started a poll (``DescribeTaskQueue``
``pollers[].last_access_time``). The handler (:mod:`workerplane.worker.aws_lambda`) names its
worker :func:`worker_identity` of its invocation ID, so each poller maps back to one invocation.

An invocation is counted as running while:

* it has not polled yet, for at most ``start_grace_s`` after the invoke (a cold start: the sandbox
  boots, imports and connects; by default the whole TTL); or
* it has polled, and its newest poll started less than ``poll_gap_s`` ago. A live handler polls
  again whenever a slot frees, and returns once idle for its ``idle_exit_s``; so a worker that has
  started no poll for longer than that has returned (or, with every slot held by an activity
  longer than ``poll_gap_s``, is full: it serves no backlog, and counting it as gone only lets
  the scaler add capacity that the waiting tasks need);

and never beyond ``ttl_s`` (the function's timeout). A returned invocation is therefore no longer
counted ``poll_gap_s`` after its last poll, instead of until its TTL. When the poller list cannot
be read, the count falls back to every invocation within its TTL (an upper bound, as before).

Pure: the clock is injected, and pollers come in as ``identity -> last poll (epoch seconds)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from workerplane.planning.identity import parse_identity

#: The prefix of the worker identity the handler sets: ``workerplane-lambda:<invocation id>``.
IDENTITY_PREFIX = "workerplane-lambda:"


def worker_identity(invocation_id: str) -> str:
    """The Temporal worker identity of the worker run by invocation ``invocation_id``."""
    return f"{IDENTITY_PREFIX}{invocation_id}"


def invocation_of(identity: str) -> str | None:
    """The invocation ID in a worker identity set by :func:`worker_identity` (marked with its
    deployment or not: :mod:`workerplane.planning.identity`), else ``None``."""
    base = parse_identity(identity).base
    return base[len(IDENTITY_PREFIX) :] if base.startswith(IDENTITY_PREFIX) else None


@dataclass
class _Invocation:
    invoked_at: float
    last_poll: float | None = None
    """The newest ``last_access_time`` seen for its worker (server's epoch seconds)."""
    poll_seen_at: float | None = None
    """Our clock when ``last_poll`` last moved forward."""


class InvocationCensus:
    """The invocations a Lambda provider started, and which of them still run a worker."""

    def __init__(
        self,
        *,
        ttl_s: float,
        start_grace_s: float | None,
        poll_gap_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.start_grace_s = start_grace_s
        self.poll_gap_s = poll_gap_s
        self._clock = clock
        self._invocations: dict[str, _Invocation] = {}
        self._pollers_known = False

    def add(self, invocation_ids: Iterable[str]) -> None:
        now = self._clock()
        for invocation_id in invocation_ids:
            self._invocations[invocation_id] = _Invocation(invoked_at=now)

    def _forget_expired(self, now: float) -> None:
        self._invocations = {
            key: inv for key, inv in self._invocations.items() if now - inv.invoked_at < self.ttl_s
        }

    def pending(self) -> bool:
        """Whether any invocation is within its TTL (else there is nothing to look up)."""
        self._forget_expired(self._clock())
        return bool(self._invocations)

    def observe_pollers(self, last_polls: Mapping[str, float] | None) -> None:
        """Take in the queue's pollers (``identity -> last poll``), or ``None``: unreadable."""
        self._pollers_known = last_polls is not None
        if last_polls is None:
            return
        now = self._clock()
        for identity, last_poll in last_polls.items():
            invocation = self._invocations.get(invocation_of(identity) or "")
            if invocation is None:
                continue
            if invocation.last_poll is None or last_poll > invocation.last_poll:
                invocation.last_poll = last_poll
                invocation.poll_seen_at = now

    def _polling(self, invocation: _Invocation, now: float) -> bool:
        return (
            invocation.poll_seen_at is not None and now - invocation.poll_seen_at < self.poll_gap_s
        )

    def _starting(self, invocation: _Invocation, now: float) -> bool:
        grace_s = self.ttl_s if self.start_grace_s is None else self.start_grace_s
        return invocation.poll_seen_at is None and now - invocation.invoked_at < grace_s

    def running(self) -> int:
        """Invocations counted as running (see the module doc)."""
        now = self._clock()
        self._forget_expired(now)
        if not self._pollers_known:
            return len(self._invocations)
        return sum(
            1
            for inv in self._invocations.values()
            if self._polling(inv, now) or self._starting(inv, now)
        )

    def ready(self) -> int | None:
        """Invocations whose worker polls now; ``None`` while the pollers are unknown."""
        if not self._pollers_known:
            return None
        now = self._clock()
        return sum(1 for inv in self._invocations.values() if self._polling(inv, now))
