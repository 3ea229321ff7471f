"""``workerplane versions``: worker deployment versions and their compute configs, via the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import typer
from rich.table import Table

from workerplane.cli.api_client import Connection, request
from workerplane.cli.options import ProfileOpt, TokenOpt, UrlOpt
from workerplane.cli.output import OutputFormat, OutputOpt, err_console, show
from workerplane.client.http import ApiError
from workerplane.config.loader import SpecError, load_spec
from workerplane.config.model import DeploymentSpec
from workerplane.config.secrets import reveal_spec

versions_app = typer.Typer(
    help="Worker deployment versions and compute configs (via the API).", no_args_is_help=True
)


def version_table(items: list[dict[str, Any]], *, wide: bool = False) -> Table:
    """One row per version; ``wide`` adds its namespace, task queues, ramp, generation and
    unavailable workers."""
    columns = ["DEPLOYMENT", "BUILD", "STATUS", "CURRENT", "DRAINING", "GROUPS", "AVAILABLE"]
    if wide:
        columns += ["NAMESPACE", "TASK QUEUES", "RAMPING", "GENERATION", "UNAVAILABLE"]
    table = Table(*columns, "REASON")
    for v in items:
        groups = ", ".join(
            f"{gid}={g['current_size']}/{g['desired_size'] if g['desired_size'] is not None else '-'}"  # noqa: E501
            for gid, g in v["compute_status"]["scaling_groups"].items()
        )
        sunset = v.get("sunset")  # a draining version's phase: draining, drained, scaled-down
        draining = (f"yes ({sunset['phase']})" if sunset else "yes") if v["draining"] else ""
        row = [
            v["deployment_name"], v["build_id"], v["status"], "yes" if v["is_current"] else "",
            draining, groups or "-", str(v["available_workers"]),
        ]  # fmt: skip
        if wide:
            ramping = v.get("ramping_percentage")
            row += [
                v.get("namespace") or "", ",".join(v.get("task_queues", [])),
                "" if ramping is None else f"{ramping}%", str(v.get("generation", "")),
                str(v.get("unavailable_workers", "")),
            ]  # fmt: skip
        table.add_row(*row, v.get("status_reason") or "")
    return table


def _one(version: dict[str, Any]) -> Table:
    return version_table([version])


def _one_wide(version: dict[str, Any]) -> Table:
    return version_table([version], wide=True)


def _load_spec(file: Path) -> DeploymentSpec:
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
    output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Create a worker deployment version (and its deployment, if new) from a YAML spec; with a
    ``rollout`` section (in the spec or the current version's), the new build is rolled out."""
    spec = _load_spec(file)
    deployment, build_id = spec.target()
    plain = reveal_spec(spec)
    body = {
        "build_id": build_id, "task_queues": plain["task_queues"],
        "compute_config": plain["compute"], "temporal_namespace": spec.temporal.namespace,
        "rollout": plain.get("rollout"), "request_id": request_id,
    }  # fmt: skip
    connection = Connection(url, token, profile)
    with connection.client() as client:
        try:
            client.create_deployment(deployment, spec.temporal.namespace)
        except ApiError as err:
            if err.status != 409:
                connection.refused(err)
        except httpx.HTTPError as err:
            connection.unreachable(err)
        result = connection.call(
            lambda c: c.create_version(
                deployment, {k: v for k, v in body.items() if v is not None}
            ),
            client,
        )
    show(result, output, _one, _one_wide)


@versions_app.command("list")
def versions_list(
    deployment: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """List the versions of a worker deployment."""
    result = request(url, token, profile, lambda c: c.list_versions(deployment))
    show(
        result,
        output,
        lambda page: version_table(page["items"]),
        lambda page: version_table(page["items"], wide=True),
    )


@versions_app.command("describe")
def versions_describe(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Describe a version with its compute status."""
    result = request(url, token, profile, lambda c: c.get_version(deployment, build_id))
    show(result, output, _one, _one_wide)


@versions_app.command("set-current")
def versions_set_current(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Make a version current (the previous one starts draining)."""
    result = request(url, token, profile, lambda c: c.set_current(deployment, build_id))
    show(result, output, lambda r: f"{deployment}: current = {r['current_version']}")


@versions_app.command("set-ramping")
def versions_set_ramping(
    deployment: str, build_id: str, percentage: float = typer.Option(..., "--percentage"),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Ramp a version to a percentage of new workflows."""
    result = request(url, token, profile, lambda c: c.set_ramping(deployment, build_id, percentage))
    show(
        result,
        output,
        lambda r: f"{deployment}: ramping {r['ramping_version']} at {r['ramping_percentage']}%",
    )


@versions_app.command("drain")
def versions_drain(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Mark a version draining."""
    result = request(url, token, profile, lambda c: c.drain_version(deployment, build_id))
    show(result, output, _one, _one_wide)


@versions_app.command("delete")
def versions_delete(
    deployment: str, build_id: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Delete a version (drains its workers first)."""
    result = request(url, token, profile, lambda c: c.delete_version(deployment, build_id))
    show(result, output, lambda r: f"{deployment}/{build_id}: {r['status'] if r else 'deleted'}")
