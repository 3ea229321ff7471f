"""The Temporal identity a worker started by workerplane polls under.

Providers give every worker its marker in ``WORKERPLANE_WORKER_IDENTITY``
(:mod:`workerplane.planning.identity`). A worker that connects with :func:`marked_identity` is
then counted as the deployment's own; one that does not is reported as an unmanaged poller.
User code that builds its own client does the same::

    client = await Client.connect(address, identity=marked_identity())
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from workerplane.planning.identity import MARKER_ENV, worker_identity


def marked_identity(base: str | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """This worker's identity: ``base`` (by default Temporal's own ``<pid>@<host>``) with the
    marker from the environment; ``None`` when the environment carries none (a worker not
    started by workerplane keeps the SDK's default identity)."""
    marker = environ.get(MARKER_ENV)
    if not marker:
        return None
    return worker_identity(base or f"{os.getpid()}@{socket.gethostname()}", marker)
