"""How the API behaves, set once per app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from workerplane.providers.kubernetes.details import ClusterPolicy

#: ``hook(operation, args)`` mirroring a routing change (``set_current`` / ``set_ramping``) to a
#: Temporal server; it raises :class:`~workerplane.errors.Conflict` when Temporal refuses.
TemporalHook = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class ApiSettings:
    """How the API behaves.

    Attributes:
        temporal_address: the Temporal frontend workers and the controller use.
        default_namespace: the namespace when a request names none.
        temporal_routing: also call SetWorkerDeploymentCurrent/RampingVersion on Temporal.
        controller: "embedded", "external" or "none" (shown by /healthz). With "none", deletes
            complete at once because no controller would ever drain them.
        cluster_policy: what Kubernetes groups may ask for (``WORKERPLANE_K8S_POLICY``): a spec
            that breaks it is refused when it is created or changed, not when it starts.
    """

    temporal_address: str = "127.0.0.1:7233"
    default_namespace: str = "default"
    temporal_routing: bool = False
    controller: str = "embedded"
    cluster_policy: ClusterPolicy = field(default_factory=ClusterPolicy)
    extra: dict[str, Any] = field(default_factory=dict)
