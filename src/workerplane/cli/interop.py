"""CLI glue for Temporal interop: ``workerplane validate --server`` and ``push --to-temporal``."""

from __future__ import annotations

import asyncio
import os

import typer
from rich.console import Console

from workerplane.config.model import DeploymentSpec

err_console = Console(stderr=True)
console = Console()


def _target(spec: DeploymentSpec, address: str | None) -> tuple[str, str, str, str]:
    addr = (
        address or spec.temporal.address or os.environ.get("TEMPORAL_ADDRESS") or "127.0.0.1:7233"
    )
    namespace = spec.temporal.namespace or os.environ.get("TEMPORAL_NAMESPACE") or "default"
    deployment = spec.deployment.name if spec.deployment else spec.name
    build_id = spec.deployment.build_id if spec.deployment else "default"
    return addr, namespace, deployment, build_id


def validate_on_server(
    spec: DeploymentSpec, *, address: str | None, timeout_s: float = 30.0
) -> None:
    """Ask Temporal to validate the spec's compute config; exit 1 with its message on refusal."""
    from temporalio.client import Client

    from workerplane.client.temporal import validate_on_temporal

    addr, namespace, deployment, build_id = _target(spec, address)

    async def run() -> tuple[bool, str]:
        client = await Client.connect(addr, namespace=namespace)
        answer = await validate_on_temporal(
            client, namespace, deployment, build_id, spec.compute, timeout_s=timeout_s
        )
        return answer.ok, answer.message

    ok, message = asyncio.run(run())
    if not ok:
        err_console.print(f"server {addr} rejected the config: {message}", markup=False)
        raise typer.Exit(code=1)
    console.print(f"server {addr}: config accepted", markup=False)


def push_to_temporal(spec: DeploymentSpec, *, address: str | None, timeout_s: float = 30.0) -> str:
    """Create or update the version's compute config on Temporal; returns "created"/"updated"."""
    from temporalio.client import Client

    from workerplane.client.temporal import push_compute_config

    addr, namespace, deployment, build_id = _target(spec, address)

    async def run() -> tuple[bool, str, str]:
        client = await Client.connect(addr, namespace=namespace)
        answer = await push_compute_config(
            client, namespace, deployment, build_id, spec.compute, timeout_s=timeout_s
        )
        return answer.ok, answer.action, answer.message

    ok, action, message = asyncio.run(run())
    if not ok:
        err_console.print(f"server {addr} refused to {action}: {message}", markup=False)
        raise typer.Exit(code=1)
    console.print(
        f"{deployment}/{build_id}: compute config {action} on {addr} (namespace {namespace})",
        markup=False,
    )
    return action
