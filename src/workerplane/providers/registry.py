"""Every provider type workerplane knows, in one place (pure: no provider code is imported).

One entry per ``provider.type``: its ONE typed ``provider.details`` model, the launch strategies it
supports, whether Temporal's own controller knows the type too, and where its implementation lives
(a ``"module:Class"`` string, imported only by :mod:`workerplane.providers.factory`). Adding a
provider means adding its package (``details.py`` and ``provider.py``) and one line here.

The keys Temporal's own controller (temporalio/temporal-auto-scaled-workers) reads are kept with
the same names and meaning, so a config is portable between a Temporal server and workerplane:

==================  ============================================================================
type                Temporal's keys
==================  ============================================================================
``aws-lambda``      ``arn``, ``role``, ``role_external_id``
``aws-ecs``         ``cluster``, ``service``, ``region``, ``role``, ``role_external_id``
``gcp-cloud-run``   ``project``, ``region``, ``worker_pool``, ``service_account``
``k8s``             ``namespace``, ``deployment``, ``kubeconfig``, ``context``
``subprocess``      ``command``, ``args``
``webhook``         (Temporal: ``url``, ``auth_header``, ``auth_token``; workerplane signs instead)
==================  ============================================================================

Secret keys are typed :data:`~workerplane.config.secret_field.Secret`, so they are sealed,
redacted or revealed by serialization context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workerplane.providers.aws_ecs.details import EcsDetails
from workerplane.providers.aws_lambda.details import LambdaDetails
from workerplane.providers.cloud_run.details import CloudRunDetails
from workerplane.providers.kubernetes.details import K8sDetails
from workerplane.providers.subprocess.details import SubprocessDetails
from workerplane.providers.webhook.details import WebhookDetails
from workerplane.scaling.types import Strategy


@dataclass(frozen=True)
class ProviderType:
    """One provider type.

    Attributes:
        name: the ``provider.type`` string.
        details_model: the typed ``provider.details``.
        strategies: the launch strategies the type supports.
        default_strategy: the strategy used when the details do not choose one.
        implementation: ``"module:Class"`` of the provider; the class offers ``from_context``.
        typical_startup_ms: from a scale-up until a new worker polls, when nothing better is
            known (the ``slo`` scaler learns the real figure; ``validate`` warns with this one).
        temporal_native: whether Temporal's own controller knows this type too.
        reads_worker_reports: whether the provider reads its workers' measurements itself
            (their status files); the workers of the others push them to the API
            (docs/schedule-to-start.md).
        counts_in_flight: whether the provider's census always counts its workers' tasks in
            flight itself (status files, the Lambda census); the others' are counted from the
            workers' heartbeats where they cannot (:mod:`workerplane.planning.worker_beats`).
        reads_workers: whether the provider's census reads its workers' polls and heartbeats
            from Temporal; the controller then gives it its own shared, budgeted reads
            (:class:`~workerplane.providers.base.WorkerReads`).
    """

    name: str
    details_model: type[BaseModel]
    strategies: frozenset[Strategy]
    default_strategy: Strategy
    implementation: str
    typical_startup_ms: int
    temporal_native: bool = True
    reads_worker_reports: bool = False
    counts_in_flight: bool = False
    reads_workers: bool = False


_INVOKE = frozenset({Strategy.INVOKE})
_WORKER_SET = frozenset({Strategy.WORKER_SET})
_BOTH = frozenset({Strategy.INVOKE, Strategy.WORKER_SET})
_PACKAGE = "workerplane.providers"

PROVIDER_TYPES: dict[str, ProviderType] = {
    t.name: t
    for t in (
        ProviderType(
            "subprocess",
            SubprocessDetails,
            _BOTH,
            Strategy.INVOKE,
            f"{_PACKAGE}.subprocess.provider:SubprocessProvider",
            1_000,  # a forked process imports, connects and polls
            reads_worker_reports=True,
            counts_in_flight=True,
        ),
        ProviderType(
            "k8s",
            K8sDetails,
            _WORKER_SET,
            Strategy.WORKER_SET,
            f"{_PACKAGE}.kubernetes.provider:KubernetesProvider",
            15_000,  # schedule, pull (cached), start, connect
        ),
        ProviderType(
            "aws-lambda",
            LambdaDetails,
            _INVOKE,
            Strategy.INVOKE,
            f"{_PACKAGE}.aws_lambda.provider:LambdaProvider",
            2_000,  # a cold start
            counts_in_flight=True,
            reads_workers=True,
        ),
        ProviderType(
            "aws-ecs",
            EcsDetails,
            _WORKER_SET,
            Strategy.WORKER_SET,
            f"{_PACKAGE}.aws_ecs.provider:EcsProvider",
            45_000,  # a Fargate task: provision, pull, start
        ),
        ProviderType(
            "gcp-cloud-run",
            CloudRunDetails,
            _WORKER_SET,
            Strategy.WORKER_SET,
            f"{_PACKAGE}.cloud_run.provider:CloudRunProvider",
            10_000,
        ),
        ProviderType(
            "webhook",
            WebhookDetails,
            _BOTH,
            Strategy.INVOKE,
            f"{_PACKAGE}.webhook.provider:WebhookProvider",
            10_000,  # unknown: whatever the launcher starts
        ),
    )
}


#: The controller's side of any type reached through ``provider.nexus_endpoint``: the type then
#: names what the remote handler wraps (docs/nexus-provider.md).
NEXUS_IMPLEMENTATION = f"{_PACKAGE}.nexus.provider:NexusProvider"


def provider_types() -> list[str]:
    """Every provider type this build knows."""
    return sorted(PROVIDER_TYPES)


def provider_type(name: str) -> ProviderType:
    """The registry entry of ``name``.

    Raises:
        ValueError: unknown provider type (Temporal's message).
    """
    try:
        return PROVIDER_TYPES[name]
    except KeyError:
        raise ValueError(f"invalid compute provider type '{name}'") from None


def parse_provider_details(
    name: str, details: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> BaseModel:
    """Validate ``details`` against the type's model (``context``: the secrets' validation mode).

    Raises:
        ValueError: unknown provider type.
        pydantic.ValidationError: the details break the model's rules.
    """
    model = provider_type(name).details_model
    return model.model_validate(dict(details), context=dict(context) if context else None)


def provider_strategy(name: str, details: Mapping[str, Any] | BaseModel) -> Strategy:
    """The launch strategy a group with this provider uses.

    Providers that support both strategies pick one with their ``strategy`` key; the others have
    exactly one.

    Raises:
        ValueError: unknown provider type, or a ``strategy`` the type does not support.
    """
    ptype = provider_type(name)
    raw = (
        getattr(details, "strategy", None)
        if isinstance(details, BaseModel)
        else details.get("strategy")
    )
    if raw is None:
        return ptype.default_strategy
    try:
        strategy = Strategy(raw)
    except ValueError:
        raise ValueError(f"strategy must be one of 'invoke', 'worker-set', not {raw!r}") from None
    if strategy not in ptype.strategies:
        raise ValueError(f"provider type '{name}' does not support strategy '{raw}'")
    return strategy
