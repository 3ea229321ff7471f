"""The caller workflow: the one place a controller's Nexus operations go out from.

Temporal starts Nexus operations from workflows only, so each provider call is a small workflow
on the controller's own queue (:data:`CALLER_TASK_QUEUE`), run by a worker inside the controller
process. It makes one operation call with a schedule-to-close timeout and returns the output: a
handler that is down, slow or failing ends the workflow within that bound, and the controller's
provider turns the failure into a provider error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

#: The controller's queue for caller workflows (every controller of a namespace may serve it).
CALLER_TASK_QUEUE = "workerplane-nexus-caller"


@dataclass(frozen=True)
class ProviderCall:
    """One operation of the worker-provider service.

    Attributes:
        endpoint: the Nexus endpoint's name.
        service: the service name (versioned).
        operation: the operation's name.
        input: the operation's input, as JSON (the handler reads it as its typed input).
        timeout_s: the operation's schedule-to-close timeout: retries by Nexus included.
    """

    endpoint: str
    service: str
    operation: str
    input: dict[str, Any]
    timeout_s: float


# Not sandboxed: the workflow only forwards its input, so it has nothing to keep deterministic
# beyond the one command it issues.
@workflow.defn(name="WorkerplaneNexusProviderCall", sandboxed=False)
class NexusProviderCall:
    """Calls one operation through the endpoint and returns its output as JSON."""

    @workflow.run
    async def run(self, call: ProviderCall) -> Any:
        client = workflow.create_nexus_client(service=call.service, endpoint=call.endpoint)
        return await client.execute_operation(
            call.operation,
            call.input,
            schedule_to_close_timeout=timedelta(seconds=call.timeout_s),
        )
