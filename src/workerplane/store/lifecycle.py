"""A version's lifecycle: its states, and how the controller's group statuses move it.

``UPDATE_PENDING`` (stored, not yet picked up) -> ``UPDATE_IN_PROGRESS`` (the controller picked
up the generation) -> ``READY`` or ``UPDATE_FAILED`` (from what the controller published);
``DELETE_IN_PROGRESS`` while a deleted version drains. :func:`readiness` is pure: typed spec and
statuses in, a verdict out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workerplane.config.model import DeploymentSpec
from workerplane.planning.status import GroupStatus

UPDATE_PENDING = "UPDATE_PENDING"
UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
READY = "READY"
UPDATE_FAILED = "UPDATE_FAILED"
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"


@dataclass(frozen=True)
class Readiness:
    """A version's state as its groups' statuses show it.

    Attributes:
        status: ``READY``, ``UPDATE_FAILED`` or ``UPDATE_IN_PROGRESS``.
        reason: why it is not ready, if it is not.
        validation_error: the first provider validation error, if any group reported one.
    """

    status: str
    reason: str | None
    validation_error: str | None


def available(group: GroupStatus) -> int:
    """Workers that serve: ready ones when the provider knows, else those polling."""
    if group.workers_ready is not None:
        return group.workers_ready
    return min(group.pollers, group.workers_running)


def available_workers(groups: Sequence[GroupStatus]) -> int:
    return sum(available(g) for g in groups)


def unavailable_workers(groups: Sequence[GroupStatus]) -> int:
    running = sum(g.workers_running for g in groups)
    return max(0, running - available_workers(groups))


def min_workers(spec: DeploymentSpec) -> int:
    """The workers the spec's scalers must keep at least (their ``min_count``, summed)."""
    total = 0
    for group in spec.compute.scaling_groups.values():
        value = group.scaler.details.get("min_count", 0)
        total += int(value) if isinstance(value, int | float) else 0
    return total


def drained(groups: Sequence[GroupStatus]) -> bool:
    """No worker of the version runs any more (or none ever started)."""
    return all(g.workers_running == 0 for g in groups)


def readiness(
    spec: DeploymentSpec, groups: Sequence[GroupStatus], *, draining: bool
) -> Readiness | None:
    """The version's state from its groups' statuses; ``None`` until every group of ``spec``
    has reported (statuses of groups no longer in ``spec`` are ignored)."""
    wanted = set(spec.compute.scaling_groups)
    if not wanted <= {g.group_id for g in groups}:
        return None
    live = [g for g in groups if g.group_id in wanted]
    validation = next(
        (g.provider_validation_error for g in live if g.provider_validation_error), None
    )
    if validation:
        return Readiness(UPDATE_FAILED, f"provider validation failed: {validation}", validation)
    have = available_workers(live)
    required = 0 if draining else min_workers(spec)
    if have >= required:
        return Readiness(READY, None, None)
    error = next((g.last_error for g in live if g.last_error), None)
    if error:
        return Readiness(UPDATE_FAILED, error, None)
    return Readiness(UPDATE_IN_PROGRESS, f"{have} of {required} minimum workers polling", None)
