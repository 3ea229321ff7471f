"""``slo`` on seeds of the storm traces it was not tuned on (the built-in traces use seed 7;
these are the seeds that missed a 5 s SLO before the in-flight cohorts, simulated and exact).

* cron-storm seeds 1 and 3: fresh counts mid-storm cut the workers still starting (54 -> 40
  with 318 waiting) because the plan counted the storm's busy slots as freeing evenly; and the
  storm's tail, already past the target wait, was no longer planned for at all.
* fanouts seed 6: a fan-out of 586 tasks behind one starting worker stayed hidden for 4 s,
  because a group with no worker polling read the uncached hint only while its cached stats
  showed nothing waiting.
* scheduled-storm seeds 1, 6 and 8 at a 2 s SLO (p95 2.07-2.14 s): every run's warm pool was a
  few workers short, and the feedback loop blamed the signal delay (2 s is below a cold start)
  instead of growing the pool that the tasks found polling.
"""

from __future__ import annotations

import pytest

from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import slo_policy
from workerplane.sim.synthetic import cron_storm, fanouts, scheduled_storm


@pytest.mark.parametrize(
    "trace", [cron_storm(seed=1), cron_storm(seed=3), fanouts(seed=6)], ids=lambda t: t.name
)
def test_slo_meets_5s_on_unseen_storm_seeds(trace) -> None:  # type: ignore[no-untyped-def]
    result = slo_policy(5.0).run(trace, WorkerModel())
    assert result.unfinished == 0
    assert result.percentile(95) <= 5.0


@pytest.mark.parametrize("seed", [1, 6, 8])
def test_slo_with_prewarming_meets_2s_on_unseen_scheduled_storm_seeds(seed: int) -> None:
    result = slo_policy(2.0).run(scheduled_storm(seed=seed), WorkerModel())
    assert result.unfinished == 0
    assert result.percentile(95) <= 2.0
