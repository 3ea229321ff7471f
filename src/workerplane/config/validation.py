"""Semantic validation of a deployment spec and its compute config.

Two layers of rules:

1. **Temporal's shared rules**, with Temporal's exact messages (``entry <group>: <reason>``), ported
   from ``WorkerControllerInstanceSpec.Validate`` in temporalio/temporal-auto-scaled-workers
   (``wci/workflow/iface/spec.go``, region-aware version) and the scaler/provider compatibility
   check of its ``ValidateSpec`` activity. Temporal stops at the first error; workerplane reports
   every issue, in a stable order (groups in the order they were written).
2. **Typed details**: ``provider.details`` against the provider type's model
   (:mod:`workerplane.providers.registry`) and ``scaler.details`` against the scaler type's
   model (:mod:`workerplane.scaling.registry`): unknown keys, wrong types and out-of-range values,
   each naming the field.

Everything here is pure: no I/O, no clock. Issues never quote the offending value, so a secret
typed in the wrong place is not echoed back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from workerplane.config.issue_paths import group_path, issues_from_pydantic
from workerplane.config.model import TASK_QUEUE_TYPES, ComputeConfig, DeploymentSpec, ScalingGroup
from workerplane.config.nexus_rules import behind_nexus, nexus_rules
from workerplane.config.proto import payload_envelope_encoding
from workerplane.errors import ValidationIssue
from workerplane.providers.fields import SizesAnObject
from workerplane.providers.registry import PROVIDER_TYPES, provider_strategy
from workerplane.scaling.registry import DEFAULT_SCALER
from workerplane.scaling.types import Strategy

#: Types a catch-all group can serve (Temporal's ``scalableTaskQueueTypes``).
_SCALABLE_TYPES = ("ACTIVITY", "NEXUS", "WORKFLOW")

#: Go's ``TaskQueueType.String()`` names, used verbatim in Temporal's messages.
_GO_NAMES = {"WORKFLOW": "Workflow", "ACTIVITY": "Activity", "NEXUS": "Nexus"}

_REGION_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

#: A scaling group ID becomes a directory name, a Kubernetes label value and part of resource
#: names: letters, digits, ``-``, ``_`` and ``.``, starting and ending with a letter or digit (so
#: never ``.`` or ``..``), at most 63 characters like a DNS label or a label value.
GROUP_ID_MAX_LENGTH = 63
_GROUP_ID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")

#: Temporal's refusal of a scaling group keyed by the empty string.
MISSING_GROUP_ID = ValidationIssue(
    "compute.scaling_groups", "scaling groups without an ID are not supported", None, "group-id"
)


def normalize_task_queue_type(name: str) -> str | None:
    """``WORKFLOW``, ``ACTIVITY`` or ``NEXUS`` for any spelling Temporal accepts, else ``None``.

    Accepted: the bare name in any case (``workflow``), Temporal's proto name
    (``TASK_QUEUE_TYPE_WORKFLOW``) and Go's shorthand (``Workflow``).
    """
    upper = name.strip().upper()
    if upper.startswith("TASK_QUEUE_TYPE_"):
        upper = upper[len("TASK_QUEUE_TYPE_") :]
    return upper if upper in TASK_QUEUE_TYPES else None


# --------------------------------------------------------------------------------------------
# Temporal's shared rules
# --------------------------------------------------------------------------------------------


def _scaler_types() -> Mapping[str, Any]:
    """The scaler registry, imported late so that config stays importable on its own."""
    from workerplane.scaling.registry import SCALER_TYPES

    return SCALER_TYPES


def _lookup_group(
    groups: Mapping[str, ScalingGroup], types_of: Mapping[str, list[str]], tq_type: str, region: str
) -> str:
    """Temporal's ``ScalingGroupKeyForTaskQueueType``: which group serves ``tq_type`` in ``region``.

    Precedence: (lists the region, lists the type) > (lists the region, catch-all) >
    (no regions, lists the type) > (no regions, catch-all).
    """
    for has_regions, has_types in ((True, True), (True, False), (False, True), (False, False)):
        for key, group in groups.items():
            g_types = types_of[key]
            if bool(group.region_ids) != has_regions or bool(g_types) != has_types:
                continue
            region_ok = not group.region_ids or region in group.region_ids
            type_ok = tq_type in g_types or (not g_types and tq_type in _SCALABLE_TYPES)
            if region_ok and type_ok:
                return key
    return ""


def _group_id_issue(key: str) -> ValidationIssue | None:
    """The issue of a scaling group ID that cannot safely name files and resources, if any."""
    if len(key) > GROUP_ID_MAX_LENGTH:
        # Quoting a huge ID in the path would bury the rule: name the map and a prefix instead.
        rule = f"scaling group ID must be at most {GROUP_ID_MAX_LENGTH} characters long"
        return ValidationIssue("compute.scaling_groups", rule, key[:20] + "...", "group-id")
    if not _GROUP_ID.match(key):
        rule = (
            "scaling group ID must contain only letters, digits, '-', '_' and '.', and start "
            "and end with a letter or digit"
        )
        return ValidationIssue(group_path(key), rule, key, "group-id")
    return None


def _shared_rules(cfg: ComputeConfig) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    groups = cfg.scaling_groups
    if not groups:
        return [
            ValidationIssue(
                "compute.scaling_groups", "spec must have at least one entry", None, "no-groups"
            )
        ]
    scaler_types = _scaler_types()
    seen: set[tuple[str, str]] = set()
    seen_catch_all: set[str] = set()
    types_of: dict[str, list[str]] = {}
    for key, group in groups.items():
        base = group_path(key)
        if not key:
            issues.append(MISSING_GROUP_ID)
            continue
        if (id_issue := _group_id_issue(key)) is not None:
            issues.append(id_issue)
            continue
        for i, region in enumerate(group.region_ids):
            if not _REGION_ID.match(region):
                issues.append(
                    ValidationIssue(
                        f"{base}.region_ids[{i}]",
                        f'region id "{region}" must contain only lowercase letters, digits and '
                        "single hyphens, e.g. aws-us-east-1",
                        key,
                        "region-id",
                    )
                )
            elif region in group.region_ids[:i]:
                issues.append(
                    ValidationIssue(
                        f"{base}.region_ids[{i}]",
                        f'region id "{region}" is listed more than once',
                        key,
                        "region-duplicate",
                    )
                )
        regions = list(group.region_ids) or [""]
        if not group.task_queue_types:
            for region in regions:
                if region in seen_catch_all:
                    rule = (
                        "only one scaling group can have no task types defined"
                        if region == ""
                        else f"only one scaling group in region {region} can have no task types "
                        "defined"
                    )
                    issues.append(
                        ValidationIssue(f"{base}.task_queue_types", rule, key, "catch-all")
                    )
                seen_catch_all.add(region)
        normalized: list[str] = []
        for i, raw in enumerate(group.task_queue_types):
            tq_type = normalize_task_queue_type(raw)
            if tq_type is None:
                issues.append(
                    ValidationIssue(
                        f"{base}.task_queue_types[{i}]",
                        "task type undefined not allowed in compute spec",
                        key,
                        "task-type-undefined",
                    )
                )
                continue
            for region in regions:
                if (region, tq_type) in seen:
                    where = "" if region == "" else f" for region {region}"
                    issues.append(
                        ValidationIssue(
                            f"{base}.task_queue_types[{i}]",
                            f"task type {_GO_NAMES[tq_type]} appears in more than one entry{where}",
                            key,
                            "task-type-duplicate",
                        )
                    )
                    break
            for region in regions:
                seen.add((region, tq_type))
            normalized.append(tq_type)
        types_of[key] = normalized
        if group.provider.type not in PROVIDER_TYPES:
            issues.append(
                ValidationIssue(
                    f"{base}.provider.type",
                    f"invalid compute provider type '{group.provider.type}'",
                    key,
                    "provider-type",
                )
            )
        if group.scaler.type and group.scaler.type not in scaler_types:
            issues.append(
                ValidationIssue(
                    f"{base}.scaler.type",
                    f"invalid scaling algorithm type '{group.scaler.type}'",
                    key,
                    "scaler-type",
                )
            )
    if issues:
        return issues
    # A catch-all must serve some task type where it applies (checked after uniqueness, as the
    # lookup relies on it).
    for key, group in groups.items():
        if types_of[key]:
            continue
        regions = list(group.region_ids) or [""]
        if not any(
            _lookup_group(groups, types_of, t, region) == key
            for region in regions
            for t in _SCALABLE_TYPES
        ):
            issues.append(
                ValidationIssue(
                    f"{group_path(key)}.task_queue_types",
                    "catch-all serves no task types; other groups list workflow, activity and "
                    "nexus wherever it applies",
                    key,
                    "catch-all-empty",
                )
            )
    return issues


# --------------------------------------------------------------------------------------------
# typed details
# --------------------------------------------------------------------------------------------


def _encoded(details: Mapping[str, Any], path: str, key: str) -> ValidationIssue | None:
    encoding = payload_envelope_encoding(details)
    if encoding is None:
        return None
    return ValidationIssue(
        path,
        f"details are encoded as '{encoding}'; workerplane can only use json/plain details",
        key,
        "details-encoding",
    )


def _details_rules(key: str, group: ScalingGroup) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    base = group_path(key)
    provider = PROVIDER_TYPES.get(group.provider.type)
    strategy: Strategy | None = None
    if provider is not None:
        path = f"{base}.provider.details"
        encoded = _encoded(group.provider.details, path, key)
        if encoded is not None:
            issues.append(encoded)
        else:
            try:
                details = provider.details_model.model_validate(group.provider.details)
            except ValidationError as exc:
                issues.extend(
                    issues_from_pydantic(
                        exc, path, group=key, model=provider.details_model, code="provider-details"
                    )
                )
            else:
                strategy = provider_strategy(group.provider.type, details)
    scaler_types = _scaler_types()
    scaler_name = group.scaler.type or DEFAULT_SCALER
    scaler = scaler_types.get(scaler_name)
    if scaler is not None:
        path = f"{base}.scaler.details"
        encoded = _encoded(group.scaler.details, path, key)
        if encoded is not None:
            issues.append(encoded)
        else:
            try:
                scaler.details_model.model_validate(group.scaler.details)
            except ValidationError as exc:
                issues.extend(
                    issues_from_pydantic(
                        exc, path, group=key, model=scaler.details_model, code="scaler-details"
                    )
                )
        if strategy is not None and strategy not in scaler.strategies:
            both = provider is not None and len(provider.strategies) > 1
            suffix = f" with strategy '{strategy.value}'" if both else ""
            issues.append(
                ValidationIssue(
                    f"{base}.scaler.type",
                    f"Scaling Algorithm '{scaler_name}' is not compatible with compute provider "
                    f"'{group.provider.type}'{suffix}",
                    key,
                    "strategy-incompatible",
                )
            )
    return issues


def validate_compute_config(cfg: ComputeConfig) -> list[ValidationIssue]:
    """Every issue of a compute config: Temporal's shared rules, then typed details.

    An empty list means the config is valid. Details of a group whose provider or scaler type is
    unknown are not checked (the type issue is reported instead).
    """
    issues = _shared_rules(cfg)
    for key, group in cfg.scaling_groups.items():
        if key:
            issues.extend(behind_nexus(key, group, _details_rules(key, group)))
            issues.extend(nexus_rules(key, group))
    issues.extend(_one_group_per_object(cfg))
    return issues


def _one_group_per_object(cfg: ComputeConfig) -> list[ValidationIssue]:
    """Two groups whose providers set the size of one object (a Deployment, an ECS service, a
    Cloud Run pool) would undo each other's sizes every cycle: the second is refused."""
    issues: list[ValidationIssue] = []
    first: dict[tuple[str, str], str] = {}
    for key, group in cfg.scaling_groups.items():
        provider = PROVIDER_TYPES.get(group.provider.type)
        if not key or provider is None:
            continue
        try:
            details = provider.details_model.model_validate(group.provider.details)
        except (ValidationError, ValueError, TypeError):
            continue  # reported by the details rules
        sized = details.sized_object() if isinstance(details, SizesAnObject) else None
        if sized is None:
            continue
        where = (group.provider.nexus_endpoint, sized)  # a Nexus endpoint runs elsewhere
        if where not in first:
            first[where] = key
            continue
        issues.append(
            ValidationIssue(
                f"{group_path(key)}.provider.details",
                f"names the same {group.provider.type} target as scaling group '{first[where]}': "
                "both groups would set its size; give each group its own",
                key,
                "provider-shared-target",
            )
        )
    return issues


def _text_rules(path: str, value: str, what: str) -> list[ValidationIssue]:
    if not value.strip():
        return [ValidationIssue(path, f"{what} must not be empty", None, "spec")]
    if value != value.strip():
        return [
            ValidationIssue(
                path, f"{what} must not have leading or trailing whitespace", None, "spec"
            )
        ]
    return []


def validate_spec(spec: DeploymentSpec) -> list[ValidationIssue]:
    """Every issue of a deployment spec: its own fields, then its compute config."""
    issues = _text_rules("name", spec.name, "name")
    if not spec.task_queues:
        issues.append(
            ValidationIssue("task_queues", "at least one task queue is required", None, "spec")
        )
    for i, queue in enumerate(spec.task_queues):
        issues.extend(_text_rules(f"task_queues[{i}]", queue, "task queue name"))
        if queue and queue in spec.task_queues[:i]:
            issues.append(
                ValidationIssue(
                    f"task_queues[{i}]",
                    f"task queue '{queue}' is listed more than once",
                    None,
                    "spec",
                )
            )
    if spec.deployment is not None:
        issues.extend(_text_rules("deployment.name", spec.deployment.name, "deployment name"))
        issues.extend(_text_rules("deployment.build_id", spec.deployment.build_id, "build ID"))
    issues.extend(validate_compute_config(spec.compute))
    return issues


def with_line(issue: ValidationIssue, line: int | None) -> ValidationIssue:
    """A copy of ``issue`` located at ``line``."""
    return replace(issue, line=line)
