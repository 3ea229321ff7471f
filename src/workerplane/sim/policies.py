"""The policies the lab compares, and how each one's workers behave.

workerplane's and Temporal's scalers are built through :func:`workerplane.scaling.registry.
build_scaler`, exactly as the controller builds them from a deployment's ``scaler {type,
details}``: the simulator runs the production code. KEDA+HPA and fixed replicas are models of
other systems (:mod:`workerplane.sim.anchors`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import Strategy
from workerplane.sim.anchors import FixedReplicasScaler, KedaHpaScaler
from workerplane.sim.engine import simulate
from workerplane.sim.models import ServerModel, SimOptions, SimResult, SimScaler, WorkerModel
from workerplane.sim.traces import Trace

Kind = Literal["workerplane", "anchor"]

#: How long an idle workerplane invoke worker lingers before exiting (``workerplane.worker``).
WORKERPLANE_IDLE_EXIT_S = 5.0


@dataclass(frozen=True)
class Policy:
    """A scaling policy as the lab runs it.

    Attributes:
        name: short name used in tables and file names.
        kind: ``workerplane`` (ours) or ``anchor`` (what users would otherwise run).
        make: builds a fresh scaler; receives the workers' slot count (a policy's per-worker
            target is set to the slot count, as a user would configure it).
        strategy: the provider strategy the policy drives.
        idle_exit_s: invoke workers exit after this long idle (``None``: never).
        max_lifetime_s: invoke workers exit at this age (``None``: no limit).
        signal_task_adds: feed the scaler Temporal's per-task "no sync match" signal (Temporal's
            server-side controller receives it from the matching service).
        description: one line for reports.
    """

    name: str
    kind: Kind
    make: Callable[[int], SimScaler]
    strategy: Strategy
    idle_exit_s: float | None = None
    max_lifetime_s: float | None = None
    signal_task_adds: bool = False
    description: str = ""

    def worker_model(self, base: WorkerModel) -> WorkerModel:
        return replace(base, idle_exit_s=self.idle_exit_s, max_lifetime_s=self.max_lifetime_s)

    def run(
        self,
        trace: Trace,
        workers: WorkerModel,
        server: ServerModel | None = None,
        seed: int = 0,
        sample_every_s: float = 5.0,
    ) -> SimResult:
        return simulate(
            trace,
            self.make(workers.slots),
            self.worker_model(workers),
            server,
            SimOptions(
                seed=seed, sample_every_s=sample_every_s, signal_task_adds=self.signal_task_adds
            ),
            policy_name=self.name,
        )


def _registry(
    scaler_type: str, strategy: Strategy, details: Callable[[int], dict[str, Any]]
) -> Callable[[int], SimScaler]:
    def make(slots: int) -> SimScaler:
        scaler: SimScaler = build_scaler(scaler_type, details(slots), strategy)
        return scaler

    return make


def slo_policy(slo_s: float, max_count: int = 100) -> Policy:
    """workerplane's SLO-driven default: the user sets only the SLO and min/max. Pre-warming is on:
    for a trace whose schedule's action times are known (``Trace.actions``), and, as by default,
    for storms it infers recur from what it observes (:mod:`workerplane.planning.recurrence`)."""
    return Policy(
        name="workerplane-slo",
        kind="workerplane",
        make=_registry(
            "slo",
            Strategy.WORKER_SET,
            lambda slots: {
                "schedule_to_start_slo_ms": round(slo_s * 1000),
                "min_count": 0,
                "max_count": max_count,
                "prewarm": {"enabled": True},
            },
        ),
        strategy=Strategy.WORKER_SET,
        description=(
            f"workerplane `slo` (p95 SLO {slo_s:g}s, min 0, max {max_count}, pre-warming on), "
            "worker-set"
        ),
    )


def builtin_policies(slo_s: float, max_count: int = 100) -> list[Policy]:
    """Every simulated policy, in report order (fixed replicas are added by the report)."""
    return [
        slo_policy(slo_s, max_count),
        Policy(
            name="workerplane-backlog",
            kind="workerplane",
            make=_registry(
                "backlog",
                Strategy.WORKER_SET,
                lambda slots: {"target_per_worker": slots, "max_count": max_count},
            ),
            strategy=Strategy.WORKER_SET,
            description="workerplane `backlog` (target_per_worker = slots), worker-set",
        ),
        Policy(
            name="workerplane-backlog-invoke",
            kind="workerplane",
            make=_registry(
                "backlog",
                Strategy.INVOKE,
                lambda slots: {"target_per_worker": slots, "max_count": max_count},
            ),
            strategy=Strategy.INVOKE,
            idle_exit_s=WORKERPLANE_IDLE_EXIT_S,
            description=(
                "workerplane `backlog` (target_per_worker = slots), invoke, workers exit after "
                f"{WORKERPLANE_IDLE_EXIT_S:g}s idle"
            ),
        ),
        Policy(
            name="temporal-no-sync",
            kind="anchor",
            make=_registry("no-sync", Strategy.INVOKE, lambda slots: {}),
            strategy=Strategy.INVOKE,
            max_lifetime_s=600.0,
            signal_task_adds=True,
            description=(
                "Temporal `no-sync`, defaults, task-add signals; workers run to "
                "max_worker_lifetime (600s)"
            ),
        ),
        Policy(
            name="temporal-no-sync-idle-exit",
            kind="anchor",
            make=_registry("no-sync", Strategy.INVOKE, lambda slots: {}),
            strategy=Strategy.INVOKE,
            idle_exit_s=WORKERPLANE_IDLE_EXIT_S,
            max_lifetime_s=600.0,
            signal_task_adds=True,
            description=(
                "Temporal `no-sync`, defaults, task-add signals; workers exit after "
                f"{WORKERPLANE_IDLE_EXIT_S:g}s idle (or at 600s)"
            ),
        ),
        Policy(
            name="temporal-rate-based",
            kind="anchor",
            make=_registry(
                "rate-based", Strategy.WORKER_SET, lambda slots: {"max_count": max_count}
            ),
            strategy=Strategy.WORKER_SET,
            signal_task_adds=True,
            description="Temporal `rate-based`, defaults (max_count raised), task-add signals",
        ),
        Policy(
            name="keda-hpa",
            kind="anchor",
            make=lambda slots: KedaHpaScaler(),
            strategy=Strategy.WORKER_SET,
            description=(
                "KEDA temporal trigger (targetQueueSize 5) + HPA defaults (30s polling, "
                "300s cooldown, 300s stabilization, 10% tolerance)"
            ),
        ),
    ]


def fixed_policy(replicas: int) -> Policy:
    """Launch's fixed replicas (``min_workers == max_workers``)."""
    return Policy(
        name="fixed",
        kind="anchor",
        make=lambda slots: FixedReplicasScaler(replicas),
        strategy=Strategy.WORKER_SET,
        description=f"fixed replicas ({replicas}, the fewest that meet the SLO)",
    )


def best_fixed(
    trace: Trace,
    workers: WorkerModel,
    slo_s: float,
    server: ServerModel | None = None,
    seed: int = 0,
    upper: int = 200,
) -> tuple[int, SimResult]:
    """The fewest fixed replicas whose p95 schedule-to-start meets ``slo_s`` (bisection).

    This is the best a fixed-size deployment can do, chosen with hindsight of the trace.
    """
    cache: dict[int, SimResult] = {}

    def run(n: int) -> SimResult:
        if n not in cache:
            cache[n] = fixed_policy(n).run(trace, workers, server, seed)
        return cache[n]

    lo, hi = 1, 1
    while run(hi).percentile(95) > slo_s and hi < upper:
        lo, hi = hi + 1, min(upper, hi * 2)
    while lo < hi:
        mid = (lo + hi) // 2
        if run(mid).percentile(95) <= slo_s:
            hi = mid
        else:
            lo = mid + 1
    return hi, run(hi)
