"""The worker identity marker: how workerplane tells its own workers from other pollers.

Temporal lists every poller of a task queue with the identity its client gave
(``DescribeTaskQueue`` ``pollers[].identity``; the SDKs default to ``<pid>@<host>``). A worker
workerplane starts appends a marker naming the deployment, build and scaling group it belongs to::

    <pid>@<host>@wp:<deployment>/<build>/<group>

The part before the marker keeps the identity unique per worker (the Lambda handler puts its
invocation ID there). Providers hand the marker to every worker in :data:`MARKER_ENV`; the runtime
(:mod:`workerplane.worker.runtime`) and the Lambda handler build their client's identity with
:func:`worker_identity`, and a user's own worker code can do the same
(``docs/unmanaged-pollers.md``). The controller parses the identities the server lists with
:func:`parse_identity` (:mod:`workerplane.planning.pollers`).

Each part is percent-encoded, so names holding ``/`` or ``@`` survive the round trip. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

#: The variable that carries a worker's marker (``wp:<deployment>/<build>/<group>``).
MARKER_ENV = "WORKERPLANE_WORKER_IDENTITY"

_PREFIX = "wp:"
_SEPARATOR = "@" + _PREFIX


@dataclass(frozen=True)
class WorkerMarker:
    """Which workerplane deployment, build and scaling group started a worker.

    ``build_id`` is the worker deployment's build ID, ``default`` for an unversioned deployment
    (:meth:`~workerplane.config.model.DeploymentSpec.target`).
    """

    deployment: str
    build_id: str
    group_id: str

    @property
    def text(self) -> str:
        """The marker as workers carry it in :data:`MARKER_ENV`."""
        parts = (self.deployment, self.build_id, self.group_id)
        return _PREFIX + "/".join(quote(part, safe="") for part in parts)

    @classmethod
    def from_text(cls, text: str) -> WorkerMarker | None:
        """The marker in ``text`` (as :attr:`text` writes it), or ``None`` if it is not one."""
        if not text.startswith(_PREFIX):
            return None
        parts = text[len(_PREFIX) :].split("/")
        if len(parts) != 3 or not all(parts):
            return None
        deployment, build_id, group_id = (unquote(part) for part in parts)
        return cls(deployment, build_id, group_id)


@dataclass(frozen=True)
class ParsedIdentity:
    """A poller identity split at its marker: ``base`` is what precedes it (the whole identity
    when there is none)."""

    base: str
    marker: WorkerMarker | None


def worker_identity(base: str, marker: WorkerMarker | str) -> str:
    """The identity of a worker whose own part is ``base`` (e.g. ``<pid>@<host>``), marked with
    ``marker`` (a :class:`WorkerMarker` or its :attr:`~WorkerMarker.text`, as read from
    :data:`MARKER_ENV`)."""
    text = marker.text if isinstance(marker, WorkerMarker) else marker
    return f"{base}@{text}"


def parse_identity(identity: str) -> ParsedIdentity:
    """Split a poller identity into its own part and its marker (``None`` when it carries no
    valid marker: a worker workerplane did not start, or one started before markers existed)."""
    at = identity.rfind(_SEPARATOR)
    if at < 0:
        return ParsedIdentity(identity, None)
    marker = WorkerMarker.from_text(identity[at + 1 :])
    if marker is None:
        return ParsedIdentity(identity, None)
    return ParsedIdentity(identity[:at], marker)
