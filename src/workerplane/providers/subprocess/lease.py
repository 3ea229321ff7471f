"""The controller lease the subprocess provider's workers watch, renewed once per process.

Every worker watches its group's ``controller.lease`` file (``WORKERPLANE_CONTROLLER_LEASE``) and
leaves once idle when it goes stale. Renewing one file per group every second costs a task and a
write per group; with thousands of groups that is the controller's busiest loop. So each group's
lease is a symbolic link to one process-wide file in the state directory, and one task renews it
(and runs each group's periodic chores, such as killing workers past their grace period). A
worker's ``stat`` follows the link, so workers adopted from an earlier run, which watch the same
path, see the shared lease too.

A group that closes turns its link back into a plain file: it is no longer renewed, so workers it
left behind leave once idle, as before. A group whose provider was replaced in the same process
(the new one joined with the same lease) leaves nothing: the lease is the new provider's now.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

#: How often the lease is renewed (workers wait at least five times as long before leaving).
LEASE_RENEW_S = 1.0


class SharedLease:
    """One state directory's lease file, renewed by one task while any group uses it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._chores: dict[Path, Callable[[], None]] = {}
        self._task: asyncio.Task[None] | None = None

    def join(self, group_lease: Path, chore: Callable[[], None]) -> None:
        """Point ``group_lease`` at the shared lease and run ``chore`` on every renewal."""
        self._renew()
        link = group_lease.with_name(f".{group_lease.name}.link")
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(self.path, group_lease.parent))
        os.replace(link, group_lease)
        loop = asyncio.get_running_loop()
        if self._task is not None and self._task.get_loop() is not loop:
            self._chores, self._task = {}, None  # a new event loop (a new controller run)
        self._chores[group_lease] = chore
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._renew_forever())

    async def leave(self, group_lease: Path, chore: Callable[[], None]) -> None:
        """Stop renewing ``group_lease``: it becomes a plain file that goes stale. Only the
        member that joined with ``chore`` leaves: a provider that took the group over since
        (it joined with its own chore) keeps the lease."""
        if self._chores.get(group_lease) != chore:
            return
        del self._chores[group_lease]
        with contextlib.suppress(OSError):
            frozen = group_lease.with_name(f".{group_lease.name}.frozen")
            frozen.touch()
            os.replace(frozen, group_lease)
        if (
            not self._chores
            and self._task is not None
            and self._task.get_loop() is asyncio.get_running_loop()
        ):
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _renew(self) -> None:
        self.path.touch()
        now = time.time()
        os.utime(self.path, (now, now))

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_S)
            with contextlib.suppress(OSError):
                self._renew()
            for chore in list(self._chores.values()):
                chore()


_leases: dict[Path, SharedLease] = {}


def shared_lease(state_dir: Path) -> SharedLease:
    """The lease of ``state_dir`` (one per directory per process)."""
    path = state_dir.resolve() / "controller.lease"
    lease = _leases.get(path)
    if lease is None:
        lease = _leases[path] = SharedLease(path)
    return lease
