"""The Lambda handler adapter, run in-process against the real Temporal dev server.

The handler is called directly as Lambda's runtime would call it: ``handler(event, context)`` where
``context`` offers ``get_remaining_time_in_millis()`` counting down to a real deadline. The full
path through a Lambda runtime (serverless-offline) is in ``test_aws_lambda_e2e.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from examples.app import ProcessItem, process_item
from workerplane.worker.aws_lambda import event_environment, handler_for

pytestmark = pytest.mark.integration


class DeadlineContext:
    """Lambda's context interface with a real deadline ``timeout_s`` after creation."""

    def __init__(self, timeout_s: float) -> None:
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _event(address: str, queue: str, **extra: str) -> dict[str, Any]:
    return {
        "workerplane": {
            "version": 1,
            "invocation_id": f"inv-{uuid.uuid4().hex[:6]}",
            "env": {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_NAMESPACE": "default",
                "TEMPORAL_TASK_QUEUE": queue,
                "WORKERPLANE_TASK_QUEUES": queue,
                **extra,
            },
        }
    }


async def _start(address: str, queue: str, seconds: list[float]) -> list[str]:
    client = await Client.connect(address)
    ids = []
    for s in seconds:
        workflow_id = f"{queue}-{uuid.uuid4().hex[:8]}"
        await client.start_workflow(ProcessItem.run, s, id=workflow_id, task_queue=queue)
        ids.append(workflow_id)
    return ids


async def _results(address: str, ids: list[str], timeout_s: float = 60) -> list[str]:
    client = await Client.connect(address)
    return await asyncio.wait_for(
        asyncio.gather(*(client.get_workflow_handle(i).result() for i in ids)), timeout_s
    )


def test_handler_processes_backlog_then_returns_when_idle(
    temporal_address: str, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = asyncio.run(_start(temporal_address, unique_name, [0.2] * 5))
    handler = handler_for(workflows=[ProcessItem], activities=[process_item], idle_exit_s=2.0)
    event = _event(temporal_address, unique_name, WORKERPLANE_TEST_SECRET_TOKEN="hunter2")
    with caplog.at_level(logging.INFO, logger="workerplane"):
        reply = handler(event, DeadlineContext(120))
    assert reply["exit_reason"] == "idle"
    assert reply["completed"] >= 5
    assert reply["runtime_s"] < 100, "returned at idle, long before the deadline"
    assert reply["invocation_id"] == event["workerplane"]["invocation_id"]
    results = asyncio.run(_results(temporal_address, ids))
    assert all(r.startswith("done") for r in results)
    text = caplog.text
    assert "hunter2" not in text, "a secret reached the logs"
    assert "tasks processed" in text and reply["invocation_id"] in text


def test_handler_stops_before_deadline_and_lets_inflight_finish(
    temporal_address: str, unique_name: str
) -> None:
    """Deadline buffer = graceful (6 s) + margin (1 s): with 10 s left the worker stops after ~3 s,
    and the 4 s activity that is running then still completes (not killed, not retried)."""
    ids = asyncio.run(_start(temporal_address, unique_name, [4.0]))
    handler = handler_for(
        workflows=[ProcessItem],
        activities=[process_item],
        idle_exit_s=30.0,
        graceful_shutdown_s=6.0,
        safety_margin_s=1.0,
    )
    started = time.monotonic()
    reply = handler(_event(temporal_address, unique_name), DeadlineContext(10.0))
    assert reply["exit_reason"] == "deadline"
    assert time.monotonic() - started < 10.0, "the handler must return before Lambda's deadline"
    # The workflow's final task needs a worker again: a second invocation finishes it, idle-exits.
    second = handler_for(workflows=[ProcessItem], activities=[process_item], idle_exit_s=2.0)
    assert (
        second(_event(temporal_address, unique_name), DeadlineContext(60))["exit_reason"] == "idle"
    )
    [result] = asyncio.run(_results(temporal_address, ids))
    assert result.startswith("done"), result
    assert "attempt 1" in result, "the in-flight activity was killed and retried"


def test_event_environment_only_takes_temporal_and_workerplane_variables() -> None:
    event = {
        "workerplane": {
            "env": {
                "TEMPORAL_ADDRESS": "a:1",
                "WORKERPLANE_IDLE_EXIT_S": "3",
                "PATH": "/evil",
                "LD_PRELOAD": "x.so",
            }
        }
    }
    assert event_environment(event) == {
        "TEMPORAL_ADDRESS": "a:1",
        "WORKERPLANE_IDLE_EXIT_S": "3",
    }
    assert event_environment({}) == {}
    assert event_environment({"workerplane": "nonsense"}) == {}


def test_emulated_deadline_counts_from_the_invoke_not_the_handler_start(
    temporal_address: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under serverless-offline the handler computes its deadline from
    ``WORKERPLANE_LAMBDA_TIMEOUT_S``. Lambda counts that timeout from the invoke: a sandbox that
    booted 55 s after a 60 s invoke has 5 s left, less than its 7 s stop buffer, so it returns at
    once with ``deadline`` instead of working into the emulator's hard limit (which killed the
    emulator and every handler in it)."""
    monkeypatch.setenv("IS_OFFLINE", "true")
    handler = handler_for(
        workflows=[ProcessItem],
        activities=[process_item],
        idle_exit_s=30.0,
        graceful_shutdown_s=6.0,
        safety_margin_s=1.0,
    )
    late = _event(temporal_address, unique_name, WORKERPLANE_LAMBDA_TIMEOUT_S="60")
    late["workerplane"]["invoked_at"] = time.time() - 55.0
    assert handler(late, DeadlineContext(600))["exit_reason"] == "deadline"
    # An implausible invoke time (in the future) falls back to the handler's own start.
    future = _event(temporal_address, unique_name, WORKERPLANE_LAMBDA_TIMEOUT_S="9")
    future["workerplane"]["invoked_at"] = time.time() + 3600.0
    started = time.monotonic()
    assert handler(future, DeadlineContext(600))["exit_reason"] == "deadline"
    assert time.monotonic() - started >= 1.0, "it worked until its own 9 s timeout's buffer"
