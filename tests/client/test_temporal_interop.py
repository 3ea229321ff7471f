"""``workerplane push --to-temporal`` and ``workerplane validate --server`` against a real Temporal
dev server (temporal CLI 1.9.1, server 1.32.0) started with its own worker controller enabled and
Temporal's ``test-invoke`` provider, as the brief asks.

The CLI runs as a real subprocess; the server's answers are read back with the real SDK
(DescribeWorkerDeploymentVersion) and compared, serialized, with what
:mod:`workerplane.config.proto` produces: the config is byte-compatible with Temporal's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkerDeploymentVersion

from workerplane.client.temporal import describe_compute_config
from workerplane.config.model import ComputeConfig
from workerplane.config.proto import compute_config_from_proto, compute_config_to_proto
from workerplane.temporal.devserver import DevServer, start_dev_server

sys.path.insert(0, str(Path(__file__).parent.parent / "temporal"))
from tls_front import start_front

#: The server's own controller on, with its test provider and the no-sync scaler.
CONTROLLER_CONFIG = {
    "workercontroller.enabled": "true",
    "workercontroller.compute_providers.enabled": '["test-invoke"]',
    "workercontroller.scaling_algorithms.enabled": '["no-sync"]',
}
CLI = [sys.executable, "-m", "workerplane.cli.main"]


@workflow.defn(name="InteropNoop", sandboxed=False)
class InteropNoop:
    """A workflow for the versioned worker to register; it never runs."""

    @workflow.run
    async def run(self) -> str:
        return "ok"


@pytest.fixture(scope="module")
def controller_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    base = tmp_path_factory.mktemp("temporal-wc")
    server = start_dev_server(
        db_file=base / "temporal.db", log_file=base / "server.log", extra_config=CONTROLLER_CONFIG
    )
    yield server
    server.stop()


def _spec(
    deployment: str, build_id: str, provider: dict[str, Any], scaler: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": deployment,
        "task_queues": [f"{deployment}-q"],
        "deployment": {"name": deployment, "build_id": build_id},
        "compute": {"scaling_groups": {"default": {"provider": provider, "scaler": scaler}}},
    }


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "deploy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=180,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )  # fmt: skip


async def _connect(address: str) -> Client:
    # The frontend can report "not healthy yet" for a moment after the port opens.
    for _ in range(100):
        try:
            return await Client.connect(address)
        except RuntimeError:
            await asyncio.sleep(0.2)
    return await Client.connect(address)


def _server_config(address: str, deployment: str, build_id: str) -> Any:
    async def read() -> Any:
        client = await _connect(address)
        return await describe_compute_config(client, "default", deployment, build_id)

    return asyncio.run(read())


def _assert_same_on_server(address: str, doc: dict[str, Any]) -> None:
    deployment, build_id = doc["deployment"]["name"], doc["deployment"]["build_id"]
    ours = ComputeConfig.model_validate(doc["compute"])
    theirs = _server_config(address, deployment, build_id)
    # Byte compatibility: the server stores exactly the message workerplane encodes ...
    assert theirs.SerializeToString(deterministic=True) == compute_config_to_proto(
        ours
    ).SerializeToString(deterministic=True)
    # ... and what the server returns reads back into the same config.
    assert compute_config_from_proto(theirs) == ours


def test_push_creates_then_updates_a_version_on_temporal(
    controller_server: DevServer, tmp_path: Path
) -> None:
    """No worker has polled: push creates the worker deployment, then the version with its config
    (CreateWorkerDeploymentVersion); a second push updates it (UpdateWorker...ComputeConfig)."""
    address = controller_server.address
    deployment = f"push-{uuid.uuid4().hex[:8]}"
    doc = _spec(
        deployment, "v1",
        {"type": "test-invoke", "details": {"note": "first", "size": 1}},
        {"type": "no-sync", "details": {"scale_up_cooloff_ms": 250}},
    )  # fmt: skip
    first = _cli("push", "--to-temporal", "-f", str(_write(tmp_path, doc)), "--address", address)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{deployment}/v1: compute config created" in first.stdout
    _assert_same_on_server(address, doc)

    doc["compute"]["scaling_groups"]["default"]["provider"]["details"] = {"note": "second"}
    doc["compute"]["scaling_groups"]["default"]["scaler"]["details"] = {
        "scale_up_cooloff_ms": 500,
        "max_worker_lifetime_ms": 120000,
    }
    second = _cli("push", "--to-temporal", "-f", str(_write(tmp_path, doc)), "--address", address)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "compute config updated" in second.stdout
    _assert_same_on_server(address, doc)


def test_push_to_a_deployment_whose_worker_is_polling(
    controller_server: DevServer, tmp_path: Path
) -> None:
    """A versioned worker (temporalio Worker with a deployment config) polls first, so the
    deployment already exists on the server; push still creates the version's config."""
    address = controller_server.address
    deployment = f"polled-{uuid.uuid4().hex[:8]}"
    doc = _spec(deployment, "b7", {"type": "test-invoke"}, {"type": "no-sync"})

    async def with_worker() -> None:
        client = await _connect(address)
        worker = Worker(
            client,
            task_queue=f"{deployment}-q",
            workflows=[InteropNoop],
            deployment_config=WorkerDeploymentConfig(
                version=WorkerDeploymentVersion(deployment_name=deployment, build_id="b7"),
                use_worker_versioning=True,
                default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
            ),
        )
        async with worker:
            from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
            from temporalio.service import RPCError

            for _ in range(300):  # until the server has registered the deployment
                try:
                    await client.workflow_service.describe_worker_deployment(
                        DescribeWorkerDeploymentRequest(
                            namespace="default", deployment_name=deployment
                        )
                    )
                    break
                except RPCError:
                    await asyncio.sleep(0.2)
            pushed = await asyncio.to_thread(
                _cli, "push", "--to-temporal", "-f", str(_write(tmp_path, doc)),
                "--address", address,
            )  # fmt: skip
            assert pushed.returncode == 0, pushed.stdout + pushed.stderr
            assert "compute config" in pushed.stdout

    asyncio.run(with_worker())
    _assert_same_on_server(address, doc)


def test_validate_server_gives_the_servers_verdict(
    controller_server: DevServer, tmp_path: Path
) -> None:
    """A valid test-invoke config is accepted; ``illegal_field`` (which Temporal's test-invoke
    provider rejects in its own ValidateConfig) comes back with the server's message."""
    address = controller_server.address
    good = _write(
        tmp_path, _spec("val-good", "v1", {"type": "test-invoke"}, {"type": "no-sync"}), "good.yaml"
    )
    accepted = _cli("validate", "-f", str(good), "--server", "--address", address)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "config accepted" in accepted.stdout

    bad_doc = _spec(
        "val-bad", "v1", {"type": "test-invoke", "details": {"illegal_field": "x"}},
        {"type": "no-sync"},
    )  # fmt: skip
    rejected = _cli("validate", "-f", str(_write(tmp_path, bad_doc, "bad.yaml")), "--server",
                    "--address", address)  # fmt: skip
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert "rejected the config" in rejected.stderr
    assert "illegal_field found in config" in rejected.stderr


def test_validate_server_rejects_a_provider_it_has_not_enabled(
    controller_server: DevServer, tmp_path: Path
) -> None:
    """``subprocess`` passes workerplane's own rules, but this server only enables test-invoke."""
    address = controller_server.address
    doc = _spec(
        "val-sub", "v1", {"type": "subprocess", "details": {"command": sys.executable}},
        {"type": "no-sync"},
    )  # fmt: skip
    rejected = _cli("validate", "-f", str(_write(tmp_path, doc)), "--server", "--address", address)
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert "rejected the config" in rejected.stderr and "subprocess" in rejected.stderr


def test_validate_server_without_a_verdict_fails_with_a_clear_message(
    controller_server: DevServer, tmp_path: Path
) -> None:
    """With a wait far shorter than the server's validate workflow takes (a workflow task and
    an activity on the namespace's system worker), the CLI stops waiting and says so."""
    doc = _spec("val-slow", "v1", {"type": "test-invoke"}, {"type": "no-sync"})
    result = _cli(
        "validate", "-f", str(_write(tmp_path, doc)), "--server",
        "--address", controller_server.address,
        env={"WORKERPLANE_TEMPORAL_TIMEOUT_S": "0.05"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no verdict from the server within 0.05s" in result.stderr


def test_push_refuses_what_local_rules_reject(tmp_path: Path) -> None:
    """Only Temporal's test providers skip the local type check; anything else is still
    rejected locally, with the loader's message, before any server is contacted."""
    doc = _spec("local-bad", "v1", {"type": "no-such-provider"}, {"type": "no-sync"})
    result = _cli("push", "--to-temporal", "-f", str(_write(tmp_path, doc)),
                  "--address", "127.0.0.1:1")  # fmt: skip
    assert result.returncode == 1
    assert "invalid compute provider type 'no-such-provider'" in result.stdout + result.stderr


def test_workerplane_scalers_are_explained_not_sent(tmp_path: Path) -> None:
    """``slo`` (the default) and ``backlog`` run only in workerplane: the CLI says so and names
    Temporal's closest scaler before any server is contacted."""
    default = _spec("own-slo", "v1", {"type": "test-invoke"}, {})
    result = _cli("validate", "-f", str(_write(tmp_path, default)), "--server",
                  "--address", "127.0.0.1:1")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "scaler slo (the default) is workerplane's own" in result.stderr
    assert "'no-sync'" in result.stderr and "--temporal-scaler closest" in result.stderr
    backlog = _spec("own-backlog", "v1", {"type": "test-worker-set"}, {"type": "backlog"})
    result = _cli("push", "--to-temporal", "-f", str(_write(tmp_path, backlog)),
                  "--address", "127.0.0.1:1")  # fmt: skip
    assert result.returncode == 1
    assert (
        "scaler backlog is workerplane's own" in result.stderr and "'rate-based'" in result.stderr
    )


def test_closest_temporal_scaler_is_an_explicit_choice(
    controller_server: DevServer, tmp_path: Path
) -> None:
    """``--temporal-scaler closest`` sends ``no-sync`` for an invoke provider and prints it."""
    address = controller_server.address
    deployment = f"closest-{uuid.uuid4().hex[:8]}"
    doc = _spec(deployment, "v1", {"type": "test-invoke"}, {})
    pushed = _cli("push", "--to-temporal", "-f", str(_write(tmp_path, doc)), "--address", address,
                  "--temporal-scaler", "closest")  # fmt: skip
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "group 'default': scaler slo (the default) -> no-sync" in pushed.stdout
    doc["compute"]["scaling_groups"]["default"]["scaler"] = {"type": "no-sync"}
    _assert_same_on_server(address, doc)


def test_push_and_validate_through_a_tls_front_with_an_api_key(
    controller_server: DevServer, tmp_path: Path
) -> None:
    """The interop commands connect through the shared resolver: TLS and API key from env."""
    front, nginx = start_front(controller_server.address, tmp_path / "nginx")
    try:
        env = {
            "TEMPORAL_ADDRESS": front.tls_address,
            "TEMPORAL_API_KEY": front.api_key,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(front.ca_path),
        }
        deployment = f"tls-{uuid.uuid4().hex[:8]}"
        spec = _write(
            tmp_path, _spec(deployment, "v1", {"type": "test-invoke"}, {"type": "no-sync"})
        )
        pushed = _cli("push", "--to-temporal", "-f", str(spec), env=env)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert f"compute config created on {front.tls_address}" in pushed.stdout
        validated = _cli("validate", "-f", str(spec), "--server", env=env)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        no_key = _cli("push", "--to-temporal", "-f", str(spec),
                      env={**env, "TEMPORAL_API_KEY": ""})  # fmt: skip
        assert no_key.returncode == 1
        assert no_key.stderr.count("\n") == 1 and "no API key is set" in no_key.stderr
    finally:
        nginx.terminate()
        nginx.wait(10)
