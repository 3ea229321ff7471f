"""Retiring a worker without orphaning a task on a server that drops a leaving worker's polls.

A worker that shuts down with a long poll open cancels the poll on its side. Unless the server
completes such polls itself (the namespace capability ``worker_poll_complete_on_shutdown``, which
the server setting ``frontend.enableCancelWorkerPollsOnShutdown`` turns on, off by default), a
task the server matches to the poll at that moment is recorded as started on a worker that is
gone. It runs again only after its heartbeat or start-to-close timeout, and fails if it has no
attempts left. An autoscaler retires workers all day, so it meets this race all day.

On such a server the runtime retires a worker quietly: the :class:`PollGate` stops handing the
SDK slots, so no new poll opens; the runtime waits until every poll already open has returned
(a task one brings runs as usual; an empty one returns at the server's long-poll timeout, about
11 s for a poller that has been getting tasks and 60 s for an idle one); only then does it shut
the worker down, with no poll left to cancel.

The gate counts polls exactly: the SDK reserves a slot before each poll and either marks it used
(the poll brought a task) or releases it unused (the poll came back empty).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)

#: ``WORKERPLANE_QUIET_RETIREMENT``: ``auto`` retires quietly when the server does not complete a
#: leaving worker's polls; ``on`` always; ``off`` (the default, until ``bench/retire_orphans.py``
#: shows over more runs how many tasks it saves and calibration shows what it costs) never.
QUIET_RETIREMENT_ENV = "WORKERPLANE_QUIET_RETIREMENT"

QuietRetirement = Literal["auto", "on", "off"]


class _GatePermit(SlotPermit):
    """A slot handed to the SDK; ``used`` once a task took it (until then, a poll holds it)."""

    def __init__(self) -> None:
        self.used = False


class PollGate(CustomSlotSupplier):
    """A fixed number of slots that can be closed to new polls, counting the polls still open.

    The SDK calls :meth:`mark_slot_used` and :meth:`release_slot` from its own threads, so the
    counts are guarded by a lock and waiters on the event loop are woken thread-safely.
    """

    def __init__(self, slots: int) -> None:
        self._lock = threading.Lock()
        self._free = slots
        self._open_polls = 0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    @property
    def open_polls(self) -> int:
        """Slots reserved for a poll that has neither brought a task nor come back empty."""
        with self._lock:
            return self._open_polls

    def close(self) -> None:
        """Hand out no more slots: the SDK opens no new poll (a pending reservation waits until
        the SDK gives it up at shutdown)."""
        with self._lock:
            self._closed = True
        self._notify()

    async def polls_returned(self, timeout_s: float) -> bool:
        """Wait until no poll is open, at most ``timeout_s``; whether none is."""
        self._bind()
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.open_polls > 0:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            if self.open_polls == 0:
                break
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=remaining)
            except TimeoutError:
                return self.open_polls == 0
        return True

    # -- CustomSlotSupplier ---------------------------------------------------------------------

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        self._bind()
        assert self._changed is not None
        while True:
            permit = self._take()
            if permit is not None:
                return permit
            self._changed.clear()
            if self._can_take():
                continue
            await self._changed.wait()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        return self._take()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        permit = ctx.permit
        if not isinstance(permit, _GatePermit) or permit.used:
            return
        with self._lock:
            permit.used = True
            self._open_polls -= 1
        self._notify()

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        permit = ctx.permit
        with self._lock:
            if isinstance(permit, _GatePermit) and not permit.used:
                permit.used = True
                self._open_polls -= 1
            self._free += 1
        self._notify()

    # -- internals ------------------------------------------------------------------------------

    def _can_take(self) -> bool:
        with self._lock:
            return not self._closed and self._free > 0

    def _take(self) -> _GatePermit | None:
        with self._lock:
            if self._closed or self._free <= 0:
                return None
            self._free -= 1
            self._open_polls += 1
        return _GatePermit()

    def _bind(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._changed = asyncio.Event()

    def _notify(self) -> None:
        loop, changed = self._loop, self._changed
        if loop is None or changed is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            changed.set()
        else:
            loop.call_soon_threadsafe(changed.set)


async def server_completes_polls(client: Client) -> bool:
    """Whether the namespace's server completes a leaving worker's open polls itself.

    A server that cannot say (an older one, or a failed call) is taken not to: waiting for the
    polls is the safe side.
    """
    try:
        response = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace)
        )
    except RPCError:
        return False
    return bool(response.namespace_info.capabilities.worker_poll_complete_on_shutdown)


def quiet_retirement_setting(value: str | None) -> QuietRetirement:
    """``WORKERPLANE_QUIET_RETIREMENT``'s value, checked: ``off`` when unset."""
    setting = (value or "off").strip().lower()
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"{QUIET_RETIREMENT_ENV} must be auto, on or off, not {value!r}")
    return setting  # type: ignore[return-value]
