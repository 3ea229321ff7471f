"""Leader election on a Lease, against kmock (in-memory Kubernetes API; it keeps no
resourceVersion, so the 409 race between two candidates is not exercised here)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from k8s_support import kubeconfig_for, start_emulator, stop_emulator

from workerplane.providers.kubernetes.api import KubeApi, ObjectRef, load_api_client
from workerplane.providers.kubernetes.leader import LeaseElector, run_as_leader


@pytest_asyncio.fixture
async def api() -> AsyncIterator[KubeApi]:
    emulator, server, url = await start_emulator()
    client = KubeApi(load_api_client(kubeconfig_for(url)))
    try:
        yield client
    finally:
        client.close()
        await stop_emulator(emulator, server)


async def test_one_holder_until_the_lease_expires(api: KubeApi) -> None:
    a = LeaseElector(api, "cp", "wp", "pod-a", lease_seconds=1)
    b = LeaseElector(api, "cp", "wp", "pod-b", lease_seconds=1)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert await a.try_acquire()  # renew
    await asyncio.sleep(1.3)  # a stops renewing (crashed)
    assert await b.try_acquire()
    assert not await a.try_acquire()
    lease = await api.get(ObjectRef("Lease", "cp", "wp"))
    assert lease is not None and lease["spec"]["holderIdentity"] == "pod-b"
    assert lease["spec"]["leaseTransitions"] == 1


async def test_only_the_leader_runs_the_command_and_releases_on_stop(
    api: KubeApi, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    command = [
        sys.executable,
        "-c",
        f"import pathlib, time; pathlib.Path({str(marker)!r}).write_text('x'); time.sleep(60)",
    ]
    a = LeaseElector(api, "cp", "wp", "pod-a", lease_seconds=30)
    b = LeaseElector(api, "cp", "wp", "pod-b", lease_seconds=30)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(run_as_leader(a, command, renew_every_s=0.2, stop=stop_a))
    for _ in range(300):
        if marker.exists():
            break
        await asyncio.sleep(0.1)
    assert marker.exists()
    marker.unlink()
    task_b = asyncio.create_task(run_as_leader(b, command, renew_every_s=0.2, stop=stop_b))
    await asyncio.sleep(1.0)
    assert not marker.exists()  # b is a standby
    stop_a.set()
    await asyncio.wait_for(task_a, 30)  # the command was stopped with SIGTERM
    for _ in range(300):  # a released the lease: b takes over without waiting 30 s
        if marker.exists():
            break
        await asyncio.sleep(0.1)
    assert marker.exists()
    stop_b.set()
    await asyncio.wait_for(task_b, 30)
