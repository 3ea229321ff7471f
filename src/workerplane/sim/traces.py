"""Load traces: when tasks arrive and how long each one runs.

Built-in generators (all seeded, all one hour long by default):

* ``steady``   - a Poisson stream at a constant rate;
* ``bursts``   - on/off bursts: a minute of heavy traffic, then four quiet minutes;
* ``diurnal``  - a smooth day-shaped curve compressed into the trace (non-homogeneous Poisson);
* ``spikes``   - a light background with a few rare, large spikes (hundreds of tasks in seconds);
* ``longtail`` - a steady stream whose durations are Pareto-distributed (a few very long tasks);
* ``trickle``  - sparse load: one task every few minutes, each finding an idle queue;
* ``cron-storm`` - 500 tasks within 2 s every 15 minutes, nothing in between;
* ``bimodal``  - 90 % 0.2 s tasks and 10 % 60 s tasks: retiring a worker rarely saves anything.

:func:`azure_functions_trace` replays per-minute invocation counts in the format of the public
Azure Functions 2019 trace (``HashOwner,HashApp,HashFunction,Trigger,1..1440``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np
import numpy.typing as npt

from workerplane.sim.distributions import Distribution

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Trace:
    """A load trace.

    Attributes:
        name: short identifier, used in reports and file names.
        arrivals: task arrival times in seconds from the start, sorted ascending.
        durations: each task's execution time in seconds (same length as ``arrivals``).
        horizon_s: the length of the trace; arrivals lie in ``[0, horizon_s)``.
        description: one line for reports.
    """

    name: str
    arrivals: FloatArray
    durations: FloatArray
    horizon_s: float
    description: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.arrivals) != len(self.durations):
            raise ValueError("arrivals and durations must have the same length")
        if len(self.arrivals) and np.any(np.diff(self.arrivals) < 0):
            raise ValueError("arrivals must be sorted")

    @property
    def n_tasks(self) -> int:
        return len(self.arrivals)

    @property
    def total_work_s(self) -> float:
        return float(self.durations.sum())

    def window(self, start_s: float, end_s: float, name: str | None = None) -> Trace:
        """The part of the trace arriving in ``[start_s, end_s)``, shifted to start at 0."""
        mask = (self.arrivals >= start_s) & (self.arrivals < end_s)
        return Trace(
            name=name or f"{self.name}[{start_s:g}:{end_s:g}]",
            arrivals=self.arrivals[mask] - start_s,
            durations=self.durations[mask],
            horizon_s=end_s - start_s,
            description=self.description,
            meta=dict(self.meta),
        )


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


#: The built-in traces, by name. Each is a zero-argument factory with fixed seeds.
BUILTIN: dict[str, Callable[[], Trace]] = {
    "steady": steady,
    "bursts": bursts,
    "diurnal": diurnal,
    "spikes": spikes,
    "longtail": longtail,
    "trickle": trickle,
    "cron-storm": cron_storm,
    "bimodal": bimodal,
}


# --------------------------------------------------------------------------- Azure Functions 2019

AZURE_KEY_COLUMNS = ("HashOwner", "HashApp", "HashFunction", "Trigger")
AZURE_MINUTES = 1440


class TraceFormatError(ValueError):
    """A trace file that does not have the expected format (message names the file and line)."""


def azure_functions_trace(
    rows: Iterable[Sequence[str]],
    source: PurePath,
    *,
    function: str | None = None,
    start_minute: int = 0,
    minutes: int | None = None,
    scale: float = 1.0,
    duration: Distribution | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Trace:
    """Replay per-minute invocation counts from the rows of an Azure Functions 2019 style CSV.

    ``rows`` are the parsed CSV rows, header first: ``HashOwner,HashApp,HashFunction,Trigger,1,2,
    ...,1440``, then one row per function, one column per minute of the day; ``source`` names the
    file in messages and in the trace. The counts of the selected rows are summed (``function``
    selects rows whose ``HashFunction`` starts with that prefix; ``None`` takes every row),
    multiplied by ``scale`` (rounded stochastically so the expected count is exact), and each
    minute's tasks are spread uniformly at random inside that minute. The public trace carries no
    per-invocation durations, so they are drawn from ``duration``.

    Raises:
        TraceFormatError: the header or a row is malformed (the message names file and line).
    """
    rng = np.random.default_rng(seed)
    dur = duration or Distribution.lognormal(2.0, 0.5)
    totals = np.zeros(AZURE_MINUTES, dtype=np.float64)
    matched = 0
    reader = iter(rows)
    try:
        header = next(reader)
    except StopIteration:
        raise TraceFormatError(f"{source}: empty file") from None
    expected = azure_header()
    if [h.strip() for h in header] != expected:
        raise TraceFormatError(
            f"{source}:1: header must be HashOwner,HashApp,HashFunction,Trigger,1..1440"
        )
    for lineno, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(expected):
            raise TraceFormatError(
                f"{source}:{lineno}: expected {len(expected)} columns, got {len(row)}"
            )
        if function is not None and not row[2].startswith(function):
            continue
        try:
            counts = np.array([float(c) for c in row[4:]], dtype=np.float64)
        except ValueError:
            raise TraceFormatError(f"{source}:{lineno}: minute counts must be numbers") from None
        if np.any(counts < 0):
            raise TraceFormatError(f"{source}:{lineno}: minute counts must be >= 0")
        totals += counts
        matched += 1
    if matched == 0:
        raise TraceFormatError(f"{source}: no row matches function {function!r}")
    end = AZURE_MINUTES if minutes is None else min(AZURE_MINUTES, start_minute + minutes)
    if not 0 <= start_minute < end:
        raise TraceFormatError(f"{source}: start_minute must be in [0, {AZURE_MINUTES})")
    window = totals[start_minute:end] * scale
    whole = np.floor(window)
    counts_int = (whole + (rng.uniform(0, 1, len(window)) < window - whole)).astype(np.int64)
    parts = [
        np.sort(rng.uniform(60.0 * i, 60.0 * (i + 1), int(c)))
        for i, c in enumerate(counts_int)
        if c > 0
    ]
    arr = np.concatenate(parts) if parts else np.empty(0)
    label = name or f"azure-{source.stem}"
    return Trace(
        label,
        arr,
        dur.sample(rng, len(arr)),
        60.0 * len(window),
        f"Azure Functions 2019 counts from {source.name} ({matched} rows, minutes "
        f"{start_minute}-{end}, scale {scale:g}), durations {dur.describe()}",
    )


def azure_header() -> list[str]:
    """The header row of the Azure Functions 2019 format."""
    return [*AZURE_KEY_COLUMNS, *(str(i) for i in range(1, AZURE_MINUTES + 1))]


def synthetic_azure_rows(
    *, seed: int = 2019, rows: int = 4, peak_per_minute: float = 120.0
) -> list[list[str]]:
    """A small SYNTHETIC table in the Azure Functions 2019 format (for tests and demos), header
    first.

    The rows are invented (random hashes, made-up day curves with bursts); they are not Azure data.
    """
    rng = np.random.default_rng(seed)
    minutes = np.arange(AZURE_MINUTES)
    triggers = ("http", "queue", "timer", "event")
    out: list[list[str]] = [azure_header()]
    for r in range(rows):
        digest = hashlib.sha256(f"{seed}-{r}".encode()).hexdigest()
        shape = peak_per_minute / (r + 1) * (1 - np.cos(2 * np.pi * (minutes - 60 * r) / 1440)) / 2
        counts = rng.poisson(shape)
        if triggers[r % 4] == "timer":
            counts = np.where(minutes % 15 == 0, 40, 0)
        # A few bursts.
        for b in rng.integers(0, AZURE_MINUTES, 3):
            counts[b] += int(rng.integers(50, 300))
        out.append([digest[:16], digest[16:32], digest[32:48], triggers[r % 4], *map(str, counts)])
    return out


@dataclass(frozen=True)
class AzureTraceSpec:
    """A parsed ``azure:PATH[:START_MINUTE[:MINUTES[:SCALE]]]`` trace spec."""

    path: str
    start_minute: int = 0
    minutes: int = 60
    scale: float = 1.0


def parse_trace_spec(spec: str) -> str | AzureTraceSpec:
    """A CLI trace spec: a built-in name (``steady``), or an Azure file to load.

    Raises:
        ValueError: neither a built-in name nor ``azure:PATH[:START:MIN:SCALE]``.
    """
    if spec in BUILTIN:
        return spec
    if spec.startswith("azure:"):
        parts = spec.split(":")
        return AzureTraceSpec(
            path=parts[1],
            start_minute=int(parts[2]) if len(parts) > 2 and parts[2] else 0,
            minutes=int(parts[3]) if len(parts) > 3 and parts[3] else 60,
            scale=float(parts[4]) if len(parts) > 4 and parts[4] else 1.0,
        )
    raise ValueError(
        f"unknown trace {spec!r}: use one of {', '.join(BUILTIN)} or azure:PATH[:START:MIN:SCALE]"
    )
