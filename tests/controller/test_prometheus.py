"""Prometheus metrics: the collector's gauges, a real HTTP scrape, and `workerplane run
--metrics-port` end to end on the real dev server with real worker processes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.support import REPO_ROOT, subprocess_group, write_spec
from workerplane.controller.prometheus import GAUGES, ProcessMetrics, StatusSource
from workerplane.planning.status import GroupStatus
from workerplane.temporal.devserver import free_port


def _status(**overrides: object) -> GroupStatus:
    fields: dict[str, object] = {
        "version_key": "orders",
        "group_id": "activities",
        "provider_type": "subprocess",
        "scaler_type": "slo",
        "strategy": "worker-set",
        "workers_running": 3,
        "workers_ready": 2,
        "in_flight": 7,
        "pollers": 2,
        "backlog": 12,
        "backlog_age_s": 1.5,
        "add_rate": 4.0,
        "dispatch_rate": 3.5,
        "desired": 4,
        "last_decision": "SetSize",
        "last_reason": "r",
        "last_error": None,
        "provider_validation_error": None,
        "metrics_ok": True,
        "updated_at": 1_700_000_000.0,
    }
    fields.update(overrides)
    return GroupStatus(**fields)  # type: ignore[arg-type]


def serve_metrics(statuses: StatusSource, port: int) -> WSGIServer:
    metrics = ProcessMetrics()
    metrics.track(statuses)
    return metrics.serve(port)


def _run_cli(spec: Path, address: str, state_dir: Path, port: int, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "workerplane.cli.main", "run", "-f", str(spec)),
        *("--address", address, "--state-dir", str(state_dir), "--metrics-port", str(port)),
        *extra,
    ]


def _scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_scrape_serves_a_gauge_per_figure_and_group() -> None:
    statuses = [
        _status(unmanaged_pollers=2),
        _status(group_id="workflows", in_flight=None, workers_ready=None, metrics_ok=False),
    ]
    port = free_port()
    server = serve_metrics(lambda: statuses, port)
    try:
        metrics = _scrape(port)
    finally:
        server.shutdown()
    assert {g.name for g in GAUGES} <= set(metrics)
    labels = (
        ("group", "activities"),
        ("provider", "subprocess"),
        ("scaler", "slo"),
        ("version", "orders"),
    )
    assert metrics["workerplane_group_workers"][labels] == 3
    assert metrics["workerplane_group_backlog_tasks"][labels] == 12
    assert metrics["workerplane_group_tasks_in_flight"][labels] == 7
    assert metrics["workerplane_group_metrics_ok"][labels] == 1
    assert metrics["workerplane_group_unmanaged_pollers"][labels] == 2
    # Unknown figures are left out rather than reported as 0.
    other = (("group", "workflows"), *labels[1:])
    assert other not in metrics["workerplane_group_tasks_in_flight"]
    assert metrics["workerplane_group_metrics_ok"][other] == 0
    # Only workerplane's gauges: no process or platform collectors in this registry.
    assert all(name.startswith("workerplane_") for name in metrics)


def test_a_taken_port_is_a_clear_cli_error(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name="m",
        task_queue="m",
        groups={"workers": subprocess_group()},
    )
    port = free_port()
    holder = serve_metrics(list, port)
    try:
        result = subprocess.run(
            _run_cli(spec, "127.0.0.1:1", tmp_path / "state", port),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.shutdown()
    assert result.returncode == 2
    assert f"--metrics-port {port}: cannot listen on 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
async def test_run_exports_the_groups_scaling_from_zero(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """`workerplane run --metrics-port`: the gauges follow a burst on the real server."""
    state_dir = tmp_path / "state"
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": subprocess_group(slots=2)},
    )
    port = free_port()
    log = (tmp_path / "controller.log").open("wb")
    controller = subprocess.Popen(
        _run_cli(spec, temporal_address, state_dir, port, "--drain"),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        client = await Client.connect(temporal_address)
        handles = [
            await client.start_workflow(
                ProcessItem.run, 1.0, id=f"{unique_name}-{i}", task_queue=unique_name
            )
            for i in range(6)
        ]
        peak = 0.0
        deadline = time.monotonic() + 120
        results = asyncio.gather(*(h.result() for h in handles))
        while not results.done():
            assert time.monotonic() < deadline, "the burst did not finish"
            try:
                workers = _scrape(port).get("workerplane_group_workers", {})
            except httpx.TransportError:
                workers = {}  # the controller is still starting
            peak = max([peak, *workers.values()])
            await asyncio.sleep(0.2)
        await results
        assert peak >= 1, "the workers gauge never showed the scale-up"
        labels = next(iter(_scrape(port)["workerplane_group_workers"]))
        found = dict(labels)
        assert unique_name in found["version"]
        assert (found["group"], found["provider"]) == ("workers", "subprocess")
        # Each of the 6 activities' schedule-to-start, as its worker measured it, lands in the
        # histogram within a cycle or two of its completion.
        count = "workerplane_task_schedule_to_start_seconds_count"
        labels = (("group", found["group"]), ("version", found["version"]))
        while _scrape(port).get(count, {}).get(labels, 0) < 6:
            assert time.monotonic() < deadline, "the histogram never counted the 6 activities"
            await asyncio.sleep(0.2)
        scraped = _scrape(port)
        assert scraped[count][labels] == 6
        inf = (*labels, ("le", "+Inf"))
        assert scraped["workerplane_task_schedule_to_start_seconds_bucket"][tuple(sorted(inf))] == 6
        assert scraped["workerplane_task_schedule_to_start_seconds_sum"][labels] > 0
    finally:
        controller.send_signal(signal.SIGTERM)
        controller.wait(timeout=120)
        log.close()
