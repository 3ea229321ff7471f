"""The Temporal Schedules that start work on managed task queues: their next action times and what
their past runs brought, for schedule-aware pre-warming (:mod:`workerplane.planning.prewarm`).

Per namespace, every ``refresh_s`` (30 s by default) and only while a pre-warming group asks:

* one ``ListSchedules`` (paged by 1000): every schedule's id, next action times and recent actions;
* one ``DescribeSchedule`` per schedule that starts a workflow on a managed queue (its exact next
  action times, recent and running actions), and once per ``DESCRIBE_EVERY_S`` for the others, at
  most ``DESCRIBE_BUDGET`` of them per refresh (the list does not name a schedule's task queue; a
  schedule edited to move queue is seen that late);
* for each finished run of a matching schedule, once (what a closed run brought never changes, so
  it is cached), for its latest ``LEARN_RUNS`` runs: two or three reads
  (:mod:`workerplane.temporal.schedule_runs`: the run's history, one visibility list of the
  workflows it started, one history per kind of those), at most ``LEARN_BUDGET`` reads per
  refresh, the newest run of every schedule first.

A group's cycle never waits on Temporal here: :meth:`ScheduleReader.upcoming` returns what the last
refresh saw and starts the next one in the background when it is due. docs/prewarming.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
)
from temporalio.service import RPCError

from workerplane.planning.warmups import LEARN_RUNS, PastRun, UpcomingRun, learn_run_work
from workerplane.temporal.connection import ResolvedConnection, connect
from workerplane.temporal.schedule_runs import learn_run

logger = logging.getLogger("workerplane.schedules")

#: How often a schedule that starts no managed work is described again (to see its queue change).
DESCRIBE_EVERY_S = 600.0

#: At most this many schedules that start no managed work are described per refresh (a namespace
#: with thousands of schedules is learned over a few refreshes, not in one burst).
DESCRIBE_BUDGET = 50

#: At most this many reads (histories and visibility lists) learn past runs per refresh; the runs
#: left over are learned on the next refreshes, newest first.
LEARN_BUDGET = 60

#: A run that fired this long ago is still returned, so the warm floor holds while it lands.
RECENT_S = 300.0

#: A namespace no group asked about for this many refreshes is forgotten.
FORGET_AFTER_REFRESHES = 4


@dataclass
class ScheduleView:
    """What the reader knows of one schedule."""

    task_queue: str | None
    described_at: float
    next_times: tuple[float, ...] = ()
    recent: tuple[tuple[float, str, str], ...] = ()  # (action time, workflow id, run id)
    running: frozenset[str] = frozenset()  # workflow ids of its runs still open


@dataclass
class _Namespace:
    connection: ResolvedConnection
    queues: dict[str, float] = field(default_factory=dict)  # task queue -> last asked (monotonic)
    schedules: dict[str, ScheduleView] = field(default_factory=dict)
    runs: dict[tuple[str, str], PastRun | None] = field(default_factory=dict)
    refreshed_at: float = -1e18
    task: asyncio.Task[None] | None = None
    client: Client | None = None


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


class ScheduleReader:
    """Keeps, per namespace, the schedules that start work on the queues groups ask about."""

    def __init__(
        self,
        *,
        refresh_s: float = 30.0,
        connector: Callable[[ResolvedConnection], Awaitable[Client]] = connect,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._refresh_s = refresh_s
        self._connect = connector
        self._monotonic = monotonic
        self._wall = wall_clock
        self._namespaces: dict[tuple[str, str], _Namespace] = {}

    def upcoming(
        self, connection: ResolvedConnection, task_queues: Sequence[str]
    ) -> tuple[UpcomingRun, ...]:
        """The runs schedules will start (or started within ``RECENT_S``) on ``task_queues``, as
        of the last refresh; starts a refresh in the background when one is due."""
        now = self._monotonic()
        space = self._namespaces.get((connection.address, connection.namespace))
        if space is None:
            space = _Namespace(connection)
            self._namespaces[(connection.address, connection.namespace)] = space
        for queue in task_queues:
            space.queues[queue] = now
        due = now - space.refreshed_at >= self._refresh_s
        if due and (space.task is None or space.task.done()):
            space.task = asyncio.create_task(self._refresh_logged(space))
        return self._runs_for(space, set(task_queues))

    async def refresh_now(self, connection: ResolvedConnection, task_queues: Sequence[str]) -> None:
        """Register ``task_queues`` and refresh their namespace at once (tests, the bench)."""
        self.upcoming(connection, task_queues)
        space = self._namespaces[(connection.address, connection.namespace)]
        if space.task is not None:
            await space.task
        await self._refresh(space)

    async def close(self) -> None:
        """Stop the refreshes under way."""
        for space in self._namespaces.values():
            if space.task is not None:
                space.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await space.task

    def _runs_for(self, space: _Namespace, queues: set[str]) -> tuple[UpcomingRun, ...]:
        wall = self._wall()
        runs: list[UpcomingRun] = []
        for schedule_id, view in space.schedules.items():
            if view.task_queue not in queues:
                continue
            past = [
                run
                for at, wid, rid in view.recent
                if (run := space.runs.get((wid, rid))) is not None
            ]
            work = learn_run_work(past)
            recent = [at for at, _, _ in view.recent if wall - RECENT_S <= at]
            for at in sorted({*recent[-1:], *view.next_times}):
                runs.append(UpcomingRun(schedule_id, at, work))
        return tuple(sorted(runs, key=lambda r: r.at))

    async def _refresh_logged(self, space: _Namespace) -> None:
        try:
            await self._refresh(space)
        except (RPCError, OSError, RuntimeError) as err:
            logger.warning("schedules of %s unavailable: %s", space.connection.namespace, err)

    async def _refresh(self, space: _Namespace) -> None:
        """One list, the describes that are due and the histories of new finished runs."""
        now = self._monotonic()
        space.refreshed_at = now
        stale = now - FORGET_AFTER_REFRESHES * self._refresh_s
        space.queues = {q: t for q, t in space.queues.items() if t >= stale}
        if space.client is None:
            space.client = await self._connect(space.connection)
        client = space.client
        listed: dict[str, ScheduleView] = {}
        async for entry in await client.list_schedules():
            view = space.schedules.get(entry.id) or ScheduleView(None, -1e18)
            if entry.info is not None:
                view.next_times = tuple(_epoch(t) for t in entry.info.next_action_times)
                view.recent = _recent(entry.info.recent_actions)
            listed[entry.id] = view
        space.schedules = listed
        others = DESCRIBE_BUDGET
        for schedule_id, view in listed.items():
            matching = view.task_queue in space.queues
            due = now - view.described_at >= DESCRIBE_EVERY_S
            if matching or (due and others > 0):
                others -= 0 if matching else 1
                try:
                    description = await client.get_schedule_handle(schedule_id).describe()
                except RPCError as err:  # deleted since the list, or not visible yet
                    logger.debug("schedule %s not described: %s", schedule_id, err)
                    continue
                _apply(view, description, now)
        await self._learn(
            client, space, [v for v in listed.values() if v.task_queue in space.queues]
        )
        wanted = {(wid, rid) for view in listed.values() for _, wid, rid in view.recent}
        space.runs = {key: run for key, run in space.runs.items() if key in wanted}

    async def _learn(
        self, client: Client, space: _Namespace, views: Sequence[ScheduleView]
    ) -> None:
        """Learn the latest finished runs of ``views`` not learned yet, within ``LEARN_BUDGET``
        reads: the newest run of every schedule first, so that many schedules each get a basis
        before any gets a deeper one."""
        pending = [
            [
                (at, wid, rid)
                for at, wid, rid in reversed(view.recent[-LEARN_RUNS:])
                if (wid, rid) not in space.runs and wid not in view.running
            ]
            for view in views
        ]
        budget = LEARN_BUDGET
        for at, wid, rid in (
            run for depth in itertools.zip_longest(*pending) for run in depth if run
        ):
            if budget <= 0:
                return
            try:
                learned = await learn_run(client, at, wid, rid, tuple(space.queues))
            except RPCError as err:  # deleted by retention, or not visible yet
                logger.debug("run %s of a schedule unavailable: %s", wid, err)
                space.runs[(wid, rid)] = None
                budget -= 1
                continue
            budget -= learned.reads
            if learned.work is not None:
                space.runs[(wid, rid)] = learned.work


def _recent(actions: Sequence[ScheduleActionResult]) -> tuple[tuple[float, str, str], ...]:
    out = []
    for result in actions:
        action = result.action
        if isinstance(action, ScheduleActionExecutionStartWorkflow):
            out.append(
                (_epoch(result.scheduled_at), action.workflow_id, action.first_execution_run_id)
            )
    return tuple(out)


def _apply(view: ScheduleView, description: ScheduleDescription, now: float) -> None:
    action = description.schedule.action
    view.task_queue = action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else None
    view.described_at = now
    info = description.info
    view.next_times = tuple(_epoch(t) for t in info.next_action_times)
    view.recent = _recent(info.recent_actions)
    view.running = frozenset(
        r.workflow_id
        for r in info.running_actions
        if isinstance(r, ScheduleActionExecutionStartWorkflow)
    )
