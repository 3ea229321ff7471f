"""workerplane: a control plane for Temporal workers.

The package is layered. The pure core has no I/O:

* :mod:`workerplane.config` - the deployment spec, its validation and its proto conversion.
* :mod:`workerplane.scaling` - scalers: pure functions of (config, state, metrics, now).

I/O lives at the edges:

* :mod:`workerplane.temporal` - connecting to Temporal and reading task-queue stats.
* :mod:`workerplane.providers` - starting, sizing and retiring workers somewhere.
* :mod:`workerplane.controller` - the loop that ties metrics, scalers and providers together.
* :mod:`workerplane.worker` - the runtime a user's worker process runs in.
* :mod:`workerplane.cli` - the ``workerplane`` command.
"""

__version__ = "0.1.0"
