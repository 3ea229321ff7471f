"""Temporal's OWN worker controller drives our real Lambda handler on loopback.

The embedded dev server runs with its controller on (``aws-lambda`` provider, ``no-sync`` scaler)
and its AWS SDK pointed at :class:`tests.worker.lambda_proxy.LambdaApiProxy`, which serves
``GetFunction`` and forwards invokes (addressed by full ARN) to serverless-offline, which runs
``examples/lambda/handler.py`` in real Python processes. The version is created and made current
through Temporal's API; from then on nothing of workerplane's controller runs: every invoke comes
from the server, with an empty payload, and the handler reads its queue, deployment and build
from the function's environment.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from tests.worker.lambda_offline import lambda_offline
from tests.worker.lambda_proxy import (
    LambdaApiProxy,
    create_current_version,
    function_environment,
    new_version_names,
    temporal_controller_server,
    temporal_lambda_compute,
)
from workerplane.temporal.devserver import DevServer

pytestmark = pytest.mark.integration

WORKFLOWS = 3


@pytest.fixture(scope="module")
def proxy() -> Iterator[LambdaApiProxy]:
    front = LambdaApiProxy()
    front.start()
    yield front
    front.stop()


@pytest.fixture(scope="module")
def server(proxy: LambdaApiProxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with temporal_controller_server(proxy, tmp_path_factory.mktemp("temporal-wc")) as running:
        yield running


def test_temporal_controller_invokes_our_handler_and_the_workflows_complete(
    proxy: LambdaApiProxy, server: DevServer, tmp_path: Path
) -> None:
    queue, deployment, build_id = new_version_names("tc-lambda")
    env = function_environment(server.address, queue, deployment, build_id)
    with lambda_offline(tmp_path, idle_exit_s=3, extra_env=env) as offline:
        proxy.upstream = offline.endpoint

        async def scenario() -> list[str]:
            client = await Client.connect(server.address)
            compute = temporal_lambda_compute(proxy.arn)
            await create_current_version(client, deployment, build_id, compute)
            handles = [
                await client.start_workflow(
                    ProcessItem.run, 0.5, id=f"{queue}-{uuid.uuid4().hex[:6]}", task_queue=queue
                )
                for _ in range(WORKFLOWS)
            ]
            return await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)

        results = asyncio.run(scenario())
        assert len(results) == WORKFLOWS
        assert all(r.startswith("done after 0.5s") for r in results)

        # Every worker that ran came from the server's own invokes, through the proxy.
        assert proxy.get_function_calls >= 1, proxy.other_requests
        assert proxy.invokes, "the server never invoked the function"
        assert {i.invocation_type for i in proxy.invokes} == {"Event"}
        assert {i.payload for i in proxy.invokes} <= {b"", b"{}"}
        assert all(200 <= i.status < 300 for i in proxy.invokes)

        # The handlers that ran (each appends what it returned) processed the workflows.
        deadline = time.monotonic() + 60
        while len(offline.results()) < len(proxy.invokes) and time.monotonic() < deadline:
            time.sleep(0.5)
        runs = offline.results()
        assert runs, "no handler returned"
        assert sum(r["completed"] for r in runs) >= WORKFLOWS
        assert {r["exit_reason"] for r in runs} <= {"idle", "deadline"}
