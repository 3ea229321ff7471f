"""The logic behind the routes: rendering endpoints into specs, validation, provider checks.

An endpoint is rendered into an ordinary :class:`DeploymentSpec` (one scaling group, a
``subprocess`` or ``k8s`` provider and the ``backlog`` scaler) and stored as a deployment version;
from there on the controller treats it like any other version. Validation is
:func:`workerplane.config.validation.validate_spec`, the same rules and messages as
``workerplane validate``.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from workerplane.config.cluster_policy import cluster_policy_issues
from workerplane.config.model import (
    ComputeConfig,
    DeploymentSpec,
    ProviderSpec,
    ScalerSpec,
    ScalingGroup,
    TemporalConnection,
    WorkerDeploymentRef,
)
from workerplane.config.validation import validate_spec
from workerplane.errors import Invalid, ValidationIssue
from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.kubernetes.details import ClusterPolicy
from workerplane.store.endpoint_fields import EndpointRecord, endpoint_build_id
from workerplane.store.rows import StaleToken

ENDPOINT_GROUP = "workers"


#: How often a write sent without a conflict token is redone when other writes keep winning.
UNGUARDED_WRITE_ATTEMPTS = 50

T = TypeVar("T")


def write_unguarded(token_sent: bool, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` (read, compute, compare-and-swap). A client that sent no conflict token
    asked for its change on whatever is current, so a swap that lost to someone else's write is
    redone on a fresh read: only a client's own stale token ends in 409."""
    for _ in range(UNGUARDED_WRITE_ATTEMPTS - 1):
        try:
            return attempt()
        except StaleToken:
            if token_sent:
                raise
            time.sleep(random.uniform(0.0, 0.01))  # let the winner commit; spread the retries
    return attempt()


def spec_issues(spec: DeploymentSpec, policy: ClusterPolicy) -> list[ValidationIssue]:
    """Every issue of ``spec``: validation's own, then the cluster policy's."""
    return validate_spec(spec) or cluster_policy_issues(spec, policy)


def check_spec(spec: DeploymentSpec, policy: ClusterPolicy) -> None:
    """Raise :class:`Invalid` with every issue of ``spec`` (see :func:`spec_issues`)."""
    issues = spec_issues(spec, policy)
    if issues:
        raise Invalid(issues)


def version_spec(
    deployment: str,
    build_id: str,
    task_queues: list[str],
    compute: ComputeConfig,
    namespace: str | None,
) -> DeploymentSpec:
    return DeploymentSpec(
        name=f"{deployment}.{build_id}",
        temporal=TemporalConnection(namespace=namespace),
        task_queues=task_queues,
        deployment=WorkerDeploymentRef(name=deployment, build_id=build_id),
        compute=compute,
    )


def render_endpoint(
    name: str, fields: EndpointRecord, secret_env: Mapping[str, str]
) -> DeploymentSpec:
    """The deployment spec of an endpoint: versioned (a version of the deployment ``name``,
    with its build ID and rollout) when the endpoint has ``versioning``.

    ``secret_env`` values equal to ``REDACTED`` keep the stored secret (the store substitutes it).
    """
    env = dict(fields.env)
    scaler = ScalerSpec(
        type="backlog",
        details={
            "min_count": fields.min_workers,
            "max_count": fields.max_workers,
            "target_per_worker": fields.per_worker,
        },
    )
    if fields.image:
        managed: dict[str, Any] = {
            "image": fields.image,
            "env": env,
            "secret_env": dict(secret_env),
        }
        optional = {
            "cpus": fields.cpus,
            "memory": fields.memory,
            "gpu_type": fields.gpu_type,
            "storage": fields.storage,
        }
        managed.update({key: value for key, value in optional.items() if value is not None})
        if fields.gpus:
            managed["gpus"] = fields.gpus
        if fields.labels:
            managed["labels"] = fields.labels
        if fields.command:
            managed["command"] = fields.command
        provider = ProviderSpec(
            type="k8s",
            details={
                "namespace": fields.k8s_namespace or "default",
                "deployment": name,
                "managed": managed,
            },
        )
    else:
        command = list(fields.command or [])
        provider = ProviderSpec(
            type="subprocess",
            details={
                "command": command[0] if command else "",
                "args": command[1:],
                "env": env,
                "secret_env": dict(secret_env),
                # An endpoint holds a fixed-size set sized by the scaler, so min_workers are
                # really there; workers must not exit on idle (the set would refill them).
                "strategy": "worker-set",
                "idle_exit_s": None,
            },
        )
    compute = ComputeConfig(
        scaling_groups={
            ENDPOINT_GROUP: ScalingGroup(task_queue_types=[], provider=provider, scaler=scaler)
        }
    )
    build_id = endpoint_build_id(fields)
    if build_id is None or fields.versioning is None:
        return DeploymentSpec(
            name=name,
            temporal=TemporalConnection(namespace=fields.temporal_namespace),
            task_queues=[fields.temporal_task_queue],
            deployment=None,
            compute=compute,
        )
    spec = version_spec(
        name, build_id, [fields.temporal_task_queue], compute, fields.temporal_namespace
    )
    return spec.model_copy(update={"rollout": fields.versioning.rollout})


async def provider_checks(
    spec: DeploymentSpec, *, address: str, namespace: str, timeout_s: float = 15.0
) -> list[dict[str, Any]]:
    """Run each group's provider ``validate()`` (e.g. "the command exists")."""
    results: list[dict[str, Any]] = []
    state_dir = Path(tempfile.gettempdir()) / "workerplane-validate"
    for group_id, group in spec.compute.scaling_groups.items():
        entry: dict[str, Any] = {"group_id": group_id, "provider_type": group.provider.type}
        if group.provider.nexus_endpoint:
            # The provider runs where its handler does: the handler checks it when a controller
            # starts the group (docs/nexus-provider.md).
            entry.update(
                ok=True,
                message=f"reached through Nexus endpoint '{group.provider.nexus_endpoint}': "
                "its handler checks the provider when the group starts",
                kind="",
            )
            results.append(entry)
            continue
        try:
            provider = build_provider(
                group.provider.type,
                group.provider.details,
                deployment=spec.name,
                group_id=group_id,
                worker_env=WorkerEnvironment(
                    address=address,
                    namespace=spec.temporal.namespace or namespace,
                    task_queues=tuple(spec.task_queues),
                ),
                state_dir=state_dir,
            )
            check = await asyncio.wait_for(provider.validate(), timeout_s)
            entry.update(ok=check.ok, message=check.message, kind=check.kind)
        except TimeoutError:
            entry.update(ok=False, message="provider check timed out", kind="throttled")
        except Exception as err:  # a provider that cannot even be built fails its check
            entry.update(ok=False, message=str(err) or type(err).__name__, kind="invalid")
        results.append(entry)
    return results
