"""The simulator's inputs and output: how workers and the server behave, the run options, the
scaler protocol the engine drives, and what a run measured.

Kept apart from the event loop (:mod:`workerplane.sim.engine`) so that the policies, the oracle and
the report writers name these values without reaching into the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from workerplane.planning.plan import Decider
from workerplane.scaling.types import Decision, Strategy
from workerplane.sim.distributions import Distribution
from workerplane.sim.partitions import FORWARD_INTERVAL_S
from workerplane.sim.server_rates import BUCKET_S, WINDOW_S
from workerplane.sim.traces import FloatArray


class SimScaler(Decider, Protocol):
    """The subset of :class:`workerplane.scaling.base.Scaler` the simulator drives: the plan's
    :class:`~workerplane.planning.plan.Decider`, plus its strategy and schedule."""

    strategy: Strategy

    @property
    def poll_interval_s(self) -> float: ...

    def initial_state(self, now: float) -> Any: ...


@dataclass(frozen=True)
class WorkerModel:
    """How simulated workers behave.

    Attributes:
        startup: delay from launch to the first poll.
        slots: tasks a worker runs at once (its max concurrent task executions).
        idle_exit_s: invoke workers exit after this long idle; ``None`` = never.
        max_lifetime_s: invoke workers stop polling at this age and exit once drained;
            ``None`` = no limit.
        slot_turnaround_s: after a task completes, its slot takes this long to take the next
            one (reporting the completion, polling again, and the worker's other work on a busy
            CPU); 0 in the policy lab, fitted to the machine in calibration.
        reports_status: the census carries what workerplane's worker runtime reports (slots, the
            finished tasks and their run time, a running completion count), as the subprocess
            provider passes it on; ``False`` models workers the scaler must learn from the
            server's stats and the in-flight count.
        report_interval_s: how often a worker rewrites its status file, which carries the
            schedule-to-start it measured (:mod:`workerplane.sim.reports`); ``None``: workers
            report no latency (a provider that collects none).
        retire_as_reported: a shrink retires busy workers as a real provider can, those whose
            tasks have run the least (:mod:`workerplane.scaling.retire`), instead of those whose
            tasks end first, which only the simulator knows (the lab's default, an optimistic
            assumption: 2 % five-minute tasks cost every policy 6-12 % more without it).
    """

    startup: Distribution = field(default_factory=lambda: Distribution.lognormal(2.0, 0.4))
    slots: int = 4
    idle_exit_s: float | None = None
    max_lifetime_s: float | None = None
    reports_status: bool = True
    slot_turnaround_s: float = 0.0
    report_interval_s: float | None = 1.0
    retire_as_reported: bool = False


@dataclass(frozen=True)
class ServerModel:
    """Temporal server behaviour that shapes what the controller sees.

    Attributes:
        stats_ttl_s: ``matching.TaskQueueInfoByBuildIdTTL`` (stats cache lifetime).
        rate_window_s, rate_bucket_s: the window and bucket of the add/dispatch rate counts.
        poller_history_ttl_s: ``matching.PollerHistoryTTL`` (how long pollers stay listed).
        queue_type: the task-queue type the simulated queue is (key of ``GroupMetrics.by_type``).
        fresh_signal_delay_s: how long after it lands a task shows in the uncached backlog hint
            the controller reads for a group with no polling worker (docs/temporal-signals.md:
            about 0.07 s); ``None`` models a controller that does not read it.
        partitions: task-queue partitions (:mod:`workerplane.sim.partitions`); 1 is a single
            first-in, first-out backlog (the policy lab's default), Temporal's default is 4.
        forward_interval_s: with several partitions, the least time between two tasks one child
            partition forwards to a poll waiting at the root (``1 /
            matching.forwarderMaxRatePerSecond``); a poll waiting there is offered one this
            often (:mod:`workerplane.sim.partitions`).
    """

    stats_ttl_s: float = 5.0
    rate_window_s: float = WINDOW_S
    rate_bucket_s: float = BUCKET_S
    poller_history_ttl_s: float = 300.0
    queue_type: str = "ACTIVITY"
    fresh_signal_delay_s: float | None = 0.1
    partitions: int = 1
    forward_interval_s: float = FORWARD_INTERVAL_S


@dataclass(frozen=True)
class SimOptions:
    """Run options.

    Attributes:
        seed: seeds startup delays and any other randomness of the run.
        sample_every_s: period of the time series.
        max_drain_s: after the trace ends, keep simulating at most this long for tasks to finish.
        max_workers: a safety cap on alive workers (a runaway policy is stopped, not the machine).
        signal_task_adds: also call the scaler's ``task_added`` hook (if it has one) for every
            arriving task, as Temporal's matching service does for its server-side controller.
    """

    seed: int = 0
    sample_every_s: float = 5.0
    max_drain_s: float = 3600.0
    max_workers: int = 2000
    signal_task_adds: bool = False


@dataclass
class SimResult:
    """What one simulation produced.

    Attributes:
        trace: the trace name.
        policy: the policy name.
        waits: per-task schedule-to-start latency in seconds (NaN for a task that never started).
        completed: how many times each task completed (conservation: all ones).
        worker_seconds: total billed worker time (launch to exit).
        startup_seconds: the part of it spent starting (launch to first poll).
        retiring_seconds: the part spent finishing tasks after polling stopped.
        launches: workers launched.
        scale_actions: decisions that changed something (a start, or a new size).
        decisions: every decision with its time (``Hold`` included).
        end_time: when the simulation stopped.
        series_t, series_backlog, series_workers, series_ready, series_busy: time series sampled
            every ``sample_every_s`` (true backlog, alive workers, polling workers, busy slots).
        arrivals: the trace's arrival times (for latency-over-time plots).
    """

    trace: str
    policy: str
    waits: FloatArray
    completed: npt.NDArray[np.int64]
    worker_seconds: float
    startup_seconds: float
    retiring_seconds: float
    launches: int
    scale_actions: int
    decisions: list[tuple[float, Decision]]
    end_time: float
    series_t: FloatArray
    series_backlog: FloatArray
    series_workers: FloatArray
    series_ready: FloatArray
    series_busy: FloatArray
    arrivals: FloatArray

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of schedule-to-start (never started counts as infinite)."""
        if len(self.waits) == 0:
            return 0.0
        w = np.where(np.isnan(self.waits), np.inf, self.waits)
        return float(np.percentile(w, q, method="higher"))

    @property
    def unfinished(self) -> int:
        return int(np.sum(self.completed == 0))
