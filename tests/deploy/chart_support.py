"""Render the Helm chart (deploy/helm/workerplane) the way ``helm template`` does, for the tests.

No helm binary is packaged for this machine's registries, so the chart is rendered by Helm's own
Go template engine through ``helm-python-sdk`` (PyPI; Helm v4's SDK behind a C ABI, no cluster
contacted). Objects come back as dicts; those without ``metadata.namespace`` go to the release
namespace, as ``helm install -n`` would put them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

helm_python = pytest.importorskip(
    "helm_python", reason="helm-python-sdk (the dev extra) has no wheel for this platform"
)

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "workerplane"
EXAMPLES = REPO / "deploy" / "examples"
RELEASE = "workerplane"
RELEASE_NAMESPACE = "workerplane"

#: The oldest and the newest Kubernetes versions the chart is checked against (kubernetes-validate
#: ships the schemas of 1.25 to 1.37; the chart's kubeVersion asks for >= 1.25).
K8S_VERSIONS = ("1.25", "1.37")


def render(values: dict[str, Any] | None = None, *, release: str = RELEASE) -> list[dict[str, Any]]:
    """Every object the chart renders for ``values`` (over values.yaml), NOTES.txt left out."""
    with helm_python.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=release, namespace=RELEASE_NAMESPACE)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for obj in yaml.safe_load_all(text):
            if obj:
                obj["metadata"].setdefault("namespace", RELEASE_NAMESPACE)
                objects.append(obj)
    return objects


def example_values() -> Iterator[tuple[str, dict[str, Any]]]:
    """The default values and every values file under deploy/examples, by name."""
    yield "default", {}
    for path in sorted(EXAMPLES.glob("values-*.yaml")):
        yield path.name, yaml.safe_load(path.read_text())


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def serve_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [container] = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def policy_text(objects: list[dict[str, Any]]) -> str:
    """The cluster policy file the chart mounts at WORKERPLANE_K8S_POLICY."""
    text: str = one(objects, "ConfigMap")["data"]["k8s-policy.yaml"]
    return text


def validate_object(obj: dict[str, Any], version: str) -> None:
    """Strict validation against the official OpenAPI schemas of ``version``."""
    kubernetes_validate.validate(json.loads(json.dumps(obj)), version, strict=True)
