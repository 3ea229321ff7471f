"""CLI glue for Temporal interop: ``workerplane validate --server`` and ``push --to-temporal``.

Temporal's own test providers (``test-invoke``, ``test-worker-set``) exist only inside a Temporal
server whose worker controller enables them; workerplane cannot run them. Specs meant for a
server (push, validate --server) may therefore use them: :func:`load_spec_for_server` runs every
local rule except "known provider type" for those two, and the server validates them itself.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console

from workerplane.config.model import DeploymentSpec

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


def _target(spec: DeploymentSpec, address: str | None) -> tuple[str, str, str, str]:
    addr = (
        address or spec.temporal.address or os.environ.get("TEMPORAL_ADDRESS") or "127.0.0.1:7233"
    )
    namespace = spec.temporal.namespace or os.environ.get("TEMPORAL_NAMESPACE") or "default"
    deployment = spec.deployment.name if spec.deployment else spec.name
    build_id = spec.deployment.build_id if spec.deployment else "default"
    return addr, namespace, deployment, build_id


def _timeout(default: float) -> float:
    """``WORKERPLANE_TEMPORAL_TIMEOUT_S`` overrides the default wait for the server."""
    raw = os.environ.get("WORKERPLANE_TEMPORAL_TIMEOUT_S")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def validate_on_server(
    spec: DeploymentSpec, *, address: str | None, timeout_s: float | None = None
) -> None:
    """Ask Temporal to validate the spec's compute config; exit 1 with its message on refusal
    or when no verdict comes within ``timeout_s`` (30 s, or WORKERPLANE_TEMPORAL_TIMEOUT_S)."""
    from temporalio.client import Client

    from workerplane.client.temporal import validate_on_temporal

    addr, namespace, deployment, build_id = _target(spec, address)
    wait = timeout_s if timeout_s is not None else _timeout(30.0)

    async def run() -> tuple[bool, str]:
        client = await Client.connect(addr, namespace=namespace)
        answer = await validate_on_temporal(
            client, namespace, deployment, build_id, spec.compute, timeout_s=wait
        )
        return answer.ok, answer.message

    try:
        ok, message = asyncio.run(run())
    except RuntimeError as err:  # temporalio's connection failure
        err_console.print(f"cannot reach Temporal at {addr}: {err}", markup=False)
        raise typer.Exit(code=1) from None
    if not ok:
        err_console.print(f"server {addr} rejected the config: {message}", markup=False)
        raise typer.Exit(code=1)
    console.print(f"server {addr}: config accepted", markup=False)


def push_to_temporal(
    spec: DeploymentSpec, *, address: str | None, timeout_s: float | None = None
) -> str:
    """Create or update the version's compute config on Temporal; returns "created"/"updated"."""
    from temporalio.client import Client

    from workerplane.client.temporal import push_compute_config

    addr, namespace, deployment, build_id = _target(spec, address)
    wait = timeout_s if timeout_s is not None else _timeout(30.0)

    async def run() -> tuple[bool, str, str]:
        client = await Client.connect(addr, namespace=namespace)
        answer = await push_compute_config(
            client, namespace, deployment, build_id, spec.compute, timeout_s=wait
        )
        return answer.ok, answer.action, answer.message

    try:
        ok, action, message = asyncio.run(run())
    except RuntimeError as err:
        err_console.print(f"cannot reach Temporal at {addr}: {err}", markup=False)
        raise typer.Exit(code=1) from None
    if not ok:
        err_console.print(f"server {addr} refused to {action}: {message}", markup=False)
        raise typer.Exit(code=1)
    console.print(
        f"{deployment}/{build_id}: compute config {action} on {addr} (namespace {namespace})",
        markup=False,
    )
    return action
