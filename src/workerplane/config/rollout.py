"""How a new build of a versioned deployment replaces the old one: the ``rollout`` section.

The strategies follow temporal-worker-controller's (``AllAtOnce``, ``Progressive``, ``Manual``),
for every provider::

    rollout:
      strategy: progressive          # all-at-once | progressive | manual
      steps:                         # progressive only: ramp of new workflows, then a pause
        - {ramp_percentage: 10, pause: 60s}
        - {ramp_percentage: 50, pause: 5m}
      gate:                          # optional: must complete on the new version first
        workflow_type: SmokeTest
        task_queue: orders           # default: the deployment's first task queue
        input: {}                    # one JSON argument, or none
        timeout: 5m
      sunset:
        idle_cooldown: 30s           # a draining version's groups go to zero after this long idle
        scale_down_delay: 1h         # after Temporal reports the old version drained
        delete_delay: 24h            # after it reached zero: delete its resources and record

Durations are a number of seconds or a string with a unit (``90s``, ``5m``, ``1h``, ``1h30m``).
Everything here is pure: the models check structure and ranges, nothing else.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

#: ``rollout.sunset.idle_cooldown`` when the spec does not set it, in seconds.
DEFAULT_IDLE_COOLDOWN_S = 30.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """Seconds from ``90``, ``90.5``, ``"90s"``, ``"5m"``, ``"1h30m"``; other values pass on
    unchanged so pydantic names the field and the type it wanted. ``true``/``false`` are
    refused here (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("must be a duration: seconds, or a number with a unit ms, s, m, h or d")
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if not text:
        raise ValueError("a duration such as 30s, 5m or 1h is required")
    try:
        return float(text)
    except ValueError:
        pass
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError("must be a duration: seconds, or a number with a unit ms, s, m, h or d")
    return total


#: Seconds, written as a number or a string with a unit; never negative.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(ge=0),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RolloutStrategy(StrEnum):
    """How routing moves to a new version (temporal-worker-controller's names in brackets)."""

    ALL_AT_ONCE = "all-at-once"  # AllAtOnce: current once its minimum is polling
    PROGRESSIVE = "progressive"  # Progressive: ramp steps through Temporal's ramping version
    MANUAL = "manual"  # Manual: nothing moves until a user says so


class RolloutStep(_Strict):
    """One progressive step: ramp this share of new workflows to the new version, then wait."""

    ramp_percentage: float = Field(gt=0, lt=100)
    pause: Duration = 0.0


class RolloutGate(_Strict):
    """A workflow that must complete on the new version before the rollout starts or moves on.

    It runs pinned to the new version; a failure, a timeout or a cancel stops the rollout.
    """

    workflow_type: str = Field(min_length=1)
    task_queue: str | None = None
    input: Any = None
    timeout: Duration = 300.0


class SunsetPolicy(_Strict):
    """What happens to a version once it stops being current, and once Temporal reports it
    drained (no pinned workflow left open).

    ``idle_cooldown`` is how long a draining version's groups must have had no task waiting or
    running before they go to zero (KEDA's ``cooldownPeriod``). A pinned workflow's tasks come
    one after another: the activity a workflow task schedules lands a moment after that task
    completes, so a worker retired the instant its queue looks empty can be matched that task as
    it leaves, and the task then waits out its timeout before it runs again.
    """

    idle_cooldown: Duration = DEFAULT_IDLE_COOLDOWN_S
    scale_down_delay: Duration = 3600.0
    delete_delay: Duration = 86400.0


class RolloutSpec(_Strict):
    """The ``rollout`` section of a deployment spec (only meaningful for versioned workers)."""

    strategy: RolloutStrategy = RolloutStrategy.ALL_AT_ONCE
    steps: list[RolloutStep] = Field(default_factory=list)
    gate: RolloutGate | None = None
    sunset: SunsetPolicy = Field(default_factory=SunsetPolicy)

    @model_validator(mode="after")
    def _steps_fit_the_strategy(self) -> RolloutSpec:
        if self.strategy is RolloutStrategy.PROGRESSIVE and not self.steps:
            raise ValueError("steps: a progressive rollout needs at least one step")
        if self.strategy is not RolloutStrategy.PROGRESSIVE and self.steps:
            raise ValueError(f"steps: only a progressive rollout has steps, not {self.strategy}")
        ramps = [step.ramp_percentage for step in self.steps]
        if ramps != sorted(set(ramps)):
            raise ValueError("steps: ramp_percentage must increase from one step to the next")
        return self
