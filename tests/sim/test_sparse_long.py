"""``slo`` on sparse minute-long tasks (the ``sparse-long`` trace, simulated and exact): each task
is one free slot's work. Before a free slot counted for the task it takes at its first poll, one
35 s task waiting got 3 new workers, and ``slo`` cost 1.2x Temporal's no-sync with idle exit."""

from __future__ import annotations

import pytest

from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import builtin_policies
from workerplane.sim.synthetic import sparse_long


@pytest.mark.parametrize("slo_s", [5.0, 30.0])
def test_slo_costs_less_than_every_anchor_meeting_the_slo(slo_s: float) -> None:
    trace = sparse_long()
    runs = {p.name: (p, p.run(trace, WorkerModel(), None, 0)) for p in builtin_policies(slo_s, 100)}
    mine = runs["workerplane-slo"][1]
    assert mine.unfinished == 0 and mine.percentile(95) <= slo_s
    rivals = {
        name: r.worker_seconds
        for name, (p, r) in runs.items()
        if p.kind == "anchor" and r.percentile(95) <= slo_s and r.unfinished == 0
    }
    assert rivals, "an anchor meets the SLO"
    assert all(mine.worker_seconds < ws for ws in rivals.values()), (mine.worker_seconds, rivals)
