"""Simulator calibration (issue 6, item 6): one short trace, real vs simulated.

Three times (``--runs 3``), replays a short on/off trace of 1 s tasks against an in-memory
Temporal dev server with Temporal's default dynamic config (4 partitions, stats cached 5 s) and
the real controller (``slo`` scaler) and ``examples.worker`` subprocesses, then the same trace in
the simulator with the same server settings and a worker model fitted to that run. Prints
measured vs simulated p50/p95 schedule-to-start and worker-seconds with their relative error, and
the median error over the runs. Writes ``bench/results/calibration.md`` (10-15 minutes).
Same as ``workerplane bench calibrate --runs 3 --out ...``.

    .venv/bin/python bench/calibrate.py [--runs 3 --fast-stats --partitions 1 --on-rate 8 ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from workerplane.lab.cli import app  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--runs" not in args:
        args += ["--runs", "3"]
    if "--out" not in args:
        args += ["--out", str(REPO_ROOT / "bench" / "results" / "calibration.md")]
    code = 0
    try:
        app(["calibrate", *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout.flush()
        # temporalio's runtime can crash at interpreter exit (SDK issue #300).
        os._exit(code)
