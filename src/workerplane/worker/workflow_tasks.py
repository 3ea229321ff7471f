"""The schedule-to-start of a run's first workflow task, from the activation the SDK's core hands
to the workflow runner.

What the Python SDK (temporalio 1.35) exposes, and what it does not:

* A workflow activation (``temporalio.bridge.proto.workflow_activation.WorkflowActivation``)
  carries ``timestamp``: the time of its ``WorkflowTaskStarted`` event (the server's clock when
  a poller received the task). It has no scheduled-time field, and neither ``workflow.info()``
  (``start_time``, ``workflow_start_time``, no task times) nor the workflow interceptors'
  inputs carry one.
* The first activation of a run also carries ``initialize_workflow.start_time``: the time of
  the ``WorkflowExecutionStarted`` event, written with the first ``WorkflowTaskScheduled``
  event. So for a run's first task, ``timestamp - start_time`` is its schedule-to-start, both
  read from the server's clock (no skew).
* Later workflow tasks (after an activity result, a timer, a signal) are scheduled by an event
  whose time the activation does not carry: they cannot be measured.
* A first task scheduled after a backoff (a cron run, a retry attempt) would count the backoff;
  those are left out. A start delay (``start_delay``) cannot be told from the activation: such
  a run counts its delay as waiting.
"""

from __future__ import annotations

from typing import Any


def first_task_wait(activation: Any) -> float | None:
    """The schedule-to-start (seconds) of the run's first workflow task when ``activation``
    (a ``WorkflowActivation``) is that task, executed live; ``None`` otherwise."""
    if activation.is_replaying or not activation.HasField("timestamp"):
        return None
    for job in activation.jobs:
        if not job.HasField("initialize_workflow"):
            continue
        init = job.initialize_workflow
        if init.cron_schedule or init.attempt > 1 or not init.HasField("start_time"):
            return None  # scheduled after a backoff, or nothing to measure from
        waited = (activation.timestamp.ToMicroseconds() - init.start_time.ToMicroseconds()) / 1e6
        return max(0.0, float(waited))
    return None
