"""The rollout runner: observes every live rollout, plans it (:func:`plan_rollout`), asks
Temporal for the routing it wants, and stores the next state.

It runs inside ``serve`` next to the embedded controller and only while that controller runs:
under the controller lease, or, with shards, on the rollouts whose new version falls in a shard
this replica holds. Every routing action is asked again until Temporal reports it, and the state
is stored by compare-and-swap, so two runners for a moment, a lost call or a restart only delay a
rollout; none moves it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from workerplane.errors import NotFound
from workerplane.planning.readiness import available_workers, min_workers
from workerplane.planning.rollout import (
    GateObservation,
    RolloutAction,
    RolloutObserved,
    RolloutPhase,
    Routing,
    SetCurrent,
    SetRamping,
    StartGate,
    plan_rollout,
)
from workerplane.store.rollouts import RolloutRecord
from workerplane.store.rows import version_key
from workerplane.store.store import Store
from workerplane.store.views import DeploymentView, VersionView

logger = logging.getLogger("workerplane.rollouts")


class VersioningCalls(Protocol):
    """The Temporal calls a rollout makes (:class:`workerplane.temporal.versioning.Versioning`)."""

    async def set_current(self, namespace: str, deployment: str, build_id: str | None) -> None: ...

    async def set_ramping(
        self, namespace: str, deployment: str, build_id: str | None, percentage: float
    ) -> None: ...

    async def routing(self, namespace: str, deployment: str) -> Routing: ...

    async def start_gate(
        self, namespace: str, deployment: str, *, workflow_id: str, workflow_type: str,
        task_queue: str, argument: Any, build_id: str, timeout_s: float,
    ) -> None: ...  # fmt: skip

    async def gate(self, namespace: str, workflow_id: str) -> GateObservation: ...


class RolloutRunner:
    """Ticks every live rollout each ``interval_s``.

    Args:
        store: where rollouts, versions and the stored routing live.
        versioning: Temporal's routing and the gate; ``None`` when routing is only stored (the
            store's routing is then observed, and a gate cannot run).
        default_namespace: for deployments that name none.
        covers: whether this runner owns a version key (its shard); the whole store otherwise.
    """

    def __init__(
        self,
        store: Store,
        versioning: VersioningCalls | None,
        *,
        default_namespace: str = "default",
        interval_s: float = 1.0,
        covers: Callable[[str], bool] = lambda _key: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._versioning = versioning
        self._namespace = default_namespace
        self._interval_s = interval_s
        self._covers = covers
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a failed tick is logged and the next one runs."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                logger.exception("rollout tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval_s)

    async def tick(self) -> None:
        """Advance every live rollout this runner owns, one after the other."""
        for record in await asyncio.to_thread(self._store.rollouts.live):
            state = record.state
            if self._covers(version_key(state.deployment, state.target)):
                await self.advance(record)

    async def advance(self, record: RolloutRecord) -> None:
        """One tick of one rollout: observe, plan, act, store."""
        state = record.state
        try:
            dep = await asyncio.to_thread(self._store.deployments.get, state.deployment)
            version = await asyncio.to_thread(
                self._store.versions.get, state.deployment, state.target
            )
        except NotFound as err:
            reason = f"stopped: {err}"
            failed = state.model_copy(update={"phase": RolloutPhase.FAILED, "reason": reason})
            await asyncio.to_thread(self._store.rollouts.save, failed, record.revision)
            return
        namespace = version.namespace or self._namespace
        observed = await self._observe(record, dep, version, namespace)
        actions, status = plan_rollout(observed, record.spec, state, self._clock())
        error = await self._act(actions, dep, namespace)
        next_state = status.state.model_copy(update={"last_error": error})
        if next_state.phase is not state.phase:
            logger.info(
                "rollout of %s to %s: %s -> %s", state.target, state.deployment, state.phase,
                next_state.phase,
            )  # fmt: skip
        await asyncio.to_thread(self._store.rollouts.save, next_state, record.revision)

    async def _observe(
        self, record: RolloutRecord, dep: DeploymentView, version: VersionView, namespace: str
    ) -> RolloutObserved:
        state = record.state
        wanted = set(version.spec.compute.scaling_groups)
        if self._versioning is None:
            routing = Routing(dep.current_build_id, dep.ramping_build_id, dep.ramp_percentage)
            gate = None
        else:
            routing = await self._versioning.routing(namespace, state.deployment)
            gate = None
            if state.gate_workflow_id is not None and not state.gate_passed:
                gate = await self._versioning.gate(namespace, state.gate_workflow_id)
        return RolloutObserved(
            routing=routing,
            workers_ready=sum(available_workers(g) for g in version.groups),
            workers_required=min_workers(version.spec),
            reported=wanted <= {g.group_id for g in version.groups},
            gate=gate,
        )

    async def _act(
        self, actions: list[RolloutAction], dep: DeploymentView, namespace: str
    ) -> str | None:
        """Carry out ``actions`` in order; the first that fails stops the rest (all are asked
        again next tick) and is returned, in words."""
        for action in actions:
            try:
                await self._do(action, dep, namespace)
            except Exception as err:
                logger.warning("rollout of %s: %s failed: %s", dep.name, action, err)
                return f"{type(action).__name__}: {err}"
        return None

    async def _do(self, action: RolloutAction, dep: DeploymentView, namespace: str) -> None:
        versioning = self._versioning
        name = dep.name
        if isinstance(action, StartGate):
            if versioning is None:
                raise RuntimeError(
                    "the gate needs Temporal routing (serve without it cannot run one)"
                )
            await versioning.start_gate(
                namespace, name, workflow_id=action.workflow_id,
                workflow_type=action.workflow_type, task_queue=action.task_queue,
                argument=action.input, build_id=action.build_id, timeout_s=action.timeout_s,
            )  # fmt: skip
        elif isinstance(action, SetCurrent):
            if versioning is not None:
                await versioning.set_current(namespace, name, action.build_id)
            await asyncio.to_thread(
                self._store.deployments.set_routing, name, current=action.build_id
            )
        elif isinstance(action, SetRamping):
            if versioning is not None:
                await versioning.set_ramping(namespace, name, action.build_id, action.percentage)
            await asyncio.to_thread(
                self._store.deployments.set_routing, name, ramping=action.build_id,
                percentage=action.percentage if action.build_id else None,
            )  # fmt: skip
