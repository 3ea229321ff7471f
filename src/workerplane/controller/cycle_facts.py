"""What a cycle report means in a few words and numbers: the kind of decision, the provider call
made, the workers it started or retired. One reading of a
:class:`~workerplane.controller.cycle.CycleReport` for every observer that counts or records
cycles (the Prometheus counters, the time-to-polling histogram, telemetry events).
"""

from __future__ import annotations

from workerplane.controller.cycle import CycleReport
from workerplane.planning.actions import Invoke, NoAction, Reconcile, Resize


def decision_kind(report: CycleReport) -> str:
    """What the cycle decided, in a word: ``scale_up``, ``scale_down``, ``invoke``,
    ``reconcile`` (ask again for the held size) or ``hold``."""
    action = report.plan.action
    if isinstance(action, Invoke):
        return "invoke"
    if isinstance(action, Reconcile):
        return "reconcile"
    if isinstance(action, Resize):
        held = held_before(report)
        if action.size > held:
            return "scale_up"
        if action.size < held:
            return "scale_down"
    return "hold"


def provider_call(report: CycleReport) -> str | None:
    """The provider method the cycle called (``invoke`` or ``set_size``), if it called one."""
    action = report.plan.action
    if isinstance(action, NoAction):
        return None
    return "invoke" if isinstance(action, Invoke) else "set_size"


def started_workers(report: CycleReport) -> int:
    """How many workers the cycle's provider call started (0 when it failed or started none)."""
    action = report.plan.action
    if report.failure is not None:
        return 0
    if isinstance(action, Invoke):
        return action.count
    if isinstance(action, Reconcile):
        return max(0, action.size - action.running)
    if isinstance(action, Resize):
        return max(0, action.size - held_before(report))
    return 0


def retired_workers(report: CycleReport) -> int:
    """How many workers the cycle's provider call retired (0 when it failed or retired none)."""
    action = report.plan.action
    if report.failure is not None:
        return 0
    if isinstance(action, Reconcile):
        return max(0, action.running - action.size)
    if isinstance(action, Resize):
        return max(0, held_before(report) - action.size)
    return 0


def held_before(report: CycleReport) -> int:
    """The size the group held before this cycle: the previous status's, else the provider's
    census (an adopted group), else the workers running."""
    if report.previous is not None and report.previous.desired is not None:
        return report.previous.desired
    census = report.observation.census
    return census.desired if census.desired is not None else census.running
