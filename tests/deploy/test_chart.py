"""The Helm chart: every rendered object is valid Kubernetes (kubernetes-validate, strict), the
Service reaches the port serve listens on, secrets come from the Secret as files, RBAC exists only
in the listed worker namespaces and matches the policy's allowed_namespaces, and the values that
would break those promises are refused at render time."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from chart_support import (
    CHART,
    K8S_VERSIONS,
    RELEASE_NAMESPACE,
    example_values,
    helm_python,
    of_kind,
    one,
    policy_text,
    render,
    serve_container,
    validate_object,
)

from workerplane.providers.kubernetes.details import ClusterPolicy

VALUE_SETS = [
    *example_values(),
    ("servicemonitor", {"serviceMonitor": {"enabled": True}}),
    (
        "created-secret",
        {"secret": {"create": True, "values": {"database-url": "u", "encryption-key": "k"}}},
    ),
    ("one-replica", {"replicaCount": 1, "podDisruptionBudget": {"enabled": False}}),
]


@pytest.mark.parametrize(("name", "values"), VALUE_SETS, ids=[n for n, _ in VALUE_SETS])
def test_every_rendered_object_is_valid_kubernetes(name: str, values: dict[str, Any]) -> None:
    objects = render(values)
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount", "Role"} <= {
        o["kind"] for o in objects
    }
    for obj in objects:
        if obj["apiVersion"] == "monitoring.coreos.com/v1":
            continue  # a CRD: no official schema; checked in test_service_monitor
        for version in K8S_VERSIONS:
            validate_object(obj, version)


def test_helm_lint_finds_no_error_or_warning() -> None:
    report = helm_python.lint(CHART, strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_the_service_reaches_the_port_serve_listens_on() -> None:
    objects = render()
    container = serve_container(objects)
    assert container["command"] == ["workerplane", "serve"]
    args = dict(arg.removeprefix("--").split("=", 1) for arg in container["args"])
    assert args["host"] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(args["port"])
    [svc_port] = one(objects, "Service")["spec"]["ports"]
    assert svc_port["targetPort"] in ports or svc_port["targetPort"] == int(args["port"])
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
    selector = one(objects, "Service")["spec"]["selector"]
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_serve_is_highly_available_and_bounded() -> None:
    objects = render()
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    container = serve_container(objects)
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_secrets_are_files_from_the_secret_never_values() -> None:
    objects = render()
    container = serve_container(objects)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    [secret_volume] = [v for v in pod["volumes"] if "secret" in v]
    assert secret_volume["secret"]["secretName"] == "workerplane"
    [mount] = [m for m in container["volumeMounts"] if m["name"] == secret_volume["name"]]
    env = {e["name"]: e for e in container["env"]}
    assert "--database-url-file=" + mount["mountPath"] + "/database-url" in container["args"]
    assert env["WORKERPLANE_ENCRYPTION_KEY_FILE"]["value"] == mount["mountPath"] + "/encryption-key"
    assert env["WORKERPLANE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "workerplane"
    assert "WORKERPLANE_DATABASE_URL" not in env and "WORKERPLANE_ENCRYPTION_KEY" not in env
    assert of_kind(objects, "Secret") == []  # an existing Secret by default


def test_rbac_lives_only_in_the_listed_namespaces_and_matches_the_policy() -> None:
    namespaces = ["workers", "gpu-workers"]
    objects = render({"workerNamespaces": namespaces})
    kinds = {o["kind"] for o in objects}
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    roles = of_kind(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == sorted(namespaces)
    for role in roles:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa
    for binding in of_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa, "namespace": RELEASE_NAMESPACE}
        ]
    policy = ClusterPolicy.model_validate(yaml.safe_load(policy_text(objects)))
    assert policy.allowed_namespaces == namespaces
    env = {e["name"]: e.get("value") for e in serve_container(objects)["env"]}
    assert env["WORKERPLANE_K8S_POLICY"] == "/etc/workerplane/k8s-policy.yaml"


def test_service_monitor_scrapes_the_api_port() -> None:
    objects = render({"serviceMonitor": {"enabled": True}})
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert of_kind(render(), "ServiceMonitor") == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"clusterPolicy": {"allowed_namespaces": ["x"]}}, "set workerNamespaces, not"),
        ({"workerNamespaces": ["Not_A_Namespace"]}, "/workerNamespaces/0"),
        ({"replicaCount": 0}, "/replicaCount"),
        ({"secret": {"create": True, "values": {"database-url": "u"}}}, '"encryption-key"'),
    ],
)
def test_values_that_break_the_promises_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        render(values)


def test_workers_push_to_this_releases_service_unless_told_otherwise() -> None:
    def report_url(values: dict[str, Any] | None = None) -> str:
        args = serve_container(render(values))["args"]
        [url] = [a.removeprefix("--report-url=") for a in args if a.startswith("--report-url=")]
        return url

    service = one(render(), "Service")["metadata"]
    assert report_url().startswith(f"http://{service['name']}.")
    assert report_url().endswith(".svc:80")
    assert report_url({"reportUrl": "https://wp.example"}) == "https://wp.example"
