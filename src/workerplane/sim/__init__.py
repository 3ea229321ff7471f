"""The scaling policy lab: a deterministic simulator of a Temporal task queue and its workers.

* :mod:`workerplane.sim.traces` - load traces (generators and the Azure Functions 2019 importer);
* :mod:`workerplane.sim.engine` - the discrete-event simulator that drives REAL scalers;
* :mod:`workerplane.sim.anchors` - KEDA+HPA and fixed replicas, as scalers;
* :mod:`workerplane.sim.oracle` - the clairvoyant lower bound on worker-seconds;
* :mod:`workerplane.sim.report` - the benchmark: tables, plots and a markdown summary;
* :mod:`workerplane.sim.cli` - ``workerplane bench policies``.
"""
