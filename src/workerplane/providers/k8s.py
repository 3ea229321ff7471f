"""Registry entry point for ``provider.type: k8s`` (the code lives in :mod:`.kubernetes`)."""

from workerplane.providers.kubernetes.provider import KubernetesProvider

__all__ = ["KubernetesProvider"]
