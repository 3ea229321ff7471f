"""Waits shared by the rollout end-to-end tests: an API read until it shows an outcome, and
Temporal's own routing of a worker deployment."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import httpx
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def until(
    client: httpx.AsyncClient, path: str, ok: Callable[[Any], bool], timeout_s: float = 180
) -> Any:
    """The JSON at ``path`` once ``ok`` holds (a generous bound only catches a hang)."""
    deadline = time.monotonic() + timeout_s
    body: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            response = await client.get(path)
            body = response.json() if response.status_code == 200 else None
            if body is not None and ok(body):
                return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} never got there; last: {body}")


async def temporal_routing(client: Client, deployment: str) -> tuple[str, str, float]:
    """Temporal's own word: (current build, ramping build, ramp %).

    The server limits the requests per worker deployment, and the controller's own calls count
    against it: a read refused as ``RESOURCE_EXHAUSTED`` is asked again (CI saw one refused)."""
    request = DescribeWorkerDeploymentRequest(namespace="default", deployment_name=deployment)
    for attempt in range(30):
        try:
            described = await client.workflow_service.describe_worker_deployment(request)
            break
        except RPCError as err:
            if err.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == 29:
                raise
            await asyncio.sleep(0.5)
    config = described.worker_deployment_info.routing_config
    return (
        config.current_deployment_version.build_id,
        config.ramping_deployment_version.build_id,
        config.ramping_version_percentage,
    )
