"""The sunset of a version: scale to zero once Temporal reports it drained, then delete it.

Temporal tracks each version that stops being current or ramping: its drainage is DRAINING while
pinned workflows on it are still open, DRAINED once none is (the server counts them in
visibility, first ``matching.wv.VersionDrainageStatusVisibilityGracePeriod`` after the version
stopped being current, then every ``matching.wv.VersionDrainageStatusRefreshInterval``; both
default to 3 minutes). A DRAINED version never gets new work unless it is made current or
ramping again.

The phases (:class:`SunsetPhase`), from the version's ``rollout.sunset`` policy::

    active ──(not current/ramping)──> draining ──(DRAINED)──> drained
        ──(scale_down_delay)──> scaled-down ──(delete_delay, no worker left)──> delete

While draining or drained, the version's groups serve what arrives (pinned workflow tasks, from
zero if need be) and go to zero when idle (:func:`workerplane.planning.plan.apply_rules`).
Scaled down, they are held at zero. Deletion removes the version's resources and record.

Every time is derived from Temporal's ``last_changed_time`` of the drainage, so a restarted
controller comes to the same decisions without stored state: ``delete_delay`` counts from the
scale-down (when the workers were asked to go), and the version is deleted only once no worker
of it is left.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workerplane.config.rollout import SunsetPolicy

#: The reason a scaled-down version's groups report.
SCALED_DOWN_REASON = "version sunset: drained, scaled down"


class DrainageState(enum.StrEnum):
    """Temporal's ``VersionDrainageStatus`` (``UNSPECIFIED`` is ``NONE``: current, ramping, or
    never activated)."""

    NONE = "none"
    DRAINING = "draining"
    DRAINED = "drained"


@dataclass(frozen=True)
class Drainage:
    """What ``DescribeWorkerDeploymentVersion`` says about a version's pinned workflows.

    Attributes:
        state: DRAINING (pinned workflows still open), DRAINED (none), NONE (no drainage tracked).
        routed: Temporal routes new workflows to it (it is current or ramping).
        changed_at: when ``state`` last changed (epoch seconds), if reported.
        checked_at: when Temporal last counted the open pinned workflows, if reported.
    """

    state: DrainageState
    routed: bool = False
    changed_at: float | None = None
    checked_at: float | None = None


class SunsetPhase(enum.StrEnum):
    """Where a version stands in its sunset (see the module docstring)."""

    ACTIVE = "active"
    DRAINING = "draining"
    DRAINED = "drained"
    SCALED_DOWN = "scaled-down"
    DELETE = "delete"


@dataclass(frozen=True)
class SunsetStatus:
    """A version's sunset as shown in its status (times are epoch seconds).

    Attributes:
        phase: where the version stands.
        drainage: Temporal's drainage of the version (``none``, ``draining``, ``drained``).
        drainage_checked_at: when Temporal last counted its open pinned workflows.
        drained_at: when Temporal reported it drained.
        scale_down_at: when its workers are (or were) scaled to zero.
        delete_at: when its resources and record are (or were) deleted, once no worker is left.
    """

    phase: SunsetPhase
    drainage: DrainageState = DrainageState.NONE
    drainage_checked_at: float | None = None
    drained_at: float | None = None
    scale_down_at: float | None = None
    delete_at: float | None = None

    @property
    def holds_zero(self) -> bool:
        """Whether the version's groups are held at zero workers."""
        return self.phase in (SunsetPhase.SCALED_DOWN, SunsetPhase.DELETE)

    @classmethod
    def coerce(cls, value: SunsetStatus | Mapping[str, Any]) -> SunsetStatus:
        """A sunset status from itself or from its JSON object (a status read back)."""
        if isinstance(value, SunsetStatus):
            return value
        fields = dict(value)
        fields["phase"] = SunsetPhase(fields["phase"])
        fields["drainage"] = DrainageState(fields.get("drainage", DrainageState.NONE))
        return cls(**fields)


def sunset_status(
    drainage: Drainage | None,
    policy: SunsetPolicy,
    *,
    draining: bool,
    workers_running: int,
    now: float,
) -> SunsetStatus:
    """The sunset of a version, given what Temporal reports (``None``: not read, or the version
    is unknown to Temporal), its policy, whether workerplane drains it (it is not current or
    ramping there), its workers running and the wall-clock ``now``."""
    if drainage is None or drainage.routed or not draining:
        return SunsetStatus(SunsetPhase.ACTIVE)
    if drainage.state is not DrainageState.DRAINED:
        draining_now = drainage.state is DrainageState.DRAINING
        phase = SunsetPhase.DRAINING if draining_now else SunsetPhase.ACTIVE
        return SunsetStatus(phase, drainage.state, drainage.checked_at)
    drained_at = drainage.changed_at if drainage.changed_at is not None else drainage.checked_at
    if drained_at is None:  # no time reported: drained, but nothing is due
        return SunsetStatus(SunsetPhase.DRAINED, drainage.state)
    scale_down_at = drained_at + policy.scale_down_delay
    delete_at = scale_down_at + policy.delete_delay
    if now < scale_down_at:
        phase = SunsetPhase.DRAINED
    elif now < delete_at or workers_running > 0:
        phase = SunsetPhase.SCALED_DOWN
    else:
        phase = SunsetPhase.DELETE
    return SunsetStatus(
        phase,
        drainage.state,
        drainage.checked_at,
        drained_at=drained_at,
        scale_down_at=scale_down_at,
        delete_at=delete_at,
    )
