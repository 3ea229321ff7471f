"""Builds a provider from its ``provider.type`` and the spec's details (imports the implementation).

The registry names each implementation as a ``"module:Class"`` string so that it stays pure; this
module is where that string is imported, lazily, so that e.g. the subprocess provider never
imports boto3.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workerplane.providers.base import Provider, ProviderContext, WorkerEnvironment, WorkerReads
from workerplane.providers.nexus.caller import NexusRoute
from workerplane.providers.registry import (
    NEXUS_IMPLEMENTATION,
    parse_provider_details,
    provider_type,
)


def build_provider(
    type_name: str,
    details: Mapping[str, Any],
    *,
    deployment: str,
    group_id: str,
    worker_env: WorkerEnvironment,
    state_dir: Path,
    nexus: NexusRoute | None = None,
    worker_reads: WorkerReads | None = None,
) -> Provider:
    """Validate ``details`` (the spec's ``provider.details``) and build the provider; with
    ``nexus``, the provider that drives a handler of this type through its endpoint.
    ``worker_reads``: the controller's reads of the group's workers, for a type whose census
    reads them (else the provider reads them itself).

    Raises:
        ValueError: unknown provider type.
        pydantic.ValidationError: the details break the type's model.
    """
    entry = provider_type(type_name)
    context = ProviderContext(
        deployment=deployment,
        group_id=group_id,
        details=parse_provider_details(type_name, details),
        worker_env=worker_env,
        state_dir=state_dir,
        worker_reads=worker_reads,
    )
    if nexus is not None:
        remote: Provider = _load(NEXUS_IMPLEMENTATION)(
            nexus,
            type_name,
            dict(details),
            deployment=deployment,
            group_id=group_id,
            worker_env=worker_env,
        )
        return remote
    provider: Provider = _load(entry.implementation).from_context(context)
    return provider


def _load(implementation: str) -> Any:
    """The class a registry's ``"module:Class"`` string names."""
    module_name, class_name = implementation.split(":")
    return getattr(importlib.import_module(module_name), class_name)
