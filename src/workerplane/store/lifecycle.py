"""A version's lifecycle: its states, and how the controller's group statuses move it.

``UPDATE_PENDING`` (stored, not yet picked up) -> ``UPDATE_IN_PROGRESS`` (the controller picked
up the generation) -> ``READY`` or ``UPDATE_FAILED`` (from what the controller published);
``DELETE_IN_PROGRESS`` while a deleted version drains. Whether a version is ready is the
controller's verdict (:class:`~workerplane.planning.status.VersionStatus`); the store records it.
"""

from __future__ import annotations

UPDATE_PENDING = "UPDATE_PENDING"
UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
READY = "READY"
UPDATE_FAILED = "UPDATE_FAILED"
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
