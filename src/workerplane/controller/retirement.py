"""How the controller lets go of a group: retire its workers, hand them over, or leave them.

* **Retire** (the group left the spec, or its provider was replaced by one with workers of its
  own): let it finish its open work, drain its workers gracefully, then close the provider; at
  a version's sunset, delete its resources too. This runs in the background.
* **Hand over** (its provider was replaced by one of the same
  :attr:`~workerplane.providers.base.Provider.claim`): the new provider already holds the
  workers, so the old one is only closed.
* **Stop** (the controller shuts down): drain or not, as asked.

A group being retired whose workers a new provider claims (the group came back to the spec
before its retirement was over) is not retired further: :meth:`Retirements.reclaim` hands it
over instead, or its drain would retire the new provider's workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from workerplane.controller.cycle import GroupRuntime
from workerplane.controller.runner import GroupRunner
from workerplane.planning.plan import open_work_done

logger = logging.getLogger("workerplane.controller")


class Retirements:
    """The groups being retired, and the calls that let go of a group."""

    def __init__(self, runner: GroupRunner, drain_timeout_s: float) -> None:
        self._runner = runner
        self._drain_timeout_s = drain_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_claim: dict[str, tuple[GroupRuntime, asyncio.Task[None]]] = {}

    def retire_in_background(self, group: GroupRuntime, *, remove: bool = False) -> None:
        """Retire ``group`` once idle (``remove``: delete its provider resources after)."""
        task = asyncio.create_task(self._retire_when_idle(group, remove=remove))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        claim = group.provider.claim
        if claim is not None:
            self._by_claim[claim] = (group, task)
            task.add_done_callback(lambda _: self._forget(claim, task))

    async def reclaim(self, claim: str | None) -> GroupRuntime | None:
        """Stop retiring the group whose workers ``claim`` names, if one is being retired, and
        hand it over: a new provider is about to take its workers on. Returns that group."""
        entry = self._by_claim.pop(claim, None) if claim is not None else None
        if entry is None:
            return None
        group, task = entry
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        logger.info("%s/%s is back: its retirement stops", group.version.key, group.group_id)
        await self.hand_over(group)
        return group

    def _forget(self, claim: str, task: asyncio.Task[None]) -> None:
        entry = self._by_claim.get(claim)
        if entry is not None and entry[1] is task:
            del self._by_claim[claim]

    async def hand_over(self, group: GroupRuntime) -> None:
        """Let go of ``group`` whose workers another provider took over: close, never drain."""
        await self._runner.remove(group)
        with contextlib.suppress(Exception):
            await group.provider.close()

    async def stop(self, group: GroupRuntime, *, drain: bool, remove: bool = False) -> None:
        """Stop cycling ``group``; with ``drain`` retire its workers, with ``remove`` delete its
        resources; always close its provider."""
        await self._runner.remove(group)
        try:
            if drain:
                await group.provider.drain(self._drain_timeout_s)
            if remove:
                await group.provider.remove_resources()
        except Exception as err:
            logger.error("%s/%s retire failed: %s", group.version.key, group.group_id, err)
        finally:
            await group.provider.close()

    async def wait(self) -> None:
        """Wait for every retirement under way."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _retire_when_idle(self, group: GroupRuntime, *, remove: bool = False) -> None:
        """Let a removed group finish its open work (e.g. the last workflow task after an
        activity), then retire its workers; give up waiting after the drain timeout."""
        group.retiring = True
        deadline = time.monotonic() + self._drain_timeout_s
        while time.monotonic() < deadline:
            if open_work_done(group.status) or not self._runner.running(group):
                break
            await asyncio.sleep(group.scaler.poll_interval_s)
        await self.stop(group, drain=True, remove=remove)
