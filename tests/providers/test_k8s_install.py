"""The install manifests for workerplane itself (deploy/kustomize): every object validates against
the official Kubernetes schemas, RBAC is namespaced and least-privilege, the controller runs
behind the Lease wrapper with HA replicas, secrets come from a Secret, metrics have a named port.
(No kustomize binary here: the files are read directly.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from k8s_support import validate_k8s

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kustomize"


def objects() -> list[dict[str, Any]]:
    out = []
    for path in sorted(ROOT.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            kust = yaml.safe_load(path.read_text())
            for res in kust.get("resources", []):
                assert (path.parent / res).exists(), f"{path}: missing {res}"
            continue
        out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def test_every_object_is_valid() -> None:
    objs = objects()
    assert objs
    for obj in objs:
        validate_k8s(obj)


def test_rbac_is_namespaced_and_least_privilege() -> None:
    objs = objects()
    kinds = {o["kind"] for o in objs}
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    roles = [o for o in objs if o["kind"] == "Role"]
    for role in roles:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    workers = next(r for r in roles if r["metadata"]["name"] == "workerplane-workers")
    scale = next(r for r in workers["rules"] if r["resources"] == ["deployments/scale"])
    assert {"get", "patch"} <= set(scale["verbs"])
    leader = next(r for r in roles if r["metadata"]["name"] == "workerplane-leader")
    assert leader["rules"][0]["resources"] == ["leases"]


def test_controller_is_ha_behind_the_lease_and_exposes_metrics() -> None:
    objs = objects()
    dep = next(o for o in objs if o["kind"] == "Deployment")
    assert dep["spec"]["replicas"] >= 2
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["python", "-m", "workerplane.providers.kubernetes.leader"]
    assert {"secretRef": {"name": "workerplane"}} in container["envFrom"]
    assert any(p["name"] == "metrics" for p in container["ports"])
    svc = next(o for o in objs if o["kind"] == "Service")
    assert any(p["name"] == "metrics" for p in svc["spec"]["ports"])
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert {"WORKERPLANE_DATABASE_URL", "WORKERPLANE_ENCRYPTION_KEY", "TEMPORAL_API_KEY"} <= set(
        secret["stringData"]
    )
