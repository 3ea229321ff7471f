"""``type: webhook``: scaling decisions are POSTed, signed, to a launcher the user runs.

(Temporal's webhook provider authenticates with ``auth_header``/``auth_token``; workerplane signs
every request with HMAC-SHA256 instead, so it needs ``secret``.)
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from workerplane.config.secret_field import Secret
from workerplane.providers.fields import HttpUrl, ProviderDetails, StrategyName
from workerplane.scaling.types import Strategy


class WebhookDetails(ProviderDetails):
    """The receiver, its shared key, and how to talk to it."""

    url: HttpUrl
    secret: Secret
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

    @property
    def launch_strategy(self) -> Strategy:
        """``strategy`` as the scaling core's enum."""
        return Strategy(self.strategy)
