"""CLI glue for Temporal interop: ``workerplane validate --server`` and ``push --to-temporal``.

Temporal's own test providers (``test-invoke``, ``test-worker-set``) exist only inside a Temporal
server whose worker controller enables them; workerplane cannot run them. Specs meant for a
server (push, validate --server) may therefore use them: :func:`load_spec_for_server` runs every
local rule except "known provider type" for those two, and the server validates them itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from temporalio.client import Client

from workerplane.client.temporal import (
    TEMPORAL_SCALER_CHOICES,
    WorkerplaneOnlyScaler,
    for_temporal_server,
    push_compute_config,
    validate_on_temporal,
)
from workerplane.config.model import ComputeConfig, DeploymentSpec
from workerplane.temporal.connection import (
    ResolvedConnection,
    TemporalConnectionError,
    connect,
    resolve_connection,
)

T = TypeVar("T")

err_console = Console(stderr=True)
console = Console()

#: Provider types that only a Temporal server runs (its controller's test providers).
TEMPORAL_TEST_PROVIDERS = frozenset({"test-invoke", "test-worker-set"})


def load_spec_for_server(path: Path) -> DeploymentSpec:
    """Load and validate a spec that is going to a Temporal server.

    The same as :func:`workerplane.config.loader.load_spec`, except that a group whose provider
    is one of :data:`TEMPORAL_TEST_PROVIDERS` is not rejected for its type.

    Raises:
        SpecError: any other issue, with the loader's messages.
    """
    from workerplane.config.loader import SpecError, load_spec
    from workerplane.config.validation import validate_spec

    try:
        return load_spec(path)
    except SpecError as err:
        first = err
    # Only the test-provider type check failed? Rebuild the spec without it.
    test_groups = {
        f"compute.scaling_groups.{gid}.provider.type"
        for gid, group in _raw_groups(path).items()
        if isinstance(group, dict)
        and isinstance(group.get("provider"), dict)
        and group["provider"].get("type") in TEMPORAL_TEST_PROVIDERS
    }
    if not test_groups or any(i.path not in test_groups for i in first.issues):
        raise first
    try:
        spec = DeploymentSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError, OSError):
        raise first from None
    remaining = [i for i in validate_spec(spec) if i.path not in test_groups]
    if remaining:
        raise SpecError(str(path), remaining)
    return spec


def _raw_groups(path: Path) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        groups = data["compute"]["scaling_groups"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    return groups if isinstance(groups, dict) else {}


def _timeout(default: float) -> float:
    """``WORKERPLANE_TEMPORAL_TIMEOUT_S`` overrides the default wait for the server."""
    raw = os.environ.get("WORKERPLANE_TEMPORAL_TIMEOUT_S")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def _resolve(spec: DeploymentSpec, address: str | None) -> ResolvedConnection:
    """The spec's connection (profile, env, spec, ``--address``), or exit 1 with one line."""
    try:
        return resolve_connection(spec.temporal, address=address)
    except TemporalConnectionError as err:
        err_console.print(str(err), markup=False, soft_wrap=True)
        raise typer.Exit(code=1) from None


def _compute_for_server(spec: DeploymentSpec, temporal_scaler: str) -> ComputeConfig:
    """The compute config Temporal's server accepts; exit 1 explaining workerplane-only scalers."""
    if temporal_scaler not in TEMPORAL_SCALER_CHOICES:
        err_console.print(
            f"--temporal-scaler must be one of {', '.join(TEMPORAL_SCALER_CHOICES)}", markup=False
        )
        raise typer.Exit(code=2)
    try:
        compute, changes = for_temporal_server(spec.compute, temporal_scaler)
    except WorkerplaneOnlyScaler as err:
        err_console.print(str(err), markup=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    for change in changes:
        console.print(f"--temporal-scaler closest: {change}", markup=False)
    return compute


def _run_on_server(connection: ResolvedConnection, call: Callable[[Client], Awaitable[T]]) -> T:
    """Connect through the shared resolver and run ``call``; exit 1 with one line on failure."""

    async def run() -> T:
        return await call(await connect(connection))

    try:
        return asyncio.run(run())
    except TemporalConnectionError as err:
        err_console.print(str(err), markup=False, soft_wrap=True)
        raise typer.Exit(code=1) from None


def _ask_server(
    spec: DeploymentSpec,
    call: Callable[..., Awaitable[T]],
    *,
    address: str | None,
    timeout_s: float | None,
    temporal_scaler: str,
) -> tuple[ResolvedConnection, T]:
    """Run ``call(client, namespace, deployment, build_id, compute, timeout_s=...)`` against the
    spec's server with the compute config it accepts; ``timeout_s`` defaults to 30 s (or
    WORKERPLANE_TEMPORAL_TIMEOUT_S)."""
    connection = _resolve(spec, address)
    compute = _compute_for_server(spec, temporal_scaler)
    deployment, build_id = spec.target()
    wait = timeout_s if timeout_s is not None else _timeout(30.0)
    answer = _run_on_server(
        connection,
        lambda client: call(
            client, connection.namespace, deployment, build_id, compute, timeout_s=wait
        ),
    )
    return connection, answer


def validate_on_server(
    spec: DeploymentSpec,
    *,
    address: str | None,
    timeout_s: float | None = None,
    temporal_scaler: str = "refuse",
) -> None:
    """Ask Temporal to validate the spec's compute config; exit 1 with its message on refusal
    or when no verdict comes within ``timeout_s`` (30 s, or WORKERPLANE_TEMPORAL_TIMEOUT_S)."""
    connection, answer = _ask_server(
        spec,
        validate_on_temporal,
        address=address,
        timeout_s=timeout_s,
        temporal_scaler=temporal_scaler,
    )
    addr = connection.address
    if not answer.ok:
        err_console.print(f"server {addr} rejected the config: {answer.message}", markup=False)
        raise typer.Exit(code=1)
    console.print(f"server {addr}: config accepted", markup=False)


def push_to_temporal(
    spec: DeploymentSpec,
    *,
    address: str | None,
    timeout_s: float | None = None,
    temporal_scaler: str = "refuse",
) -> str:
    """Create or update the version's compute config on Temporal; returns "created"/"updated"."""
    connection, answer = _ask_server(
        spec,
        push_compute_config,
        address=address,
        timeout_s=timeout_s,
        temporal_scaler=temporal_scaler,
    )
    addr = connection.address
    if not answer.ok:
        err_console.print(
            f"server {addr} refused to {answer.action}: {answer.message}", markup=False
        )
        raise typer.Exit(code=1)
    deployment, build_id = spec.target()
    console.print(
        f"{deployment}/{build_id}: compute config {answer.action} on {addr} "
        f"(namespace {connection.namespace})",
        markup=False,
    )
    return answer.action
