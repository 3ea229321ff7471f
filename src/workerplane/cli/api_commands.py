"""CLI commands of the control-plane service: ``serve``, ``push``, ``endpoints``, ``versions``.

The lead mounts them on the main app::

    from workerplane.cli.api_commands import register
    register(app)

Every client command talks to the REST API (``--url``/``WORKERPLANE_URL``, ``--token``/
``WORKERPLANE_TOKEN`` or a config profile) and prints a table, or JSON with ``--output json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from workerplane.client.http import ApiError, WorkerplaneClient
from workerplane.config.secrets import reveal_spec

console = Console()
err_console = Console(stderr=True)

endpoints_app = typer.Typer(
    help="Launch-style temporal endpoints (via the API).", no_args_is_help=True
)
versions_app = typer.Typer(
    help="Worker deployment versions and compute configs (via the API).", no_args_is_help=True
)

UrlOpt = typer.Option(None, "--url", help="API base URL (default: WORKERPLANE_URL or profile).")
TokenOpt = typer.Option(
    None, "--token", help="Bearer token (default: WORKERPLANE_TOKEN or profile)."
)
ProfileOpt = typer.Option(None, "--profile", help="Profile in ~/.config/workerplane/config.toml.")
OutputOpt = typer.Option("table", "--output", "-o", help="table or json")


def _client(url: str | None, token: str | None, profile: str | None) -> WorkerplaneClient:
    try:
        return WorkerplaneClient.from_env(url, token, profile)
    except FileNotFoundError as err:
        err_console.print(f"error: {err}", markup=False)
        raise typer.Exit(2) from None


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ApiError as err:
        err_console.print(f"error ({err.status} {err.code}): {err.message}", markup=False)
        for detail in err.details:
            err_console.print(f"  {detail.get('field')}: {detail.get('message')}", markup=False)
        raise typer.Exit(1) from None
    except OSError as err:
        err_console.print(f"error: cannot reach the API: {err}", markup=False)
        raise typer.Exit(2) from None


def _report(err: ApiError) -> None:
    err_console.print(f"error ({err.status} {err.code}): {err.message}", markup=False)
    for detail in err.details:
        err_console.print(f"  {detail.get('field')}: {detail.get('message')}", markup=False)
    raise typer.Exit(1)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _endpoint_table(items: list[dict[str, Any]]) -> Table:
    table = Table(
        "NAME", "STATUS", "TASK QUEUE", "MIN", "MAX", "PER", "AVAILABLE", "UNAVAILABLE", "REASON"
    )
    for e in items:
        table.add_row(
            e["name"], e["status"], e["temporal_task_queue"], str(e["min_workers"]),
            str(e["max_workers"]), str(e["per_worker"]), str(e["available_workers"]),
            str(e["unavailable_workers"]), e.get("status_reason") or "",
        )  # fmt: skip
    return table


def _parse_kv(items: list[str], what: str) -> dict[str, str]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err_console.print(f"error: {what} must be KEY=VALUE, got {item!r}", markup=False)
            raise typer.Exit(2)
        result[key] = value
    return result


# -- endpoints --------------------------------------------------------------------------------


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
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    profile: str | None = ProfileOpt,
    output: str = OutputOpt,
) -> None:
    """Create a temporal endpoint."""
    import shlex

    body: dict[str, Any] = {
        "name": name, "endpoint_type": "temporal", "temporal_task_queue": task_queue,
        "min_workers": min_workers, "max_workers": max_workers, "per_worker": per_worker,
        "env": _parse_kv(env, "--env"), "secret_env": _parse_kv(secret_env, "--secret-env"),
        "labels": _parse_kv(label, "--label"), "gpus": gpus,
    }  # fmt: skip
    if command:
        body["command"] = shlex.split(command)
    if image:
        body["image"] = image
    for key, value in (("temporal_namespace", namespace), ("cpus", cpus), ("memory", memory),
                       ("gpu_type", gpu_type), ("request_id", request_id)):  # fmt: skip
        if value is not None:
            body[key] = value
    with _client(url, token, profile) as client:
        result = _call(client.create_endpoint, body)
    _emit_json(result) if output == "json" else console.print(_endpoint_table([result]))


@endpoints_app.command("get")
def endpoints_get(
    ref: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: str = OutputOpt,
) -> None:  # fmt: skip
    """Show one endpoint (by ID or name)."""
    with _client(url, token, profile) as client:
        result = _call(client.get_endpoint, ref)
    _emit_json(result) if output == "json" else console.print(_endpoint_table([result]))


@endpoints_app.command("list")
def endpoints_list(
    label: str | None = typer.Option(None, "--label", help="KEY=VALUE filter."),
    limit: int = typer.Option(100, "--limit"), offset: int = typer.Option(0, "--offset"),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: str = OutputOpt,
) -> None:  # fmt: skip
    """List endpoints."""
    with _client(url, token, profile) as client:
        result = _call(client.list_endpoints, limit, offset, label)
    if output == "json":
        _emit_json(result)
    else:
        console.print(_endpoint_table(result["items"]))
        console.print(f"{len(result['items'])} of {result['total']}")


@endpoints_app.command("update")
def endpoints_update(
    ref: str,
    task_queue: str | None = typer.Option(None, "--task-queue"),
    min_workers: int | None = typer.Option(None, "--min-workers"),
    max_workers: int | None = typer.Option(None, "--max-workers"),
    per_worker: int | None = typer.Option(None, "--per-worker"),
    command: str | None = typer.Option(None, "--command"),
    conflict_token: str | None = typer.Option(None, "--conflict-token"),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: str = OutputOpt,
) -> None:  # fmt: skip
    """Change an endpoint; min/max apply to the running workers."""
    import shlex

    body: dict[str, Any] = {}
    for key, value in (("temporal_task_queue", task_queue), ("min_workers", min_workers),
                       ("max_workers", max_workers), ("per_worker", per_worker),
                       ("conflict_token", conflict_token)):  # fmt: skip
        if value is not None:
            body[key] = value
    if command is not None:
        body["command"] = shlex.split(command)
    with _client(url, token, profile) as client:
        result = _call(client.update_endpoint, ref, body)
    _emit_json(result) if output == "json" else console.print(_endpoint_table([result]))


@endpoints_app.command("delete")
def endpoints_delete(
    ref: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: str = OutputOpt,
) -> None:  # fmt: skip
    """Delete an endpoint: its workers are drained first."""
    with _client(url, token, profile) as client:
        result = _call(client.delete_endpoint, ref)
    if output == "json":
        _emit_json(result)
    else:
        console.print(f"{ref}: {result['status'] if result else 'deleted'}", markup=False)


# -- versions ---------------------------------------------------------------------------------


def _version_table(items: list[dict[str, Any]]) -> Table:
    table = Table(
        "DEPLOYMENT", "BUILD", "STATUS", "CURRENT", "DRAINING", "GROUPS", "AVAILABLE", "REASON"
    )
    for v in items:
        groups = ", ".join(
            f"{gid}={g['current_size']}/{g['desired_size'] if g['desired_size'] is not None else '-'}"  # noqa: E501
            for gid, g in v["compute_status"]["scaling_groups"].items()
        )
        table.add_row(
            v["deployment_name"], v["build_id"], v["status"], "yes" if v["is_current"] else "",
            "yes" if v["draining"] else "", groups or "-", str(v["available_workers"]),
            v.get("status_reason") or "",
        )  # fmt: skip
    return table


def _load_spec(file: Path) -> Any:
    from workerplane.config.loader import SpecError, load_spec

    try:
        return load_spec(file)
    except SpecError as err:
        err_console.print(str(err), markup=False)
        raise typer.Exit(1) from None


@versions_app.command("create")
def versions_create(
    file: Path = typer.Option(..., "--file", "-f", help="Deployment spec (YAML) with deployment.name/build_id."),  # noqa: E501
    request_id: str | None = typer.Option(None, "--request-id"),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: str = OutputOpt,
) -> None:  # fmt: skip
    """Create a worker deployment version (and its deployment, if new) from a YAML spec."""
    spec = _load_spec(file)
    deployment = spec.deployment.name if spec.deployment else spec.name
    build_id = spec.deployment.build_id if spec.deployment else "default"
    plain = reveal_spec(spec)
    body = {
        "build_id": build_id, "task_queues": plain["task_queues"],
        "compute_config": plain["compute"], "temporal_namespace": spec.temporal.namespace,
        "request_id": request_id,
    }  # fmt: skip
    with _client(url, token, profile) as client:
        try:
            client.create_deployment(deployment, spec.temporal.namespace)
        except ApiError as err:
            if err.status != 409:
                _report(err)
        result = _call(
            client.create_version, deployment, {k: v for k, v in body.items() if v is not None}
        )
    _emit_json(result) if output == "json" else console.print(_version_table([result]))


@versions_app.command("list")
def versions_list(
    deployment: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: str = OutputOpt,
) -> None:  # fmt: skip
    """List the versions of a worker deployment."""
    with _client(url, token, profile) as client:
        result = _call(client.list_versions, deployment)
    _emit_json(result) if output == "json" else console.print(_version_table(result["items"]))


@versions_app.command("describe")
def versions_describe(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: str = OutputOpt,
) -> None:  # fmt: skip
    """Describe a version with its compute status."""
    with _client(url, token, profile) as client:
        result = _call(client.get_version, deployment, build_id)
    _emit_json(result) if output == "json" else console.print(_version_table([result]))


@versions_app.command("set-current")
def versions_set_current(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: str = OutputOpt,
) -> None:  # fmt: skip
    """Make a version current (the previous one starts draining)."""
    with _client(url, token, profile) as client:
        result = _call(client.set_current, deployment, build_id)
    _emit_json(result) if output == "json" else console.print(
        f"{deployment}: current = {result['current_version']}", markup=False
    )


@versions_app.command("set-ramping")
def versions_set_ramping(
    deployment: str, build_id: str, percentage: float = typer.Option(..., "--percentage"),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: str = OutputOpt,
) -> None:  # fmt: skip
    """Ramp a version to a percentage of new workflows."""
    with _client(url, token, profile) as client:
        result = _call(client.set_ramping, deployment, build_id, percentage)
    _emit_json(result) if output == "json" else console.print(
        f"{deployment}: ramping {result['ramping_version']} at {result['ramping_percentage']}%",
        markup=False,
    )


@versions_app.command("drain")
def versions_drain(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: str = OutputOpt,
) -> None:  # fmt: skip
    """Mark a version draining."""
    with _client(url, token, profile) as client:
        result = _call(client.drain_version, deployment, build_id)
    _emit_json(result) if output == "json" else console.print(_version_table([result]))


@versions_app.command("delete")
def versions_delete(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: str = OutputOpt,
) -> None:  # fmt: skip
    """Delete a version (drains its workers first)."""
    with _client(url, token, profile) as client:
        result = _call(client.delete_version, deployment, build_id)
    _emit_json(result) if output == "json" else console.print(
        f"{deployment}/{build_id}: {result['status'] if result else 'deleted'}", markup=False
    )


# -- serve and push ---------------------------------------------------------------------------


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8233, "--port"),
    db: str | None = typer.Option(
        None,
        "--db",
        "--database-url",
        help="Database URL (default: SQLite in the state dir; postgresql://... for PostgreSQL)."
        " Prefer --database-url-file or WORKERPLANE_DATABASE_URL: ps shows arguments.",
    ),
    db_file: Path | None = typer.Option(
        None, "--database-url-file", help="Read the database URL from this file."
    ),
    lease_ttl_s: float = typer.Option(15.0, "--lease-ttl", help="Controller lease TTL (s)."),
    address: str = typer.Option(
        os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "--address", help="Temporal frontend."
    ),
    namespace: str = typer.Option(os.environ.get("TEMPORAL_NAMESPACE", "default"), "--namespace"),
    state_dir: Path = typer.Option(Path(".workerplane"), "--state-dir"),
    no_controller: bool = typer.Option(
        False, "--no-controller", help="API only (another process runs the controller)."
    ),
    token: list[str] = typer.Option(
        [], "--token", help="Accept this bearer token (also WORKERPLANE_TOKEN)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the REST API and (while holding the lease) the controller, in one process."""
    import logging

    from workerplane.api.server import ServeConfig
    from workerplane.api.server import serve as run_serve
    from workerplane.security.redact import install_log_scrubber
    from workerplane.security.tokens import generate_token

    install_log_scrubber()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("temporalio", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tokens = list(token)
    if os.environ.get("WORKERPLANE_TOKEN"):
        tokens.append(os.environ["WORKERPLANE_TOKEN"])
    config = ServeConfig(
        state_dir=state_dir, host=host, port=port, database_url=db, database_url_file=db_file,
        temporal_address=address, namespace=namespace, controller=not no_controller,
        tokens=tuple(tokens), lease_ttl_s=lease_ttl_s,
    )  # fmt: skip
    if not tokens:
        from workerplane.api.server import build_store

        store = build_store(config)
        if not store.tokens.any():
            new = generate_token()
            store.tokens.add(new, "bootstrap")
            # Printed once to the terminal (never logged): the only copy of the token.
            sys.stdout.write(f"created an API token (shown once): {new}\n")
            sys.stdout.flush()
        store.db.dispose()
    asyncio.run(run_serve(config))
    os._exit(0)  # temporalio can crash at interpreter exit (SDK #300)


def push(
    file: Path = typer.Option(..., "--file", "-f", help="Deployment spec (YAML)."),
    to_temporal: bool = typer.Option(
        False, "--to-temporal", help="Write the compute config to a Temporal server."
    ),
    address: str | None = typer.Option(None, "--address", help="Temporal frontend."),
    temporal_scaler: str = typer.Option(
        "refuse",
        "--temporal-scaler",
        help="slo/backlog are workerplane's own scalers: 'closest' sends Temporal's closest one "
        "(rate-based or no-sync) and prints the mapping; 'refuse' explains and stops.",
    ),
) -> None:
    """Push a version's compute config to Temporal (CreateWorkerDeploymentVersion or
    UpdateWorkerDeploymentVersionComputeConfig)."""
    if not to_temporal:
        err_console.print("error: say where to push: --to-temporal", markup=False)
        raise typer.Exit(2)
    from workerplane.cli.interop import load_spec_for_server, push_to_temporal
    from workerplane.config.loader import SpecError

    try:
        # Temporal's own test providers (test-invoke) are accepted here: the server checks them.
        spec = load_spec_for_server(file)
    except SpecError as err:
        err_console.print(str(err), markup=False)
        raise typer.Exit(1) from None
    push_to_temporal(spec, address=address, temporal_scaler=temporal_scaler)


def register(app: typer.Typer) -> None:
    """Mount everything on the main ``workerplane`` app."""
    app.add_typer(endpoints_app, name="endpoints")
    app.add_typer(versions_app, name="versions")
    app.command("serve")(serve)
    app.command("push")(push)


#: A standalone app with the same commands (tests; ``python -m workerplane.cli.api_commands``).
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
