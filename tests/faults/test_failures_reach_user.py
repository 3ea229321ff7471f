"""Fault: failures that stayed in the log. A group whose provider cannot start (a Kubernetes
provider with an invalid kubeconfig) now fails its version with the reason and is retried with
backoff, logged once; ``workerplane run`` against a wrong address or namespace says so, retries,
and exits non-zero after ``--give-up-after``."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from run_cli import start_run, status_json, stop, wait_until

from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource
from workerplane.controller.settings import ControllerSettings
from workerplane.embedded.example import write_deployment
from workerplane.planning.status import ControllerStatus, GroupStatus, Readiness, VersionStatus
from workerplane.temporal.devserver import free_port

pytestmark = pytest.mark.integration

BAD_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"


def _k8s_spec(path: Path, name: str) -> Path:
    return write_deployment(
        path,
        name=name,
        task_queue=name,
        groups={
            "pods": {
                "provider": {
                    "type": "k8s",
                    "details": {"deployment": "workers", "kubeconfig": BAD_KUBECONFIG},
                },
                "scaler": {"type": "backlog", "details": {"min_count": 1, "max_count": 3}},
            }
        },
    )


class RecordingSink:
    def __init__(self) -> None:
        self.versions: list[VersionStatus] = []

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        self.versions.extend(versions)


async def test_a_provider_that_cannot_start_fails_its_version_with_the_reason(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    source = FileSpecSource(_k8s_spec(tmp_path / "deploy.yaml", unique_name))
    sink = RecordingSink()
    settings = ControllerSettings(state_dir=tmp_path / "state", address=temporal_address)
    controller = Controller(source, sink, settings)
    stop_event = asyncio.Event()
    running = asyncio.create_task(controller.run(stop_event))
    try:
        for _ in range(600):
            if any(v.readiness is Readiness.UPDATE_FAILED for v in sink.versions):
                break
            await asyncio.sleep(0.1)
        failed = [v for v in sink.versions if v.readiness is Readiness.UPDATE_FAILED]
        assert failed, sink.versions[-1:] or "nothing published"
        assert failed[0].reason is not None and "Invalid kube-config" in failed[0].reason
        assert failed[0].validation_error and "cannot start" in failed[0].validation_error
        assert controller.statuses()[0].provider_validation_error == failed[0].validation_error
    finally:
        stop_event.set()
        await running
        await controller.shutdown(drain=False)


def test_run_reports_the_failure_in_status_and_logs_it_once(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    spec = _k8s_spec(tmp_path / "deploy.yaml", unique_name)
    state, log = tmp_path / "state", tmp_path / "controller.log"
    controller = start_run(spec, state, log, "--address", temporal_address, "-v")
    try:

        def reported() -> bool:
            groups = status_json(state) if (state / "status.json").exists() else []
            return bool(groups) and bool(groups[0]["provider_validation_error"])

        wait_until(reported, "the failure in `workerplane status`")
        assert "Invalid kube-config" in status_json(state)[0]["provider_validation_error"]
        # Retried (with backoff) and said once, not every second.
        wait_until(lambda: log.read_text().count("still cannot start") >= 2, "two more tries")
        assert log.read_text().count("(retrying with backoff)") == 1
    finally:
        stop(controller)


@pytest.mark.parametrize("wrong", ["address", "namespace"])
def test_run_gives_up_on_a_wrong_address_or_namespace(
    temporal_address: str, tmp_path: Path, unique_name: str, wrong: str
) -> None:
    spec = write_deployment(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"g": {"provider": {"type": "subprocess", "details": {"command": "python"}}}},
    )
    if wrong == "address":
        target = ["--address", f"127.0.0.1:{free_port()}"]
        expected = f"127.0.0.1:{target[1].split(':')[1]}"
    else:
        target = ["--address", temporal_address, "--namespace", f"no-such-{unique_name}"]
        expected = f"namespace 'no-such-{unique_name}' was not found"
    log = tmp_path / "controller.log"
    controller = start_run(spec, tmp_path / "state", log, *target, "--give-up-after", "3s")
    try:
        code = controller.wait(timeout=120)
    except subprocess.TimeoutExpired:
        stop(controller)
        raise AssertionError(f"run did not give up: {log.read_text()[-2000:]}") from None
    output = log.read_text()
    assert code != 0, output
    assert expected in output and "retrying with backoff" in output, output
    assert output.count("retrying with backoff") == 1, output
    assert "gave up after 3s" in output, output
