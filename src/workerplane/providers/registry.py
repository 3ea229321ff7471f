"""Maps a ``provider.type`` to its implementation.

Implementations are imported lazily so that, say, the subprocess provider never imports boto3.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workerplane.providers.base import Provider, WorkerEnvironment


@dataclass(frozen=True)
class ProviderContext:
    """Everything a provider is built from.

    Attributes:
        deployment: workerplane's deployment name.
        group_id: the scaling group's ID.
        details: the provider details, already validated against the type's details model.
        worker_env: what workers need to connect to Temporal.
        state_dir: a directory the provider may use for local state (e.g. pid files).
    """

    deployment: str
    group_id: str
    details: dict[str, Any]
    worker_env: WorkerEnvironment
    state_dir: Path


_IMPLEMENTATIONS: dict[str, str] = {
    "subprocess": "workerplane.providers.subprocess:SubprocessProvider",
    "k8s": "workerplane.providers.k8s:KubernetesProvider",
    "aws-lambda": "workerplane.providers.aws_lambda:LambdaProvider",
    "aws-ecs": "workerplane.providers.aws_ecs:EcsProvider",
    "gcp-cloud-run": "workerplane.providers.cloud_run:CloudRunProvider",
    "webhook": "workerplane.providers.webhook:WebhookProvider",
}


def provider_types() -> list[str]:
    """Every provider type this build knows."""
    return sorted(_IMPLEMENTATIONS)


def build_provider(provider_type: str, context: ProviderContext) -> Provider:
    """Instantiate the provider for ``provider_type``.

    Each implementation class offers ``from_context(context) -> Provider``.
    """
    try:
        target = _IMPLEMENTATIONS[provider_type]
    except KeyError:
        raise ValueError(f"invalid compute provider type '{provider_type}'") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    provider: Provider = cls.from_context(context)
    return provider
