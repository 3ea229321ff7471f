"""What the rollout runner reads and writes, over the store
(:class:`workerplane.controller.rollouts.RolloutIO`): live rollouts, the new version's
readiness as the controller published it, the stored routing, and the state."""

from __future__ import annotations

from workerplane.errors import NotFound
from workerplane.planning.readiness import available_workers, min_workers
from workerplane.planning.rollout_model import RolloutRecord, RolloutState, Routing, TargetReadiness
from workerplane.store.store import Store


class StoreRolloutIO:
    def __init__(self, store: Store) -> None:
        self._store = store

    def live(self) -> list[RolloutRecord]:
        return self._store.rollouts.live()

    def target(self, deployment: str, build_id: str) -> TargetReadiness:
        """The version's readiness (:class:`~workerplane.errors.NotFound` once it is gone)."""
        version = self._store.versions.get(deployment, build_id)
        if version.deleting:
            raise NotFound(f"version '{build_id}' of worker deployment '{deployment}' is deleted")
        wanted = set(version.spec.compute.scaling_groups)
        return TargetReadiness(
            namespace=version.namespace,
            workers_ready=sum(available_workers(g) for g in version.groups),
            workers_required=min_workers(version.spec),
            reported=wanted <= {g.group_id for g in version.groups},
        )

    def stored_routing(self, deployment: str) -> Routing:
        dep = self._store.deployments.get(deployment)
        return Routing(dep.current_build_id, dep.ramping_build_id, dep.ramp_percentage)

    def set_current(self, deployment: str, build_id: str | None) -> None:
        """Record the new current version (the one it replaces starts draining)."""
        self._store.deployments.set_routing(deployment, current=build_id, by_rollout=True)

    def set_ramping(self, deployment: str, build_id: str | None, percentage: float) -> None:
        self._store.deployments.set_routing(
            deployment, ramping=build_id, percentage=percentage if build_id else None,
            by_rollout=True,
        )  # fmt: skip

    def save(self, state: RolloutState, expected_revision: int) -> bool:
        return self._store.rollouts.save(state, expected_revision)
