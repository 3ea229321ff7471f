"""Policies that are not part of workerplane but that users would otherwise run.

* :class:`KedaHpaScaler` models KEDA's ``temporal`` trigger feeding a Kubernetes HPA.
* :class:`FixedReplicasScaler` is Launch's endpoint without an autoscaler: a fixed size.

Both implement the :class:`~workerplane.scaling.base.Scaler` protocol (worker-set strategy), so the
simulator drives them exactly like workerplane's own scalers. They live here, not in
:mod:`workerplane.scaling`, because they are models of other systems, never offered to users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from workerplane.scaling.types import Decision, GroupMetrics, Hold, SetSize, Strategy


@dataclass(frozen=True)
class KedaHpaConfig:
    """The knobs of a ScaledObject with a ``temporal`` trigger, and of the HPA KEDA creates.

    Defaults are KEDA's and Kubernetes' defaults.

    Attributes:
        target_queue_size: trigger metadata ``targetQueueSize`` (HPA AverageValue target).
        activation_target_queue_size: ``activationTargetQueueSize``: the trigger is active when
            the backlog is strictly greater than this.
        polling_interval_s: ScaledObject ``pollingInterval``: KEDA's own loop, which alone
            activates (0 -> 1) and deactivates (-> 0) the workload.
        cooldown_period_s: ScaledObject ``cooldownPeriod``: how long the trigger must have been
            inactive before KEDA scales to zero.
        min_replica_count: ScaledObject ``minReplicaCount``.
        max_replica_count: ScaledObject ``maxReplicaCount``.
        hpa_sync_period_s: the HPA controller's ``--horizontal-pod-autoscaler-sync-period``.
        tolerance: the HPA's ``--horizontal-pod-autoscaler-tolerance``: no change while the usage
            ratio is within this of 1.
        scale_down_stabilization_s: HPA ``behavior.scaleDown.stabilizationWindowSeconds``: the HPA
            uses the highest recommendation of this window when scaling down.
        scale_up_pods: default scale-up policy: add at most this many pods per period...
        scale_up_percent: ...or this percentage of the current pods, whichever is more
            (``selectPolicy: Max``, ``periodSeconds: 15``).
    """

    target_queue_size: int = 5
    activation_target_queue_size: int = 0
    polling_interval_s: float = 30.0
    cooldown_period_s: float = 300.0
    min_replica_count: int = 0
    max_replica_count: int = 100
    hpa_sync_period_s: float = 15.0
    tolerance: float = 0.1
    scale_down_stabilization_s: float = 300.0
    scale_up_pods: int = 4
    scale_up_percent: float = 100.0


@dataclass(frozen=True)
class KedaHpaState:
    """Replicas as the Deployment holds them, plus KEDA's and the HPA's memory.

    Attributes:
        replicas: the Deployment's ``spec.replicas``.
        last_keda_poll: when KEDA's loop last ran (``None`` = never).
        last_active: when KEDA last saw the trigger active (``None`` = never).
        recommendations: the HPA's recent ``(time, replicas)`` recommendations (stabilization).
    """

    replicas: int = 0
    last_keda_poll: float | None = None
    last_active: float | None = None
    recommendations: tuple[tuple[float, int], ...] = ()


class KedaHpaScaler:
    """KEDA's ``temporal`` scaler and the HPA, as one worker-set scaler ticking at the HPA period.

    Per tick (every ``hpa_sync_period_s``):

    1. KEDA's loop, when ``polling_interval_s`` has passed since its last run: the trigger is
       active iff ``backlog > activation_target_queue_size``. Active at 0 replicas -> scale to
       ``max(1, min_replica_count)``. Inactive for ``cooldown_period_s`` (since the last active
       poll) with replicas above ``min_replica_count`` and ``min_replica_count == 0`` -> scale to 0.
    2. The HPA, when replicas >= 1: usage = backlog (the only metric of KEDA's Temporal scaler),
       ratio = usage / (target * replicas). Within ``tolerance`` of 1 -> recommend the current
       size, else ``ceil(usage / target)``, clamped to ``[max(1, min), max]``. Scale-up is limited
       to ``max(replicas + scale_up_pods, replicas * (1 + percent/100))`` per tick; scale-down
       uses the highest recommendation of the last ``scale_down_stabilization_s``.

    The backlog count is Temporal's ``approximate_backlog_count``: an empty backlog is taken as
    idle even when tasks are still running (KEDA's known weakness).
    """

    strategy = Strategy.WORKER_SET

    def __init__(self, config: KedaHpaConfig | None = None) -> None:
        self.config = config or KedaHpaConfig()

    @property
    def poll_interval_s(self) -> float:
        return self.config.hpa_sync_period_s

    def initial_state(self, now: float) -> KedaHpaState:
        return KedaHpaState(replicas=self.config.min_replica_count)

    def decide(
        self, state: KedaHpaState, metrics: GroupMetrics | None, now: float
    ) -> tuple[KedaHpaState, Decision]:
        c = self.config
        if metrics is None:
            return state, Hold(reason="metrics unavailable: HPA keeps the current size")
        backlog = metrics.stats.backlog_count
        reasons: list[str] = []
        replicas = state.replicas
        last_active = state.last_active
        last_poll = state.last_keda_poll
        # 1. KEDA's loop: activation and scale to zero.
        if last_poll is None or now - last_poll >= c.polling_interval_s - 1e-9:
            last_poll = now
            active = backlog > c.activation_target_queue_size
            if active:
                last_active = now
                if replicas == 0:
                    replicas = max(1, c.min_replica_count)
                    reasons.append(f"KEDA: trigger active (backlog {backlog}) -> {replicas}")
            elif (
                replicas > 0
                and c.min_replica_count == 0
                and (last_active is None or now - last_active >= c.cooldown_period_s - 1e-9)
            ):
                reasons.append(f"KEDA: inactive for cooldownPeriod {c.cooldown_period_s:g}s -> 0")
                replicas = 0
                state = replace(state, recommendations=())
        recs = state.recommendations
        # 2. The HPA (it only acts on a workload that has at least one replica).
        if replicas >= 1 and not reasons:
            floor = max(1, c.min_replica_count)
            ratio = backlog / (c.target_queue_size * replicas)
            if abs(ratio - 1.0) <= c.tolerance:
                rec = replicas
            else:
                rec = math.ceil(backlog / c.target_queue_size)
            rec = min(max(rec, floor), c.max_replica_count)
            recs = (
                *((t, r) for t, r in recs if now - t < c.scale_down_stabilization_s),
                (now, rec),
            )
            if rec > replicas:
                limit = max(
                    replicas + c.scale_up_pods,
                    math.ceil(replicas * (1 + c.scale_up_percent / 100.0)),
                )
                new = min(rec, limit, c.max_replica_count)
                reasons.append(f"HPA: backlog {backlog} / target {c.target_queue_size} -> {new}")
            else:
                # Scale-down stabilization: the highest recommendation of the window wins.
                new = min(replicas, max(r for _, r in recs))
                if new != replicas:
                    reasons.append(f"HPA: stabilized recommendation {new}")
            replicas = new
        new_state = replace(
            state,
            replicas=replicas,
            last_keda_poll=last_poll,
            last_active=last_active,
            recommendations=recs,
        )
        if replicas != state.replicas:
            return new_state, SetSize(size=replicas, reason="; ".join(reasons))
        return new_state, Hold(reason=f"backlog {backlog}, replicas {replicas}")


class FixedReplicasScaler:
    """Launch's endpoint without an autoscaler: ``min_workers == max_workers == replicas``."""

    strategy = Strategy.WORKER_SET

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas

    @property
    def poll_interval_s(self) -> float:
        return 60.0

    def initial_state(self, now: float) -> None:
        return None

    def decide(
        self, state: None, metrics: GroupMetrics | None, now: float
    ) -> tuple[None, Decision]:
        return None, SetSize(size=self.replicas, reason=f"fixed at {self.replicas} replicas")
