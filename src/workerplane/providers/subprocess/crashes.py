"""Crash loops and worker logs: how the subprocess provider reacts to workers that die on start.

A worker that exits non-zero within :data:`CRASH_WINDOW_S` of starting is a crash. Each crash in a
row doubles the wait before the next worker starts (1 s, 2 s, 4 s, ... up to
:data:`BACKOFF_CAP_S`), so a broken command costs one start a minute, not one a second. The exit
code and the last lines of the worker's output (secrets scrubbed) are kept for the status until a
worker runs healthily again. Logs of failed workers are kept to explain the failure, but only the
newest :data:`KEPT_LOGS` per group, each cut to its last :data:`KEPT_LOG_BYTES`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from workerplane.security.redact import scrub

logger = logging.getLogger("workerplane.providers.subprocess")

#: A non-zero exit this soon after the start is a crash (a crash loop if it repeats).
CRASH_WINDOW_S = 10.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
#: The tail of a crashed worker's output shown in the status.
TAIL_BYTES = 400
#: Logs of failed workers kept per group, and the size each is cut to.
KEPT_LOGS = 3
KEPT_LOG_BYTES = 64 * 1024


class CrashLoop:
    """The crash history of one group's workers: backoff before the next start, last exit."""

    def __init__(self) -> None:
        self.crashes = 0
        self.last_exit: str | None = None
        self._last_exit_at = 0.0
        self._next_start_at = 0.0

    def record_exit(self, code: int, ran_s: float, log: Path, now: float) -> None:
        """A worker exited with ``code`` (non-zero) after ``ran_s`` seconds; ``now`` is wall
        time."""
        tail = log_tail(log)
        self.last_exit = f"exit code {code} after {ran_s:.1f}s" + (f": {tail}" if tail else "")
        self._last_exit_at = now
        if ran_s > CRASH_WINDOW_S:
            return
        self.crashes += 1
        delay = backoff_s(self.crashes)
        self._next_start_at = now + delay
        logger.warning(
            "worker crashed on start (%s); crash %d in a row, next start in %.0fs",
            self.last_exit,
            self.crashes,
            delay,
        )

    def may_start(self, now: float) -> bool:
        """Whether the backoff after the last crash is over."""
        return now >= self._next_start_at

    def record_healthy(self, started_at: float) -> None:
        """A worker that started at ``started_at`` is polling or outlived the crash window: if
        it started after the last exit, the loop is over."""
        if self.last_exit is not None and started_at > self._last_exit_at:
            self.forget()

    def forget(self) -> None:
        """Drop the history: no worker is wanted or alive, so none is failing now."""
        self.crashes = 0
        self.last_exit = None
        self._next_start_at = 0.0


def backoff_s(crashes: int) -> float:
    """The wait before the next start after ``crashes`` crashes in a row."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, crashes - 1))


def log_tail(log: Path) -> str:
    """The last lines of a worker's output (at most :data:`TAIL_BYTES`), secrets scrubbed."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    lines = data.decode(errors="replace").strip().splitlines()
    if len(data) >= TAIL_BYTES and len(lines) > 1:
        lines = lines[1:]  # the first line is cut
    return scrub(" | ".join(line.strip() for line in lines if line.strip()))


def prune_logs(directory: Path, live: set[str]) -> None:
    """Keep the newest :data:`KEPT_LOGS` logs of exited workers, each cut to its last
    :data:`KEPT_LOG_BYTES`; delete the rest. Logs of ``live`` workers are left alone."""
    kept = []
    for log in directory.glob("w-*.log"):
        if log.stem in live:
            continue
        try:
            kept.append((log.stat().st_mtime, log))
        except OSError:
            continue
    kept.sort(reverse=True)
    for _, log in kept[KEPT_LOGS:]:
        log.unlink(missing_ok=True)
    for _, log in kept[:KEPT_LOGS]:
        _truncate_head(log)


def _truncate_head(log: Path) -> None:
    try:
        if log.stat().st_size <= KEPT_LOG_BYTES:
            return
        with log.open("rb") as f:
            f.seek(-KEPT_LOG_BYTES, os.SEEK_END)
            tail = f.read()
        log.write_bytes(tail)
    except OSError:
        return
