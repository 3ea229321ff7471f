"""A user's commands on a rollout (pause, resume, promote, rollback), as a pure change of its
state; the runner carries the change out at its next tick (:mod:`workerplane.planning.rollout`)."""

from __future__ import annotations

from enum import StrEnum

from workerplane.errors import Conflict
from workerplane.planning.rollout_model import RolloutPhase, RolloutState, Routing


class RolloutCommand(StrEnum):
    """What a user may ask of a rollout."""

    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


def apply_command(
    state: RolloutState, command: RolloutCommand, routing: Routing, now: float
) -> RolloutState:
    """The state after a user's ``command``; :class:`Conflict` when it has nothing to act on.

    ``routing`` is where workflows go now: a rollout that ended without its version getting any
    has nothing to roll back.
    """
    name = f"the rollout of {state.target} to '{state.deployment}'"
    if command is RolloutCommand.ROLLBACK:
        if state.phase in (RolloutPhase.ROLLED_BACK, RolloutPhase.ROLLING_BACK):
            raise Conflict(f"{name} is already rolled back")
        if state.previous is None:
            raise Conflict(f"{name} has no previous version to roll back to")
        if state.final and state.target not in (routing.current, routing.ramping):
            raise Conflict(f"{name} has ended ({state.phase}); {state.target} gets no workflows")
        return _changed(state, now, phase=RolloutPhase.ROLLING_BACK, paused_at=None, promote=False)
    overridable = command is RolloutCommand.PROMOTE and state.phase is RolloutPhase.FAILED
    if (state.final or state.phase is RolloutPhase.ROLLING_BACK) and not overridable:
        raise Conflict(f"{name} has ended ({state.phase}); there is nothing to {command}")
    if command is RolloutCommand.PAUSE:
        if state.paused_at is not None:
            raise Conflict(f"{name} is already paused")
        return _changed(state, now, paused_at=now)
    if command is RolloutCommand.RESUME:
        if state.paused_at is None:
            raise Conflict(f"{name} is not paused")
        since = state.step_since
        if since is not None:
            since += now - state.paused_at  # the time paused does not count
        return _changed(state, now, paused_at=None, step_since=since)
    return _changed(
        state, now, promote=True, paused_at=None, phase=RolloutPhase.PROMOTING, reason=None
    )


def _changed(state: RolloutState, now: float, **changes: object) -> RolloutState:
    return state.model_copy(update={**changes, "updated_at": now})
