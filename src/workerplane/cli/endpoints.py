"""``workerplane endpoints``: Launch-style temporal endpoints, through the REST API."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from workerplane.cli.api_client import parse_kv, request
from workerplane.cli.endpoint_versioning import (
    RolloutFileOpt,
    RolloutOpt,
    RolloutStepOpt,
    VersioningOpt,
    VersioningOptions,
    versioning_options,
)
from workerplane.cli.options import ProfileOpt, TokenOpt, UrlOpt
from workerplane.cli.output import OutputFormat, OutputOpt, console, show
from workerplane.client.http import WorkerplaneClient

endpoints_app = typer.Typer(
    help="Launch-style temporal endpoints (via the API).", no_args_is_help=True
)


def endpoint_table(items: list[dict[str, Any]], *, wide: bool = False) -> Table:
    """One row per endpoint; ``wide`` adds its id, namespace, what it runs, its resources,
    labels and version."""
    columns = ["NAME", "STATUS", "TASK QUEUE", "MIN", "MAX", "PER", "AVAILABLE", "UNAVAILABLE"]
    if wide:
        columns += ["ID", "NAMESPACE", "RUNS", "CPUS", "MEMORY", "GPUS", "LABELS", "VERSION"]
    table = Table(*columns, "REASON")
    for e in items:
        row = [
            e["name"], e["status"], e["temporal_task_queue"], str(e["min_workers"]),
            str(e["max_workers"]), str(e["per_worker"]), str(e["available_workers"]),
            str(e["unavailable_workers"]),
        ]  # fmt: skip
        if wide:
            runs = e.get("image") or shlex.join(e.get("command") or [])
            labels = ",".join(f"{k}={v}" for k, v in sorted(e.get("labels", {}).items()))
            row += [
                e["id"], e.get("temporal_namespace") or "", runs, _maybe(e.get("cpus")),
                e.get("memory") or "", str(e.get("gpus", 0)), labels,
                f"{e['deployment_name']}/{e['build_id']}",
            ]  # fmt: skip
        table.add_row(*row, e.get("status_reason") or "")
    return table


def _maybe(value: object) -> str:
    return "" if value is None else str(value)


def _one(endpoint: dict[str, Any]) -> Table:
    return endpoint_table([endpoint])


def _one_wide(endpoint: dict[str, Any]) -> Table:
    return endpoint_table([endpoint], wide=True)


def _set_optional(body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the options the user gave (those not None) added."""
    body.update({key: value for key, value in values.items() if value is not None})
    return body


@endpoints_app.command("create")
def endpoints_create(
    name: str = typer.Argument(..., help="Endpoint name (a DNS label)."),
    task_queue: str = typer.Option(..., "--task-queue", help="temporal_task_queue"),
    command: str | None = typer.Option(None, "--command", help="Worker command line (subprocess)."),
    image: str | None = typer.Option(None, "--image", help="Worker image (Kubernetes)."),
    namespace: str | None = typer.Option(None, "--namespace", help="Temporal namespace."),
    min_workers: int = typer.Option(0, "--min-workers"),
    max_workers: int = typer.Option(1, "--max-workers"),
    per_worker: int = typer.Option(10, "--per-worker"),
    env: list[str] = typer.Option([], "--env", help="KEY=VALUE (repeatable)."),
    secret_env: list[str] = typer.Option([], "--secret-env", help="KEY=VALUE, stored encrypted."),
    label: list[str] = typer.Option([], "--label", help="KEY=VALUE (repeatable)."),
    cpus: float | None = typer.Option(None, "--cpus"),
    memory: str | None = typer.Option(None, "--memory"),
    gpus: int = typer.Option(0, "--gpus"),
    gpu_type: str | None = typer.Option(None, "--gpu-type"),
    request_id: str | None = typer.Option(None, "--request-id", help="Idempotency key."),
    versioning: str | None = VersioningOpt,
    rollout: str | None = RolloutOpt,
    rollout_step: list[str] = RolloutStepOpt,
    rollout_file: Path | None = RolloutFileOpt,
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    profile: str | None = ProfileOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """Create a temporal endpoint; with --versioning, its workers are versioned and each new
    build is rolled out (docs/rollouts.md)."""
    versioned = versioning_options(versioning, rollout, rollout_step, rollout_file).for_create()
    body: dict[str, Any] = {
        "name": name, "endpoint_type": "temporal", "temporal_task_queue": task_queue,
        "min_workers": min_workers, "max_workers": max_workers, "per_worker": per_worker,
        "env": parse_kv(env, "--env"), "secret_env": parse_kv(secret_env, "--secret-env"),
        "labels": parse_kv(label, "--label"), "gpus": gpus,
    }  # fmt: skip
    if command:
        body["command"] = shlex.split(command)
    if image:
        body["image"] = image
    _set_optional(
        body,
        {"temporal_namespace": namespace, "cpus": cpus, "memory": memory, "gpu_type": gpu_type,
         "request_id": request_id, "versioning": versioned},
    )  # fmt: skip
    show(request(url, token, profile, lambda c: c.create_endpoint(body)), output, _one, _one_wide)


@endpoints_app.command("get")
def endpoints_get(
    ref: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Show one endpoint (by ID or name)."""
    show(request(url, token, profile, lambda c: c.get_endpoint(ref)), output, _one, _one_wide)


@endpoints_app.command("list")
def endpoints_list(
    label: str | None = typer.Option(None, "--label", help="KEY=VALUE filter."),
    limit: int = typer.Option(100, "--limit", help="Endpoints per page."),
    page_token: str | None = typer.Option(None, "--page-token", help="Continue a listing."),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """List endpoints, one page at a time."""
    result = request(url, token, profile, lambda c: c.list_endpoints(limit, page_token, label))
    show(
        result,
        output,
        lambda page: endpoint_table(page["items"]),
        lambda page: endpoint_table(page["items"], wide=True),
    )
    if not output.structured and result["next_page_token"]:
        console.print(f"more: --page-token {result['next_page_token']}")


@endpoints_app.command("update")
def endpoints_update(
    ref: str,
    task_queue: str | None = typer.Option(None, "--task-queue"),
    min_workers: int | None = typer.Option(None, "--min-workers"),
    max_workers: int | None = typer.Option(None, "--max-workers"),
    per_worker: int | None = typer.Option(None, "--per-worker"),
    command: str | None = typer.Option(None, "--command"),
    conflict_token: str | None = typer.Option(None, "--conflict-token"),
    versioning: str | None = VersioningOpt,
    rollout: str | None = RolloutOpt,
    rollout_step: list[str] = RolloutStepOpt,
    rollout_file: Path | None = RolloutFileOpt,
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Change an endpoint; min/max apply to the running workers. A versioned endpoint's new
    --versioning build ID (or a changed command) is a new build, rolled out under its rollout."""
    versioned = versioning_options(versioning, rollout, rollout_step, rollout_file)
    body = _set_optional(
        {},
        {"temporal_task_queue": task_queue, "min_workers": min_workers,
         "max_workers": max_workers, "per_worker": per_worker, "conflict_token": conflict_token},
    )  # fmt: skip
    if command is not None:
        body["command"] = shlex.split(command)
    result = request(
        url, token, profile, lambda c: c.update_endpoint(ref, _versioned(body, versioned, c, ref))
    )
    show(result, output, _one, _one_wide)


def _versioned(
    body: dict[str, Any], versioned: VersioningOptions, client: WorkerplaneClient, ref: str
) -> dict[str, Any]:
    """``body`` with the ``versioning`` the options give, completed from the endpoint's own (an
    update replaces it whole), under the conflict token read with it unless one was given."""
    if not versioned.given:
        return body
    current = client.get_endpoint(ref)
    body.setdefault("conflict_token", current["conflict_token"])
    return {**body, "versioning": versioned.merged_with(current.get("versioning"))}


@endpoints_app.command("delete")
def endpoints_delete(
    ref: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Delete an endpoint: its workers are drained first."""
    result = request(url, token, profile, lambda c: c.delete_endpoint(ref))
    show(result, output, lambda r: f"{ref}: {r['status'] if r else 'deleted'}")
