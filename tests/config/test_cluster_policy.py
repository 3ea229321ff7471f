"""The cluster policy against a spec: allowed namespaces (user-owned and managed groups alike)
and per-pod limits, as issues naming the field and the rule. Pure: table tests, no fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from workerplane.config.cluster_policy import cluster_policy_issues, uses_kubernetes
from workerplane.config.loader import SpecError, parse_spec
from workerplane.config.model import DeploymentSpec
from workerplane.providers.kubernetes.details import ClusterPolicy, K8sDetails, PolicyProblem

ONLY_WORKERS = ClusterPolicy(allowed_namespaces=["workers"])


def spec(**details: Any) -> DeploymentSpec:
    provider = {"type": "k8s", "details": {"deployment": "web", **details}}
    return parse_spec(
        {
            "name": "t",
            "task_queues": ["q"],
            "compute": {"scaling_groups": {"gpu": {"provider": provider}}},
        }
    )


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"namespace": "workers"}, []),
        (
            {"namespace": "ml-workers"},
            [
                (
                    "compute.scaling_groups.gpu.provider.details.namespace",
                    "namespace 'ml-workers' is not allowed by the cluster policy "
                    "(allowed_namespaces: workers)",
                )
            ],
        ),
        (
            {"namespace": "other", "managed": {"image": "w:1", "cpus": 100}},
            [
                (
                    "compute.scaling_groups.gpu.provider.details.namespace",
                    "namespace 'other' is not allowed by the cluster policy "
                    "(allowed_namespaces: workers)",
                ),
                (
                    "compute.scaling_groups.gpu.provider.details.managed.cpus",
                    "100 is above the cluster limit of 64",
                ),
            ],
        ),
    ],
)
def test_issues_name_the_field_and_the_rule(
    details: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    issues = cluster_policy_issues(spec(**details), ONLY_WORKERS)
    assert [(i.path, i.rule) for i in issues] == expected
    assert all(i.group == "gpu" and i.code == "cluster-policy" for i in issues)


def test_no_list_allows_any_namespace_and_an_empty_list_none() -> None:
    assert cluster_policy_issues(spec(namespace="anything"), ClusterPolicy()) == []
    [issue] = cluster_policy_issues(spec(namespace="workers"), ClusterPolicy(allowed_namespaces=[]))
    assert issue.rule.endswith("(allowed_namespaces: none)")


def test_parse_spec_with_a_policy_refuses_and_without_one_accepts() -> None:
    data = {
        "name": "t",
        "task_queues": ["q"],
        "compute": {
            "scaling_groups": {
                "w": {"provider": {"type": "k8s", "details": {"namespace": "x", "deployment": "d"}}}
            }
        },
    }
    assert uses_kubernetes(parse_spec(data))
    with pytest.raises(SpecError, match=r"provider\.details\.namespace: namespace 'x' is not"):
        parse_spec(data, policy=ONLY_WORKERS)


def test_the_provider_check_is_the_same_check() -> None:
    details = K8sDetails(namespace="other", deployment="d")
    assert details.check_policy(ONLY_WORKERS) == [
        PolicyProblem(
            "namespace",
            "namespace 'other' is not allowed by the cluster policy (allowed_namespaces: workers)",
        )
    ]


def test_allowed_namespaces_must_be_kubernetes_names() -> None:
    with pytest.raises(ValueError, match="not a valid Kubernetes name"):
        ClusterPolicy(allowed_namespaces=["Not_A_Namespace"])
