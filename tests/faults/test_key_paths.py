"""Fault: two versions whose keys differ only by ``/`` against ``_`` shared one worker directory,
so after a failover each adopted the other's workers. Keys now map to paths one-to-one."""

from __future__ import annotations

import json
import subprocess
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


#: The controller that takes over is a new process, as after a real failover: it builds both
#: groups' providers over the same state directory and prints what each adopted.
TAKE_OVER = """
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_key_paths import _provider

async def main() -> None:
    tmp = Path(sys.argv[1])
    adopted = {}
    for key in ("orders/v2", "orders_v2"):
        provider = _provider(tmp, key)
        await provider.start()
        adopted[key] = sorted(pid for _, pid, _ in provider.workers())
        await provider.drain(timeout_s=10)
        await provider.close()
    print(json.dumps(adopted))

asyncio.run(main())
"""


async def test_after_a_failover_each_version_adopts_only_its_own_workers(tmp_path: Path) -> None:
    slash, underscore = _provider(tmp_path, "orders/v2"), _provider(tmp_path, "orders_v2")
    await slash.start()
    await underscore.start()
    await slash.set_size(1)
    await underscore.set_size(2)
    own = {
        "orders/v2": sorted(pid for _, pid, _ in slash.workers()),
        "orders_v2": sorted(pid for _, pid, _ in underscore.workers()),
    }
    assert [len(v) for v in own.values()] == [1, 2]
    # The controller goes away (its workers live on) and a new one takes over, then drains.
    await slash.close()
    await underscore.close()
    result = subprocess.run(
        [sys.executable, "-c", TAKE_OVER, str(tmp_path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == own
