"""Warnings about a valid spec: settings that work, but cannot give what they ask for.

Unlike :mod:`workerplane.config.validation`, nothing here makes a spec invalid: the user may know
better (a warm pool kept some other way, a startup faster than the default assumption). Today the
one warning is an ``slo`` scaler whose SLO is below what a task can get when no worker runs
(:mod:`workerplane.scaling.slo_floor`).
"""

from __future__ import annotations

from workerplane.config.issue_paths import group_path
from workerplane.config.model import DeploymentSpec
from workerplane.errors import ValidationIssue
from workerplane.providers.registry import provider_strategy, provider_type
from workerplane.scaling.registry import DEFAULT_SCALER, ScalerConfigError, validate_details
from workerplane.scaling.slo_floor import slo_below_reachable
from workerplane.scaling.slo_model import SloDetails


def spec_warnings(spec: DeploymentSpec) -> list[ValidationIssue]:
    """Every warning of a spec that :func:`~workerplane.config.validation.validate_spec` accepts.

    The controller reads the uncached backlog hint only for unversioned queues
    (docs/temporal-signals.md), so a versioned group's floor includes the server's stats cache.
    """
    warnings: list[ValidationIssue] = []
    for group_id, group in spec.compute.scaling_groups.items():
        if (group.scaler.type or DEFAULT_SCALER) != "slo":
            continue
        try:
            details = validate_details("slo", group.scaler.details)
            strategy = provider_strategy(group.provider.type, group.provider.details)
        except (ScalerConfigError, ValueError):
            continue  # invalid: validation reports it
        assert isinstance(details, SloDetails)
        issue = slo_below_reachable(
            details,
            strategy,
            path=f"{group_path(group_id)}.scaler.details.schedule_to_start_slo_ms",
            fresh_signals=spec.deployment is None,
            default_startup_ms=provider_type(group.provider.type).typical_startup_ms,
        )
        if issue is not None:
            warnings.append(
                ValidationIssue(issue.path, issue.rule, group_id, issue.code, issue.line)
            )
    return warnings
