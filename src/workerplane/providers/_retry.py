"""Helpers shared by the remote providers: retries with backoff and jitter, and an in-flight ledger.

Temporal's own controller gives up on a failed Lambda invoke after two tries. Here every remote
call goes through :func:`retry_async`: a :class:`ProviderError` whose ``retryable`` flag is set
(throttling, 5xx, timeouts, refused connections) is retried with capped exponential backoff and
full jitter (AWS's recommended scheme: ``sleep = uniform(0, min(cap, base * 2**attempt))``), until
the attempt budget is spent. Errors that cannot heal by themselves (access denied, not found, bad
input) are raised at once so that they reach the compute status instead of looping forever.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from workerplane.providers.base import ProviderError

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter.

    Attributes:
        attempts: total tries, the first one included (>= 1).
        base_s: the cap of the first wait; it doubles after each failure.
        max_s: the largest wait between two tries.
    """

    attempts: int = 6
    base_s: float = 0.2
    max_s: float = 5.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after ``failures`` consecutive failures (1 for the first)."""
        cap = min(self.max_s, self.base_s * (2 ** max(0, failures - 1)))
        return (rng or random).uniform(0.0, cap)


async def run_blocking(
    pool: Executor,
    fn: Callable[[], T],
    classify: Callable[[BaseException, str], ProviderError],
    what: str,
) -> T:
    """Run a blocking SDK call (boto3, google-cloud) in ``pool``; any failure that is not already
    a :class:`ProviderError` is turned into one by the SDK's ``classify`` function."""

    def guarded() -> T:
        try:
            return fn()
        except ProviderError:
            raise
        except Exception as exc:
            raise classify(exc, what) from None

    return await asyncio.get_running_loop().run_in_executor(pool, guarded)


async def retry_async(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    what: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``call`` until it succeeds, retrying retryable :class:`ProviderError` s.

    ``what`` names the operation in log lines (never include secrets in it). The last error is
    raised unchanged once the budget is spent, so its ``kind`` reaches the caller.
    """
    failures = 0
    while True:
        try:
            return await call()
        except ProviderError as exc:
            failures += 1
            if not exc.retryable or failures >= backoff.attempts:
                raise
            wait = backoff.delay(failures, rng)
            log.info(
                "%s failed (%s, try %d/%d), retrying in %.2fs: %s",
                what,
                exc.kind,
                failures,
                backoff.attempts,
                wait,
                exc,
            )
            await sleep(wait)


@dataclass
class InflightLedger:
    """Counts workers started by an invoke provider that cannot list its workers.

    Lambda functions and webhook launchers give no census: once invoked, a worker is out of sight.
    The provider therefore counts its own successful invocations and forgets each one after
    ``ttl_s`` (the longest a worker can live: the function timeout, or a configured lifetime). The
    count is an upper bound: a worker that exited early because it was idle is still counted until
    its TTL expires. Controllers should combine it with Temporal's poller count.
    """

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _expiries: list[float] = field(default_factory=list)

    def add(self, count: int = 1) -> None:
        until = self.clock() + self.ttl_s
        self._expiries.extend([until] * count)

    def count(self) -> int:
        now = self.clock()
        self._expiries = [t for t in self._expiries if t > now]
        return len(self._expiries)

    def clear(self) -> None:
        self._expiries.clear()
