"""Helpers for the policy-lab tests: short, hand-made traces keep the suite fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workerplane.sim.traces import Trace

#: A small sample of the Azure Functions 2019 trace format.
AZURE_SAMPLE = Path(__file__).parent / "data" / "azure_functions_2019_sample.csv"


def make_trace(
    arrivals: list[float], durations: list[float], horizon: float, name: str = "t"
) -> Trace:
    """A trace with exactly these arrivals and durations."""
    return Trace(name, np.array(arrivals, dtype=float), np.array(durations, dtype=float), horizon)
