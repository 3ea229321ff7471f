"""The ``subprocess`` provider: workers are local processes (the embedded default).

Temporal's ``subprocess`` provider runs ``command`` with ``args``. Ours supports both strategies:

* ``invoke`` (Temporal's): each call starts more processes; workers exit by themselves once idle
  (``idle_exit_s``) or at ``max_lifetime_s``.
* ``worker-set``: hold exactly N processes; scaling down sends SIGTERM to the idlest workers, waits
  ``grace_period_s`` for in-flight work, then SIGKILL.

Every worker is recorded in ``state_dir`` (pid, kernel start time, a unique worker ID), so a
restarted controller finds the workers it started before and adopts them; workers also watch a
lease file the provider renews (one shared file per controller process: see ``lease.py``), and
leave by themselves once idle if no controller renews it. No orphan processes, ever. With
``preload``, workers are forked from a group's fork server (``fork_server.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from workerplane.providers.base import Provider, ProviderCheck, ProviderContext
from workerplane.providers.subprocess import procfs
from workerplane.providers.subprocess.crashes import CRASH_WINDOW_S, CrashLoop, prune_logs
from workerplane.providers.subprocess.details import SubprocessDetails
from workerplane.providers.subprocess.fork_server import ForkServer
from workerplane.providers.subprocess.layout import group_directory, warn_if_legacy_directory
from workerplane.providers.subprocess.lease import LEASE_RENEW_S, shared_lease
from workerplane.providers.subprocess.records import (
    LAUNCH_ENV,
    WORKER_ID_ENV,
    WorkerProcess,
    WorkerRecords,
    launch_fingerprint,
)
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.retire import pick_retirees, retire_order
from workerplane.scaling.types import Strategy, WorkerCensus, WorkerLoad
from workerplane.security.redact import register_secret
from workerplane.worker.runtime import (
    CONTROLLER_LEASE_ENV,
    GRACEFUL_SHUTDOWN_ENV,
    IDLE_EXIT_ENV,
    MAX_LIFETIME_ENV,
    ORPHAN_EXIT_ENV,
    SLOTS_ENV,
)
from workerplane.worker.status import STATUS_FILE_ENV, WorkerStatus, read_status

logger = logging.getLogger("workerplane.providers.subprocess")

#: How long a new worker may take to write its first status report.
STARTUP_REPORT_S = 30.0


class SubprocessProvider(Provider):
    """Runs workers as local processes and tracks them across controller restarts."""

    type = "subprocess"

    def __init__(self, context: ProviderContext[SubprocessDetails]) -> None:
        self._context = context
        self._settings = context.details
        self._worker_env = context.worker_env.with_secrets(context.details.secret_env)
        for value in self._worker_env.secret_env.values():
            register_secret(value)  # so a worker's output quoted in the status is scrubbed
        self.strategy = context.details.launch_strategy
        self._dir = group_directory(context.state_dir, context.deployment, context.group_id)
        self._lease = self._dir / "controller.lease"
        self._records = WorkerRecords(self._dir)
        self._workers: dict[str, WorkerProcess] = {}
        self._desired: int | None = None
        # Tasks finished by workers that have exited, so the census's completion count only grows.
        self._completed_by_exited = 0
        self._waited_by_exited = LatencySketch()
        preload = context.details.preload_module
        self._fork_server = (
            None if preload is None else ForkServer(preload, self._dir, self._settings.cwd)
        )
        self._crash_loop = CrashLoop()
        self._launch = launch_fingerprint(
            [self._command(), *self._settings.args], self._settings.cwd, self._provider_env()
        )

    @classmethod
    def from_context(cls, context: ProviderContext[SubprocessDetails]) -> SubprocessProvider:
        return cls(context)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        warn_if_legacy_directory(
            self._context.state_dir, self._context.deployment, self._context.group_id
        )
        self._dir.mkdir(parents=True, exist_ok=True)
        shared_lease(self._context.state_dir).join(self._lease, self._enforce_grace)
        self._adopt()
        if self._fork_server is not None:
            await asyncio.to_thread(self._fork_server.start, self._command(), self._base_env())

    async def close(self) -> None:
        if self._fork_server is not None:
            self._fork_server.close()
        await shared_lease(self._context.state_dir).leave(self._lease, self._enforce_grace)

    @property
    def claim(self) -> str:
        """The group's state directory: a provider that replaces this one adopts its workers."""
        return str(self._dir)

    def _adopt(self) -> None:
        """Take over the live workers an earlier controller run (or the provider this one
        replaces) started. Those started from another launch run a stale spec (an old command,
        connection or queue): they are retired gracefully, and new ones take their place."""
        for worker in self._records.adopt():
            self._workers[worker.worker_id] = worker
            if worker.launch != self._launch:
                logger.info(
                    "worker %s (pid %d) was started from an earlier spec: retiring it",
                    worker.worker_id,
                    worker.pid,
                )
                self._retire(worker)

    # -- checks ------------------------------------------------------------------------------

    async def validate(self) -> ProviderCheck:
        command = self._settings.command
        cwd = self._settings.cwd
        if cwd and not Path(cwd).is_dir():
            return ProviderCheck(False, f"working directory '{cwd}' does not exist", "not_found")
        resolved = shutil.which(command, path=self._path()) if os.sep not in command else command
        if resolved is None or not os.access(resolved, os.X_OK):
            return ProviderCheck(
                False, f"command '{command}' was not found or is not executable", "not_found"
            )
        return ProviderCheck(True, f"command '{command}' found at {resolved}")

    def _path(self) -> str:
        return self._settings.env.get("PATH") or os.environ.get("PATH", "")

    # -- scaling -----------------------------------------------------------------------------

    async def invoke(self, count: int) -> int:
        self._reap()
        if not self._crash_loop.may_start(time.time()):
            return 0
        for _ in range(count):
            self._spawn()
        return count

    async def set_size(self, size: int) -> None:
        self._desired = size
        self._reap()
        active = [w for w in self._workers.values() if w.retiring_since is None]
        if len(active) < size:
            # In a crash loop, wait out the backoff, then start one worker to try again.
            if self._crash_loop.crashes and self._crash_loop.may_start(time.time()):
                self._spawn()
            elif not self._crash_loop.crashes:
                for _ in range(size - len(active)):
                    self._spawn()
        elif len(active) > size:
            for worker in self._pick_victims(active, len(active) - size):
                self._retire(worker)

    async def census(self) -> WorkerCensus:
        self._reap()
        self._enforce_grace()
        if not self._workers and self._desired == 0:
            # A group gone to zero on purpose has no failing workers. Without this, crashes
            # during a Temporal outage stayed the group's error (and throttled its next
            # scale-up to one start at a time) when the workers that outlived the outage had
            # finished the work and no new one had started since.
            self._crash_loop.forget()
        active = [w for w in self._workers.values() if w.retiring_since is None]
        ready = 0
        in_flight = 0
        in_flight_known = True
        slots: int | None = None
        finished, task_seconds, running_seconds = 0, 0.0, 0.0
        loads: list[WorkerLoad] = []
        completed = self._completed_by_exited
        waited = self._waited_by_exited
        now = time.time()
        for worker in self._workers.values():
            if now - worker.started_at > CRASH_WINDOW_S:
                self._crash_loop.record_healthy(worker.started_at)
            status = self._status(worker.worker_id)
            if status is None:
                # A worker cannot hold tasks before it has polled; one that never reports (not
                # on workerplane's runtime) leaves the in-flight count unknown.
                if now - worker.started_at > STARTUP_REPORT_S:
                    in_flight_known = False
                continue
            completed += status.tasks_finished  # a stale report still counts what it finished
            waited = waited.merge(status.waited() or LatencySketch())
            if not status.is_fresh(now):
                in_flight_known = False
                continue
            in_flight += status.in_flight
            finished += status.tasks_finished
            task_seconds += status.task_seconds
            running_seconds += status.running_seconds_at(now)
            if status.polling and worker.retiring_since is None:
                self._crash_loop.record_healthy(worker.started_at)
                ready += 1
                loads.append(status.load(now))
                if status.slots is not None:
                    slots = status.slots if slots is None else min(slots, status.slots)
        return WorkerCensus(
            running=len(active),
            ready=ready,
            in_flight=in_flight if in_flight_known else None,
            desired=self._desired,
            slots=slots if slots is not None else self._settings.slots,
            mean_task_s=task_seconds / finished if finished else None,
            tasks_finished=finished,
            in_flight_s=running_seconds if in_flight_known else None,
            tasks_completed=completed,
            last_worker_exit=self._crash_loop.last_exit,
            schedule_to_start=waited,
            loads=retire_order(loads) if in_flight_known else None,
        )

    async def drain(self, timeout_s: float) -> None:
        """SIGTERM every worker, wait (in-flight work finishes), SIGKILL at the deadline."""
        self._desired = 0
        for worker in list(self._workers.values()):
            if worker.retiring_since is None:
                self._retire(worker)
        deadline = time.monotonic() + min(timeout_s, self._settings.grace_period_s)
        while self._workers and time.monotonic() < deadline:
            self._reap()
            await asyncio.sleep(0.1)
        for worker in list(self._workers.values()):
            self._kill(worker)
        self._reap()

    async def remove_resources(self) -> None:
        """Delete the group's directory (worker records, status files, logs) once no worker of
        it is left; a worker still running keeps its records."""
        self._reap()
        if self._workers:
            return
        await asyncio.to_thread(shutil.rmtree, self._dir, True)
        with contextlib.suppress(OSError):
            self._dir.parent.rmdir()  # the version's directory, once its last group is gone

    # -- internals ---------------------------------------------------------------------------

    def workers(self) -> list[tuple[str, int, bool]]:
        """``(worker_id, pid, retiring)`` of every live worker (for status and tests)."""
        self._reap()
        return [(w.worker_id, w.pid, w.retiring_since is not None) for w in self._workers.values()]

    def _status(self, worker_id: str) -> WorkerStatus | None:
        return read_status(self._records.path(worker_id, ".status"))

    def _provider_env(self) -> dict[str, str]:
        """Every variable this provider sets for its workers, but the per-worker ones."""
        env = self._context.worker_env.as_env()
        env.update(self._settings.env)
        env.update(self._worker_env.secret_env)
        env[CONTROLLER_LEASE_ENV] = str(self._lease)
        env[ORPHAN_EXIT_ENV] = str(max(5.0, 5 * LEASE_RENEW_S))
        env[GRACEFUL_SHUTDOWN_ENV] = str(self._settings.grace_period_s)
        if self.strategy is Strategy.INVOKE and self._settings.idle_exit_s is not None:
            env[IDLE_EXIT_ENV] = str(self._settings.idle_exit_s)
        else:
            env.pop(IDLE_EXIT_ENV, None)
        if self._settings.max_lifetime_s is not None:
            env[MAX_LIFETIME_ENV] = str(self._settings.max_lifetime_s)
        if self._settings.slots is not None:
            env[SLOTS_ENV] = str(self._settings.slots)
        return env

    def _base_env(self) -> dict[str, str]:
        # The controller's environment (PATH, PYTHONPATH, ...), minus any workerplane runtime
        # knobs of its own: a worker gets exactly the ones this provider sets.
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKERPLANE_")}
        env.update(self._provider_env())
        env[LAUNCH_ENV] = self._launch
        return env

    def _env_for(self, worker_id: str) -> dict[str, str]:
        env = self._base_env()
        env[WORKER_ID_ENV] = worker_id
        env[STATUS_FILE_ENV] = str(self._records.path(worker_id, ".status"))
        return env

    def _command(self) -> str:
        command = self._settings.command
        # The controller's own interpreter, with its packages, for the common case.
        return sys.executable if command in ("python", "python3") else command

    def _spawn(self) -> WorkerProcess:
        worker_id = f"w-{uuid.uuid4().hex[:12]}"
        env = self._env_for(worker_id)
        log_path = self._records.path(worker_id, ".log")
        process: subprocess.Popen[bytes] | None = None
        if self._fork_server is not None:
            pid = self._fork_server.fork(env, log_path)
        else:
            log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
            try:
                process = subprocess.Popen(
                    [self._command(), *self._settings.args],
                    env=env,
                    cwd=self._settings.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Own session: a Ctrl-C in the controller's terminal must not kill workers.
                    start_new_session=True,
                )
            finally:
                log.close()
            pid = process.pid
        procfs.forget_scan()  # a scan from before this worker must not be reused for adoption
        ticks = procfs.start_ticks(pid) or 0
        worker = WorkerProcess(worker_id, pid, ticks, process, time.time(), launch=self._launch)
        self._records.write(worker)
        self._workers[worker_id] = worker
        logger.info("started worker %s (pid %d)", worker_id, pid)
        return worker

    def _pick_victims(self, active: list[WorkerProcess], count: int) -> list[WorkerProcess]:
        """Retire idle workers first, then those whose tasks have run the least
        (:mod:`workerplane.scaling.retire`); among equals the newest (the least warm cache)."""
        now = time.time()

        def load_of(worker: WorkerProcess) -> WorkerLoad:
            status = self._status(worker.worker_id)
            return status.load(now) if status is not None else WorkerLoad()

        newest_first = sorted(active, key=lambda worker: -worker.started_at)
        return pick_retirees(newest_first, count, load_of)

    def _retire(self, worker: WorkerProcess) -> None:
        worker.retiring_since = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)
        logger.info("retiring worker %s (pid %d): SIGTERM", worker.worker_id, worker.pid)

    def _kill(self, worker: WorkerProcess) -> None:
        if worker.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
            worker.killed = True
            logger.warning(
                "killed worker %s (pid %d) after the grace period", worker.worker_id, worker.pid
            )

    def _enforce_grace(self) -> None:
        now = time.monotonic()
        for worker in list(self._workers.values()):
            if (
                worker.retiring_since is not None
                and now - worker.retiring_since > self._settings.grace_period_s
            ):
                self._kill(worker)

    def _reap(self) -> None:
        exited = False
        for worker in list(self._workers.values()):
            if not worker.alive():
                exited = True
                last = self._status(worker.worker_id)
                if last is not None:
                    self._completed_by_exited += last.tasks_finished
                    self._waited_by_exited = self._waited_by_exited.merge(
                        last.waited() or LatencySketch()
                    )
                code = worker.process.wait() if worker.process is not None else 0
                failed = code != 0 and not worker.killed
                if failed and worker.retiring_since is None:
                    now = time.time()
                    log = self._records.path(worker.worker_id, ".log")
                    self._crash_loop.record_exit(code, now - worker.started_at, log, now)
                self._forget(worker.worker_id, keep_log=failed)
                logger.info("worker %s (pid %d) exited", worker.worker_id, worker.pid)
        if exited:
            prune_logs(self._records.directory, set(self._workers))

    def _forget(self, worker_id: str, *, keep_log: bool = False) -> None:
        self._workers.pop(worker_id, None)
        self._records.forget(worker_id, keep_log=keep_log)
