"""Why the default policy misses its SLO on a trace, in one plain sentence for the report.

Two causes a scaler cannot remove by reacting better, and one it can:

* the SLO is below what a cold start can give (``slo_floor.reachable_slo``: the uncached backlog
  hint, the poll, the worker startup); ``validate`` warns about it;
* the late tasks arrived in a surge larger than the slots of the workers ready when it landed: a
  reactive scaler sees a surge within a poll, but its workers start only after it has landed,
  and the rest of it hides behind the server's stats cache meanwhile. Only knowing the schedule
  (pre-warming, a later issue) removes that;
* otherwise the capacity it held was short: a scaler finding.
"""

from __future__ import annotations

import numpy as np

from workerplane.scaling.slo_floor import reachable_slo
from workerplane.scaling.slo_model import SloDetails
from workerplane.scaling.types import Strategy
from workerplane.sim.models import SimResult, WorkerModel

#: At least this share of the late tasks in surges names the surges as the cause.
SURGE_SHARE = 0.5


def why_missed(result: SimResult, slo_s: float, workers: WorkerModel) -> str:
    """The cause of the misses of ``result`` (one that missed ``slo_s``), as a sentence."""
    details = SloDetails(schedule_to_start_slo_ms=max(1, round(slo_s * 1000)))
    floor = reachable_slo(
        details,
        Strategy.WORKER_SET,
        fresh_signals=True,
        default_startup_ms=round(workers.startup.mean * 1000),
    )
    if slo_s * 1000 < floor.minimum_ms:
        return (
            f"the SLO is below the {floor.minimum_ms / 1000:g} s a task waits when no worker runs "
            f"(backlog hint {floor.signal_ms} ms + poll {floor.poll_ms} ms + mean startup "
            f"{floor.startup_ms} ms); `validate` warns about it"
        )
    waits = np.where(np.isnan(result.waits), np.inf, result.waits)
    arrivals = result.arrivals
    late = arrivals[waits > slo_s]
    if len(late) == 0:
        return "every task that started did so in time; some never started"
    # Tasks that arrived within one SLO before each late task, against the slots then polling.
    surge = np.searchsorted(arrivals, late, side="right") - np.searchsorted(arrivals, late - slo_s)
    sample = np.clip(np.searchsorted(result.series_t, late, side="right") - 1, 0, None)
    ready_slots = result.series_ready[sample] * workers.slots
    in_surge = surge > ready_slots
    share = float(in_surge.mean())
    if share >= SURGE_SHARE:
        return (
            f"{share:.0%} of the late tasks arrived in a surge larger than the slots of the "
            f"workers ready when it landed (up to {int(surge.max())} tasks within {slo_s:g} s): "
            "a reactive scaler sees it within a poll, but its workers start after the surge has "
            "landed; only starting them before, on the schedule (pre-warming), meets this SLO"
        )
    return (
        f"the capacity held was short: {1 - share:.0%} of the late tasks arrived when the ready "
        "workers had a slot for every task of the last SLO window"
    )
