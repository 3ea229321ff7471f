"""``/v1/worker-deployments/{name}/rollout``: the rollout of a deployment's newest build, and
the user's commands: pause, resume, promote (make it current now), rollback (the previous
version current again)."""

from __future__ import annotations

from fastapi import APIRouter

from workerplane.api import schemas as S
from workerplane.api.deps import StoreDep
from workerplane.api.rollout_schemas import RolloutOut
from workerplane.api.rollouts import command_rollout, rollout_out
from workerplane.planning.rollout_commands import RolloutCommand

router = APIRouter(prefix="/worker-deployments/{name}/rollout", tags=["rollouts"])


@router.get("", response_model=RolloutOut)
def describe_rollout(name: S.DeploymentName, store: StoreDep) -> RolloutOut:
    """The step, the ramp, the next step due, what it waits for, the gate, why it failed."""
    return rollout_out(store, store.deployments.get(name))


@router.post("/{command}", response_model=RolloutOut)
def command(name: S.DeploymentName, command: RolloutCommand, store: StoreDep) -> RolloutOut:
    """``pause`` holds the rollout where it is; ``resume`` goes on (a step's pause counts
    without the time paused); ``promote`` makes the new version current at once; ``rollback``
    makes the previous version current again and ends the ramp. 409 when there is nothing to
    act on. The runner carries it out within a tick."""
    return command_rollout(store, name, command)
