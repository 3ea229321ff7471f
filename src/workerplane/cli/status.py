"""``workerplane status``: every scaling group's workers, backlog and last decision, from wherever
a controller publishes them:

* a ``workerplane run`` state directory (its ``status.json``, the default ``.workerplane``);
* a ``workerplane serve`` state directory (its SQLite database, ``workerplane.db``);
* a running ``serve``'s API (``--api URL``, the token from ``--token`` or ``WORKERPLANE_TOKEN``).

``--watch`` keeps showing it, like ``kubectl get -w``: redrawn in place on a terminal, and on a
pipe (or with ``-o json|yaml``) printed again each time it changes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Group
from rich.live import Live
from rich.text import Text

from workerplane.cli.api_client import Connection, fail
from workerplane.cli.output import OutputFormat, OutputOpt, console, dump
from workerplane.client.http import WorkerplaneClient
from workerplane.planning.status import ControllerStatus, GroupStatus
from workerplane.terminal import status_table

#: ``serve``'s SQLite database in its state directory.
SERVE_DATABASE = "workerplane.db"


class NoStatus(LookupError):
    """No controller has published a status where ``status`` looked (yet)."""


@dataclass(frozen=True)
class Snapshot:
    """The groups as one source shows them, and a title naming the source."""

    title: str
    groups: list[GroupStatus]
    controller: ControllerStatus | None = None


def from_state_dir(state_dir: Path) -> Snapshot:
    """The statuses a ``run`` (``status.json``) or a ``serve`` (its database) left there."""
    from workerplane.controller.local import read_controller_status, read_status_file

    status_file = state_dir / "status.json"
    if status_file.exists():
        pid, groups = read_status_file(status_file)
        alive = pid is not None and _pid_alive(pid)
        title = f"controller pid {pid} ({'running' if alive else 'stopped'})"
        return Snapshot(title, groups, read_controller_status(status_file))
    database = state_dir / SERVE_DATABASE
    if database.exists():
        return Snapshot(f"serve database {database}", _database_statuses(database))
    raise NoStatus(
        f"no controller status in {state_dir} (neither {status_file.name} from "
        f"`workerplane run` nor {SERVE_DATABASE} from `workerplane serve`); "
        "pass --state-dir, or --api URL for a running serve"
    )


def _database_statuses(database: Path) -> list[GroupStatus]:
    # SQLAlchemy and the store models load only for this source.
    from sqlalchemy import select

    from workerplane.store.db import Database
    from workerplane.store.models import GroupStatusRow

    db = Database(f"sqlite:///{database}", pool_size=1)
    try:
        with db.read_session() as session:
            rows = session.scalars(
                select(GroupStatusRow).order_by(GroupStatusRow.version_key, GroupStatusRow.group_id)
            )
            return [GroupStatus(**json.loads(row.payload_json)) for row in rows]
    finally:
        db.dispose()


def from_api(connection: Connection) -> Snapshot:
    """The statuses of every version of every deployment, as the API reports them."""
    groups: list[GroupStatus] = []
    with connection.client() as client:
        offset: int | None = 0
        while offset is not None:
            list_page = partial(WorkerplaneClient.list_deployments, limit=100, offset=offset)
            page = connection.call(list_page, client)
            for deployment in page["items"]:
                list_versions = partial(
                    WorkerplaneClient.list_versions, deployment=deployment["name"]
                )
                versions = connection.call(list_versions, client)
                groups.extend(
                    group for version in versions["items"] for group in _api_groups(version)
                )
            offset = page["next_offset"]
    return Snapshot(f"API {connection.config.url}", groups)


def _api_groups(version: dict[str, Any]) -> list[GroupStatus]:
    """A version's groups as :class:`GroupStatus` es (the shape ``status`` shows)."""
    compute = version["compute_status"]
    validation = compute["provider_validation"]["error"]
    return [
        GroupStatus(
            version_key=f"{version['deployment_name']}/{version['build_id']}",
            group_id=group_id,
            provider_type=g["provider_type"],
            scaler_type=g["scaler_type"],
            strategy=g["strategy"],
            workers_running=g["current_size"],
            workers_ready=g["workers_ready"],
            in_flight=g["in_flight"],
            pollers=g["pollers"],
            backlog=g["backlog"],
            backlog_age_s=g["backlog_age_s"],
            add_rate=g["add_rate"],
            dispatch_rate=g["dispatch_rate"],
            desired=g["desired_size"],
            last_decision=g["last_decision"],
            last_reason=g["last_reason"],
            last_error=g["last_error"],
            provider_validation_error=validation,
            metrics_ok=g["metrics_ok"],
            updated_at=g["updated_at"],
            last_worker_exit=g.get("last_worker_exit"),
            schedule_to_start=g.get("schedule_to_start"),
            warmups=tuple(g.get("warmups", ())),
            unmanaged_pollers=g.get("unmanaged_pollers", 0),
            unmanaged_identities=tuple(g.get("unmanaged_identities", ())),
            unmanaged_counted=g.get("unmanaged_counted", False),
        )
        for group_id, g in sorted(compute["scaling_groups"].items())
    ]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def show_snapshot(snapshot: Snapshot, output: OutputFormat) -> None:
    """Print one snapshot: a table, or the statuses as a JSON or YAML list."""
    if output.structured:
        dump([dataclasses.asdict(g) for g in snapshot.groups], output)
        return
    console.print(_render(snapshot, output))


def _render(snapshot: Snapshot, output: OutputFormat) -> Group:
    table = status_table(snapshot.groups, title=snapshot.title, wide=output is OutputFormat.WIDE)
    load = snapshot.controller
    if load is None:
        return table
    return Group(
        table,
        Text(
            f"Temporal calls: {load.rps_used:g} of {load.rps_budget:g}/s budget; "
            f"{load.active_groups} active groups at their poll interval, {load.idle_groups} idle "
            f"read every {load.idle_read_interval_s:g}s"
        ),
    )


def watch(
    read: Callable[[], Snapshot],
    output: OutputFormat,
    interval_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Show ``read()`` every ``interval_s`` until Ctrl-C: redrawn in place on a terminal table,
    else printed again whenever what the groups show changed (a JSON list per line with
    ``-o json``, YAML documents with ``-o yaml``)."""
    try:
        if console.is_terminal and not output.structured:
            with Live(_render(read(), output), console=console, auto_refresh=False) as live:
                while True:
                    sleep(interval_s)
                    live.update(_render(read(), output), refresh=True)
        last: list[GroupStatus] | None = None
        while True:
            snapshot = read()
            # Every cycle stamps a new time: only a change of what the groups show is news.
            shown = [dataclasses.replace(g, updated_at=0.0) for g in snapshot.groups]
            if shown != last:
                _print_update(snapshot, output)
                last = shown
            sleep(interval_s)
    except KeyboardInterrupt:
        return


def _print_update(snapshot: Snapshot, output: OutputFormat) -> None:
    rows = [dataclasses.asdict(g) for g in snapshot.groups]
    if output is OutputFormat.JSON:
        console.file.write(json.dumps(rows) + "\n")
    elif output is OutputFormat.YAML:
        console.file.write("---\n" + yaml.safe_dump(rows, sort_keys=False))
    else:
        console.print(_render(snapshot, output))
    console.file.flush()


def status(
    state_dir: Path = typer.Option(
        Path(".workerplane"),
        "--state-dir",
        help="A `run` or `serve` state directory (status.json or workerplane.db).",
    ),
    api: str | None = typer.Option(
        None, "--api", help="A running serve's API URL instead (token: WORKERPLANE_TOKEN)."
    ),
    token: str | None = typer.Option(
        None, "--token", help="Bearer token for --api (default: WORKERPLANE_TOKEN or profile)."
    ),
    output: OutputFormat = OutputOpt,
    watch_: bool = typer.Option(False, "--watch", "-w", help="Keep showing it until Ctrl-C."),
    interval_s: float = typer.Option(2.0, "--interval", min=0.1, help="Seconds between reads."),
) -> None:
    """Show each scaling group: workers, pollers, backlog, and the last decision and why."""
    if api is not None:
        connection = Connection(api, token, None)

        def read() -> Snapshot:
            return from_api(connection)
    else:

        def read() -> Snapshot:
            try:
                return from_state_dir(state_dir)
            except NoStatus as missing:
                if watch_:  # like `kubectl get -w`: wait for the controller to publish
                    return Snapshot(f"waiting: {missing}", [])
                fail(f"error: {missing}", code=2)

    if watch_:
        watch(read, output, interval_s)
        return
    snapshot = read()
    if not snapshot.groups and not output.structured:
        fail(f"error: no scaling group reported yet ({snapshot.title})", code=2)
    show_snapshot(snapshot, output)
