"""Readiness probe and preStop hook for worker pods, driven by the worker's status file.

``python -m workerplane.providers.kubernetes.probe ready``
    Exit 0 when the status file (``$WORKERPLANE_STATUS_FILE``) says the worker is ``polling`` and
    the report is fresh; exit 1 otherwise (missing file, starting, draining, stopped, stale).
    So a pod is Ready exactly when its worker polls Temporal; no HTTP server is needed.

``python -m workerplane.providers.kubernetes.probe prestop --timeout S``
    The pod's preStop hook. It sends SIGTERM to the worker (the runtime then stops polling and lets
    in-flight activities finish), then waits until the worker reports ``stopped`` or holds nothing
    in flight, at most ``S`` seconds. The kubelet's own SIGTERM comes after the hook returns and
    finds a worker already draining; the grace period covers both.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from workerplane.worker.status import STATUS_FILE_ENV, WorkerStatus, read_status

DEFAULT_STATUS_FILE = "/var/run/workerplane/status.json"


def status_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(STATUS_FILE_ENV) or DEFAULT_STATUS_FILE)


def is_ready(status: WorkerStatus | None, now: float | None = None, max_age_s: float = 5.0) -> bool:
    """Ready = the worker reports ``polling`` and the report is recent."""
    return status is not None and status.polling and status.is_fresh(now, max_age_s)


def is_drained(status: WorkerStatus | None) -> bool:
    """Nothing left to wait for: no report, a stopped worker, or a draining one with no work."""
    if status is None or status.state == "stopped":
        return True
    return status.state == "draining" and status.in_flight == 0


def prestop(path: Path, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Ask the worker to drain and wait for it. Returns whether it drained within ``timeout_s``."""
    status = read_status(path)
    if status is not None and status.state in ("starting", "polling") and status.pid > 0:
        # Same container, same PID namespace: the pid in the report is the worker's.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(status.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = read_status(path)
        if is_drained(status):
            return True
        time.sleep(poll_s)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workerplane.providers.kubernetes.probe")
    parser.add_argument("command", choices=["ready", "prestop"])
    parser.add_argument("--file", help="status file (default: $WORKERPLANE_STATUS_FILE)")
    parser.add_argument("--max-age", type=float, default=5.0, help="ready: staleness limit (s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="prestop: wait at most (s)")
    args = parser.parse_args(argv)
    path = status_path(args.file)
    if args.command == "ready":
        status = read_status(path)
        if is_ready(status, max_age_s=args.max_age):
            return 0
        state = "no status file" if status is None else f"state={status.state}"
        print(f"not ready: {state} ({path})", file=sys.stderr)
        return 1
    return 0 if prestop(path, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
