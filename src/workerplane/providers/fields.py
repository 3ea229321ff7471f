"""Field types and checks shared by the provider details models (pure: pydantic only)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict

from workerplane.config.secret_field import Secret

StrategyName = Literal["invoke", "worker-set"]

#: Names an environment variable may have (Kubernetes' rule, the strictest of the platforms).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@runtime_checkable
class SizesAnObject(Protocol):
    """Details that may name an object outside workerplane whose size a provider sets."""

    def sized_object(self) -> str | None: ...


class ProviderDetails(BaseModel):
    """Base of the details models: unknown keys are rejected and types are checked strictly."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def sized_object(self) -> str | None:
        """The object outside workerplane whose size the group's provider sets (a Deployment, a
        service, a worker pool), named so that two details naming one object give one name;
        ``None`` when the group's workers are its own (processes, invocations)."""
        return None


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


def comma_args(value: Any) -> Any:
    """Temporal's subprocess provider takes ``args`` as ONE comma-separated string; accept it."""
    if isinstance(value, str):
        return [] if value == "" else value.split(",")
    return value


def env_names(value: dict[str, Any]) -> dict[str, Any]:
    """Check every key of an environment mapping is a valid variable name."""
    for name in value:
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
#: Secret environment variables of a worker: stored sealed, shown redacted, passed by reference.
SecretEnv = Annotated[dict[str, Secret], AfterValidator(env_names)]
