"""The example specs run where the chart's RBAC lets workerplane act: `workerplane validate`,
given the policy file the chart mounts, accepts every example and refuses the same spec in a
namespace the chart's values do not list, naming the field and the rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import EXAMPLES, REPO, example_values, of_kind, policy_text, render

from workerplane.config.loader import load_spec

SPECS = sorted(p for p in EXAMPLES.glob("*.yaml") if not p.name.startswith("values-"))


def validate(spec: Path, policy: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO / "src"), "WORKERPLANE_K8S_POLICY": str(policy)}
    command = [sys.executable, "-m", "workerplane.cli.main", "validate", "-f", str(spec)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)


def k8s_namespaces(spec: Path) -> set[str]:
    groups = load_spec(spec).compute.scaling_groups.values()
    return {g.provider.details["namespace"] for g in groups if g.provider.type == "k8s"}


@pytest.fixture(scope="module")
def default_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "k8s-policy.yaml"
    path.write_text(policy_text(render()))
    return path


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_every_example_is_valid_under_the_default_install(spec: Path, default_policy: Path) -> None:
    result = validate(spec, default_policy)
    assert result.returncode == 0, result.stderr
    role_namespaces = {r["metadata"]["namespace"] for r in of_kind(render(), "Role")}
    assert k8s_namespaces(spec) <= role_namespaces


def test_a_namespace_the_install_does_not_list_is_refused(
    default_policy: Path, tmp_path: Path
) -> None:
    gpu = yaml.safe_load((EXAMPLES / "gpu-endpoint.yaml").read_text())
    gpu["compute"]["scaling_groups"]["gpu"]["provider"]["details"]["namespace"] = "ml-workers"
    moved = tmp_path / "gpu-endpoint.yaml"
    moved.write_text(yaml.safe_dump(gpu, sort_keys=False))
    result = validate(moved, default_policy)
    assert result.returncode == 1
    assert (
        "compute.scaling_groups.gpu.provider.details.namespace: namespace 'ml-workers' is not "
        "allowed by the cluster policy (allowed_namespaces: workers) (entry gpu"
    ) in result.stderr.replace("\n", "")


@pytest.mark.parametrize(
    ("name", "values"), list(example_values()), ids=[n for n, _ in example_values()]
)
def test_each_values_file_allows_exactly_its_rbac_namespaces(
    name: str, values: dict[str, Any]
) -> None:
    objects = render(values)
    policy = yaml.safe_load(policy_text(objects))
    roles = {r["metadata"]["namespace"] for r in of_kind(objects, "Role")}
    listed = values.get("workerNamespaces", ["workers"])
    assert set(policy["allowed_namespaces"]) == roles == set(listed)
