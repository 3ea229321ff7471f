"""How the controller learns what to manage and where it reports what it did.

The controller does not care whether specs come from a YAML file (``workerplane run -f``) or from
the API's database (``workerplane serve``): both implement :class:`SpecSource`. Likewise, status
goes to a :class:`StatusSink` (a JSON file for ``workerplane status``, the store for the API).
"""

from __future__ import annotations

from typing import Protocol

from workerplane.planning.status import GroupStatus, ManagedVersion


class SpecSource(Protocol):
    """Where the desired state comes from."""

    async def snapshot(self) -> list[ManagedVersion]:
        """Every version to manage now. A version missing from the list is drained and dropped."""
        ...


class StatusSink(Protocol):
    """Where the controller publishes status after every cycle."""

    async def publish(self, statuses: list[GroupStatus]) -> None: ...
