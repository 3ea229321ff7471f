"""Controller crashes and versioned deployments, on the real dev server with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.support import REPO_ROOT, subprocess_group, write_spec
from workerplane.providers.subprocess.procfs import live_worker_pids

pytestmark = pytest.mark.integration


def _processes_mentioning(marker: str) -> list[int]:
    """PIDs of live worker processes of the state directory ``marker``."""
    return sorted(live_worker_pids(marker))


def _start_cli(spec: Path, address: str, state_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workerplane.cli.main",
            "run",
            "-f",
            str(spec),
            "--address",
            address,
            "--state-dir",
            str(state_dir),
            *extra,
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(state_dir.parent / "controller.log", "ab"),
    )


async def test_sigkill_controller_mid_burst_leaves_no_orphans(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """SIGKILL the controller mid-burst, start it again: all work finishes, no process is left."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": subprocess_group(slots=2)},
    )
    client = await Client.connect(temporal_address)
    first = _start_cli(spec, temporal_address, state_dir)
    handles = [
        await client.start_workflow(
            ProcessItem.run, 2.0, id=f"{unique_name}-{i}", task_queue=unique_name
        )
        for i in range(20)
    ]
    deadline = time.monotonic() + 60
    while (
        len(_processes_mentioning(str(state_dir))) < 3
    ):  # the controller is not marked; workers are
        assert time.monotonic() < deadline, "workers never started"
        await asyncio.sleep(0.1)
    workers_before = set(_processes_mentioning(str(state_dir)))
    first.send_signal(signal.SIGKILL)
    first.wait()

    second = _start_cli(spec, temporal_address, state_dir, "--drain")
    try:
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)
        assert len(results) == 20
        # Every workflow completed exactly once, its activity on the first attempt or a retry
        # after the crash - but never lost.
        assert all(r.startswith("done after 2.0s") for r in results)
        # The restarted controller adopted (rather than duplicated) the surviving workers. On a
        # loaded machine the survivors can finish the burst while it is still starting up: wait
        # for it to adopt them, or for them to be gone.
        deadline = time.monotonic() + 90

        def adopted_or_gone() -> bool:
            log = (tmp_path / "controller.log").read_text()
            survivors = workers_before & set(_processes_mentioning(str(state_dir)))
            return "adopted worker" in log or not survivors

        while not adopted_or_gone():
            assert time.monotonic() < deadline, "the restarted controller never adopted them"
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + 60
        while _processes_mentioning(str(state_dir)):
            assert time.monotonic() < deadline, "workers left running after the work was done"
            await asyncio.sleep(0.2)
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=90)
    assert _processes_mentioning(str(state_dir)) == []


async def test_versioned_deployment_scales_from_zero(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    """A versioned deployment (deployment name + build ID, set current) scales from zero and back.

    The version is registered by a first worker (min_count 1) and made current; the spec is then
    edited to min_count 0 while the controller runs, and a burst on the version scales it back up.
    """
    deployment = {"name": f"{unique_name}-dep", "build_id": "v1"}
    spec_path = tmp_path / "deploy.yaml"
    group = subprocess_group(slots=2, scaler={"min_count": 1})
    write_spec(
        spec_path,
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": group},
        deployment=deployment,
    )
    running = await run_controller(spec_path)
    client = await Client.connect(temporal_address)

    async def set_current() -> bool:
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace="default",
                    deployment_name=deployment["name"],
                    build_id="v1",
                    identity="workerplane-test",
                )
            )
            return True
        except Exception:
            return False

    deadline = time.monotonic() + 60
    while not await set_current():
        assert time.monotonic() < deadline, "the version never registered"
        await asyncio.sleep(0.5)

    data = yaml.safe_load(spec_path.read_text())
    data["compute"]["scaling_groups"]["workers"]["scaler"]["details"]["min_count"] = 0
    spec_path.write_text(yaml.safe_dump(data))
    os.utime(spec_path, (time.time() + 1, time.time() + 1))
    await running.wait_for(lambda: running.workers() == 0, timeout_s=60)

    mark = len(running.history)
    handles = [
        await client.start_workflow(
            ProcessItem.run, 1.0, id=f"{unique_name}-{uuid.uuid4().hex[:6]}", task_queue=unique_name
        )
        for _ in range(10)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
    assert len(results) == 10
    peak_after = max(s.workers_running for snap in running.history[mark:] for s in snap)
    assert peak_after >= 2
    described = await handles[0].describe()
    assert (
        described.raw_description.workflow_execution_info.versioning_info.deployment_version.build_id
        == "v1"
    )
    await running.wait_for(lambda: running.workers() == 0, timeout_s=60)
