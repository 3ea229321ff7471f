"""The rollout runner over a real store (SQLite) and a fake Temporal: the gate's start and outcome,
a refused call and an unreachable Temporal shown and tried again, shards it does not own, and a
target deleted under it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from api_support import make_store, publish_polling

from workerplane.config.model import DeploymentSpec
from workerplane.config.rollout import RolloutSpec
from workerplane.controller.rollouts import RolloutRunner
from workerplane.errors import Conflict
from workerplane.planning.rollout_model import (
    GateObservation,
    GateOutcome,
    RolloutPhase,
    RolloutState,
    Routing,
)
from workerplane.store.rollout_io import StoreRolloutIO
from workerplane.store.store import Store


class FakeTemporal:
    """Routing and gates as a Temporal server keeps them; ``refuse`` makes the next routing
    call fail the way a refusal does."""

    def __init__(self) -> None:
        self.routing_now = Routing()
        self.gates: dict[str, GateObservation] = {}
        self.started: list[dict[str, Any]] = []
        self.refuse: str | None = None
        self.down = False

    async def set_current(self, namespace: str, deployment: str, build_id: str | None) -> None:
        self._maybe_refuse()
        ramping = None if self.routing_now.ramping == build_id else self.routing_now.ramping
        self.routing_now = Routing(
            build_id, ramping, self.routing_now.percentage if ramping else None
        )

    async def set_ramping(
        self, namespace: str, deployment: str, build_id: str | None, percentage: float
    ) -> None:
        self._maybe_refuse()
        self.routing_now = Routing(
            self.routing_now.current, build_id, percentage if build_id else None
        )

    async def routing(self, namespace: str, deployment: str) -> Routing:
        if self.down:
            raise RuntimeError("Temporal is unreachable")
        return self.routing_now

    async def start_gate(self, namespace: str, deployment: str, **start: Any) -> None:
        self.started.append(start)
        self.gates.setdefault(start["workflow_id"], GateObservation(GateOutcome.RUNNING))

    async def gate(self, namespace: str, workflow_id: str) -> GateObservation:
        return self.gates.get(workflow_id, GateObservation(GateOutcome.NOT_FOUND))

    def _maybe_refuse(self) -> None:
        if self.refuse is not None:
            message, self.refuse = self.refuse, None
            raise Conflict(message)


def _version(store: Store, build_id: str, workers: int) -> None:
    spec = DeploymentSpec.model_validate({
        "name": f"shop.{build_id}", "task_queues": ["q"],
        "deployment": {"name": "shop", "build_id": build_id},
        "compute": {"scaling_groups": {"g": {
            "provider": {"type": "subprocess", "details": {"command": "python"}},
            "scaler": {"type": "backlog", "details": {"min_count": 1, "max_count": 2}},
        }}},
    })  # fmt: skip
    store.versions.create("shop", build_id, spec, None)
    publish_polling(store, "shop", build_id, workers)


def _start(store: Store, spec: RolloutSpec) -> None:
    state = RolloutState(
        deployment="shop", target="v2", previous="v1", task_queue="q", started_at=1.0,
        updated_at=1.0,
    )  # fmt: skip
    store.rollouts.start(spec, state)


def _setup(tmp_path: Path, spec: RolloutSpec) -> tuple[Store, FakeTemporal]:
    store = make_store(f"sqlite:///{tmp_path / 'runner.db'}")
    store.deployments.create("shop", None, None)
    _version(store, "v1", 1)
    _version(store, "v2", 1)
    store.deployments.set_routing("shop", current="v1")
    temporal = FakeTemporal()
    temporal.routing_now = Routing("v1")
    _start(store, spec)
    return store, temporal


def test_the_gate_starts_pinned_once_and_a_refused_call_is_shown_then_asked_again(
    tmp_path: Path,
) -> None:
    spec = RolloutSpec(gate={"workflow_type": "Smoke", "input": {"cart": 3}})
    store, temporal = _setup(tmp_path, spec)
    runner = RolloutRunner(StoreRolloutIO(store), temporal)

    async def scenario() -> None:
        await runner.tick()
        await runner.tick()
        assert [s["build_id"] for s in temporal.started] == ["v2"]  # started once, pinned to v2
        assert temporal.started[0]["argument"] == {"cart": 3}
        assert store.rollouts.get("shop").state.phase is RolloutPhase.GATE
        temporal.gates[temporal.started[0]["workflow_id"]] = GateObservation(GateOutcome.PASSED)
        temporal.refuse = "Temporal refused set-current: version not found"
        await runner.tick()
        refused = store.rollouts.get("shop").state
        assert refused.last_error == "SetCurrent: Temporal refused set-current: version not found"
        assert refused.phase is RolloutPhase.PROMOTING and refused.gate_passed
        temporal.down = True
        await runner.tick()
        assert store.rollouts.get("shop").state.last_error == "observing: Temporal is unreachable"
        temporal.down = False
        await runner.tick()
        await runner.tick()
        done = store.rollouts.get("shop").state
        assert done.phase is RolloutPhase.SUCCEEDED and done.last_error is None
        assert temporal.routing_now == Routing("v2")
        dep = store.deployments.get("shop")
        assert dep.current_build_id == "v2"  # the stored routing follows
        assert store.versions.get("shop", "v1").draining

    asyncio.run(scenario())
    store.db.dispose()


def test_a_runner_leaves_rollouts_of_other_shards_and_stops_one_whose_target_is_deleted(
    tmp_path: Path,
) -> None:
    store, temporal = _setup(tmp_path, RolloutSpec(strategy="manual"))

    async def scenario() -> None:
        elsewhere = RolloutRunner(StoreRolloutIO(store), temporal, covers=lambda _d, _b: False)
        await elsewhere.tick()
        assert store.rollouts.get("shop").state.phase is RolloutPhase.WAITING_FOR_WORKERS
        runner = RolloutRunner(StoreRolloutIO(store), temporal)
        await runner.tick()
        assert store.rollouts.get("shop").state.phase is RolloutPhase.WAITING_FOR_PROMOTION
        store.versions.delete("shop", "v2")
        await runner.tick()
        stopped = store.rollouts.get("shop").state
        assert stopped.phase is RolloutPhase.FAILED
        assert stopped.reason == "stopped: version 'v2' of worker deployment 'shop' is deleted"
        assert store.rollouts.live() == []

    asyncio.run(scenario())
    store.db.dispose()
