# ruff: noqa: E501  (the rule tables read best one case per line)
"""Every validation rule, table-driven: Temporal's shared rules (exact messages), typed provider and
scaler details, strategy compatibility and the spec-level checks."""

from __future__ import annotations

from typing import Any

import pytest

from workerplane.config.model import ComputeConfig, DeploymentSpec
from workerplane.config.validation import (
    normalize_task_queue_type,
    validate_compute_config,
    validate_spec,
)
from workerplane.errors import ValidationIssue

SUB = {"type": "subprocess", "details": {"command": "python"}}
ECS = {"type": "aws-ecs", "details": {"cluster": "c", "service": "s"}}
LAMBDA = {"type": "aws-lambda", "details": {"arn": "my-fn"}}


def group(
    types: list[str] | None = None, provider: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    g: dict[str, Any] = {"provider": provider or SUB}
    if types is not None:
        g["task_queue_types"] = types
    g.update(extra)
    return g


def cfg(groups: dict[str, Any]) -> ComputeConfig:
    return ComputeConfig.model_validate({"scaling_groups": groups})


def issues_of(groups: dict[str, Any]) -> list[ValidationIssue]:
    return validate_compute_config(cfg(groups))


# ------------------------------------------------------------------------------------------
# Valid configs
# ------------------------------------------------------------------------------------------

VALID: dict[str, dict[str, Any]] = {
    "single catch-all": {"all": group()},
    "workflow and activity groups": {
        "wf": group(["WORKFLOW"], scaler={"type": "backlog", "details": {"target_per_worker": 50}}),
        "act": group(["ACTIVITY"], ECS, scaler={"type": "rate-based"}),
    },
    "catch-all next to a typed group": {"wf": group(["WORKFLOW"]), "rest": group()},
    "no-sync with an invoke provider": {"all": group(provider=LAMBDA, scaler={"type": "no-sync"})},
    "rate-based with subprocess worker-set": {
        "all": group(
            provider={"type": "subprocess", "details": {"command": "w", "strategy": "worker-set"}},
            scaler={"type": "rate-based"},
        )
    },
    "one catch-all per region": {
        "any": group(),
        "east": group(region_ids=["aws-us-east-1"]),
        "west": group(region_ids=["aws-us-west-2"]),
    },
    "same type in different regions": {
        "east": group(["WORKFLOW"], region_ids=["aws-us-east-1"]),
        "west": group(["WORKFLOW"], region_ids=["aws-us-west-2"]),
    },
    "lower-case and proto task type names": {
        "a": group(["workflow"]),
        "b": group(["TASK_QUEUE_TYPE_ACTIVITY"]),
        "c": group(["Nexus"]),
    },
    "webhook worker-set with rate-based": {
        "w": group(
            provider={
                "type": "webhook",
                "details": {"url": "https://l.example/h", "secret": "k", "strategy": "worker-set"},
            },
            scaler={"type": "rate-based"},
        )
    },
    "k8s": {"k": group(provider={"type": "k8s", "details": {"namespace": "w", "deployment": "d"}})},
    "cloud run": {
        "r": group(
            provider={
                "type": "gcp-cloud-run",
                "details": {"project": "p", "region": "europe-west1", "worker_pool": "wp"},
            }
        )
    },
}


@pytest.mark.parametrize("groups", list(VALID.values()), ids=list(VALID))
def test_valid_configs_have_no_issues(groups: dict[str, Any]) -> None:
    assert issues_of(groups) == []


# ------------------------------------------------------------------------------------------
# Temporal's shared rules: exact messages
# ------------------------------------------------------------------------------------------

SHARED: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, groups, expected Temporal message, expected path)
    (
        "two catch-alls",
        {"a": group(), "b": group()},
        "entry b: only one scaling group can have no task types defined",
        "compute.scaling_groups.b.task_queue_types",
    ),
    (
        "two catch-alls in one region",
        {"a": group(region_ids=["aws-us-east-1"]), "b": group(region_ids=["aws-us-east-1"])},
        "entry b: only one scaling group in region aws-us-east-1 can have no task types defined",
        "compute.scaling_groups.b.task_queue_types",
    ),
    (
        "duplicate task type",
        {"a": group(["WORKFLOW"]), "b": group(["ACTIVITY", "WORKFLOW"])},
        "entry b: task type Workflow appears in more than one entry",
        "compute.scaling_groups.b.task_queue_types[1]",
    ),
    (
        "duplicate task type, different spellings",
        {"a": group(["activity"]), "b": group(["TASK_QUEUE_TYPE_ACTIVITY"])},
        "entry b: task type Activity appears in more than one entry",
        "compute.scaling_groups.b.task_queue_types[0]",
    ),
    (
        "duplicate task type within one group",
        {"a": group(["NEXUS", "NEXUS"])},
        "entry a: task type Nexus appears in more than one entry",
        "compute.scaling_groups.a.task_queue_types[1]",
    ),
    (
        "duplicate task type in one region",
        {
            "a": group(["WORKFLOW"], region_ids=["aws-us-east-1"]),
            "b": group(["WORKFLOW", "ACTIVITY"], region_ids=["aws-us-east-1"]),
        },
        "entry b: task type Workflow appears in more than one entry for region aws-us-east-1",
        "compute.scaling_groups.b.task_queue_types[0]",
    ),
    (
        "unspecified task type",
        {"a": group(["TASK_QUEUE_TYPE_UNSPECIFIED"])},
        "entry a: task type undefined not allowed in compute spec",
        "compute.scaling_groups.a.task_queue_types[0]",
    ),
    (
        "unknown task type name",
        {"a": group(["WORKFLOWS"])},
        "entry a: task type undefined not allowed in compute spec",
        "compute.scaling_groups.a.task_queue_types[0]",
    ),
    (
        "invalid provider type",
        {"a": group(provider={"type": "x"})},
        "entry a: invalid compute provider type 'x'",
        "compute.scaling_groups.a.provider.type",
    ),
    (
        "empty provider type",
        {"a": group(provider={"type": ""})},
        "entry a: invalid compute provider type ''",
        "compute.scaling_groups.a.provider.type",
    ),
    (
        "Temporal-only provider type",
        {"a": group(provider={"type": "nexus-invoke"})},
        "entry a: invalid compute provider type 'nexus-invoke'",
        "compute.scaling_groups.a.provider.type",
    ),
    (
        "invalid scaler type",
        {"a": group(scaler={"type": "x"})},
        "entry a: invalid scaling algorithm type 'x'",
        "compute.scaling_groups.a.scaler.type",
    ),
    (
        "group without an ID",
        {"": group()},
        "scaling groups without an ID are not supported",
        "compute.scaling_groups",
    ),
    (
        "no groups at all",
        {},
        "spec must have at least one entry",
        "compute.scaling_groups",
    ),
    (
        "bad region id",
        {"a": group(region_ids=["US East"])},
        'entry a: region id "US East" must contain only lowercase letters, digits and single '
        "hyphens, e.g. aws-us-east-1",
        "compute.scaling_groups.a.region_ids[0]",
    ),
    (
        "region listed twice",
        {"a": group(["WORKFLOW"], region_ids=["aws-us-east-1", "aws-us-east-1"])},
        'entry a: region id "aws-us-east-1" is listed more than once',
        "compute.scaling_groups.a.region_ids[1]",
    ),
    (
        "catch-all that serves nothing",
        {
            "wf": group(["WORKFLOW"]),
            "act": group(["ACTIVITY"]),
            "nx": group(["NEXUS"]),
            "rest": group(),
        },
        "entry rest: catch-all serves no task types; other groups list workflow, activity and "
        "nexus wherever it applies",
        "compute.scaling_groups.rest.task_queue_types",
    ),
    (
        "no-sync with a worker-set provider",
        {"a": group(provider=ECS, scaler={"type": "no-sync"})},
        "entry a: Scaling Algorithm 'no-sync' is not compatible with compute provider 'aws-ecs'",
        "compute.scaling_groups.a.scaler.type",
    ),
    (
        "rate-based with an invoke provider",
        {"a": group(provider=LAMBDA, scaler={"type": "rate-based"})},
        "entry a: Scaling Algorithm 'rate-based' is not compatible with compute provider "
        "'aws-lambda'",
        "compute.scaling_groups.a.scaler.type",
    ),
    (
        "no-sync with subprocess in worker-set mode",
        {
            "a": group(
                provider={
                    "type": "subprocess",
                    "details": {"command": "w", "strategy": "worker-set"},
                },
                scaler={"type": "no-sync"},
            )
        },
        "entry a: Scaling Algorithm 'no-sync' is not compatible with compute provider "
        "'subprocess' with strategy 'worker-set'",
        "compute.scaling_groups.a.scaler.type",
    ),
]


@pytest.mark.parametrize(
    ("groups", "message", "path"), [c[1:] for c in SHARED], ids=[c[0] for c in SHARED]
)
def test_shared_rule_messages(groups: dict[str, Any], message: str, path: str) -> None:
    issues = issues_of(groups)
    assert [i.message for i in issues] == [message]
    assert issues[0].path == path


def test_all_issues_are_reported_not_just_the_first() -> None:
    issues = issues_of(
        {
            "a": group(["WORKFLOW"], provider={"type": "x"}),
            "b": group(["ACTIVITY"], scaler={"type": "y"}),
            "c": group(),
            "d": group(),
        }
    )
    assert [i.code for i in issues] == ["provider-type", "scaler-type", "catch-all"]
    assert [i.group for i in issues] == ["a", "b", "d"]


def test_details_are_not_checked_for_an_unknown_type() -> None:
    issues = issues_of({"a": group(provider={"type": "x", "details": {"anything": 1}})})
    assert [i.code for i in issues] == ["provider-type"]


def test_empty_scaler_type_means_backlog() -> None:
    # backlog accepts both strategies, so an ECS group without a scaler is fine...
    assert issues_of({"a": group(provider=ECS)}) == []
    # ... and its details are checked against backlog's model.
    issues = issues_of({"a": group(scaler={"details": {"max_count": 0}})})
    assert [(i.path, i.group) for i in issues] == [
        ("compute.scaling_groups.a.scaler.details.max_count", "a")
    ]


# ------------------------------------------------------------------------------------------
# Typed provider details
# ------------------------------------------------------------------------------------------

PROVIDER_DETAILS: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (id, provider type, details, field, rule fragment)
    ("subprocess command missing", "subprocess", {}, "command", "is required"),
    ("subprocess command blank", "subprocess", {"command": " "}, "command", "must not be empty"),
    ("subprocess unknown key", "subprocess", {"command": "w", "cmd": "x"}, "cmd", "unknown key"),
    ("subprocess slots as string", "subprocess", {"command": "w", "slots": "4"}, "slots", "must be an integer"),
    ("subprocess slots zero", "subprocess", {"command": "w", "slots": 0}, "slots", "must be >= 1"),
    ("subprocess grace period zero", "subprocess", {"command": "w", "grace_period_s": 0}, "grace_period_s", "must be > 0"),
    ("subprocess negative idle exit", "subprocess", {"command": "w", "idle_exit_s": -1}, "idle_exit_s", "must be > 0"),
    ("subprocess env value not a string", "subprocess", {"command": "w", "env": {"PORT": 80}}, "env.PORT", "must be a string"),
    ("subprocess args not strings", "subprocess", {"command": "w", "args": [1]}, "args[0]", "must be a string"),
    ("subprocess bad strategy", "subprocess", {"command": "w", "strategy": "fork"}, "strategy", "must be 'invoke' or 'worker-set'"),
    ("subprocess lifetime below idle", "subprocess", {"command": "w", "idle_exit_s": 10, "max_lifetime_s": 5}, "max_lifetime_s", "max_lifetime_s must be >= idle_exit_s"),
    ("k8s deployment missing", "k8s", {"namespace": "n"}, "deployment", "is required"),
    ("k8s unknown key", "k8s", {"deployment": "d", "replicas": 3}, "replicas", "unknown key"),
    ("lambda arn missing", "aws-lambda", {}, "arn", "is required"),
    ("lambda malformed arn", "aws-lambda", {"arn": "arn:aws:lambda:nowhere"}, "arn", "must be a Lambda function ARN"),
    ("lambda bad role", "aws-lambda", {"arn": "f", "role": "admin"}, "role", "must be an IAM role ARN"),
    ("lambda external id without role", "aws-lambda", {"arn": "f", "role_external_id": "x"}, "role_external_id", "role_external_id requires role"),
    ("lambda concurrency zero", "aws-lambda", {"arn": "f", "max_concurrency": 0}, "max_concurrency", "must be >= 1"),
    ("lambda bad region", "aws-lambda", {"arn": "f", "region": "mars"}, "region", "must be an AWS region"),
    ("lambda bad endpoint", "aws-lambda", {"arn": "f", "endpoint_url": "localhost:3002"}, "endpoint_url", "http:// or https:// URL"),
    ("lambda half a key pair", "aws-lambda", {"arn": "f", "aws_access_key_id": "AK"}, "aws_access_key_id", "must be set together"),
    ("ecs service missing", "aws-ecs", {"cluster": "c"}, "service", "is required"),
    ("ecs attempts zero", "aws-ecs", {"cluster": "c", "service": "s", "max_attempts": 0}, "max_attempts", "must be >= 1"),
    ("cloud run worker pool missing", "gcp-cloud-run", {"project": "p", "region": "r"}, "worker_pool", "is required"),
    ("webhook secret missing", "webhook", {"url": "https://h/x"}, "secret", "is required"),
    ("webhook secret empty", "webhook", {"url": "https://h/x", "secret": ""}, "secret", "must not be empty"),
    ("webhook bad url", "webhook", {"url": "ftp://h/x", "secret": "k"}, "url", "http:// or https:// URL"),
    ("webhook timeout too long", "webhook", {"url": "https://h/x", "secret": "k", "timeout_s": 301}, "timeout_s", "must be <= 300"),
    ("webhook timeout as string", "webhook", {"url": "https://h/x", "secret": "k", "timeout_s": "5"}, "timeout_s", "must be a number"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ptype", "details", "field", "rule"),
    [c[1:] for c in PROVIDER_DETAILS],
    ids=[c[0] for c in PROVIDER_DETAILS],
)
def test_provider_details_rules(ptype: str, details: dict[str, Any], field: str, rule: str) -> None:
    issues = issues_of({"g": group(provider={"type": ptype, "details": details})})
    base = "compute.scaling_groups.g.provider.details"
    expected_path = f"{base}.{field}" if field and not field.startswith("[") else base + field
    matching = [i for i in issues if i.path == expected_path]
    assert matching, f"no issue at {expected_path}: {issues}"
    assert rule in matching[0].rule
    assert matching[0].group == "g"
    assert matching[0].code == "provider-details"


def test_unknown_key_lists_the_allowed_keys() -> None:
    [issue] = issues_of(
        {
            "g": group(
                provider={
                    "type": "aws-ecs",
                    "details": {"cluster": "c", "service": "s", "clustr": "x"},
                }
            )
        }
    )
    assert issue.path == "compute.scaling_groups.g.provider.details.clustr"
    assert "allowed: " in issue.rule and "cluster" in issue.rule


def test_issues_never_quote_secret_values() -> None:
    secret = "hunter2-very-secret"
    issues = issues_of(
        {
            "g": group(
                provider={
                    "type": "webhook",
                    "details": {"url": "https://h/x", "secret": 42, "x": secret},
                }
            )
        }
    )
    assert issues
    assert all(secret not in str(i) and "42" not in str(i) for i in issues)


def test_encrypted_details_are_reported() -> None:
    envelope = {"$payload": {"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="}, "data": "AAEC"}}
    [issue] = issues_of({"g": group(provider={"type": "subprocess", "details": envelope})})
    assert issue.code == "details-encoding"
    assert "binary/encrypted" in issue.rule
    assert issue.path == "compute.scaling_groups.g.provider.details"


# ------------------------------------------------------------------------------------------
# Scaler details (delegated to the scaler registry)
# ------------------------------------------------------------------------------------------

SCALER_DETAILS: list[tuple[str, str, dict[str, Any], str]] = [
    ("backlog max_count zero", "backlog", {"max_count": 0}, "max_count"),
    ("backlog unknown key", "backlog", {"max_workers": 3}, "max_workers"),
    ("backlog target as text", "backlog", {"target_per_worker": "many"}, "target_per_worker"),
    ("no-sync poll interval too small", "no-sync", {"metrics_poll_interval_ms": 5}, "metrics_poll_interval_ms"),
    ("rate-based alpha out of range", "rate-based", {"ewma_alpha": 2}, "ewma_alpha"),
    ("rate-based unknown key", "rate-based", {"alpha": 0.5}, "alpha"),
    ("slo prewarm unknown key", "slo", {"prewarm": {"enable": True}}, "prewarm.enable"),
    ("slo prewarm hint negative", "slo", {"prewarm": {"schedules": {"nightly": {"workers": -1}}}}, "prewarm.schedules.nightly.workers"),
    ("slo prewarm hint without workers", "slo", {"prewarm": {"schedules": {"nightly": {}}}}, "prewarm.schedules.nightly.workers"),
    ("slo prewarm enabled not a bool", "slo", {"prewarm": {"enabled": "often"}}, "prewarm.enabled"),
    ("slo prewarm recurring not a bool", "slo", {"prewarm": {"recurring": "weekly"}}, "prewarm.recurring"),
    ("slo feedback not a bool", "slo", {"feedback": "often"}, "feedback"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stype", "details", "field"),
    [c[1:] for c in SCALER_DETAILS],
    ids=[c[0] for c in SCALER_DETAILS],
)
def test_scaler_details_rules(stype: str, details: dict[str, Any], field: str) -> None:
    provider = LAMBDA if stype == "no-sync" else ECS
    issues = issues_of({"g": group(provider=provider, scaler={"type": stype, "details": details})})
    paths = [i.path for i in issues if i.code == "scaler-details"]
    assert f"compute.scaling_groups.g.scaler.details.{field}" in paths, issues
    assert all(i.group == "g" for i in issues)


# ------------------------------------------------------------------------------------------
# Spec-level checks
# ------------------------------------------------------------------------------------------


def spec(**overrides: Any) -> DeploymentSpec:
    data: dict[str, Any] = {
        "name": "orders",
        "task_queues": ["orders"],
        "compute": {"scaling_groups": {"all": group()}},
    }
    data.update(overrides)
    return DeploymentSpec.model_validate(data)


SPEC_RULES: list[tuple[str, dict[str, Any], str, str]] = [
    ("empty name", {"name": ""}, "name", "name must not be empty"),
    ("blank name", {"name": "  "}, "name", "name must not be empty"),
    ("padded name", {"name": " orders"}, "name", "leading or trailing whitespace"),
    ("no task queue", {"task_queues": []}, "task_queues", "at least one task queue is required"),
    ("empty task queue", {"task_queues": ["a", ""]}, "task_queues[1]", "must not be empty"),
    ("duplicate task queue", {"task_queues": ["a", "a"]}, "task_queues[1]", "listed more than once"),
    ("empty deployment name", {"deployment": {"name": "", "build_id": "v1"}}, "deployment.name", "must not be empty"),
    ("empty build id", {"deployment": {"name": "d", "build_id": " "}}, "deployment.build_id", "must not be empty"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "path", "rule"), [c[1:] for c in SPEC_RULES], ids=[c[0] for c in SPEC_RULES]
)
def test_spec_rules(overrides: dict[str, Any], path: str, rule: str) -> None:
    issues = validate_spec(spec(**overrides))
    assert [i.path for i in issues] == [path]
    assert rule in issues[0].rule
    assert issues[0].group is None


def test_valid_spec() -> None:
    assert validate_spec(spec(deployment={"name": "orders", "build_id": "v1"})) == []


def test_spec_includes_compute_issues() -> None:
    issues = validate_spec(spec(compute={"scaling_groups": {"a": group(), "b": group()}}))
    assert [i.message for i in issues] == [
        "entry b: only one scaling group can have no task types defined"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("WORKFLOW", "WORKFLOW"),
        ("activity", "ACTIVITY"),
        ("Nexus", "NEXUS"),
        ("TASK_QUEUE_TYPE_WORKFLOW", "WORKFLOW"),
        ("task_queue_type_activity", "ACTIVITY"),
        ("UNSPECIFIED", None),
        ("TASK_QUEUE_TYPE_UNSPECIFIED", None),
        ("workflows", None),
        ("", None),
    ],
)
def test_normalize_task_queue_type(raw: str, expected: str | None) -> None:
    assert normalize_task_queue_type(raw) == expected


def test_issue_formatting() -> None:
    issue = ValidationIssue(
        "compute.scaling_groups.wf.scaler.type", "invalid scaling algorithm type 'x'", "wf"
    )
    assert issue.message == "entry wf: invalid scaling algorithm type 'x'"
    assert (
        str(issue)
        == "compute.scaling_groups.wf.scaler.type: invalid scaling algorithm type 'x' (entry wf)"
    )


def _k8s(namespace: str = "workers", deployment: str = "orders", **more: Any) -> dict[str, Any]:
    return {
        "type": "k8s",
        "details": {"namespace": namespace, "deployment": deployment, **more},
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_k8s(), _k8s()),
        (ECS, ECS),
        (
            {
                "type": "gcp-cloud-run",
                "details": {"project": "p", "region": "r", "worker_pool": "w"},
            },
            {
                "type": "gcp-cloud-run",
                "details": {"project": "p", "region": "r", "worker_pool": "w"},
            },
        ),
    ],
)
def test_two_groups_cannot_size_one_object(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Each group's provider sets the object's size every cycle: two would undo each other."""
    issues = issues_of(
        {"workflows": group(["WORKFLOW"], first), "activities": group(["ACTIVITY"], second)}
    )
    assert [(i.path, i.code) for i in issues] == [
        ("compute.scaling_groups.activities.provider.details", "provider-shared-target")
    ]
    assert "scaling group 'workflows'" in issues[0].message


@pytest.mark.parametrize(
    "second",
    [
        _k8s(namespace="other"),
        _k8s(deployment="payments"),
        _k8s(context="another-cluster"),
        {"type": "aws-ecs", "details": {"cluster": "c", "service": "s", "region": "eu-west-1"}},
    ],
)
def test_groups_sizing_different_objects_are_valid(second: dict[str, Any]) -> None:
    first = ECS if second["type"] == "aws-ecs" else _k8s()
    assert issues_of({"a": group(["WORKFLOW"], first), "b": group(["ACTIVITY"], second)}) == []


def test_groups_of_local_processes_or_invocations_share_nothing() -> None:
    assert issues_of({"a": group(["WORKFLOW"], LAMBDA), "b": group(["ACTIVITY"], LAMBDA)}) == []
    assert issues_of({"a": group(["WORKFLOW"]), "b": group(["ACTIVITY"])}) == []
