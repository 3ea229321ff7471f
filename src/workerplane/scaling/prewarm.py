"""``scaler.details.prewarm`` of the ``slo`` scaler: warm workers before a Temporal Schedule fires,
or before a surge that recurs on a period (``recurring``, on by default).

The keys only; what the controller reads from Temporal is in :mod:`workerplane.temporal.schedules`
and the warm floor it plans is in :mod:`workerplane.planning.prewarm` (docs/prewarming.md).

.. code-block:: yaml

    scaler:
      type: slo
      details:
        schedule_to_start_slo_ms: 2000
        max_count: 50
        prewarm:
          enabled: true
          recurring: true             # also warm for surges that recur without a schedule
          schedules:
            nightly: {workers: 20}    # a hint: warm 20 workers for schedule "nightly"
"""

from __future__ import annotations

from typing import Annotated

from workerplane.scaling._fields import ScalerDetails, temporal_int


class ScheduleHint(ScalerDetails):
    """What the user knows of one schedule's runs, instead of what the controller learns."""

    algorithm_name = "slo"

    workers: Annotated[int, temporal_int(0, int32=True)]
    """Workers to warm for each run of the schedule (0: never warm for it). Capped at
    ``max_count``."""


class PrewarmDetails(ScalerDetails):
    """Schedule-aware pre-warming. Off unless ``enabled``: it costs the server a schedule list per
    namespace every ``schedule_refresh_s`` of the controller and a describe per matching schedule
    (docs/prewarming.md)."""

    algorithm_name = "slo"

    enabled: bool = False
    """Read the schedules that start work on the group's task queues and warm workers ahead."""

    recurring: bool = True
    """Warm for surges that recur on a period no schedule announces (an external cron), learned
    from what the controller already observes of the group: it reads nothing more from
    Temporal (:mod:`workerplane.planning.recurrence`)."""

    schedules: dict[str, ScheduleHint] = {}
    """Per schedule id, a hint that replaces what is learned from its past runs."""

    margin_ms: Annotated[int, temporal_int(0)] = 500
    """Extra lead on top of the worker startup (timed from cycle to cycle), for a worker
    that starts slower than usual and a cycle that runs late."""
