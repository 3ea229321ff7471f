"""``type: subprocess``: workers are local processes started by the controller.

``command`` and ``args`` are Temporal's keys (Temporal takes ``args`` as a comma-separated string;
both that and a list are accepted, and kept as a list). The rest are workerplane's.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from workerplane.providers.fields import (
    NonBlank,
    ProviderDetails,
    SecretEnv,
    StrategyName,
    comma_args,
)
from workerplane.scaling.types import Strategy


class SubprocessDetails(ProviderDetails):
    """The command, its environment, and how workers start and stop."""

    command: NonBlank
    """The program to run (looked up on ``PATH`` when it has no ``/``)."""
    args: Annotated[list[str], BeforeValidator(comma_args)] = Field(default_factory=list)
    """Arguments passed to ``command``."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the worker (added to the ``TEMPORAL_*`` ones)."""
    secret_env: SecretEnv = Field(default_factory=dict)
    """Secret environment variables for the worker (stored encrypted, shown redacted)."""
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
        if self.preload_module is None and self.preload:
            raise ValueError("preload needs args of the form [-m, <module>]")
        return self

    @property
    def preload_module(self) -> str | None:
        """The module a fork server imports once (``preload``, with ``args: [-m, module]``)."""
        if self.preload and len(self.args) == 2 and self.args[0] == "-m":
            return self.args[1]
        return None

    @property
    def launch_strategy(self) -> Strategy:
        """``strategy`` as the scaling core's enum."""
        return Strategy(self.strategy)
