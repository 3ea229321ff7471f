"""What the kernel says about a worker process (``/proc``): its start time and its environment.

A worker is identified by its PID plus its kernel start time (which guards against PID reuse), and
attributed to a scaling group by the environment it was started with.

Reading that environment races with ``exec``. ``Popen`` returns as soon as the child's
close-on-exec pipe closes, which happens part-way through ``exec``: the new program's memory is in
place but the kernel has not yet laid out its arguments and environment, so ``/proc/PID/environ``
and ``/proc/PID/cmdline`` read empty for a moment (a long one on a loaded machine). A controller
that looked then (one restarted right after its predecessor started a worker) would take the
worker for a stranger and leave it running unowned. So :func:`environ` waits for that window to
close before it answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
#: How long a process may stay mid-``exec`` before its empty environment is taken as final
#: (only a stopped or traced process takes that long).
EXEC_WAIT_S = 5.0
_EXEC_POLL_S = 0.001
_PF_KTHREAD = 0x00200000  # include/linux/sched.h: a kernel thread has no environment at all
_FORKSERVER_MODULE = b"workerplane.worker.forkserver"


@dataclass(frozen=True)
class _Stat:
    state: str
    ppid: int
    flags: int
    start_ticks: int


def _stat(pid: int) -> _Stat | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces; everything after the last ')' is space-separated,
    # starting at field 3 (state).
    fields = text[text.rindex(")") + 2 :].split()
    return _Stat(
        state=fields[0], ppid=int(fields[1]), flags=int(fields[6]), start_ticks=int(fields[19])
    )


def start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (guards against PID reuse), or None if it has exited."""
    stat = _stat(pid)
    if stat is None or stat.state == "Z":  # a zombie has exited
        return None
    return stat.start_ticks


def _mid_exec(pid: int) -> bool:
    """True while the kernel is still setting up the program ``pid`` is executing.

    Then a live user process has no command line yet; one that has finished ``exec`` always has
    at least its program name.
    """
    stat = _stat(pid)
    if stat is None or stat.state == "Z" or stat.flags & _PF_KTHREAD:
        return False
    try:
        return not (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def environ(pid: int) -> list[bytes] | None:
    """The ``NAME=value`` entries ``pid`` was started with, or None if it is gone.

    Waits (up to :data:`EXEC_WAIT_S`) while ``pid`` is mid-``exec``, when the kernel shows an empty
    environment for a process that will have one.
    """
    deadline = time.monotonic() + EXEC_WAIT_S
    while True:
        try:
            raw = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            return None
        if raw or not _mid_exec(pid) or time.monotonic() > deadline:
            return raw.split(b"\0") if raw else []
        time.sleep(_EXEC_POLL_S)


def environ_value(pid: int, name: str) -> str | None:
    """The value of ``name`` in the environment ``pid`` was started with, if set."""
    prefix = f"{name}=".encode()
    for entry in environ(pid) or []:
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def environ_has(pid: int, entry: str) -> bool:
    """Whether ``pid`` was started with exactly the ``NAME=value`` ``entry``."""
    return entry.encode() in (environ(pid) or [])


#: The last scan of every process's environment: (monotonic time, /proc, pid -> environment).
_last_scan: tuple[float, Path, dict[int, list[bytes]]] | None = None


def _environments(max_age_s: float) -> dict[int, list[bytes]]:
    """Every process's environment, reusing a scan at most ``max_age_s`` old (a controller
    starting thousands of groups scans ``/proc`` once, not once per group)."""
    global _last_scan
    now = time.monotonic()
    if _last_scan is not None and now - _last_scan[0] <= max_age_s and _last_scan[1] == PROC:
        return _last_scan[2]
    scan = {
        int(entry.name): environ(int(entry.name)) or []
        for entry in PROC.iterdir()
        if entry.name.isdigit()
    }
    _last_scan = (now, PROC, scan)
    return scan


def forget_scan() -> None:
    """Drop the last scan (a process was just started: the scan no longer lists every one)."""
    global _last_scan
    _last_scan = None


def live_worker_pids(state_dir: Path | str, *, max_age_s: float = 0.0) -> set[int]:
    """PIDs of live worker processes started under ``state_dir`` (by any controller run).

    Found from the kernel, not from our records: a process belongs to ``state_dir`` when its
    environment names it (every worker's status file and lease live there). A ``preload`` fork
    server is not a worker; it is the one among them whose parent is not one of them. With
    ``max_age_s``, the environments read by a scan that recent are reused.
    """
    marker = str(state_dir).encode()
    matches: dict[int, tuple[int, bool]] = {}
    for pid, env in _environments(max_age_s).items():
        if not any(marker in item for item in env):
            continue
        stat = _stat(pid)
        if stat is None or stat.state == "Z":
            continue
        try:
            server = _FORKSERVER_MODULE in (PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        matches[pid] = (stat.ppid, server)
    return {pid for pid, (ppid, server) in matches.items() if not server or ppid in matches}
