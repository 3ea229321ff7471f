"""``workerplane export keda``: ScaledObjects with KEDA's real temporal-trigger keys, validated
against KEDA's CRD schema (vendored from kedacore/keda, see src/workerplane/export/schemas)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from workerplane.config.loader import load_spec, load_spec_text
from workerplane.export.cli import app
from workerplane.export.keda import ExportError, KedaOptions, export_keda, validate_keda_object

ROOT = Path(__file__).resolve().parents[2]
GPU_EXAMPLE = ROOT / "deploy" / "examples" / "gpu-endpoint.yaml"

#: The trigger metadata keys KEDA's temporal scaler reads (pkg/scalers/temporal.go).
KEDA_KEYS = {
    "endpoint",
    "namespace",
    "taskQueue",
    "targetQueueSize",
    "activationTargetQueueSize",
    "queueTypes",
    "workerDeploymentName",
    "workerDeploymentBuildId",
}


def spec_text(*, api_key: bool = False, versioned: bool = False, scaler: str = "backlog") -> str:
    lines = [
        "name: orders",
        "temporal:",
        "  address: temporal.example:7233",
        "  namespace: orders-ns",
    ]
    if api_key:
        lines.append("  api_key: very-secret-api-key")
    lines += ["task_queues: [orders, refunds]"]
    if versioned:
        lines += ["deployment: {name: orders, build_id: b42}"]
    scaler_details = (
        "{min_count: 1, max_count: 20, target_per_worker: 3.5, scale_down_cooldown_ms: 60000}"
        if scaler == "backlog"
        else "{min_count: 2, max_count: 12, initial_count: 2}"
    )
    lines += [
        "compute:",
        "  scaling_groups:",
        "    acts:",
        "      task_queue_types: [ACTIVITY]",
        "      provider: {type: k8s, details: {namespace: team, deployment: orders-acts}}",
        f"      scaler: {{type: {scaler}, details: {scaler_details}}}",
        "    local:",
        "      provider: {type: subprocess, details: {command: python, strategy: worker-set}}",
        "      scaler: {type: backlog}",
    ]
    return "\n".join(lines) + "\n"


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_gpu_example_exports_valid_scaled_objects() -> None:
    objects = export_keda(load_spec(GPU_EXAMPLE))
    scaled = by_kind(objects, "ScaledObject")
    assert [o["metadata"]["name"] for o in scaled] == ["llm-batch-workflows", "llm-batch-gpu"]
    for obj in objects:
        assert validate_keda_object(obj) == []
    gpu = scaled[1]["spec"]
    assert gpu["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "llm-batch-gpu",
    }
    assert (gpu["minReplicaCount"], gpu["maxReplicaCount"]) == (0, 16)
    assert gpu["pollingInterval"] == 5 and gpu["cooldownPeriod"] == 120
    (trigger,) = gpu["triggers"]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"] == {
        "endpoint": "temporal-frontend.temporal.svc:7233",
        "namespace": "ml",
        "taskQueue": "llm-batch",
        "targetQueueSize": "2",
        "activationTargetQueueSize": "0",
        "queueTypes": "activity",
        "workerDeploymentName": "llm-batch",
        "workerDeploymentBuildId": "2024-06-01",
    }
    auth = by_kind(objects, "TriggerAuthentication")[1]
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "apiKey", "name": "temporal-ml", "key": "api-key"}
    ]


def test_one_trigger_per_queue_and_only_keda_keys() -> None:
    objects = export_keda(load_spec_text(spec_text()))
    (scaled,) = by_kind(objects, "ScaledObject")  # the subprocess group is not exported
    triggers = scaled["spec"]["triggers"]
    assert [t["metadata"]["taskQueue"] for t in triggers] == ["orders", "refunds"]
    for t in triggers:
        assert set(t["metadata"]) <= KEDA_KEYS
        # Unversioned: the pair is left out together.
        assert "workerDeploymentName" not in t["metadata"]
        assert "workerDeploymentBuildId" not in t["metadata"]
        assert t["metadata"]["targetQueueSize"] == "4"  # ceil(3.5)
        assert "authenticationRef" not in t
    assert by_kind(objects, "TriggerAuthentication") == []


def test_versioned_and_api_key_by_reference_only() -> None:
    objects = export_keda(load_spec_text(spec_text(api_key=True, versioned=True)))
    assert "very-secret-api-key" not in yaml.safe_dump_all(objects)
    (auth,) = by_kind(objects, "TriggerAuthentication")
    # The Secret managed mode creates from the spec's credentials, keyed by env variable name.
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "apiKey", "name": "orders-acts-temporal", "key": "TEMPORAL_API_KEY"}
    ]
    meta = by_kind(objects, "ScaledObject")[0]["spec"]["triggers"][0]["metadata"]
    assert (meta["workerDeploymentName"], meta["workerDeploymentBuildId"]) == ("orders", "b42")


def test_rate_based_uses_option_or_keda_default() -> None:
    spec = load_spec_text(spec_text(scaler="rate-based"))
    meta = export_keda(spec)[0]["spec"]["triggers"][0]["metadata"]
    assert meta["targetQueueSize"] == "5"
    meta = export_keda(spec, KedaOptions(target_queue_size=7))[0]["spec"]["triggers"][0]["metadata"]
    assert meta["targetQueueSize"] == "7"
    assert export_keda(spec)[0]["spec"]["minReplicaCount"] == 2


def test_credentials_secret_option_with_mtls() -> None:
    opts = KedaOptions(credentials_secret="keda-temporal", cert_key="tls.crt", key_key="tls.key")
    objects = export_keda(load_spec_text(spec_text()), opts)
    (auth,) = by_kind(objects, "TriggerAuthentication")
    assert [r["parameter"] for r in auth["spec"]["secretTargetRef"]] == ["apiKey", "cert", "key"]
    assert validate_keda_object(auth) == []


def test_schema_validation_rejects_what_keda_would() -> None:
    good = by_kind(export_keda(load_spec_text(spec_text())), "ScaledObject")[0]
    assert validate_keda_object(good) == []

    typo = copy.deepcopy(good)
    typo["spec"]["minReplicas"] = typo["spec"].pop("minReplicaCount")
    assert validate_keda_object(typo) == ["spec.minReplicas: unknown field"]

    number = copy.deepcopy(good)
    number["spec"]["triggers"][0]["metadata"]["targetQueueSize"] = 4
    assert any("is not of type 'string'" in p for p in validate_keda_object(number))

    no_target = copy.deepcopy(good)
    del no_target["spec"]["scaleTargetRef"]
    assert any(
        "'scaleTargetRef' is a required property" in p for p in validate_keda_object(no_target)
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            spec_text()
            .replace("type: k8s", "type: subprocess")
            .replace(
                "{namespace: team, deployment: orders-acts}",
                "{command: python, strategy: worker-set}",
            ),
            "no group with provider type 'k8s'",
        ),
        (
            spec_text().replace("  address: temporal.example:7233\n", ""),
            "temporal.address: required",
        ),
    ],
)
def test_export_errors_name_the_field(text: str, fragment: str) -> None:
    with pytest.raises(ExportError, match=fragment):
        export_keda(load_spec_text(text))


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["keda", "-f", str(GPU_EXAMPLE), "--group", "gpu"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["TriggerAuthentication", "ScaledObject"]
    assert all(validate_keda_object(d) == [] for d in docs)

    out = tmp_path / "keda.yaml"
    result = runner.invoke(app, ["keda", "-f", str(GPU_EXAMPLE), "-o", str(out)])
    assert result.exit_code == 0 and len(list(yaml.safe_load_all(out.read_text()))) == 4

    bad = tmp_path / "bad.yaml"
    bad.write_text(spec_text().replace("  address: temporal.example:7233\n", ""))
    result = runner.invoke(app, ["keda", "-f", str(bad)])
    assert result.exit_code == 2
    assert "temporal.address: required" in result.output
    result = runner.invoke(app, ["keda", "-f", str(GPU_EXAMPLE), "--group", "nope"])
    assert result.exit_code == 2 and "no scaling group 'nope'" in result.output
