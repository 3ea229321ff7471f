"""``slo`` between storms a minute apart, in the simulator (Temporal's 5 s stats cache).

40 tasks land within a second every minute. Their average rate, 0.67 tasks/s, says the next task
is 1.5 s away, under a worker's 2 s startup, so ski rental kept a worker warm after each storm
for the gap it expected, and let it go only once the time already idle passed a startup: a
worker for most of a minute's scale-down tail, every minute. The group's own idle stretches say
the next task is most of a minute away.
"""

from __future__ import annotations

from workerplane.scaling.types import SetSize
from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import slo_policy
from workerplane.sim.synthetic import cron_storm

STORM_EVERY_S = 60.0


def test_no_worker_is_kept_warm_between_storms_a_minute_apart() -> None:
    trace = cron_storm(seed=4, storm_size=40, storm_s=1.0, every_s=STORM_EVERY_S, horizon_s=900.0)
    result = slo_policy(5.0).run(trace, WorkerModel(), None, 0)
    assert result.unfinished == 0
    assert result.percentile(95) <= 5.0
    # From the third storm on, two idle stretches have been learned.
    learned_at = 30.0 + 2 * STORM_EVERY_S
    reasons = [
        (round(at), decision.reason)
        for at, decision in result.decisions
        if at >= learned_at and isinstance(decision, SetSize)
    ]
    released = [at for at, reason in reasons if "released" in reason]
    kept = [at for at, reason in reasons if "kept warm" in reason]
    assert len(released) >= 10, reasons
    assert kept == [], f"a worker was kept warm between storms at {kept}"
