"""The subprocess provider with real child processes (small Python scripts playing workers)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.subprocess.layout import group_directory
from workerplane.providers.subprocess.provider import SubprocessProvider
from workerplane.scaling.types import Strategy

# A stand-in worker: reports its status like the real runtime, holds IN_FLIGHT tasks, and on
# SIGTERM either exits after FINISH_S seconds (finishing its work) or ignores it (IGNORE_TERM).
FAKE_WORKER = """
import os, signal, sys, time
from pathlib import Path
from workerplane.worker.status import WorkerStatus, write_status
in_flight = int(os.environ.get("IN_FLIGHT", "0"))
slots = int(os.environ["REPORT_SLOTS"]) if os.environ.get("REPORT_SLOTS") else None
finished = int(os.environ.get("TASKS_FINISHED", "0"))
status = Path(os.environ["WORKERPLANE_STATUS_FILE"])
state = {"name": "polling"}
def report():
    write_status(status, WorkerStatus(pid=os.getpid(), state=state["name"], in_flight=in_flight,
                                      started_at=time.time(), updated_at=time.time(),
                                      slots=slots, tasks_finished=finished,
                                      task_seconds=1.5 * finished,
                                      running_seconds=float(os.environ.get("RUNNING_S", "0"))))
def on_term(*_):
    if os.environ.get("IGNORE_TERM"):
        return
    state["name"] = "draining"; report()
    time.sleep(float(os.environ.get("FINISH_S", "0")))
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
while True:
    report()
    time.sleep(0.2)
"""


def _provider(
    tmp_path: Path, *, strategy: str = "worker-set", **details: object
) -> SubprocessProvider:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    context = dict(
        deployment="dep",
        group_id="g",
        details={"command": sys.executable, "args": [str(script)], "strategy": strategy, **details},
        worker_env=WorkerEnvironment(
            address="127.0.0.1:1", namespace="default", task_queues=("q",)
        ),
        state_dir=tmp_path / "state",
    )
    provider = build_provider("subprocess", **context)
    assert isinstance(provider, SubprocessProvider)
    return provider


async def _eventually(check, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def test_worker_set_holds_size_and_reports_readiness(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    await provider.start()
    await provider.set_size(3)

    async def ready() -> bool:
        census = await provider.census()
        return census.running == 3 and census.ready == 3

    await _eventually(ready)
    census = await provider.census()
    assert census.in_flight == 0 and census.desired == 3
    await provider.drain(timeout_s=10)
    assert (await provider.census()).running == 0


async def test_census_reports_slots_and_task_durations_as_the_workers_report_them(
    tmp_path: Path,
) -> None:
    provider = _provider(
        tmp_path,
        slots=4,
        env={"REPORT_SLOTS": "3", "TASKS_FINISHED": "2", "IN_FLIGHT": "2", "RUNNING_S": "7.5"},
    )
    await provider.start()
    census = await provider.census()
    assert census.slots == 4 and census.mean_task_s is None  # no worker yet: configured slots
    await provider.set_size(1)

    async def reported() -> bool:
        census = await provider.census()
        return census.slots == 3 and census.mean_task_s == 1.5 and census.tasks_finished == 2

    await _eventually(reported)
    # How long the tasks in flight have run: as reported, plus the time since the report for
    # each of the two (a report is at most a heartbeat old, 0.2 s here).
    running = (await provider.census()).in_flight_s
    assert running is not None and 7.5 <= running < 7.5 + 2 * 5.0
    assert (await provider.census()).tasks_completed == 2
    await provider.drain(timeout_s=10)
    # The worker is gone; its completions still count, so the running total never falls.
    census = await provider.census()
    assert census.running == 0 and census.tasks_completed == 2


async def test_invoke_starts_workers_with_temporal_env(tmp_path: Path) -> None:
    provider = _provider(tmp_path, strategy="invoke")
    assert provider.strategy is Strategy.INVOKE
    await provider.start()
    assert await provider.invoke(2) == 2
    pids = [pid for _, pid, _ in provider.workers()]
    environ = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
    assert b"TEMPORAL_ADDRESS=127.0.0.1:1" in environ
    assert b"TEMPORAL_TASK_QUEUE=q" in environ
    assert b"WORKERPLANE_IDLE_EXIT_S=10.0" in environ
    await provider.drain(timeout_s=10)


async def test_scale_down_retires_idle_workers_first(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    await provider.start()
    os.environ["IN_FLIGHT"] = "3"
    try:
        await provider.set_size(1)
    finally:
        del os.environ["IN_FLIGHT"]
    busy_pid = provider.workers()[0][1]
    await provider.set_size(3)

    async def all_ready() -> bool:
        return (await provider.census()).ready == 3

    await _eventually(all_ready)
    await provider.set_size(1)

    async def shrunk() -> bool:
        return len(provider.workers()) == 1

    await _eventually(shrunk)
    assert provider.workers()[0][1] == busy_pid, "the busy worker must be kept"
    await provider.drain(timeout_s=10)


async def test_scale_down_keeps_the_worker_whose_tasks_ran_longest(tmp_path: Path) -> None:
    """Counted by tasks, the worker with three young tasks would stay; the one with a single
    task that has run two minutes goes, and bills on until it ends. Retired by how long their
    tasks ran, the young tasks' worker goes (scaling.retire); the census lists each polling
    worker's load in that order."""
    provider = _provider(tmp_path)
    await provider.start()
    for in_flight, running_s in (("1", "120"), ("3", "1.5")):
        os.environ.update(IN_FLIGHT=in_flight, RUNNING_S=running_s)
        try:
            await provider.set_size(len(provider.workers()) + 1)
        finally:
            del os.environ["IN_FLIGHT"], os.environ["RUNNING_S"]
    held_pid = provider.workers()[0][1]

    async def both_ready() -> bool:
        return (await provider.census()).ready == 2

    await _eventually(both_ready)
    loads = (await provider.census()).loads
    assert loads is not None and [load.in_flight for load in loads] == [3, 1]
    await provider.set_size(1)

    async def shrunk() -> bool:
        return len(provider.workers()) == 1

    await _eventually(shrunk)
    assert provider.workers()[0][1] == held_pid, "the worker holding the long task must be kept"
    await provider.drain(timeout_s=10)


async def test_sigkill_after_grace_period(tmp_path: Path) -> None:
    provider = _provider(tmp_path, grace_period_s=2.0, env={"IGNORE_TERM": "1"})
    await provider.start()
    await provider.set_size(1)
    pid = provider.workers()[0][1]

    async def polling() -> bool:
        # It reports only after installing its SIGTERM handler; a SIGTERM before that kills it.
        return (await provider.census()).ready == 1

    await _eventually(polling)
    await provider.set_size(0)
    assert _alive(pid), "SIGTERM was ignored, so the worker is still there within the grace"

    async def gone() -> bool:
        await provider.census()
        return not _alive(pid)

    await _eventually(gone, timeout_s=15)


async def test_graceful_scale_down_waits_for_work(tmp_path: Path) -> None:
    provider = _provider(tmp_path, env={"FINISH_S": "1.5"})
    await provider.start()
    await provider.set_size(1)
    pid = provider.workers()[0][1]

    async def polling() -> bool:
        return (await provider.census()).ready == 1

    await _eventually(polling)
    await provider.set_size(0)
    assert (await provider.census()).running == 0, "a retiring worker no longer counts"
    await asyncio.sleep(0.5)
    assert _alive(pid), "it is finishing its in-flight work"
    await _eventually(lambda: _async(not _alive(pid)), timeout_s=15)


async def _async(value: bool) -> bool:
    return value


async def test_restarted_provider_adopts_its_workers(tmp_path: Path) -> None:
    first = _provider(tmp_path)
    await first.start()
    await first.set_size(2)
    pids = {pid for _, pid, _ in first.workers()}
    await first.close()  # the controller goes away; its workers keep running

    second = _provider(tmp_path)
    await second.start()
    assert {pid for _, pid, _ in second.workers()} == pids
    assert (await second.census()).running == 2
    await second.set_size(0)

    async def all_gone() -> bool:
        await second.census()
        return not any(_alive(pid) for pid in pids)

    await _eventually(all_gone)
    await second.close()


async def test_stale_records_are_not_adopted(tmp_path: Path) -> None:
    first = _provider(tmp_path)
    await first.start()
    await first.set_size(1)
    await first.drain(timeout_s=10)
    record_dir = group_directory(tmp_path / "state", "dep", "g")
    (record_dir / "w-deadbeef0000.json").write_text(
        '{"worker_id": "w-deadbeef0000", "pid": 1, "ticks": 1, "started_at": 0}'
    )
    second = _provider(tmp_path)
    await second.start()
    assert second.workers() == []
    assert not (record_dir / "w-deadbeef0000.json").exists()
    await second.close()


async def test_validate_reports_missing_command(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    assert (await provider.validate()).ok
    missing = build_provider(
        "subprocess",
        {"command": "no-such-command-xyz"},
        deployment="dep",
        group_id="g",
        worker_env=WorkerEnvironment("a", "n", ("q",)),
        state_dir=tmp_path,
    )
    check = await missing.validate()
    assert not check.ok and "no-such-command-xyz" in check.message and check.kind == "not_found"


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def test_preload_forks_workers_from_a_server_and_adopts_them(tmp_path: Path) -> None:
    """``preload``: workers are forked from a server that imported the module once."""
    module = tmp_path / "fake_worker_mod.py"
    module.write_text(
        "import os\nif __name__ == '__main__':\n"
        + "\n".join("    " + line for line in FAKE_WORKER.strip().splitlines())
    )
    context = dict(
        deployment="dep",
        group_id="pre",
        details={
            "command": sys.executable,
            "args": ["-m", "fake_worker_mod"],
            "cwd": str(tmp_path),
            "strategy": "worker-set",
            "preload": True,
        },
        worker_env=WorkerEnvironment(
            address="127.0.0.1:1", namespace="default", task_queues=("q",)
        ),
        state_dir=tmp_path / "state",
    )
    provider = build_provider("subprocess", **context)
    await provider.start()
    await provider.set_size(2)

    async def ready() -> bool:
        return (await provider.census()).ready == 2

    await _eventually(ready)
    assert isinstance(provider, SubprocessProvider)
    pids = {pid for _, pid, _ in provider.workers()}
    await provider.close()  # the fork server exits; its workers live on

    again = build_provider("subprocess", **context)
    await again.start()
    assert isinstance(again, SubprocessProvider)
    assert {pid for _, pid, _ in again.workers()} == pids
    await again.drain(timeout_s=10)
    assert not any(_alive(pid) for pid in pids)
    await again.close()


async def test_worker_without_a_record_is_found_and_adopted(tmp_path: Path) -> None:
    """A controller killed between starting a worker and recording it leaves no orphan."""
    first = _provider(tmp_path)
    await first.start()
    await first.set_size(1)
    worker_id, pid, _ = first.workers()[0]
    await first.close()
    # The record never landed.
    (group_directory(tmp_path / "state", "dep", "g") / f"{worker_id}.json").unlink()

    second = _provider(tmp_path)
    await second.start()
    assert [(w, p) for w, p, _ in second.workers()] == [(worker_id, pid)]
    await second.drain(timeout_s=10)
    assert not _alive(pid)
    await second.close()


async def test_a_group_gone_to_zero_forgets_its_crashes(tmp_path: Path) -> None:
    """Workers that crashed while they were wanted (say, Temporal was down) are not the error of
    a group that has since gone to zero on purpose: no worker is wanted or failing there."""
    script = tmp_path / "crash.py"
    script.write_text("import sys\nsys.exit(3)\n")
    provider = build_provider(
        "subprocess",
        deployment="dep",
        group_id="g",
        details={"command": sys.executable, "args": [str(script)], "strategy": "worker-set"},
        worker_env=WorkerEnvironment(
            address="127.0.0.1:1", namespace="default", task_queues=("q",)
        ),
        state_dir=tmp_path / "state",
    )
    assert isinstance(provider, SubprocessProvider)
    await provider.start()
    await provider.set_size(1)

    async def crashed() -> bool:
        return (await provider.census()).last_worker_exit is not None

    await _eventually(crashed)
    await provider.set_size(0)
    assert (await provider.census()).last_worker_exit is None
    await provider.drain(timeout_s=5)


async def test_a_replacing_provider_takes_the_workers_over_and_retires_the_stale_ones(
    tmp_path: Path,
) -> None:
    """The spec changed in the controller's run (here a new variable): the new provider adopts
    the old one's workers, retires them gracefully because they run the old launch, and starts
    its own; the old provider, closed without a drain, leaves the lease to the new one."""
    first = _provider(tmp_path, env={"FINISH_S": "5"})  # a retired worker leaves 5 s later
    await first.start()
    await first.set_size(2)
    old = {pid for _, pid, _ in first.workers()}

    async def up() -> bool:
        return (await first.census()).ready == 2  # running their SIGTERM handler

    await _eventually(up)
    second = _provider(tmp_path, env={"FINISH_S": "5", "RELEASE": "2"})
    assert second.claim == first.claim
    await second.start()
    assert {(pid, retiring) for _, pid, retiring in second.workers()} == {(p, True) for p in old}
    await first.close()
    await second.set_size(2)
    new = {pid for _, pid, retiring in second.workers() if not retiring}
    assert len(new) == 2 and not new & old

    async def only_new_left() -> bool:
        await second.census()
        return not any(_alive(pid) for pid in old)

    await _eventually(only_new_left)
    lease = group_directory(tmp_path / "state", "dep", "g") / "controller.lease"
    assert lease.is_symlink(), "the lease is still renewed for the new provider's workers"
    assert all("RELEASE=2" in _environ(pid) for pid in new)
    census = await second.census()
    assert (census.running, census.desired) == (2, 2)
    await second.drain(timeout_s=10)
    await second.close()


async def test_a_restart_on_the_same_spec_keeps_its_workers_and_one_on_a_new_spec_replaces_them(
    tmp_path: Path,
) -> None:
    first = _provider(tmp_path, env={"FINISH_S": "5"})
    await first.start()
    await first.set_size(1)

    async def up() -> bool:
        return (await first.census()).ready == 1  # running its SIGTERM handler

    await _eventually(up)
    await first.close()

    same = _provider(tmp_path, env={"FINISH_S": "5"})
    await same.start()
    assert [retiring for _, _, retiring in same.workers()] == [False]
    await same.close()

    changed = _provider(tmp_path, env={"FINISH_S": "5"}, slots=4)
    await changed.start()
    assert [retiring for _, _, retiring in changed.workers()] == [True]
    await changed.drain(timeout_s=10)
    await changed.close()


def _environ(pid: int) -> str:
    return Path(f"/proc/{pid}/environ").read_text().replace("\0", "\n")
