"""A load trace: when tasks arrive and how long each one runs.

The seeded generators are in :mod:`workerplane.sim.synthetic`; replaying the Azure Functions 2019
format is in :mod:`workerplane.sim.azure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

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
        actions: the action times of the Temporal Schedule that starts the trace's runs, known
            to a policy that pre-warms (:mod:`workerplane.sim.scheduled`); empty for unscheduled
            load.
    """

    name: str
    arrivals: FloatArray
    durations: FloatArray
    horizon_s: float
    description: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    actions: tuple[float, ...] = ()

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
            actions=tuple(a - start_s for a in self.actions if start_s <= a < end_s),
        )
