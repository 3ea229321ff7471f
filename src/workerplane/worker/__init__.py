"""The runtime a user's worker process runs in. See :mod:`workerplane.worker.runtime`."""

from workerplane.worker.runtime import WorkerOptions, WorkerResult, run, run_worker

__all__ = ["WorkerOptions", "WorkerResult", "run", "run_worker"]
