"""The names workerplane gives Kubernetes things: labels, annotations, containers and paths.

Shared by the renderer, the provider, and the pod-side helpers (readiness probe, sidecar), which
run in the worker image and must not import the renderer.
"""

from __future__ import annotations

import hashlib
import re

LABEL_WORKER = "workerplane.dev/worker"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
ANN_OWNER = "workerplane.dev/owner"
ANN_SPEC_HASH = "workerplane.dev/spec-hash"
ANN_LAST_APPLIED = "workerplane.dev/last-applied"
#: Published by each pod's sidecar: tasks the pod's worker is executing now.
ANN_IN_FLIGHT = "workerplane.dev/in-flight"
#: Published by each pod's sidecar while tasks run: when they started, on average (epoch
#: seconds), so their run time is known between patches without a patch per second.
ANN_RUNNING_SINCE = "workerplane.dev/running-since"
#: Published by each pod's sidecar: the worker's state ("polling", "draining", ...).
ANN_WORKER_STATE = "workerplane.dev/worker-state"
#: Published by each pod's sidecar: the task slots ``in-flight`` counts against, if limited.
ANN_SLOTS = "workerplane.dev/slots"
#: Read by the ReplicaSet controller: on scale-down, pods with a lower cost go first.
ANN_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

#: Kubernetes object names (DNS-1123 labels) are at most this long.
MAX_NAME = 63


def version_object_name(base: str, build_id: str) -> str:
    """The name of one version's managed objects: ``<base>-<build id>``, one Deployment per
    version as temporal-worker-controller names them. The build ID is lower-cased with other
    characters as ``-``; a name too long keeps its start and ends with a hash of the whole."""
    slug = re.sub(r"[^a-z0-9-]+", "-", build_id.lower()).strip("-") or "build"
    name = f"{base}-{slug}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(f"{base}/{build_id}".encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - len(digest) - 1].rstrip('-')}-{digest}"


STATUS_DIR = "/var/run/workerplane"
STATUS_FILE = f"{STATUS_DIR}/status.json"
TLS_DIR = "/etc/workerplane/temporal-tls"
WORKER_CONTAINER = "worker"
SIDECAR_CONTAINER = "in-flight"
