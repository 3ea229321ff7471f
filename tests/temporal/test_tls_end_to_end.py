"""The whole loop through a real TLS front with an API key: the controller reads the queue through
it, the worker processes it starts connect through it, and the work completes.

nginx (gRPC over TLS, bearer key required) stands where Temporal Cloud would; the dev server behind
it is plaintext. Nothing in the path is faked: a missed setting anywhere (the controller's client,
the metrics and fresh-signal reads, the env handed to workers) shows up as work that never runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest
import yaml
from tls_front import TLSFront, tls_front_fixture  # noqa: F401 - fixture

from examples.app import ProcessItem
from workerplane.config.model import TemporalConnection, TLSSettings
from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.embedded.example import REPO_ROOT, example_worker_group
from workerplane.temporal.connection import connect, resolve_connection

pytestmark = pytest.mark.integration


async def test_workers_started_by_the_controller_serve_through_tls_and_api_key(
    tls_front: TLSFront, tmp_path: Path
) -> None:
    queue = f"tls-{uuid.uuid4().hex[:8]}"
    temporal = {
        "address": tls_front.tls_address,
        "api_key": tls_front.api_key,
        "tls": {"server_ca_cert_path": str(tls_front.ca_path)},
    }
    group = example_worker_group(
        cwd=REPO_ROOT,
        strategy="worker-set",
        slots=2,
        idle_exit_s=2.0,
        scaler_details={"min_count": 0, "max_count": 2, "metrics_poll_interval_ms": 250},
    )
    spec = tmp_path / "deploy.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": queue,
                "temporal": temporal,
                "task_queue": queue,
                "compute": {"scaling_groups": {"workers": group}},
            }
        )
    )
    state = tmp_path / "state"
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(state / "status.json"),
        ControllerSettings(state_dir=state, refresh_s=0.2),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    try:
        client = await connect(
            resolve_connection(
                TemporalConnection(
                    address=tls_front.tls_address,
                    api_key=tls_front.api_key,
                    tls=TLSSettings(server_ca_cert_path=str(tls_front.ca_path)),
                ),
                env={},
            )
        )
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    client.execute_workflow(
                        ProcessItem.run, 0.2, id=f"{queue}-{i}", task_queue=queue
                    )
                    for i in range(3)
                )
            ),
            120,
        )
        assert all(r.startswith("done") for r in results)
        [status] = controller.statuses()
        assert status.metrics_ok and status.last_error is None
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await controller.shutdown(drain=True)
