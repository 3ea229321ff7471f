"""What the controller saw of one scaling group in one cycle: the input of a plan."""

from __future__ import annotations

from dataclasses import dataclass

from workerplane.scaling.types import GroupMetrics, WorkerCensus


@dataclass(frozen=True)
class Observation:
    """One look at a scaling group.

    Attributes:
        census: the provider's census of the group's workers (always read).
        metrics: the queue stats with that census, or ``None`` when they could not be read.
        metrics_error: why the metrics could not be read (``None`` when they were).
        wall_time: epoch seconds of the observation, stamped on the status it yields.
    """

    census: WorkerCensus
    metrics: GroupMetrics | None
    metrics_error: str | None = None
    wall_time: float = 0.0
