"""Deploying a new build is one change: a version created with a new ``build_id`` copies what
it leaves out from the deployment's current version, and starts a rollout when its spec has a
``rollout`` section. Also the rollout's status and the user's commands, for the routes."""

from __future__ import annotations

import time
from typing import Any

from workerplane.api.rollout_schemas import RolloutOut
from workerplane.api.schemas import VersionCreate
from workerplane.api.service import version_spec
from workerplane.config.model import DeploymentSpec
from workerplane.errors import Invalid, NotFound, ValidationIssue
from workerplane.planning.rollout import rollout_status
from workerplane.planning.rollout_commands import RolloutCommand, apply_command
from workerplane.planning.rollout_model import (
    RolloutEvent,
    RolloutPhase,
    RolloutRecord,
    RolloutState,
    Routing,
)
from workerplane.store.store import Store
from workerplane.store.views import DeploymentView


def _base_spec(store: Store, dep: DeploymentView) -> DeploymentSpec | None:
    """The spec a new build starts from: the current version's, else the newest one's (secrets
    included, since the new version runs with them)."""
    build = dep.current_build_id or (dep.build_ids[-1] if dep.build_ids else None)
    return store.versions.editable(dep.name, build).spec if build else None


def new_version_spec(store: Store, dep: DeploymentView, body: VersionCreate) -> DeploymentSpec:
    """The spec of a version created with ``body``; what it leaves out (task queues, compute
    config, rollout) comes from the deployment's current version."""
    given = (body.task_queues, body.compute_config, body.rollout)
    base = _base_spec(store, dep) if any(part is None for part in given) else None
    task_queues = body.task_queues if body.task_queues is not None else _of(base, "task_queues")
    compute = body.compute_config if body.compute_config is not None else _of(base, "compute")
    if task_queues is None or compute is None:
        missing = [f for f in ("task_queues", "compute_config") if getattr(body, f) is None]
        raise Invalid(
            ValidationIssue(f, f"{f} is required: '{dep.name}' has no version to copy it from")
            for f in missing
        )
    spec = version_spec(
        dep.name, body.build_id, list(task_queues), compute,
        body.temporal_namespace or dep.namespace,
    )  # fmt: skip
    rollout = body.rollout if body.rollout is not None else _of(base, "rollout")
    return spec.model_copy(update={"rollout": rollout})


def _of(base: DeploymentSpec | None, field: str) -> Any:
    return None if base is None else getattr(base, field)


def new_rollout(spec: DeploymentSpec, previous: str | None) -> RolloutState | None:
    """The first state of the rollout of ``spec``'s build from ``previous`` (the version current
    now); ``None`` when ``spec`` is unversioned or has no ``rollout`` section."""
    if spec.rollout is None or spec.deployment is None:
        return None
    now = time.time()
    target = spec.deployment.build_id
    started = RolloutEvent(
        at=now, phase=RolloutPhase.WAITING_FOR_WORKERS,
        message=f"{spec.rollout.strategy} rollout of {target} from"
        f" {previous or 'unversioned workers'} started",
    )  # fmt: skip
    return RolloutState(
        deployment=spec.deployment.name, target=target, previous=previous,
        task_queue=spec.task_queues[0], started_at=now, updated_at=now, events=(started,),
    )  # fmt: skip


def start_rollout(store: Store, dep: DeploymentView, spec: DeploymentSpec) -> None:
    """Roll the new version out, from the version current now, under ``spec.rollout``."""
    state = new_rollout(spec, dep.current_build_id)
    if state is not None and spec.rollout is not None:
        store.rollouts.start(spec.rollout, state)


def _routing(dep: DeploymentView) -> Routing:
    return Routing(dep.current_build_id, dep.ramping_build_id, dep.ramp_percentage)


def _out(record: RolloutRecord, dep: DeploymentView) -> RolloutOut:
    return RolloutOut.of(rollout_status(record.state, record.spec, _routing(dep)), record.spec)


def rollout_out(store: Store, dep: DeploymentView) -> RolloutOut:
    """The status of ``dep``'s rollout (:class:`NotFound` when it has none)."""
    return _out(store.rollouts.get(dep.name), dep)


def maybe_rollout_out(store: Store, dep: DeploymentView) -> RolloutOut | None:
    try:
        return rollout_out(store, dep)
    except NotFound:
        return None


def command_rollout(store: Store, name: str, command: RolloutCommand) -> RolloutOut:
    """Apply a user's ``command`` (a 409 when it has nothing to act on); the runner carries it
    out at its next tick."""
    dep = store.deployments.get(name)
    record = store.rollouts.change(
        name, lambda r: apply_command(r.state, command, _routing(dep), time.time())
    )
    return _out(record, store.deployments.get(name))
