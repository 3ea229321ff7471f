"""Typed ``provider.details`` per provider type, and the provider type registry.

In Temporal's ``compute.v1`` shape, ``provider.details`` is a free-form JSON object carried in a
``Payload``. Each provider type gives it a fixed set of keys; the keys Temporal's own controller
(temporalio/temporal-auto-scaled-workers) reads are kept with the same names and meaning so that a
config is portable between a Temporal server and workerplane:

==================  ============================================================================
type                Temporal's keys
==================  ============================================================================
``aws-lambda``      ``arn``, ``role``, ``role_external_id``
``aws-ecs``         ``cluster``, ``service``, ``region``, ``role``, ``role_external_id``
``gcp-cloud-run``   ``project``, ``region``, ``worker_pool``, ``service_account``
``k8s``             ``namespace``, ``deployment``, ``kubeconfig``, ``context``
``subprocess``      ``command``, ``args``
``webhook``         (Temporal: ``url``, ``auth_header``, ``auth_token``; workerplane: ``url``,
                    ``secret``, see :class:`WebhookDetails`)
==================  ============================================================================

workerplane adds optional keys of its own (documented per model). Every model forbids unknown
keys, checks types strictly (a string is not silently turned into a number) and checks ranges.

Secret keys (``role_external_id``, the static AWS keys, ``kubeconfig``, the webhook's ``secret``)
are typed :class:`~pydantic.SecretStr`, so they never show up in a ``repr`` or a log line;
:func:`secret_fields` lists them so that the API can redact or encrypt them.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from workerplane.scaling.types import Strategy

StrategyName = Literal["invoke", "worker-set"]


class ProviderDetails(BaseModel):
    """Base of every details model: unknown keys are rejected and types are checked strictly."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _comma_args(value: Any) -> Any:
    """Temporal's subprocess provider takes ``args`` as ONE comma-separated string; accept it."""
    if isinstance(value, str):
        return [] if value == "" else value.split(",")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]

_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[\w$-]+)?$"
)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def _lambda_function(value: str) -> str:
    # A full ARN as Temporal requires, or a bare function name (what local emulators expose).
    if value.startswith("arn:"):
        if not _LAMBDA_ARN.match(value):
            raise ValueError(
                "must be a Lambda function ARN "
                "(arn:aws:lambda:<region>:<account>:function:<name>) or a function name"
            )
    elif not re.fullmatch(r"[A-Za-z0-9_-]{1,140}", value):
        raise ValueError("must be a Lambda function ARN or a function name")
    return value


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.match(value):
        raise ValueError("must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return value


def _aws_region(value: str) -> str:
    if not _AWS_REGION.match(value):
        raise ValueError("must be an AWS region such as us-east-1")
    return value


RoleArn = Annotated[str, AfterValidator(_role_arn)]
AwsRegion = Annotated[str, AfterValidator(_aws_region)]


class SubprocessDetails(ProviderDetails):
    """``type: subprocess``: workers are local processes started by the controller.

    ``command`` and ``args`` are Temporal's keys (Temporal takes ``args`` as a comma-separated
    string; both that and a list are accepted, and kept as a list). The rest are workerplane's.
    """

    command: NonBlank
    """The program to run (looked up on ``PATH`` when it has no ``/``)."""
    args: Annotated[list[str], BeforeValidator(_comma_args)] = Field(default_factory=list)
    """Arguments passed to ``command``."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the worker (added to the ``TEMPORAL_*`` ones)."""
    cwd: str | None = None
    """Working directory of the worker; the controller's own when unset."""
    strategy: StrategyName = "invoke"
    """``invoke``: start one more worker per scale-up, workers leave by themselves;
    ``worker-set``: hold exactly N workers."""
    grace_period_s: float = Field(default=30.0, gt=0, le=86_400)
    """On scale-down, time between SIGTERM and SIGKILL."""
    idle_exit_s: float | None = Field(default=10.0, gt=0)
    """An idle worker (nothing in flight, nothing received) exits by itself after this long;
    ``null`` disables idle exit."""
    max_lifetime_s: float | None = Field(default=None, gt=0)
    """A worker exits (gracefully) after this long, whatever it is doing; ``null``: no limit."""
    slots: int | None = Field(default=None, ge=1, le=10_000)
    """Concurrent task slots per worker (``max_concurrent_activities``/``workflow_tasks``)."""
    preload: bool = False
    """Start workers by forking a server that imported the worker module once (needs
    ``args: [-m, <module>]``): much less CPU per worker start than a fresh interpreter."""

    @model_validator(mode="after")
    def _lifetime_after_idle(self) -> SubprocessDetails:
        if (
            self.max_lifetime_s is not None
            and self.idle_exit_s is not None
            and self.max_lifetime_s < self.idle_exit_s
        ):
            raise ValueError("max_lifetime_s must be >= idle_exit_s")
        if self.preload and not (len(self.args) == 2 and self.args[0] == "-m"):
            raise ValueError("preload needs args of the form [-m, <module>]")
        return self


class KubernetesDetails(ProviderDetails):
    """``type: k8s`` (user-owned mode only): the pods of an existing Deployment, scaled via its
    ``scale`` subresource.

    All keys are Temporal's. ``kubeconfig`` is the kubeconfig CONTENT (as in Temporal), not a
    path; when unset, the in-cluster service account is used. This model is the fallback used
    when the Kubernetes provider's own model (``workerplane.providers.kubernetes.spec.K8sDetails``,
    which adds the optional ``managed`` block) is not available.
    """

    namespace: NonBlank = "default"
    deployment: NonBlank
    kubeconfig: SecretStr | None = None
    context: str | None = None


class _AwsAccess(ProviderDetails):
    """How to reach AWS: shared by ``aws-lambda`` and ``aws-ecs``.

    ``role`` and ``role_external_id`` are Temporal's keys (Temporal's server requires both;
    workerplane does not, so that local emulators work without IAM). Static keys are for
    emulators and tests; in production prefer the ambient credentials plus ``role``.
    """

    region: AwsRegion | None = None
    """Defaults to the region in a Lambda ARN, then to the AWS SDK's default region."""
    endpoint_url: HttpUrl | None = None
    """A custom AWS endpoint (a local emulator, moto)."""
    role: RoleArn | None = None
    """IAM role to assume before every call."""
    role_external_id: SecretStr | None = None
    """``ExternalId`` for ``sts:AssumeRole`` (the trust policy's confused-deputy guard)."""
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    max_attempts: int = Field(default=6, ge=1, le=100)
    """Tries per AWS call, the first included (throttling and 5xx are retried with backoff)."""

    @model_validator(mode="after")
    def _pairs(self) -> _AwsAccess:
        if self.role_external_id is not None and self.role is None:
            raise ValueError("role_external_id requires role")
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("aws_access_key_id and aws_secret_access_key must be set together")
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            raise ValueError("aws_session_token requires aws_access_key_id")
        return self


class LambdaDetails(_AwsAccess):
    """``type: aws-lambda``: each scale-up invokes the function asynchronously (``Event``)."""

    arn: Annotated[str, AfterValidator(_lambda_function)]
    """The function: Temporal's key; a full ARN, or a bare name for local emulators."""
    max_concurrency: int | None = Field(default=None, ge=1, le=100_000)
    """At most this many invocations counted as running for this group."""
    worker_ttl_s: float | None = Field(default=None, gt=0, le=86_400)
    """How long an invoked worker is counted as running; the function's timeout when unset."""
    include_secrets: bool = False
    """Put the Temporal API key / TLS data in the invocation event (off: the function has its
    own)."""
    check_function: bool = True
    """Call ``GetFunction`` when validating; turn off for emulators that serve only the Invoke
    API (serverless-offline)."""


class EcsDetails(_AwsAccess):
    """``type: aws-ecs``: workers are the tasks of an ECS service; scaling sets ``desiredCount``."""

    cluster: NonBlank
    service: NonBlank


class CloudRunDetails(ProviderDetails):
    """``type: gcp-cloud-run``: a Cloud Run worker pool; scaling sets ``manualInstanceCount``."""

    project: NonBlank
    region: NonBlank
    worker_pool: NonBlank
    service_account: str | None = None
    """Service account to impersonate; the ambient credentials when unset."""
    api_endpoint: HttpUrl | None = None
    """A different Cloud Run API host (a regional endpoint, or a local test server)."""
    credentials_file: str | None = None
    """A service-account key file; Application Default Credentials when unset."""
    anonymous: bool = False
    """Send no credentials (only for a local test server behind ``api_endpoint``)."""
    operation_timeout_s: float = Field(default=300.0, gt=0, le=3_600)
    """How long a scale change may take to roll out (the long-running operation)."""
    max_attempts: int = Field(default=6, ge=1, le=100)
    """Tries per API call, the first included (429 and 5xx are retried with backoff)."""


class WebhookDetails(ProviderDetails):
    """``type: webhook``: scaling decisions are POSTed, signed, to a launcher the user runs.

    (Temporal's webhook provider authenticates with ``auth_header``/``auth_token``; workerplane
    signs every request with HMAC-SHA256 instead, so it needs ``secret``.)
    """

    url: HttpUrl
    secret: SecretStr
    """The shared HMAC-SHA256 key the receiver verifies the signature with."""
    strategy: StrategyName = "invoke"
    """``invoke``: ask for K more workers; ``worker-set``: ask to hold N."""
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    """Per-request timeout."""
    max_attempts: int = Field(default=6, ge=1, le=100)
    """Tries per request, the first included."""
    worker_ttl_s: float = Field(default=600.0, gt=0, le=86_400)
    """Invoke strategy: how long a started worker is counted as running."""
    validate_ping: bool = True
    """Whether validating the provider sends a ``validate`` request to the receiver."""

    @field_validator("secret")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


def _kubernetes_model() -> type[BaseModel]:
    # The Kubernetes provider owns the full model (with the managed-mode block); fall back to
    # the user-owned keys when it is not installed in this build.
    try:
        from workerplane.providers.kubernetes.spec import K8sDetails
    except ImportError:
        return KubernetesDetails
    return K8sDetails


@dataclass(frozen=True)
class ProviderType:
    """One provider type workerplane knows.

    Attributes:
        name: the ``provider.type`` string.
        details_model: the typed ``provider.details``.
        strategies: the launch strategies the type supports.
        default_strategy: the strategy used when the details do not choose one.
        temporal_native: whether Temporal's own controller knows this type too.
    """

    name: str
    details_model: type[BaseModel]
    strategies: frozenset[Strategy]
    default_strategy: Strategy
    temporal_native: bool = True


_INVOKE = frozenset({Strategy.INVOKE})
_WORKER_SET = frozenset({Strategy.WORKER_SET})
_BOTH = frozenset({Strategy.INVOKE, Strategy.WORKER_SET})

PROVIDER_TYPES: dict[str, ProviderType] = {
    t.name: t
    for t in (
        ProviderType("subprocess", SubprocessDetails, _BOTH, Strategy.INVOKE),
        ProviderType("k8s", _kubernetes_model(), _WORKER_SET, Strategy.WORKER_SET),
        ProviderType("aws-lambda", LambdaDetails, _INVOKE, Strategy.INVOKE),
        ProviderType("aws-ecs", EcsDetails, _WORKER_SET, Strategy.WORKER_SET),
        ProviderType("gcp-cloud-run", CloudRunDetails, _WORKER_SET, Strategy.WORKER_SET),
        ProviderType("webhook", WebhookDetails, _BOTH, Strategy.INVOKE),
    )
}


def parse_provider_details(provider_type: str, details: Mapping[str, Any]) -> BaseModel:
    """Validate ``details`` against the type's model.

    Raises:
        KeyError: unknown provider type.
        pydantic.ValidationError: the details break the model's rules.
    """
    return PROVIDER_TYPES[provider_type].details_model.model_validate(dict(details))


def provider_strategy(provider_type: str, details: Mapping[str, Any] | BaseModel) -> Strategy:
    """The launch strategy a group with this provider uses.

    Providers that support both strategies pick one with their ``strategy`` key; the others have
    exactly one.

    Raises:
        ValueError: unknown provider type, or a ``strategy`` the type does not support.
    """
    try:
        ptype = PROVIDER_TYPES[provider_type]
    except KeyError:
        raise ValueError(f"invalid compute provider type '{provider_type}'") from None
    raw = (
        details.strategy
        if isinstance(details, BaseModel) and hasattr(details, "strategy")
        else (details.get("strategy") if isinstance(details, Mapping) else None)
    )
    if raw is None:
        return ptype.default_strategy
    try:
        strategy = Strategy(raw)
    except ValueError:
        raise ValueError(f"strategy must be one of 'invoke', 'worker-set', not {raw!r}") from None
    if strategy not in ptype.strategies:
        raise ValueError(f"provider type '{provider_type}' does not support strategy '{raw}'")
    return strategy


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_is_secret(arg) for arg in typing.get_args(annotation))
    return False


def secret_fields(provider_type: str) -> set[str]:
    """The detail keys of ``provider_type`` that hold secrets (empty for an unknown type)."""
    ptype = PROVIDER_TYPES.get(provider_type)
    if ptype is None:
        return set()
    return {
        name
        for name, info in ptype.details_model.model_fields.items()
        if _is_secret(info.annotation)
    }


def redact_details(provider_type: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``details`` with every secret value replaced by ``"**********"``."""
    hidden = secret_fields(provider_type)
    return {k: ("**********" if k in hidden and v is not None else v) for k, v in details.items()}
