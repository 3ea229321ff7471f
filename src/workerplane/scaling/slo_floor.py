"""The lowest schedule-to-start SLO a group can meet from zero workers, and the warning when the
configured SLO is below it.

A task that lands on a queue with no worker waits for three things in a row, none of which a
scaler can shorten:

1. **the signal**: until the controller can see the task. ``DescribeTaskQueue``'s stats are cached
   by the server (``matching.TaskQueueInfoByBuildIdTTL``, 5 s by default, and not settable on
   Temporal Cloud), so a task may stay invisible for the whole cache lifetime. A controller that
   reads a fresh signal (the backlog hint of the task-queue status, or visibility) sees it within
   about a second;
2. **the poll**: the controller observes every ``metrics_poll_interval_ms``;
3. **the cold start**: from the scale-up until the worker polls (a Lambda or a subprocess in one
   or two seconds, a Kubernetes pod in ten or more).

Their sum is what the first task of a burst after a lull waits at worst. Below it the SLO can only
be met by keeping a worker warm (``max_warm_idle_ms``), which the scaler never does on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from workerplane.errors import ValidationIssue
from workerplane.scaling.slo_model import STATS_CACHE_MS, SloDetails
from workerplane.scaling.types import Strategy

#: How late the per-partition backlog hint shows a new task (p95 measured 0.26 s, rounded up;
#: docs/temporal-signals.md).
FRESH_SIGNAL_MS = 300

#: Worker startup assumed when the user gives no ``worker_startup_ms``: an invoke worker (Lambda,
#: subprocess) polls within about 2 s; a worker-set pod or task is scheduled, pulled and started.
DEFAULT_STARTUP_MS: dict[Strategy, int] = {Strategy.INVOKE: 2_000, Strategy.WORKER_SET: 10_000}


@dataclass(frozen=True)
class ReachableSlo:
    """The lowest SLO reachable from zero workers, and its parts (all in milliseconds)."""

    signal_ms: int
    poll_ms: int
    startup_ms: int

    @property
    def minimum_ms(self) -> int:
        return self.signal_ms + self.poll_ms + self.startup_ms


def reachable_slo(
    details: SloDetails,
    strategy: Strategy,
    *,
    fresh_signals: bool = False,
    stats_cache_ms: int = STATS_CACHE_MS,
    default_startup_ms: int | None = None,
) -> ReachableSlo:
    """The lowest schedule-to-start a group with ``details`` can give a task that finds no worker.

    Args:
        details: the group's ``slo`` details (``worker_startup_ms`` and the poll interval).
        strategy: picks the default startup when ``worker_startup_ms`` is unset.
        fresh_signals: the controller reads a signal the server does not cache (then the signal
            delay is ``FRESH_SIGNAL_MS`` instead of the stats cache).
        stats_cache_ms: the server's stats cache lifetime when signals are not fresh.
        default_startup_ms: the startup to assume without ``worker_startup_ms`` (the provider
            type's typical one); ``None``: a default by strategy.
    """
    startup = details.worker_startup_ms
    if startup is None:
        startup = default_startup_ms
    return ReachableSlo(
        signal_ms=FRESH_SIGNAL_MS if fresh_signals else stats_cache_ms,
        poll_ms=details.metrics_poll_interval_ms,
        startup_ms=DEFAULT_STARTUP_MS[strategy] if startup is None else startup,
    )


def slo_below_reachable(
    details: SloDetails,
    strategy: Strategy,
    *,
    path: str = "scaler.details.schedule_to_start_slo_ms",
    fresh_signals: bool = False,
    stats_cache_ms: int = STATS_CACHE_MS,
    default_startup_ms: int | None = None,
) -> ValidationIssue | None:
    """A warning when the SLO is below what a cold start can give, naming the reachable minimum.

    ``None`` when the SLO is reachable, or when ``max_warm_idle_ms`` keeps a worker warm (the user
    has chosen to pay for the lower SLO). ``path`` is the field's dotted path from the spec root.
    """
    reach = reachable_slo(
        details,
        strategy,
        fresh_signals=fresh_signals,
        stats_cache_ms=stats_cache_ms,
        default_startup_ms=default_startup_ms,
    )
    slo = details.schedule_to_start_slo_ms
    if slo >= reach.minimum_ms or details.max_warm_idle_ms:
        return None
    return ValidationIssue(
        path=path,
        rule=(
            f"schedule_to_start_slo_ms ({slo}) is below the {reach.minimum_ms} ms a task waits "
            f"when no worker runs (signal {reach.signal_ms} ms + poll {reach.poll_ms} ms + worker "
            f"startup {reach.startup_ms} ms): raise it to at least {reach.minimum_ms}, or set "
            "max_warm_idle_ms to keep a worker warm"
        ),
        code="slo-below-reachable",
    )
