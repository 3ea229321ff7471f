"""Runs every group's cycles from one :class:`CycleScheduler`: due cycles start with bounded
concurrency, active groups at their poll interval, idle groups at zero at the idle read
interval the budget allows.

A group is *active* while its status shows work or workers, for ``active_hold_s`` after it last
did, and while it drains or retires; its reads go first in the :class:`CallBudget`. Every other
group is *idle*: read at the effective idle interval (:func:`plan_idle_reads`, re-planned every
second from what the active groups need), and woken at once when a read of another group sees
backlog on a queue it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from workerplane.controller.budget import Priority, call_priority
from workerplane.controller.cycle import CycleReport, GroupRuntime, record_crash, run_cycle
from workerplane.controller.scheduler import (
    DEFAULT_JITTER,
    CycleScheduler,
    IdleReadPlan,
    has_activity,
    plan_idle_reads,
)
from workerplane.controller.shared_reads import SharedReads, read_max_age_s
from workerplane.providers.registry import provider_type
from workerplane.temporal.fresh import fresh_calls
from workerplane.temporal.metrics import stats_calls
from workerplane.temporal.pollers import poller_calls
from workerplane.temporal.schedules import ScheduleReader

if TYPE_CHECKING:  # controller.py imports this module: its settings are for annotations only
    from workerplane.controller.settings import ControllerSettings

logger = logging.getLogger("workerplane.controller")

#: The server caches task-queue stats this long (``matching.TaskQueueInfoByBuildIdTTL``): an
#: idle group read less often than this gains nothing from the uncached hint, which costs a
#: call per partition.
STATS_CACHE_S = 5.0
#: How often the idle read interval is re-planned.
REPLAN_S = 1.0


class GroupRunner:
    """The cycles of every running group (current or retiring), keyed by object identity."""

    def __init__(
        self,
        reads: SharedReads,
        settings: ControllerSettings,
        notify: Callable[[CycleReport], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        schedules: ScheduleReader | None = None,
    ) -> None:
        self._reads = reads
        self._schedules = schedules
        self._settings = settings
        self._notify = notify
        self._clock = clock
        self._schedule = CycleScheduler()
        self._groups: dict[int, GroupRuntime] = {}
        self._by_queue: dict[tuple[str, str], set[int]] = {}
        self._last_active: dict[int, float] = {}
        self._last_started: dict[int, float] = {}
        self._wakes: set[int] = set()
        self._version_dues: dict[tuple[str, str, str], float] = {}
        self._kick = asyncio.Event()
        pool = max(1, settings.max_concurrent_cycles)
        self._pools = {
            Priority.ACTIVE: asyncio.Semaphore(pool),
            Priority.IDLE: asyncio.Semaphore(max(1, pool // 4)),
        }
        self.idle_plan = IdleReadPlan(settings.idle_read_interval_s, 0.0, 0.0)
        self._replan_at = 0.0

    # -- the set of groups -------------------------------------------------------------------

    def add(self, group: GroupRuntime) -> None:
        """Start cycling ``group``: its first cycle runs almost at once."""
        handle = id(group)
        self._groups[handle] = group
        self._reads.register(group.target)
        for queue in group.target.task_queues:
            self._by_queue.setdefault((group.target.namespace, queue), set()).add(handle)
        self._schedule.first(handle, self._clock(), group.scaler.poll_interval_s)
        self._kick.set()

    async def remove(self, group: GroupRuntime) -> None:
        """Stop cycling ``group``, cancelling a cycle in progress."""
        handle = id(group)
        if self._groups.get(handle) is group:
            del self._groups[handle]
            self._schedule.remove(handle)
            self._reads.unregister(group.target)
            for queue in group.target.task_queues:
                self._by_queue.get((group.target.namespace, queue), set()).discard(handle)
            self._last_active.pop(handle, None)
            self._last_started.pop(handle, None)
        if group.task is not None:
            group.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await group.task
            group.task = None

    def running(self, group: GroupRuntime) -> bool:
        return self._groups.get(id(group)) is group

    def wake_queue(self, namespace: str, queue: str) -> None:
        """Wake the idle groups serving ``queue`` (applied in one batch by the run loop)."""
        handles = self._by_queue.get((namespace, queue))
        if handles:
            self._wakes.update(handles)
            self._kick.set()

    def counts(self) -> tuple[int, int]:
        """(active, idle) groups now."""
        now = self._clock()
        active = sum(1 for h, g in list(self._groups.items()) if self._active(h, g, now))
        return active, len(self._groups) - active

    # -- running cycles ----------------------------------------------------------------------

    async def run(self) -> None:
        """Start due cycles until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            now = self._clock()
            if now >= self._replan_at:
                self._replan(now)
            self._apply_wakes(now)
            for handle in self._schedule.pop_due(now):
                group = self._groups.get(handle)
                if group is not None and group.task is None:
                    group.task = asyncio.create_task(self._cycle(handle, group))
            due = self._schedule.next_due()
            delay = REPLAN_S if due is None else min(REPLAN_S, max(0.0, due - now))
            self._kick.clear()
            timer = loop.call_later(delay, self._kick.set)
            try:
                await self._kick.wait()
            finally:
                timer.cancel()

    async def _cycle(self, handle: int, group: GroupRuntime) -> None:
        active = self._active(handle, group, self._clock())
        priority = Priority.ACTIVE if active else Priority.IDLE
        try:
            async with self._pools[priority]:
                started = self._clock()
                self._last_started[handle] = started
                call_priority.set(priority)
                # Shared reads may answer this cycle only with data newer than its last one.
                read_max_age_s.set(group.scaler.poll_interval_s / 2)
                group.fresh_reads = self._settings.fresh_signals and (
                    active or self.idle_plan.interval_s <= STATS_CACHE_S
                )
                try:
                    self._notify(await run_cycle(group, self._reads, schedules=self._schedules))
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # a bug or an unexpected provider failure: keep going
                    record_crash(group, err)
                    logger.exception("%s cycle failed", group.name)
        finally:
            group.task = None
        if self._groups.get(handle) is not group:
            return
        now = self._clock()
        if has_activity(group.status):
            self._last_active[handle] = now
        poll = group.scaler.poll_interval_s
        if not self._active(handle, group, now):
            self._schedule.within(handle, started, max(poll, self.idle_plan.interval_s))
        elif (due := self._version_due(group, started + poll, poll)) is not None:
            self._schedule.at(handle, due)
        else:
            self._remember_version_due(group, self._schedule.after(handle, started, poll))
        self._kick.set()

    def _version_due(self, group: GroupRuntime, wanted: float, interval: float) -> float | None:
        """The next due time another group of the same version took, if close to ``wanted``:
        the version's groups then cycle together and share its describe call."""
        target = group.target
        if not (target.deployment_name and target.build_id):
            return None
        due = self._version_dues.get((target.namespace, target.deployment_name, target.build_id))
        if due is not None and abs(due - wanted) <= interval * DEFAULT_JITTER:
            return due
        return None

    def _remember_version_due(self, group: GroupRuntime, due: float) -> None:
        target = group.target
        if target.deployment_name and target.build_id:
            self._version_dues[(target.namespace, target.deployment_name, target.build_id)] = due

    def _active(self, handle: int, group: GroupRuntime, now: float) -> bool:
        if group.retiring or group.version.draining or has_activity(group.status):
            return True
        if self._warming_soon(group):
            return True
        last = self._last_active.get(handle)
        return last is not None and now - last < self._settings.active_hold_s

    def _warming_soon(self, group: GroupRuntime) -> bool:
        """A schedule's warm-up starts before the group's next idle read would come: it cycles
        at its poll interval so the warm floor is applied on time."""
        status = group.status
        if status is None or not status.warmups:
            return False
        horizon = status.updated_at + self.idle_plan.interval_s + group.scaler.poll_interval_s
        return min(w.starts_at for w in status.warmups) <= horizon

    def _apply_wakes(self, now: float) -> None:
        wakes, self._wakes = self._wakes, set()
        for handle in wakes:
            group = self._groups.get(handle)
            if group is None or self._active(handle, group, now):
                continue  # an active group reads soon anyway
            last = self._last_started.get(handle)
            if last is None or now - last >= group.scaler.poll_interval_s:
                self._schedule.wake(handle, now)

    def _replan(self, now: float) -> None:
        """Re-plan the idle read interval from what the active groups need now."""
        self._replan_at = now + REPLAN_S
        active_rps = 0.0
        idle_reads: dict[object, int] = {}
        for handle, group in list(self._groups.items()):
            if self._active(handle, group, now):
                active_rps += _cycle_calls(group, self._settings.fresh_signals) / max(
                    group.scaler.poll_interval_s, 0.001
                )
            else:
                idle_reads.update(self._idle_reads(group))
        self.idle_plan = plan_idle_reads(
            rps_budget=self._settings.rps_budget,
            active_rps=active_rps,
            idle_calls=float(sum(idle_reads.values())),
            idle_bound_s=self._settings.idle_read_interval_s,
        )

    def _idle_reads(self, group: GroupRuntime) -> Iterator[tuple[object, int]]:
        """The shared reads an idle group's cycle makes, keyed as groups share them."""
        target = group.target
        if target.deployment_name and target.build_id:
            wide = self._reads.widened(target)
            yield (target.namespace, target.deployment_name, target.build_id), stats_calls(wide)
            return
        for queue in target.task_queues:
            for queue_type in target.task_queue_types:
                yield (target.namespace, queue, queue_type), 1


def _cycle_calls(group: GroupRuntime, fresh_signals: bool) -> int:
    """Calls one cycle of an active group makes at most: its stats, the fresh hint when no
    worker of it runs, its workers' heartbeats when it counts them by those, and their polls
    and heartbeats when its provider's census reads them (:mod:`.worker_reads`)."""
    target = group.target
    calls = stats_calls(target)
    at_zero = group.status is None or group.status.workers_running == 0
    if fresh_signals and at_zero and target.build_id is None:
        calls += fresh_calls(target)
    if group.beats is not None and not at_zero:
        calls += len(target.task_queues)
    provider = group.group.provider
    if provider_type(provider.type).reads_workers and not provider.nexus_endpoint and not at_zero:
        calls += poller_calls(target.task_queues, target.task_queue_types)
        calls += len(target.task_queues)
    return calls
