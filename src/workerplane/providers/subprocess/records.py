"""Worker records: what a controller run writes down about each worker, so the next run adopts it.

Every worker has a record ``<worker_id>.json`` in the scaling group's directory (pid, kernel start
time, worker ID, the launch it was started from), beside its status file and log. A restarted
controller reads the records, keeps the workers that are still the processes they name, and finds
from the kernel any worker whose record never landed (the controller died between starting it and
writing it down): no worker is ever orphaned, and none is counted twice.

The *launch* is a fingerprint of what the worker was started with: command, arguments and
environment (:func:`launch_fingerprint`). A provider that adopts a worker of another launch (the
spec changed while the controller was away, or in its run) knows it runs a stale spec.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from workerplane.providers.subprocess import procfs

logger = logging.getLogger("workerplane.providers.subprocess")

WORKER_ID_ENV = "WORKERPLANE_WORKER_ID"
#: Set in a fork server's own environment (which its forked workers show in /proc/PID/environ).
FORKSERVER_DIR_ENV = "WORKERPLANE_FORKSERVER_DIR"
#: The worker's launch fingerprint, in its environment (for a worker found without a record).
LAUNCH_ENV = "WORKERPLANE_LAUNCH"


#: Groups adopting at about the same time (a controller starting) share one scan of ``/proc``.
ADOPTION_SCAN_S = 2.0


@dataclass
class WorkerProcess:
    """One worker as the provider tracks it."""

    worker_id: str
    pid: int
    start_ticks: int
    process: subprocess.Popen[bytes] | None  # None when adopted from an earlier controller
    started_at: float
    retiring_since: float | None = None
    killed: bool = False
    #: The launch it was started from (``None``: recorded by a workerplane without launches).
    launch: str | None = None

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return procfs.start_ticks(self.pid) == self.start_ticks


class WorkerRecords:
    """The records, status files and logs of one scaling group's workers, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, worker_id: str, suffix: str) -> Path:
        """Where a worker's record (``.json``), status (``.status``) or log (``.log``) lives."""
        return self.directory / f"{worker_id}{suffix}"

    def write(self, worker: WorkerProcess) -> None:
        record = {
            "worker_id": worker.worker_id,
            "pid": worker.pid,
            "ticks": worker.start_ticks,
            "started_at": worker.started_at,
            "launch": worker.launch,
        }
        tmp = self.directory / f".{worker.worker_id}.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.path(worker.worker_id, ".json"))

    def forget(self, worker_id: str, *, keep_log: bool = False) -> None:
        """Delete a gone worker's files (its log too, unless it is kept to explain a failure)."""
        for suffix in (".json", ".status") if keep_log else (".json", ".status", ".log"):
            self.path(worker_id, suffix).unlink(missing_ok=True)

    def adopt(self) -> list[WorkerProcess]:
        """The live workers an earlier controller run started; the records of the rest go."""
        adopted = [
            w for w in map(self._adopt_recorded, sorted(self.directory.glob("w-*.json"))) if w
        ]
        known = {w.pid for w in adopted}
        live = procfs.live_worker_pids(f"{self.directory}/", max_age_s=ADOPTION_SCAN_S)
        for pid in live - known:
            ticks = procfs.start_ticks(pid)
            if ticks is None:
                continue
            worker_id = procfs.environ_value(pid, WORKER_ID_ENV) or f"w-pid{pid}"
            launch = procfs.environ_value(pid, LAUNCH_ENV)
            worker = WorkerProcess(worker_id, pid, ticks, None, time.time(), launch=launch)
            self.write(worker)
            adopted.append(worker)
            logger.info("adopted worker %s (pid %d) that had no record", worker_id, pid)
        return adopted

    def _adopt_recorded(self, record_path: Path) -> WorkerProcess | None:
        try:
            record = json.loads(record_path.read_text())
            worker_id, pid, ticks = record["worker_id"], int(record["pid"]), int(record["ticks"])
        except (OSError, ValueError, KeyError):
            record_path.unlink(missing_ok=True)
            return None
        if procfs.start_ticks(pid) == ticks and self._started_here(pid, worker_id):
            logger.info("adopted worker %s (pid %d)", worker_id, pid)
            return WorkerProcess(
                worker_id,
                pid,
                ticks,
                None,
                float(record.get("started_at", time.time())),
                launch=record.get("launch"),
            )
        self.forget(worker_id)
        return None

    def _started_here(self, pid: int, worker_id: str) -> bool:
        """Whether ``pid`` runs as ``worker_id`` (itself, or forked from this group's server)."""
        return procfs.environ_has(pid, f"{WORKER_ID_ENV}={worker_id}") or procfs.environ_has(
            pid, f"{FORKSERVER_DIR_ENV}={self.directory}"
        )


def launch_fingerprint(command: list[str], cwd: str | None, env: dict[str, str]) -> str:
    """A short digest of what a worker is started with: the same launch, the same digest.

    ``env`` holds only what the provider sets (not the controller's own environment, which may
    differ from run to run without changing the spec). It may hold secrets: only the digest is
    kept, never the values.
    """
    text = json.dumps([command, cwd, sorted(env.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
