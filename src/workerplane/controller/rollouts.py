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
from workerplane.planning.rollout import plan_rollout
from workerplane.planning.rollout_model import (
    GateObservation,
    RolloutAction,
    RolloutObserved,
    RolloutPhase,
    RolloutRecord,
    RolloutState,
    Routing,
    SetCurrent,
    StartGate,
    TargetReadiness,
)

logger = logging.getLogger("workerplane.rollouts")


class RolloutIO(Protocol):
    """What the runner reads and writes (:class:`workerplane.store.rollout_io.StoreRolloutIO`).
    Blocking calls: the runner makes them in a thread."""

    def live(self) -> list[RolloutRecord]: ...

    def target(self, deployment: str, build_id: str) -> TargetReadiness: ...

    def stored_routing(self, deployment: str) -> Routing: ...

    def set_current(self, deployment: str, build_id: str | None) -> None: ...

    def set_ramping(self, deployment: str, build_id: str | None, percentage: float) -> None: ...

    def save(self, state: RolloutState, expected_revision: int) -> bool: ...


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
        io: where rollouts, the new versions' readiness and the stored routing live.
        versioning: Temporal's routing and the gate; ``None`` when routing is only stored (the
            stored routing is then observed, and a gate cannot run).
        default_namespace: for versions that name none.
        covers: whether this runner owns a version, by deployment and build ID (its shard);
            every version otherwise.
    """

    def __init__(
        self,
        io: RolloutIO,
        versioning: VersioningCalls | None,
        *,
        default_namespace: str = "default",
        interval_s: float = 1.0,
        covers: Callable[[str, str], bool] = lambda _deployment, _build: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._io = io
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
        for record in await asyncio.to_thread(self._io.live):
            if self._covers(record.state.deployment, record.state.target):
                await self.advance(record)

    async def advance(self, record: RolloutRecord) -> None:
        """One tick of one rollout: observe, plan, act, store."""
        state = record.state
        try:
            target = await asyncio.to_thread(self._io.target, state.deployment, state.target)
        except NotFound as err:
            reason = f"stopped: {err}"
            failed = state.model_copy(update={"phase": RolloutPhase.FAILED, "reason": reason})
            await asyncio.to_thread(self._io.save, failed, record.revision)
            return
        namespace = target.namespace or record.namespace or self._namespace
        try:
            observed = await self._observe(state, target, namespace)
        except Exception as err:  # Temporal unreachable, say: shown, and read again next tick
            logger.warning("rollout of %s: cannot observe: %s", state.deployment, err)
            unseen = state.model_copy(update={"last_error": f"observing: {err}"})
            await asyncio.to_thread(self._io.save, unseen, record.revision)
            return
        actions, status = plan_rollout(observed, record.spec, state, self._clock())
        error = await self._act(actions, state.deployment, namespace)
        next_state = status.state.model_copy(update={"last_error": error})
        if next_state.phase is not state.phase:
            logger.info(
                "rollout of %s to %s: %s -> %s", state.target, state.deployment, state.phase,
                next_state.phase,
            )  # fmt: skip
        await asyncio.to_thread(self._io.save, next_state, record.revision)

    async def _observe(
        self, state: RolloutState, target: TargetReadiness, namespace: str
    ) -> RolloutObserved:
        gate = None
        if self._versioning is None:
            routing = await asyncio.to_thread(self._io.stored_routing, state.deployment)
        else:
            routing = await self._versioning.routing(namespace, state.deployment)
            if state.gate_workflow_id is not None and not state.gate_passed:
                gate = await self._versioning.gate(namespace, state.gate_workflow_id)
        return RolloutObserved(
            routing=routing, workers_ready=target.workers_ready,
            workers_required=target.workers_required, reported=target.reported, gate=gate,
        )  # fmt: skip

    async def _act(
        self, actions: list[RolloutAction], deployment: str, namespace: str
    ) -> str | None:
        """Carry out ``actions`` in order; the first that fails stops the rest (all are asked
        again next tick) and is returned, in words."""
        for action in actions:
            try:
                await self._do(action, deployment, namespace)
            except Exception as err:
                logger.warning("rollout of %s: %s failed: %s", deployment, action, err)
                return f"{type(action).__name__}: {err}"
        return None

    async def _do(self, action: RolloutAction, deployment: str, namespace: str) -> None:
        """One action: Temporal first (when routing goes there), then the stored routing."""
        versioning = self._versioning
        if isinstance(action, StartGate):
            if versioning is None:
                raise RuntimeError("a gate needs Temporal routing (serve runs without it)")
            await versioning.start_gate(
                namespace, deployment, workflow_id=action.workflow_id,
                workflow_type=action.workflow_type, task_queue=action.task_queue,
                argument=action.input, build_id=action.build_id, timeout_s=action.timeout_s,
            )  # fmt: skip
        elif isinstance(action, SetCurrent):
            if versioning is not None:
                await versioning.set_current(namespace, deployment, action.build_id)
            await asyncio.to_thread(self._io.set_current, deployment, action.build_id)
        else:
            if versioning is not None:
                await versioning.set_ramping(
                    namespace, deployment, action.build_id, action.percentage
                )
            await asyncio.to_thread(
                self._io.set_ramping, deployment, action.build_id, action.percentage
            )
