"""``slo`` on small storms that recur within a long SLO, in the simulator (Temporal's 5 s stats
cache).

Ten 2 s tasks land every 10 s, and the SLO is 30 s. A worker started for each storm (warmed for
it, once the period is inferred) pays a startup and a scale-down tail per storm: about a worker
throughout. A cold group may instead wait with a storm while its oldest task can, and serve the
next storms with the same start, as the whole-task oracle does.
"""

from __future__ import annotations

from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import slo_policy
from workerplane.sim.synthetic import cron_storm

HORIZON_S = 900.0
SLO_S = 30.0


def test_storms_every_10_s_share_their_workers_starts_at_a_30_s_slo() -> None:
    trace = cron_storm(seed=0, storm_size=10, storm_s=0.5, every_s=10.0, horizon_s=HORIZON_S)
    result = slo_policy(SLO_S).run(trace, WorkerModel(), None, 0)
    assert result.unfinished == 0
    assert result.percentile(95) <= SLO_S
    # One worker polling throughout costs the horizon; starting one per storm costs about as
    # much (787 worker-s before this rule).
    assert result.worker_seconds < 0.7 * HORIZON_S
    assert any("deferred" in decision.reason for _, decision in result.decisions)
