"""The rules of a scaling group behind a Nexus endpoint (``provider.nexus_endpoint``,
docs/nexus-provider.md): the endpoint's name as Temporal accepts it, and what the spec's
``provider.details`` still needs although the team's handler pins its own.

Pure, like the rest of :mod:`workerplane.config.validation`; issues never quote the value.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import ValidationError

from workerplane.config.issue_paths import group_path
from workerplane.config.model import ScalingGroup
from workerplane.config.secrets import details_secret_paths
from workerplane.errors import ValidationIssue
from workerplane.providers.registry import PROVIDER_TYPES

#: Temporal's limit on a Nexus endpoint's name.
NEXUS_ENDPOINT_MAX_LENGTH = 200
_ENDPOINT_CHARACTERS = re.compile(r"^[A-Za-z0-9_-]*$")
_ENDPOINT_RULE = (
    "a letter first, then letters, digits, '-' and '_', ending with a letter or digit, "
    f"at most {NEXUS_ENDPOINT_MAX_LENGTH} characters"
)
#: What a required details key of a Nexus group is for, said where it is missing.
REQUIRED_BEHIND_NEXUS = (
    "is required in the spec even when the handler's provider file pins it (the file's value "
    "wins; docs/nexus-provider.md#limits)"
)


def _endpoint_name_problem(name: str) -> str | None:
    """Which of Temporal's rules the endpoint name ``name`` breaks first (``None``: none)."""
    if len(name) > NEXUS_ENDPOINT_MAX_LENGTH:
        return f"it has {len(name)} characters"
    if not _ENDPOINT_CHARACTERS.match(name):
        return "it holds a character other than a letter, a digit, '-' or '_'"
    if not (name[0].isascii() and name[0].isalpha()):
        return "it does not start with a letter"
    if not name[-1].isalnum():
        return "it does not end with a letter or digit"
    return None


#: Why a secret may not be set in the spec of a group behind a Nexus endpoint.
SECRET_BEHIND_NEXUS = (
    "a secret cannot be sent through a Nexus endpoint: the details travel in the operation's "
    "input, which Temporal keeps in the caller workflow's history; pin it in the handler's "
    "provider file instead (docs/nexus-provider.md#limits)"
)


def nexus_rules(key: str, group: ScalingGroup) -> list[ValidationIssue]:
    """The endpoint name's issue and every secret set in the details (a group without an
    endpoint has none)."""
    endpoint = group.provider.nexus_endpoint
    if not endpoint:
        return []
    issues: list[ValidationIssue] = []
    problem = _endpoint_name_problem(endpoint)
    if problem is not None:
        issues.append(
            ValidationIssue(
                f"{group_path(key)}.provider.nexus_endpoint",
                f"invalid Nexus endpoint name: {problem} (Temporal's rule: {_ENDPOINT_RULE})",
                key,
                "nexus-endpoint",
            )
        )
    try:
        secrets = details_secret_paths(group.provider.type, group.provider.details)
    except ValidationError:
        secrets = []  # invalid details: the details rules report them
    details_path = f"{group_path(key)}.provider.details"
    issues.extend(
        ValidationIssue(
            ".".join([details_path, *map(str, path)]), SECRET_BEHIND_NEXUS, key, "nexus-secret"
        )
        for path, _ in secrets
    )
    return issues


def behind_nexus(
    key: str, group: ScalingGroup, issues: list[ValidationIssue]
) -> list[ValidationIssue]:
    """``issues`` of the group's details, a missing required key explained for a group behind
    a Nexus endpoint: its team may think the handler's pinned value is enough."""
    provider = PROVIDER_TYPES.get(group.provider.type)
    if not group.provider.nexus_endpoint or provider is None:
        return issues
    details_path = f"{group_path(key)}.provider.details."
    missing = {
        details_path + name
        for name, field in provider.details_model.model_fields.items()
        if field.is_required() and name not in group.provider.details
    }
    return [
        replace(issue, rule=REQUIRED_BEHIND_NEXUS) if issue.path in missing else issue
        for issue in issues
    ]
