"""Rendering of managed objects (validated against the official Kubernetes schemas), the readiness
probe and the preStop hook (run as real processes against real status files)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from k8s_support import validate_k8s
from pydantic import ValidationError

from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.kubernetes.details import ClusterPolicy, K8sDetails
from workerplane.providers.kubernetes.probe import is_ready, prestop
from workerplane.providers.kubernetes.render import merge_patch, render_managed
from workerplane.worker.status import WorkerStatus, read_status, write_status

ENV = WorkerEnvironment(
    address="temporal:7233",
    namespace="default",
    task_queues=("q1", "q2"),
    secret_env={"TEMPORAL_API_KEY": "xyz"},
)


def render(managed: dict[str, Any], env: WorkerEnvironment = ENV) -> dict[str, dict[str, Any]]:
    details = K8sDetails.model_validate(
        {"namespace": "team-a", "deployment": "cpu-workers", "managed": managed}
    )
    objs = render_managed(details, env, ClusterPolicy(), owner="d/g", deployment="d", group_id="g")
    return {o.kind: o.body for o in objs.objects}


def test_cpu_deployment_with_credentials_secret_ref_is_valid() -> None:
    objects = render(
        {
            "image": "w:1",
            "cpus": "500m",
            "memory": "512Mi",
            "publish_in_flight": False,
            "credentials": {
                "secret": "temporal-mtls",
                "api_key_key": "api-key",
                "tls_cert_key": "tls.crt",
                "tls_key_key": "tls.key",
                "ca_cert_key": "ca.crt",
                "server_name": "ns.tmprl.cloud",
            },
        }
    )
    # The user's Secret is referenced, so workerplane renders none of its own, and no SA/Role
    # when the sidecar is off.
    assert sorted(objects) == ["Deployment", "PodDisruptionBudget"]
    for body in objects.values():
        validate_k8s(body)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    env = {e["name"]: e for e in worker["env"]}
    assert env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "temporal-mtls",
        "key": "api-key",
    }
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"]["value"] == "/etc/workerplane/temporal-tls/tls.crt"
    assert env["TEMPORAL_TLS_SERVER_NAME"]["value"] == "ns.tmprl.cloud"
    assert env["WORKERPLANE_TASK_QUEUES"]["value"] == "q1,q2"
    assert "xyz" not in str(objects)
    assert worker["resources"]["limits"]["cpu"] == "500m"
    tls = next(v for v in pod["volumes"] if v["name"] == "temporal-tls")
    assert tls["secret"]["secretName"] == "temporal-mtls"
    assert "nodeSelector" not in pod and all(v["name"] != "dshm" for v in pod["volumes"])
    assert len(pod["containers"]) == 1


def test_sidecar_and_rbac_are_valid() -> None:
    objects = render({"image": "w:1", "gpus": 2, "gpu_type": "nvidia-tesla-t4", "shm_size": "8Gi"})
    assert sorted(objects) == sorted(
        ["Secret", "ServiceAccount", "Role", "RoleBinding", "Deployment", "PodDisruptionBudget"]
    )
    for body in objects.values():
        validate_k8s(body)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["worker", "in-flight"]
    dshm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert dshm["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert objects["Secret"]["stringData"] == {"TEMPORAL_API_KEY": "xyz"}


def test_spec_hash_ignores_nothing_that_matters() -> None:
    a = render({"image": "w:1"})["Deployment"]["metadata"]["annotations"]
    b = render({"image": "w:1"})["Deployment"]["metadata"]["annotations"]
    c = render({"image": "w:2"})["Deployment"]["metadata"]["annotations"]
    assert a == b and a != c


@pytest.mark.parametrize(
    ("managed", "fragment"),
    [
        ({"image": "w", "gpus": 1}, "gpu_type is required when gpus > 0"),
        ({"image": "w", "gpu_type": "nvidia-tesla-t4"}, "gpu_type is set but gpus is 0"),
        ({"image": "w", "memory": "lots"}, "is not a Kubernetes quantity"),
        ({"image": "w", "env": {"TEMPORAL_ADDRESS": "x"}}, "is set by workerplane"),
        ({"image": "w", "replicas": 3}, "Extra inputs are not permitted"),
        ({"image": "w", "credentials": {"secret": "s", "tls_cert_key": "c"}}, "set together"),
    ],
)
def test_bad_managed_specs_name_the_field(managed: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        K8sDetails.model_validate({"deployment": "w", "managed": managed})
    assert fragment in str(info.value)


def test_bad_names_are_rejected() -> None:
    with pytest.raises(ValidationError, match="not a valid Kubernetes name"):
        K8sDetails.model_validate({"deployment": "Bad_Name"})


def test_merge_patch_deletes_removed_keys_and_replaces_lists() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}
    new = {"a": 1, "b": {"c": 5}, "l": [3], "n": True}
    assert merge_patch(old, new) == {"b": {"c": 5, "d": None}, "l": [3], "n": True}
    assert merge_patch(new, new) == {}


# -- readiness probe and preStop hook ---------------------------------------------------------


def run_probe(*args: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "workerplane.providers.kubernetes.probe", *args],
        capture_output=True,
        timeout=60,
    ).returncode


def test_readiness_follows_the_status_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert run_probe("ready", "--file", str(path)) == 1  # no file yet
    now = time.time()
    write_status(path, WorkerStatus(pid=1, state="starting", updated_at=now))
    assert run_probe("ready", "--file", str(path)) == 1
    write_status(path, WorkerStatus(pid=1, state="polling", updated_at=now))
    assert run_probe("ready", "--file", str(path)) == 0
    write_status(path, WorkerStatus(pid=1, state="draining", in_flight=2, updated_at=now))
    assert run_probe("ready", "--file", str(path)) == 1
    # A worker that stopped reporting (hung, killed) is not ready either.
    stale = WorkerStatus(pid=1, state="polling", updated_at=now - 60)
    assert not is_ready(stale, now=now)


WORKER = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from workerplane.worker.status import WorkerStatus, write_status
    path = Path(sys.argv[1])
    def report(state, in_flight):
        write_status(path, WorkerStatus(pid=os.getpid(), state=state, in_flight=in_flight,
                                        updated_at=time.time()))
    draining = []
    signal.signal(signal.SIGTERM, lambda *_: draining.append(1))
    report("polling", 1)
    while not draining:
        time.sleep(0.05)
    report("draining", 1)   # stops polling, still finishing its task
    time.sleep(1.0)
    report("stopped", 0)
    """
)


def test_prestop_asks_the_worker_to_drain_and_waits(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = subprocess.Popen([sys.executable, str(script), str(path)], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while (read_status(path) is None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_status(path) is not None
        assert prestop(path, timeout_s=30, poll_s=0.05)
        status = read_status(path)
        assert status is not None and status.state == "stopped"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_prestop_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    # A worker stuck draining with work in flight: the hook returns (failure) at its deadline and
    # the kubelet's grace period takes over.
    write_status(path, WorkerStatus(pid=0, state="draining", in_flight=3, updated_at=time.time()))
    assert not prestop(path, timeout_s=0.3, poll_s=0.05)
