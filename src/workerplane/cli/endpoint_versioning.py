"""An endpoint's ``versioning`` from the CLI's options (docs/api.md, "Versioned endpoints"):
``--versioning auto|BUILD_ID``, and its rollout as ``--rollout STRATEGY`` with
``--rollout-step RAMP:PAUSE`` or as a ``--rollout-file``.

The values' rules are the API's (a 400 names ``versioning.build_id``,
``versioning.rollout.steps``...); this module only refuses what the options themselves get
wrong, each message naming the option and the field it sets, and exits 2 like a usage error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import yaml

from workerplane.cli.api_client import fail
from workerplane.config.rollout import RolloutStrategy

VersioningOpt = typer.Option(
    None,
    "--versioning",
    help="versioning.build_id: 'auto' (a hash of what defines the workers) or an explicit build "
    "ID; the workers poll as versioned workers and a new build is rolled out.",
)
RolloutOpt = typer.Option(
    None,
    "--rollout",
    help="versioning.rollout.strategy: all-at-once, progressive or manual "
    "(progressive when only --rollout-step is given).",
)
RolloutStepOpt = typer.Option(
    [],
    "--rollout-step",
    help="versioning.rollout.steps: RAMP:PAUSE, e.g. 10:60s (repeatable, in order).",
)
RolloutFileOpt = typer.Option(
    None,
    "--rollout-file",
    help="A YAML or JSON file: the versioning.rollout section (strategy, steps, gate, sunset).",
)

_STRATEGIES = ", ".join(strategy.value for strategy in RolloutStrategy)


@dataclass(frozen=True)
class VersioningOptions:
    """What the user gave of ``versioning`` (``None``: not given)."""

    build_id: str | None
    rollout: dict[str, Any] | None

    @property
    def given(self) -> bool:
        return self.build_id is not None or self.rollout is not None

    def for_create(self) -> dict[str, Any] | None:
        """The ``versioning`` of a new endpoint: ``--versioning`` is what opts it in."""
        if self.build_id is None:
            if self.rollout is not None:
                fail(
                    "error: --rollout, --rollout-step and --rollout-file set versioning.rollout: "
                    "give --versioning auto (or a build ID) as well",
                    code=2,
                )
            return None
        return self.merged_with(None)

    def merged_with(self, current: dict[str, Any] | None) -> dict[str, Any]:
        """The whole ``versioning`` to send: what was given, the rest from ``current`` (the
        endpoint's), since an update replaces ``versioning`` as a whole."""
        current = current or {}
        versioning = {"build_id": self.build_id or current.get("build_id", "auto")}
        rollout = self.rollout if self.rollout is not None else current.get("rollout")
        if rollout is not None:
            versioning["rollout"] = rollout
        return versioning


def versioning_options(
    build_id: str | None, strategy: str | None, steps: list[str], rollout_file: Path | None
) -> VersioningOptions:
    """The options as :class:`VersioningOptions`; exit 2 naming the option on a malformed one."""
    if rollout_file is not None and (strategy is not None or steps):
        fail("error: give --rollout-file or --rollout/--rollout-step, not both", code=2)
    if rollout_file is not None:
        return VersioningOptions(build_id, _rollout_from_file(rollout_file))
    if strategy is None and not steps:
        return VersioningOptions(build_id, None)
    if strategy is not None and strategy not in {s.value for s in RolloutStrategy}:
        fail(
            f"error: --rollout (versioning.rollout.strategy) must be one of {_STRATEGIES}; "
            f"got {strategy!r}",
            code=2,
        )
    rollout: dict[str, Any] = {"strategy": strategy or RolloutStrategy.PROGRESSIVE.value}
    if steps:
        rollout["steps"] = [_step(index, step) for index, step in enumerate(steps)]
    return VersioningOptions(build_id, rollout)


def _step(index: int, text: str) -> dict[str, Any]:
    """``RAMP:PAUSE`` (``PAUSE`` optional) as a step; the pause's format is the API's."""
    ramp, _, pause = text.partition(":")
    try:
        ramp_percentage = float(ramp)
    except ValueError:
        fail(
            f"error: --rollout-step (versioning.rollout.steps.{index}) must be RAMP:PAUSE with "
            f"RAMP a percentage, e.g. 10:60s; got {text!r}",
            code=2,
        )
    step: dict[str, Any] = {"ramp_percentage": ramp_percentage}
    if pause:
        step["pause"] = pause
    return step


def _rollout_from_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as err:
        fail(f"error: --rollout-file {path}: {err.strerror or err}", code=2)
    except yaml.YAMLError as err:
        fail(f"error: --rollout-file {path} is neither YAML nor JSON: {err}", code=2)
    if not isinstance(loaded, dict):
        fail(
            f"error: --rollout-file {path} must hold the versioning.rollout section, a mapping "
            f"(strategy, steps, gate, sunset); it holds "
            f"{'nothing' if loaded is None else type(loaded).__name__}",
            code=2,
        )
    return loaded
