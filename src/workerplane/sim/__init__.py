"""The scaling policy lab's pure core: a deterministic simulator of a Temporal task queue.

* :mod:`workerplane.sim.traces` - traces (seeded generators and the Azure Functions 2019 parser);
* :mod:`workerplane.sim.engine` - the discrete-event simulator that drives REAL scalers;
* :mod:`workerplane.sim.anchors` - KEDA+HPA and fixed replicas, as scalers;
* :mod:`workerplane.sim.policies` - the policies the benchmark compares;
* :mod:`workerplane.sim.oracle` - the clairvoyant lower bound on worker-seconds.

Nothing here does I/O: the report writers, the CLI and the calibration against a real server are
in :mod:`workerplane.lab`.
"""
