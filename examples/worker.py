"""The example worker: one line hands the process to workerplane's worker runtime.

Run it by hand with ``TEMPORAL_TASK_QUEUE=demo python -m examples.worker``; workerplane's providers
start it with the right environment.
"""

from examples.app import AwaitRelease, ProcessBatch, ProcessChildren, ProcessItem, process_item
from workerplane.worker import WorkerOptions, run

if __name__ == "__main__":
    # Eager activities would bypass the activity queue and hide them from the backlog stats.
    run(
        workflows=[ProcessItem, ProcessBatch, ProcessChildren, AwaitRelease],
        activities=[process_item],
        options=WorkerOptions.from_env(disable_eager_activities=True),
    )
