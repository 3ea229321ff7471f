"""Helpers for the fault tests that drive ``workerplane run`` and ``status`` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def start_run(spec: Path, state_dir: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``workerplane run -f spec --state-dir state_dir ...``, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workerplane.cli.main", "run", "-f", str(spec),
             "--state-dir", str(state_dir), *extra],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, COLUMNS="200"),
        )  # fmt: skip


def status_json(state_dir: Path) -> list[dict[str, Any]]:
    """What ``workerplane status -o json`` shows."""
    result = subprocess.run(
        [sys.executable, "-m", "workerplane.cli.main", "status", "--state-dir", str(state_dir),
         "-o", "json"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    groups: list[dict[str, Any]] = json.loads(result.stdout)
    return groups


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after a generous timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s}s: {what}"
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a controller and wait for it (SIGKILL if it hangs)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
