"""Helpers for the policy-lab tests: short, hand-made traces keep the suite fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workerplane.sim.traces import Trace

DATA = Path(__file__).parent / "data"


def make_trace(
    arrivals: list[float], durations: list[float], horizon: float, name: str = "t"
) -> Trace:
    return Trace(name, np.array(arrivals, dtype=float), np.array(durations, dtype=float), horizon)


@pytest.fixture
def azure_sample() -> Path:
    return DATA / "azure_functions_2019_sample.csv"
