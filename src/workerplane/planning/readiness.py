"""Whether a version is ready: a pure function of its spec and its groups' statuses.

The controller computes it with every status it publishes, so the store records it instead of
deciding it from raw JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from workerplane.config.model import DeploymentSpec
from workerplane.planning.status import GroupStatus, ManagedVersion, Readiness, VersionStatus
from workerplane.planning.sunset import SunsetStatus
from workerplane.scaling.registry import validate_details


def available_workers(group: GroupStatus) -> int:
    """Workers known to poll: the provider's ready count, else the pollers the server sees
    (capped by the workers that exist, since pollers linger after their worker left)."""
    if group.workers_ready is not None:
        return group.workers_ready
    return min(group.pollers, group.workers_running)


def unavailable_workers(groups: Sequence[GroupStatus]) -> int:
    """Workers that exist but are not (yet, or any more) known to poll."""
    running = sum(g.workers_running for g in groups)
    return max(0, running - sum(available_workers(g) for g in groups))


def min_workers(spec: DeploymentSpec) -> int:
    """The workers a version needs before it is ready: the sum of its scalers' ``min_count``
    (scalers without one, such as ``no-sync``, need none)."""
    total = 0
    for group in spec.compute.scaling_groups.values():
        details = validate_details(group.scaler.type, group.scaler.details)
        total += int(getattr(details, "min_count", 0))
    return total


def version_status(
    version: ManagedVersion, groups: Sequence[GroupStatus], sunset: SunsetStatus | None = None
) -> VersionStatus:
    """The status of ``version`` given its groups' latest statuses (others' are ignored) and
    its ``sunset`` (by default, the one its groups report)."""
    wanted = set(version.spec.compute.scaling_groups)
    live = tuple(g for g in groups if g.version_key == version.key and g.group_id in wanted)
    readiness, reason, validation = _readiness(version, live, wanted)
    return VersionStatus(
        version_key=version.key,
        generation=version.generation,
        draining=version.draining,
        groups=live,
        readiness=readiness,
        reason=reason,
        validation_error=validation,
        drained=all(g.workers_running == 0 for g in live),
        sunset=sunset or next((g.sunset for g in live if g.sunset is not None), None),
    )


def version_statuses(
    versions: Iterable[ManagedVersion], groups: Sequence[GroupStatus]
) -> list[VersionStatus]:
    """:func:`version_status` for every version."""
    return [version_status(version, groups) for version in versions]


def _readiness(
    version: ManagedVersion, live: tuple[GroupStatus, ...], wanted: set[str]
) -> tuple[Readiness | None, str | None, str | None]:
    if not wanted <= {g.group_id for g in live}:
        return None, None, None
    validation = next(
        (g.provider_validation_error for g in live if g.provider_validation_error), None
    )
    if validation:
        return Readiness.UPDATE_FAILED, f"provider validation failed: {validation}", validation
    available = sum(available_workers(g) for g in live)
    required = 0 if version.draining else min_workers(version.spec)
    if available >= required:
        return Readiness.READY, None, None
    error = next((g.last_error for g in live if g.last_error), None)
    if error:
        return Readiness.UPDATE_FAILED, error, None
    reason = f"{available} of {required} minimum workers polling"
    return Readiness.UPDATE_IN_PROGRESS, reason, None
