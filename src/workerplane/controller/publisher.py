"""Publishing status on a timer, only what changed.

Publishing the whole table after every group's cycle costs O(N²) per interval (issue 14: 145 ms
of CPU per publish at 5,000 groups). Instead, each finished cycle marks its group; every
``interval_s`` the publisher sends the sink the groups whose status changed (``updated_at``
aside) and the statuses of the versions they belong to. A group whose status stays the same is
still re-sent every ``heartbeat_s``, so its ``updated_at`` says the controller still watches it.
Whenever the set of groups shrank, and every ``full_every_s``, the whole table goes out instead,
so a sink can drop what is gone.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from workerplane.controller.interfaces import StatusSink
from workerplane.planning.readiness import version_status
from workerplane.planning.status import ControllerStatus, GroupStatus, ManagedVersion
from workerplane.planning.sunset import SunsetStatus

logger = logging.getLogger("workerplane.controller")

GroupKey = tuple[str, str]


def same_status(a: GroupStatus, b: GroupStatus) -> bool:
    """Whether two statuses differ in nothing but ``updated_at``."""
    return dataclasses.replace(a, updated_at=b.updated_at) == b


@dataclass
class _Published:
    status: GroupStatus
    at: float


class StatusPublisher:
    """Collects changed statuses and publishes them in one call per tick.

    Args:
        sink: where statuses go (may receive a subset: see :class:`StatusSink`).
        on_publish: told the full status list on every tick (``workerplane up`` draws it).
        heartbeat_s: re-send an unchanged status this often.
        full_every_s: publish the whole table this often.
    """

    def __init__(
        self,
        sink: StatusSink,
        *,
        on_publish: Callable[[list[GroupStatus]], None] | None = None,
        heartbeat_s: float = 30.0,
        full_every_s: float = 300.0,
    ) -> None:
        self._sink = sink
        self._on_publish = on_publish
        self._heartbeat = heartbeat_s
        self._full_every = full_every_s
        self._published: dict[GroupKey, _Published] = {}
        self._full_due = True
        self._last_full = 0.0
        self._sunsets: Mapping[str, SunsetStatus] = {}

    def changed(self, statuses: Iterable[GroupStatus], now: float) -> list[GroupStatus]:
        """Of ``statuses`` (every current one), those to send: changed or due a heartbeat."""
        result = []
        for status in statuses:
            key = (status.version_key, status.group_id)
            last = self._published.get(key)
            if (
                last is None
                or now - last.at >= self._heartbeat
                or not same_status(last.status, status)
            ):
                result.append(status)
        return result

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: list[ManagedVersion],
        now: float,
        controller: ControllerStatus | None = None,
        *,
        sunsets: Mapping[str, SunsetStatus] | None = None,
    ) -> int:
        """Publish what changed in ``statuses`` (every group's current status) with the statuses
        of the versions they belong to, and of the versions whose sunset changed (``sunsets``,
        per version key); returns how many groups went out."""
        sunsets = sunsets or {}
        if self._on_publish is not None:
            try:
                self._on_publish(statuses)
            except Exception:
                logger.exception("status callback %r failed", self._on_publish)
        keys = {(s.version_key, s.group_id) for s in statuses}
        if (
            self._full_due
            or now - self._last_full >= self._full_every
            or keys < set(self._published)
        ):
            send, partial = statuses, False
        else:
            send, partial = self.changed(statuses, now), True
        by_version: dict[str, list[GroupStatus]] = {}
        for status in statuses:
            by_version.setdefault(status.version_key, []).append(status)
        touched = {s.version_key for s in send}
        touched |= {
            k for k in set(sunsets) | set(self._sunsets) if sunsets.get(k) != self._sunsets.get(k)
        }
        verdicts = [
            version_status(v, by_version.get(v.key, []), sunset=sunsets.get(v.key))
            for v in versions
            if not partial or v.key in touched
        ]
        try:
            await self._sink.publish(
                send, versions=verdicts, partial=partial, controller=controller
            )
        except Exception as err:
            logger.warning("could not publish status: %s", err)
            self._full_due = True  # the sink may have missed anything: send it all next time
            return 0
        self._sunsets = dict(sunsets)
        if not partial:
            self._published = {}
            self._last_full = now
            self._full_due = False
        for status in send:
            self._published[(status.version_key, status.group_id)] = _Published(status, now)
        return len(send)
