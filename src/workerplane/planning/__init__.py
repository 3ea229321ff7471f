"""The controller's pure decisions: what each scaling group should do this cycle, and the status
it reports. No I/O: everything is a function of the observation, the spec, the state and ``now``."""
