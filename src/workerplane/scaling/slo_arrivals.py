"""Whether the arrivals ``slo`` counts between readings have surged or fallen, against the rate
it expects (Poisson noise), and the arrivals counted by the tasks that started.

Pure helpers of :mod:`workerplane.scaling.slo_plan`; inferred recurrence
(:mod:`workerplane.planning.recurrence`) uses the same surge test.
"""

from __future__ import annotations

import math

from workerplane.scaling.slo_model import ARRIVALS_SIGMAS, SloState


def arrivals_fell_below(rate: float, arrived: float, span_s: float) -> bool:
    """Whether ``arrived`` tasks in ``span_s`` are far fewer than ``rate`` predicts:
    ``ARRIVALS_SIGMAS`` standard deviations below (Poisson). A quiet second of a steady
    stream is within the noise; a storm's end is not."""
    expected = rate * span_s
    return arrived < expected - ARRIVALS_SIGMAS * math.sqrt(expected)


def arrivals_rose_above(
    rate: float, arrived: float, span_s: float, sigmas: float = ARRIVALS_SIGMAS
) -> bool:
    """Whether ``arrived`` tasks in ``span_s`` are far more than ``rate`` predicts:
    ``sigmas`` standard deviations above (Poisson), and at least ``sigmas`` tasks more.
    One task of a trickle is within the noise; a storm is not."""
    expected = rate * span_s
    return arrived > expected + sigmas * max(1.0, math.sqrt(expected))


def counted_arrivals(
    state: SloState,
    fresh: bool,
    started: float | None,
    started_or_running: float,
    now_ms: int,
    dt_s: float,
) -> list[tuple[float, float]]:
    """Arrivals counted by the tasks that started, as ``(tasks, seconds)`` windows, while a slot
    is free (what arrives then starts at once).

    Since the last fresh stats: the starts (completions plus the change in flight) less what
    those stats saw waiting. Since the previous observation, when the provider counts
    completions: the starts less what was estimated waiting then. Both are known before the
    next fresh reply: the 5 s stats cache would otherwise hide a storm's end and hold its
    workers idle until then.
    """
    windows: list[tuple[float, float]] = []
    if not fresh and state.fresh_ms is not None and now_ms > state.fresh_ms:
        since_fresh = started_or_running - state.fresh_in_flight - state.fresh_backlog
        windows.append((max(0.0, since_fresh), (now_ms - state.fresh_ms) / 1000.0))
    if started is not None and dt_s > 0:
        windows.append((max(0.0, started - state.backlog_est), dt_s))
    return windows
