"""Seeded synthetic load traces (all one hour long by default).

* ``steady``   - a Poisson stream at a constant rate;
* ``bursts``   - on/off bursts: a minute of heavy traffic, then four quiet minutes;
* ``diurnal``  - a smooth day-shaped curve compressed into the trace (non-homogeneous Poisson);
* ``spikes``   - a light background with a few rare, large spikes (hundreds of tasks in seconds);
* ``longtail`` - a steady stream whose durations are Pareto-distributed (a few very long tasks);
* ``trickle``  - sparse load: one task every few minutes, each finding an idle queue;
* ``sparse-long`` - sparse load of long tasks: a minute-long task every two minutes on average;
* ``cron-storm`` - 500 tasks within 2 s every 15 minutes, nothing in between;
* ``scheduled-storm`` - the cron storm, with the schedule's action times known to the policy;
* ``bimodal``  - 90 % 0.2 s tasks and 10 % 60 s tasks: retiring a worker rarely saves anything;
* ``fanouts``  - fan-outs of random size at random times on an idle queue (storms, no schedule).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from workerplane.sim.distributions import Distribution
from workerplane.sim.traces import FloatArray, Trace


def _poisson_times(rng: np.random.Generator, rate: float, start: float, end: float) -> FloatArray:
    """Homogeneous Poisson arrivals on ``[start, end)`` (count first, then uniform order stats)."""
    if rate <= 0 or end <= start:
        return np.empty(0)
    n = int(rng.poisson(rate * (end - start)))
    return np.sort(rng.uniform(start, end, n))


def _thinned(
    rng: np.random.Generator,
    rate_fn: Callable[[FloatArray], FloatArray],
    peak: float,
    horizon: float,
) -> FloatArray:
    """Non-homogeneous Poisson arrivals by thinning a rate-``peak`` stream."""
    candidates = _poisson_times(rng, peak, 0.0, horizon)
    keep = rng.uniform(0.0, 1.0, len(candidates)) < rate_fn(candidates) / peak
    return candidates[keep]


def steady(
    seed: int = 1,
    rate: float = 12.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """A constant-rate Poisson stream (``rate`` tasks/s)."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(2.0, 0.5)
    arr = _poisson_times(rng, rate, 0.0, horizon_s)
    return Trace(
        "steady",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"Poisson {rate:g}/s, durations {dur.describe()}",
    )


def bursts(
    seed: int = 2,
    on_rate: float = 30.0,
    on_s: float = 60.0,
    off_s: float = 240.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """On/off bursts: ``on_s`` seconds at ``on_rate``/s, then ``off_s`` seconds of silence."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(2.0, 0.5)
    parts: list[FloatArray] = []
    t = 30.0  # start quiet so that every policy begins from an idle queue
    while t < horizon_s:
        parts.append(_poisson_times(rng, on_rate, t, min(t + on_s, horizon_s)))
        t += on_s + off_s
    arr = np.concatenate(parts) if parts else np.empty(0)
    return Trace(
        "bursts",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"{on_s:g}s on at {on_rate:g}/s, {off_s:g}s off, durations {dur.describe()}",
    )


def diurnal(
    seed: int = 3,
    base_rate: float = 0.5,
    peak_rate: float = 20.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """One day-shaped cycle: a night trough at ``base_rate``, a midday peak at ``peak_rate``."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(2.0, 0.5)

    def rate(t: FloatArray) -> FloatArray:
        return base_rate + (peak_rate - base_rate) * (1 - np.cos(2 * np.pi * t / horizon_s)) / 2

    arr = _thinned(rng, rate, peak_rate, horizon_s)
    return Trace(
        "diurnal",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"day curve {base_rate:g}/s to {peak_rate:g}/s, durations {dur.describe()}",
    )


def spikes(
    seed: int = 4,
    background_rate: float = 3.0,
    n_spikes: int = 4,
    spike_size: int = 300,
    spike_spread_s: float = 10.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """A light background stream plus ``n_spikes`` rare spikes of ``spike_size`` tasks each."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(2.0, 0.5)
    back = _poisson_times(rng, background_rate, 0.0, horizon_s)
    # Spikes at well-separated, random times (one per equal slice of the trace).
    slice_s = horizon_s / n_spikes
    starts = [i * slice_s + rng.uniform(0.2, 0.8) * slice_s for i in range(n_spikes)]
    spike_parts = [np.sort(rng.uniform(s, s + spike_spread_s, spike_size)) for s in starts]
    arr = np.sort(np.concatenate([back, *spike_parts]))
    return Trace(
        "spikes",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"background {background_rate:g}/s + {n_spikes} spikes of {spike_size} tasks in "
        f"{spike_spread_s:g}s, durations {dur.describe()}",
    )


def longtail(
    seed: int = 5,
    rate: float = 5.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """A Poisson stream with heavy-tailed (Pareto) durations: most short, a few very long."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.pareto(3.0, alpha=1.6, cap=600.0)
    arr = _poisson_times(rng, rate, 0.0, horizon_s)
    return Trace(
        "longtail",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"Poisson {rate:g}/s, durations {dur.describe()}",
    )


def trickle(
    seed: int = 6,
    mean_gap_s: float = 180.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """Sparse load: Poisson arrivals ``mean_gap_s`` apart on average (a worker kept warm between
    them idles for minutes; one started for each pays a cold start)."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(2.0, 0.5)
    arr = _poisson_times(rng, 1.0 / mean_gap_s, 0.0, horizon_s)
    return Trace(
        "trickle",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"one task every {mean_gap_s:g}s on average (Poisson), durations {dur.describe()}",
    )


def sparse_long(
    seed: int = 11,
    mean_gap_s: float = 120.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """Sparse load of long tasks: the trickle's Poisson arrivals, each task running about a
    minute (one waiting task is one free slot's work, not a queue to drain; a task often lands
    while another runs, beside its worker's free slots)."""
    dur = duration or Distribution.lognormal(60.0, 0.5)
    return dataclasses.replace(trickle(seed, mean_gap_s, horizon_s, dur), name="sparse-long")


def cron_storm(
    seed: int = 7,
    storm_size: int = 500,
    storm_s: float = 2.0,
    every_s: float = 900.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """``storm_size`` tasks within ``storm_s`` seconds every ``every_s`` seconds (a cron fan-out),
    nothing in between. The first storm comes 30 s in, on an idle queue."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(2.0, 0.5)
    starts = np.arange(30.0, horizon_s, every_s)
    parts = [np.sort(rng.uniform(s, min(s + storm_s, horizon_s), storm_size)) for s in starts]
    arr = np.concatenate(parts) if parts else np.empty(0)
    return Trace(
        "cron-storm",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"{storm_size} tasks in {storm_s:g}s every {every_s:g}s, durations {dur.describe()}",
    )


def scheduled_storm(
    seed: int = 7,
    storm_size: int = 500,
    storm_s: float = 2.0,
    every_s: float = 900.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """The cron storm, started by a Temporal Schedule whose action times the policy knows (a
    policy that pre-warms reads them: :mod:`workerplane.sim.scheduled`)."""
    storm = cron_storm(seed, storm_size, storm_s, every_s, horizon_s, duration)
    return dataclasses.replace(
        storm,
        name="scheduled-storm",
        description=f"{storm.description}, fired by a schedule whose action times are known",
        actions=tuple(float(t) for t in np.arange(30.0, horizon_s, every_s)),
    )


def bimodal(
    seed: int = 8,
    rate: float = 5.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """A Poisson stream of mostly short tasks and a few long ones (two durations, no middle)."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.bimodal(0.2, 60.0, 0.1)
    arr = _poisson_times(rng, rate, 0.0, horizon_s)
    return Trace(
        "bimodal",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"Poisson {rate:g}/s, durations {dur.describe()}",
    )


def fanouts(
    seed: int = 9,
    mean_gap_s: float = 400.0,
    sizes: tuple[int, int] = (40, 400),
    spread_s: float = 3.0,
    horizon_s: float = 3600.0,
    duration: Distribution | None = None,
) -> Trace:
    """Fan-outs of a random size (uniform in ``sizes``) within ``spread_s`` seconds, at random
    (Poisson) times, on an otherwise idle queue: a storm without a schedule, so a scaler can
    neither pre-warm nor learn its size, and the first one comes before any task has run."""
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(5.0, 0.6)
    starts = _poisson_times(rng, 1.0 / mean_gap_s, 20.0, horizon_s - spread_s)
    parts = [np.sort(rng.uniform(s, s + spread_s, int(rng.integers(*sizes)))) for s in starts]
    # Two fan-outs less than ``spread_s`` apart overlap: their tasks interleave.
    arr = np.sort(np.concatenate(parts)) if parts else np.empty(0)
    return Trace(
        "fanouts",
        arr,
        dur.sample(rng, len(arr)),
        horizon_s,
        f"{len(parts)} fan-outs of {sizes[0]}-{sizes[1]} tasks in {spread_s:g}s at random times, "
        f"durations {dur.describe()}",
    )


#: The built-in traces, by name. Each is a zero-argument factory with fixed seeds.
BUILTIN: dict[str, Callable[[], Trace]] = {
    "steady": steady,
    "bursts": bursts,
    "diurnal": diurnal,
    "spikes": spikes,
    "longtail": longtail,
    "trickle": trickle,
    "sparse-long": sparse_long,
    "cron-storm": cron_storm,
    "scheduled-storm": scheduled_storm,
    "bimodal": bimodal,
    "fanouts": fanouts,
}
