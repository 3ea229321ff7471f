"""Replay the public Azure Functions 2019 trace format, and parse the CLI's trace specs.

:func:`azure_functions_trace` replays per-minute invocation counts in the format of the public
Azure Functions 2019 trace (``HashOwner,HashApp,HashFunction,Trigger,1..1440``) from rows the
caller has read; opening files is the lab's job (:mod:`workerplane.lab.trace_files`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from workerplane.sim.distributions import Distribution
from workerplane.sim.synthetic import BUILTIN
from workerplane.sim.traces import Trace

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
