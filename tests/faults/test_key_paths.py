"""Fault: two versions whose keys differ only by ``/`` against ``_`` shared one worker directory,
so after a failover each adopted the other's workers. Keys now map to paths one-to-one."""

from __future__ import annotations

import sys
from pathlib import Path

from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.subprocess.layout import group_directory, path_component
from workerplane.providers.subprocess.provider import SubprocessProvider

# A worker that only waits to be told to go (SIGTERM ends it).
IDLE_WORKER = "import time\nwhile True:\n    time.sleep(0.2)\n"


def _provider(tmp_path: Path, key: str) -> SubprocessProvider:
    script = tmp_path / "idle_worker.py"
    script.write_text(IDLE_WORKER)
    provider = build_provider(
        "subprocess",
        {"command": sys.executable, "args": [str(script)], "strategy": "worker-set"},
        deployment=key,
        group_id="workers",
        worker_env=WorkerEnvironment(
            address="127.0.0.1:1", namespace="default", task_queues=("q",)
        ),
        state_dir=tmp_path / "state",
    )
    assert isinstance(provider, SubprocessProvider)
    return provider


def test_keys_differing_by_slash_and_underscore_get_their_own_directory(tmp_path: Path) -> None:
    keys = ["orders/v2", "orders_v2", "orders?v2", "orders v2"]
    assert len({path_component(k) for k in keys}) == len(keys)
    assert len({group_directory(tmp_path, k, "g") for k in keys}) == len(keys)
    assert path_component("orders/v2").startswith("orders_v2-")  # still readable
    assert len(path_component("x" * 1000)) < 100  # a long key still makes a valid file name


async def test_after_a_failover_each_version_adopts_only_its_own_workers(tmp_path: Path) -> None:
    slash, underscore = _provider(tmp_path, "orders/v2"), _provider(tmp_path, "orders_v2")
    await slash.start()
    await underscore.start()
    try:
        await slash.set_size(1)
        await underscore.set_size(2)
        assert len(slash.workers()) == 1 and len(underscore.workers()) == 2
        own = {p: {pid for _, pid, _ in p.workers()} for p in (slash, underscore)}
        # The controller goes away (workers live on) and a new one takes over.
        await slash.close()
        await underscore.close()
        slash_again, underscore_again = (
            _provider(tmp_path, "orders/v2"),
            _provider(tmp_path, "orders_v2"),
        )
        await slash_again.start()
        await underscore_again.start()
        assert {pid for _, pid, _ in slash_again.workers()} == own[slash]
        assert {pid for _, pid, _ in underscore_again.workers()} == own[underscore]
        assert (await slash_again.census()).running == 1
        assert (await underscore_again.census()).running == 2
        slash, underscore = slash_again, underscore_again
    finally:
        for provider in (slash, underscore):
            await provider.drain(timeout_s=10)
            await provider.close()
