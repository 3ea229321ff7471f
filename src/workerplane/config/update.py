"""Apply per-group updates and removals to a compute config, with Temporal's semantics.

This is ``UpdateWorkerDeploymentVersionComputeConfig`` as Temporal's server applies it
(``buildUpdatedComputeConfig``/``applyFieldMask`` in temporalio/temporal's ``workerdeployment``):

* a group that does not exist yet is added whole; its mask is ignored;
* an existing group with an EMPTY mask is left unchanged (a no-op, not a replacement);
* an existing group with a mask gets exactly the masked fields copied from the update, and a
  masked field that is empty in the update is cleared;
* accepted paths: ``task_queue_types``, ``region_ids``, ``provider``, ``provider.type``,
  ``provider.details``, ``provider.nexus_endpoint``, ``scaler``, ``scaler.type``,
  ``scaler.details``; any other path fails the whole update with
  ``unsupported field mask path: "<path>"``;
* upserts are applied first (in group-ID order), removals last, so a group both updated and
  removed is removed; removing a group that does not exist is not an error.

The function is pure and all-or-nothing: it builds a new config and either returns it or raises,
never leaving a half-applied result behind. By default the result must also pass
:func:`workerplane.config.validation.validate_compute_config` (Temporal validates the resulting
spec as well).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workerplane.config.issue_paths import group_path
from workerplane.config.model import ComputeConfig, ScalingGroup
from workerplane.config.proto import ScalingGroupUpdate
from workerplane.config.validation import MISSING_GROUP_ID, validate_compute_config
from workerplane.errors import ValidationIssue

ACCEPTED_PATHS: tuple[str, ...] = (
    "task_queue_types",
    "region_ids",
    "provider",
    "provider.type",
    "provider.details",
    "provider.nexus_endpoint",
    "scaler",
    "scaler.type",
    "scaler.details",
)

__all__ = [
    "ACCEPTED_PATHS",
    "ScalingGroupUpdate",
    "UpdateError",
    "apply_compute_config_update",
    "apply_field_mask",
]


class UpdateError(ValueError):
    """An update that cannot be applied. ``issues`` lists what is wrong (at least one)."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues = list(issues)
        super().__init__("; ".join(issue.message for issue in self.issues))


def apply_field_mask(dst: ScalingGroup, src: ScalingGroup, paths: Sequence[str]) -> ScalingGroup:
    """Copy the fields named by ``paths`` from ``src`` onto ``dst`` (Temporal's ``applyFieldMask``).

    Raises:
        UpdateError: a path outside :data:`ACCEPTED_PATHS`.
    """
    bad = [p for p in paths if p not in ACCEPTED_PATHS]
    if bad:
        raise UpdateError(
            [
                ValidationIssue("update_mask", f'unsupported field mask path: "{p}"', None, "mask")
                for p in bad
            ]
        )
    changes: dict[str, Any] = {}
    provider: dict[str, Any] = {}
    scaler: dict[str, Any] = {}
    for path in paths:
        if path == "task_queue_types":
            changes["task_queue_types"] = list(src.task_queue_types)
        elif path == "region_ids":
            changes["region_ids"] = list(src.region_ids)
        elif path == "provider":
            provider = {
                "type": src.provider.type,
                "details": dict(src.provider.details),
                "nexus_endpoint": src.provider.nexus_endpoint,
            }
        elif path == "provider.type":
            provider["type"] = src.provider.type
        elif path == "provider.details":
            provider["details"] = dict(src.provider.details)
        elif path == "provider.nexus_endpoint":
            provider["nexus_endpoint"] = src.provider.nexus_endpoint
        elif path == "scaler":
            scaler = {"type": src.scaler.type, "details": dict(src.scaler.details)}
        elif path == "scaler.type":
            scaler["type"] = src.scaler.type
        elif path == "scaler.details":
            scaler["details"] = dict(src.scaler.details)
    if provider:
        changes["provider"] = dst.provider.model_copy(update=provider)
    if scaler:
        changes["scaler"] = dst.scaler.model_copy(update=scaler)
    # model_copy skips validation; re-validate so the result is a well-formed model.
    return ScalingGroup.model_validate({**dst.model_dump(), **_dumped(changes)})


def _dumped(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in changes.items()}


def apply_compute_config_update(
    current: ComputeConfig,
    upserts: Mapping[str, ScalingGroupUpdate],
    remove: Sequence[str] = (),
    *,
    validate: bool = True,
) -> ComputeConfig:
    """The config that results from applying ``upserts`` then ``remove`` to ``current``.

    Args:
        current: the config before the update (not modified).
        upserts: group ID -> update (``compute_config_scaling_groups`` of the request).
        remove: group IDs to remove (``remove_compute_config_scaling_groups``).
        validate: also require the resulting config to be valid.

    Raises:
        UpdateError: an invalid mask path, a group without an ID, or (with ``validate``) a
            resulting config that breaks a rule. Nothing is applied in that case.
    """
    problems: list[ValidationIssue] = []
    groups: dict[str, ScalingGroup] = dict(current.scaling_groups)
    for key in sorted(upserts):
        update = upserts[key]
        if not key:
            problems.append(MISSING_GROUP_ID)
            continue
        existing = groups.get(key)
        if existing is None:
            groups[key] = update.scaling_group
        elif update.update_mask:
            try:
                groups[key] = apply_field_mask(existing, update.scaling_group, update.update_mask)
            except UpdateError as exc:
                problems.extend(
                    ValidationIssue(f"{group_path(key)}.update_mask", i.rule, key, i.code)
                    for i in exc.issues
                )
    if problems:
        raise UpdateError(problems)
    for key in remove:
        groups.pop(key, None)
    result = ComputeConfig(scaling_groups=groups)
    if validate:
        issues = validate_compute_config(result)
        if issues:
            raise UpdateError(issues)
    return result
