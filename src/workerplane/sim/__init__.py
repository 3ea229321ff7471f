"""The scaling policy lab's pure core: a deterministic simulator of a Temporal task queue.

* :mod:`workerplane.sim.traces` - the trace type;
* :mod:`workerplane.sim.synthetic` - the seeded trace generators;
* :mod:`workerplane.sim.azure` - the Azure Functions 2019 parser and the CLI's trace specs;
* :mod:`workerplane.sim.models` - worker and server models, run options, and the run's result;
* :mod:`workerplane.sim.engine` - the discrete-event simulator that drives REAL scalers;
* :mod:`workerplane.sim.anchors` - KEDA+HPA and fixed replicas, as scalers;
* :mod:`workerplane.sim.policies` - the policies the benchmark compares;
* :mod:`workerplane.sim.oracle` - the clairvoyant lower bound on worker-seconds.

Nothing here does I/O: the report writers, the CLI and the calibration against a real server are
in :mod:`workerplane.lab`.
"""
