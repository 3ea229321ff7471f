"""The policy lab's edge: everything around the pure simulator that touches the outside world.

* :mod:`workerplane.lab.report` - the policy benchmark and its writers (tables, PNG plots,
  ``summary.md``, ``results.json``);
* :mod:`workerplane.lab.trace_files` - trace files (CSV tables) and the CLI's trace specs;
* :mod:`workerplane.lab.calibration` - the settings the real and the simulated run share;
* :mod:`workerplane.lab.real_run` - one trace replayed against a real server and controller;
* :mod:`workerplane.lab.calibrate` - the real run compared with the simulator;
* :mod:`workerplane.lab.cli` - ``workerplane bench policies`` and ``workerplane bench calibrate``.
"""
