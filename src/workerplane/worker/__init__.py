"""The runtime a user's worker process runs in. See :mod:`workerplane.worker.runtime`.

Names are loaded lazily so that light modules in this package (the status file, used by readiness
probes) do not pay for importing ``temporalio``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workerplane.worker.runtime import WorkerOptions, WorkerResult, run, run_worker

__all__ = ["WorkerOptions", "WorkerResult", "run", "run_worker"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from workerplane.worker import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'workerplane.worker' has no attribute {name!r}")
