"""Adoption of subprocess workers, against a fake ``/proc`` that can hold a process mid-``exec``.

Right after ``Popen`` returns, the kernel may not yet have laid out the child's environment:
``/proc/PID/environ`` and ``/proc/PID/cmdline`` read empty until it has. A controller restarted in
that moment must still recognise the worker. A real child leaves that window too quickly to test
it, so these tests play the kernel: the first wait of the reader finishes the ``exec``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workerplane.providers.subprocess import procfs
from workerplane.providers.subprocess.records import WORKER_ID_ENV, WorkerProcess, WorkerRecords

PID, TICKS = 4242, 777
_PF_KTHREAD = 0x00200000


def _fake_process(proc: Path, pid: int, *, flags: int = 0, environ: bytes, cmdline: bytes) -> Path:
    entry = proc / str(pid)
    entry.mkdir(parents=True)
    fields = ["S", "1", str(pid), str(pid), "0", "-1", str(flags), *["0"] * 12, str(TICKS)]
    (entry / "stat").write_text(f"{pid} (python3 worker) {' '.join([*fields, '0', '0'])}\n")
    (entry / "environ").write_bytes(environ)
    (entry / "cmdline").write_bytes(cmdline)
    return entry


@pytest.fixture
def proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    monkeypatch.setattr(procfs, "PROC", root)
    return root


def _finish_exec_on_first_wait(
    monkeypatch: pytest.MonkeyPatch, entry: Path, environ: bytes
) -> list[float]:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        (entry / "environ").write_bytes(environ)
        (entry / "cmdline").write_bytes(b"python3\0worker.py\0")

    monkeypatch.setattr(procfs.time, "sleep", sleep)
    return waits


def test_environ_waits_for_a_process_that_is_mid_exec(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _fake_process(proc, PID, environ=b"", cmdline=b"")
    waits = _finish_exec_on_first_wait(monkeypatch, entry, b"A=1\0")
    assert procfs.environ_value(PID, "A") == "1"
    assert len(waits) == 1


def test_environ_does_not_wait_for_processes_that_have_none(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_process(proc, 1, flags=_PF_KTHREAD, environ=b"", cmdline=b"")  # a kernel thread
    _fake_process(proc, 2, environ=b"", cmdline=b"/usr/bin/env-less\0")  # started with env -i
    waits = _finish_exec_on_first_wait(monkeypatch, proc / "1", b"A=1\0")
    assert procfs.environ(1) == [] and procfs.environ(2) == []
    assert procfs.environ(3) is None  # gone
    assert waits == []


def test_a_worker_recorded_mid_exec_is_adopted(
    proc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The predecessor started the worker and recorded it; its exec is not finished yet."""
    directory = tmp_path / "state" / "dep" / "g"
    directory.mkdir(parents=True)
    WorkerRecords(directory).write(WorkerProcess("w-1", PID, TICKS, None, 0.0))
    entry = _fake_process(proc, PID, environ=b"", cmdline=b"")
    _finish_exec_on_first_wait(
        monkeypatch, entry, f"{WORKER_ID_ENV}=w-1\0STATUS={directory}/w-1.status\0".encode()
    )
    adopted = WorkerRecords(directory).adopt()
    assert [(w.worker_id, w.pid, w.start_ticks) for w in adopted] == [("w-1", PID, TICKS)]
    assert (directory / "w-1.json").exists()


def test_an_unrecorded_worker_mid_exec_is_adopted(
    proc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The predecessor died after starting the worker, before recording it."""
    directory = tmp_path / "state" / "dep" / "g"
    directory.mkdir(parents=True)
    entry = _fake_process(proc, PID, environ=b"", cmdline=b"")
    _finish_exec_on_first_wait(
        monkeypatch, entry, f"{WORKER_ID_ENV}=w-2\0STATUS={directory}/w-2.status\0".encode()
    )
    adopted = WorkerRecords(directory).adopt()
    assert [(w.worker_id, w.pid) for w in adopted] == [("w-2", PID)]
    assert (directory / "w-2.json").exists()
