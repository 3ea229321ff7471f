"""The controller's own knobs (not any deployment's): how often it reads, how much it may ask
of Temporal, how it publishes. docs/fleet.md says what the fleet-scale ones cost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ControllerSettings:
    """Knobs of the controller itself (not of any deployment); docs/fleet.md says what each
    of the fleet-scale ones costs.

    Attributes:
        state_dir: where providers keep local state (e.g. the subprocess provider's pid records).
        address, namespace: override every spec's Temporal connection (``--address``).
        refresh_s: how often the spec source is re-read.
        drain_timeout_s: how long ``--drain`` waits for workers to finish in-flight work.
        fresh_signals: read the uncached backlog hint for groups with no free slot (no polling
            worker, or every slot busy), so a task on an idle queue starts one, and a storm on
            busy workers is seen, without waiting for the server's stats cache
            (docs/temporal-signals.md); off, such a task waits up to 5 s on a default server.
        schedule_refresh_s: how often the schedules of a namespace with a pre-warming group are
            listed (docs/prewarming.md).
        rps_budget: Temporal calls per second the controller may make (stats, fresh signals,
            version describes), shared by every group; keep it well under the namespace's
            frontend limit, which workers and starters share.
        worker_heartbeats: count the tasks of groups whose provider cannot (ECS, Cloud Run,
            webhook, Kubernetes pods without a report) from their workers' heartbeats to
            Temporal (``ListWorkers``, one call per queue per cycle while the group has workers;
            docs/serverless.md). Off, those groups take every polling worker as full.
        idle_read_interval_s: the least time between two reads of a group at zero with nothing
            to do. 0 (the default): as often as what is left of the budget allows, never more
            often than its poll interval, so a few groups react at once and thousands share
            the budget (the status shows the effective interval, which is how long a task on an
            idle queue may wait). Groups with work or workers, and groups active in the last
            ``active_hold_s``, cycle at their scaler's poll interval.
        active_hold_s: how long a group that had work or workers stays on its fast cycle.
        publish_interval_s: how often changed statuses are published.
        max_concurrent_cycles: group cycles running at once (idle ones get a quarter of it).
        shared_read_window_s: a read finished this recently answers other groups asking the
            same (the server caches stats for 5 s anyway).
        drainage_read_interval_s: how often a draining version's drainage is read from
            Temporal for its sunset (docs/rollouts.md, Sunset; the server refreshes it every
            3 minutes by default, so more often buys little).
    """

    state_dir: Path
    address: str | None = None
    namespace: str | None = None
    refresh_s: float = 1.0
    drain_timeout_s: float = 60.0
    fresh_signals: bool = True
    schedule_refresh_s: float = 30.0
    rps_budget: float = 40.0
    worker_heartbeats: bool = True
    idle_read_interval_s: float = 0.0
    active_hold_s: float = 120.0
    publish_interval_s: float = 1.0
    max_concurrent_cycles: int = 64
    shared_read_window_s: float = 1.0
    drainage_read_interval_s: float = 30.0
