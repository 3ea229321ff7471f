"""What a calibration's real and simulated runs share: the scaler and worker settings, the
server's settings, the trace.

The simulated run models the server the real run uses: by default a dev server with Temporal's
default dynamic config (4 partitions, stats cached 5 s, pollers listed 5 min), as users run it;
with ``fast_stats`` the dev server's fast-stats settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workerplane.sim.models import ServerModel
from workerplane.sim.traces import FloatArray, Trace

#: The dev server's fast-stats settings (``workerplane.temporal.devserver.FAST_STATS_CONFIG``).
FAST_STATS_TTL_S = 0.2
FAST_POLLER_HISTORY_TTL_S = 3.0


@dataclass(frozen=True)
class CalibrationConfig:
    """The scaler and worker settings shared by the real and the simulated run.

    Attributes:
        slo_s: the ``slo`` scaler's p95 schedule-to-start SLO.
        max_count: the scaler's ``max_count``.
        slots: task slots per worker (provider ``slots``; simulator ``WorkerModel.slots``).
        poll_interval_ms: the scaler's ``metrics_poll_interval_ms``.
        drain_s: after the trace ends, keep measuring this long (workers scaling down count).
        sample_s: period of the worker-process sampling.
        sim_seeds: the simulator is run with seeds ``0 .. sim_seeds-1`` and the figures averaged.
        overhead: add to each simulated wait a first hop (workflow-task wait + execution) drawn
            from the real run's (``RealRun.first_hop_polled``).
        slots_known: give the scaler ``target_per_worker = slots`` instead of letting it learn
            the slots per worker (removes the learning transient, see docs/policy-lab.md).
        partitions: task-queue partitions of the dev server calibration starts
            (``matching.numTaskqueueRead/WritePartitions``); Temporal's default is 4, where
            tasks land on a random partition and pollers take from a random one; the simulator
            models the same (:mod:`workerplane.sim.partitions`). 1 is a single first-in,
            first-out queue.
        fast_stats: run the dev server with its fast-stats config (stats cached 0.2 s, pollers
            listed 3 s) instead of Temporal's defaults (5 s, 5 min), and simulate the same.
    """

    slo_s: float = 5.0
    max_count: int = 10
    slots: int = 4
    poll_interval_ms: int = 1000
    drain_s: float = 30.0
    sample_s: float = 0.1
    sim_seeds: int = 5
    overhead: bool = True
    partitions: int = 4
    slots_known: bool = False
    fast_stats: bool = False

    def server_model(self) -> ServerModel:
        """The simulated server matching the real one: its stats cache, poller history and
        partitions, and the uncached backlog hint the controller reads for a group with no
        polling worker."""
        if self.fast_stats:
            return ServerModel(
                stats_ttl_s=FAST_STATS_TTL_S,
                poller_history_ttl_s=FAST_POLLER_HISTORY_TTL_S,
                partitions=self.partitions,
            )
        return ServerModel(partitions=self.partitions)

    def server_description(self) -> str:
        """The server's settings, in words, for the report."""
        model = self.server_model()
        return (
            f"stats TTL {model.stats_ttl_s:g}s, poller history {model.poller_history_ttl_s:g}s, "
            f"{self.partitions} task-queue partition(s)"
        )

    def scaler_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "schedule_to_start_slo_ms": round(self.slo_s * 1000),
            "min_count": 0,
            "max_count": self.max_count,
            "metrics_poll_interval_ms": self.poll_interval_ms,
        }
        if self.slots_known:
            details["target_per_worker"] = self.slots
        return details


def calibration_trace(
    seed: int = 7,
    on_rate: float = 8.0,
    on_s: float = 15.0,
    off_s: float = 25.0,
    n_bursts: int = 3,
    lead_s: float = 5.0,
    task_s: float = 1.0,
) -> Trace:
    """Short on/off bursts of ``task_s`` tasks: ``n_bursts`` x (``on_s`` at ``on_rate``/s, then
    ``off_s`` idle), after ``lead_s`` idle seconds. The default is ~360 tasks over 125 s."""
    rng = np.random.default_rng(seed)
    parts: list[FloatArray] = []
    for b in range(n_bursts):
        start = lead_s + b * (on_s + off_s)
        n = int(rng.poisson(on_rate * on_s))
        parts.append(np.sort(rng.uniform(start, start + on_s, n)))
    arrivals = np.concatenate(parts) if parts else np.empty(0)
    return Trace(
        "calibration",
        arrivals,
        np.full(len(arrivals), float(task_s)),
        lead_s + n_bursts * (on_s + off_s),
        f"{n_bursts} bursts of {on_s:g}s at {on_rate:g}/s, {off_s:g}s off, {task_s:g}s tasks",
    )
