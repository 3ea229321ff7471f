"""The ``workerplane`` command."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path

import typer
from rich.console import Console

from workerplane.cli.options import LogFormatOpt, TemporalAddressOpt, TemporalScalerOpt
from workerplane.cli.output import console, err_console
from workerplane.cli.status import status
from workerplane.config.model import DeploymentSpec
from workerplane.logs import LogFormat, configure_logging
from workerplane.providers.kubernetes.details import ClusterPolicy

app = typer.Typer(
    name="workerplane",
    help="A control plane for Temporal workers: start, scale and retire workers from the backlog.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DEFAULT_STATE_DIR = Path(".workerplane")
#: Set to show the traceback of an unexpected error instead of its one-line summary.
DEBUG_ENV = "WORKERPLANE_DEBUG"

FileOption = typer.Option(..., "--file", "-f", help="The deployment spec (YAML).")
StateDirOption = typer.Option(
    DEFAULT_STATE_DIR, "--state-dir", help="Where the controller keeps worker records and status."
)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@app.command()
def validate(
    file: Path = FileOption,
    server: bool = typer.Option(
        False, "--server", help="Also ask a Temporal server (with its controller on) to validate."
    ),
    address: str | None = TemporalAddressOpt,
    temporal_scaler: str = TemporalScalerOpt,
    k8s_policy: Path | None = typer.Option(
        None,
        "--k8s-policy",
        envvar="WORKERPLANE_K8S_POLICY",
        help="The Kubernetes cluster policy (allowed namespaces, per-pod limits) to check k8s "
        "groups against; the Helm chart mounts it into serve at this variable's path.",
    ),
) -> None:
    """Check a deployment spec; print every problem with its file, group, field and rule."""
    from workerplane.cli.interop import load_spec_for_server
    from workerplane.config.loader import SpecError, load_spec

    policy = _cluster_policy(k8s_policy)
    try:
        # --server: Temporal's own test providers (test-invoke) are left to the server to check.
        spec = load_spec_for_server(file) if server else load_spec(file, policy=policy)
    except SpecError as err:
        for line in str(err).splitlines():
            err_console.print(line, highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(code=1) from None
    if server:
        from workerplane.cli.interop import validate_on_server

        validate_on_server(spec, address=address, temporal_scaler=temporal_scaler)
    groups = ", ".join(spec.compute.scaling_groups)
    console.print(f"{file}: valid ([bold]{spec.name}[/], groups: {groups})")
    _print_warnings(spec, file)


def _cluster_policy(path: Path | None) -> ClusterPolicy:
    """The cluster policy the provider would apply: the file given, else the defaults."""
    # The provider module loads the kubernetes client; only `validate` needs it here.
    from workerplane.providers.kubernetes.provider import load_cluster_policy

    try:
        return load_cluster_policy(path) if path is not None else ClusterPolicy()
    except OSError as err:
        raise _fail(f"--k8s-policy {path}: {err.strerror}") from None
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        raise _fail(f"--k8s-policy {path}: {err}") from None


def _print_warnings(spec: DeploymentSpec, file: Path) -> None:
    """Settings that are valid but cannot give what they ask for, one line each."""
    from workerplane.config.advice import spec_warnings
    from workerplane.config.loader import format_issue

    for warning in spec_warnings(spec):
        err_console.print(
            f"warning: {format_issue(warning, str(file))}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


@app.command()
def run(
    file: Path = FileOption,
    address: str | None = TemporalAddressOpt,
    namespace: str | None = typer.Option(None, "--namespace", help="Temporal namespace."),
    drain: bool = typer.Option(
        False, "--drain", help="On Ctrl-C, retire the workers gracefully instead of leaving them."
    ),
    state_dir: Path = StateDirOption,
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics (group gauges, cycle counters) on this port at /metrics.",
    ),
    metrics_address: str = typer.Option(
        "127.0.0.1", "--metrics-address", help="Address the metrics port binds (0.0.0.0: all)."
    ),
    rps_budget: float | None = typer.Option(
        None,
        "--rps-budget",
        min=0.1,
        help="Temporal calls per second the controller may make, all groups together "
        "(default 40; docs/fleet.md).",
    ),
    idle_read_interval: float | None = typer.Option(
        None,
        "--idle-read-interval",
        min=0.1,
        help="Seconds between reads of a group at zero with nothing to do (default 10; longer "
        "when the budget cannot afford it).",
    ),
    give_up_after: str = typer.Option(
        "300s",
        "--give-up-after",
        help="At start, retry an unreachable Temporal address or a missing namespace this long "
        "(e.g. 300s, 5m), then exit non-zero; 0 retries for ever.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    log_format: LogFormat = LogFormatOpt,
) -> None:
    """Run the controller for one deployment spec until Ctrl-C."""
    from workerplane.config.loader import SpecError
    from workerplane.controller.controller import Controller
    from workerplane.controller.interfaces import CycleObserver
    from workerplane.controller.local import FileSpecSource, JsonStatusSink, StateDirLock
    from workerplane.controller.reachability import wait_for_temporal
    from workerplane.controller.settings import ControllerSettings
    from workerplane.temporal.connection import TemporalConnectionError, resolve_connection

    give_up_after_s = _seconds(give_up_after, "--give-up-after")
    configure_logging(verbose=verbose, log_format=log_format)
    try:
        source = FileSpecSource(file)
    except SpecError as err:
        for line in str(err).splitlines():
            err_console.print(line, highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(code=1) from None
    except OSError as err:
        raise _fail(f"{file}: {err.strerror}") from None
    try:
        connection = resolve_connection(source.spec.temporal, address=address, namespace=namespace)
    except TemporalConnectionError as err:
        raise _fail(str(err)) from None
    console.print(connection.describe(), markup=False, highlight=False)
    _print_warnings(source.spec, file)
    lock = StateDirLock(state_dir.resolve())
    if lock.acquire(lambda pid: _standing_by(lock.path, pid)):
        err_console.print(f"took over {lock.path}", highlight=False, markup=False)
    settings = ControllerSettings(
        state_dir=state_dir.resolve(), address=address, namespace=namespace
    )
    if rps_budget is not None:
        settings = dataclasses.replace(settings, rps_budget=rps_budget)
    if idle_read_interval is not None:
        settings = dataclasses.replace(settings, idle_read_interval_s=idle_read_interval)
    observers: list[CycleObserver] = []
    if metrics_port is not None:
        # prometheus_client is imported only when metrics are asked for.
        from workerplane.controller.prometheus import ProcessMetrics

        metrics = ProcessMetrics()
        observers.extend(metrics.observers)
        try:
            metrics.serve(metrics_port, metrics_address)
        except OSError as err:
            raise _fail(
                f"--metrics-port {metrics_port}: cannot listen on {metrics_address}: {err.strerror}"
            ) from None
    controller = Controller(
        source, JsonStatusSink(state_dir / "status.json"), settings, observers=observers
    )
    if metrics_port is not None:
        metrics.track(controller.statuses)
    problem = asyncio.run(
        wait_for_temporal(
            connection,
            give_up_after_s=give_up_after_s or None,
            say=lambda line: err_console.print(line, highlight=False, markup=False),
        )
    )
    if problem is not None:
        err_console.print(
            f"error: gave up after {give_up_after}: {problem}", highlight=False, markup=False
        )
        os._exit(3)
    asyncio.run(_run_until_signal(controller, drain=drain))
    os._exit(0)  # temporalio can crash at interpreter exit (SDK #300)


def _seconds(text: str, option: str) -> float:
    """A duration such as ``300``, ``300s``, ``5m`` or ``1h``, in seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise _fail(f"{option} {text!r} is not a duration (e.g. 300s, 5m)") from None
    if seconds < 0:
        raise _fail(f"{option} must not be negative")
    return seconds


def _standing_by(lock_path: Path, holder: int | None) -> None:
    """Say once that another controller acts on this state directory and this one waits."""
    who = f" (pid {holder})" if holder is not None else ""
    err_console.print(
        f"another controller holds {lock_path}{who}; standing by", highlight=False, markup=False
    )


async def _run_until_signal(controller: object, *, drain: bool) -> None:
    from workerplane.controller.controller import Controller

    assert isinstance(controller, Controller)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await controller.run(stop)
    logging.getLogger("workerplane.controller").info(
        "stopping%s",
        ": draining workers" if drain else "; workers keep running and are adopted on restart",
    )
    await controller.shutdown(drain=drain)


@app.command()
def up(
    workflows: int = typer.Option(
        40, "--workflows", "-n", help="How many example workflows to start."
    ),
    activity_seconds: float = typer.Option(
        2.0, "--activity-seconds", help="Length of each example activity."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep running after the demo (Ctrl-C to stop)."
    ),
    state_dir: Path = typer.Option(Path(".workerplane/up"), "--state-dir"),
    file: Path | None = typer.Option(
        None, "--file", "-f", help="Deployment spec (default: the example)."
    ),
    log_format: LogFormat = LogFormatOpt,
) -> None:
    """The embedded default: a local Temporal dev server, the controller, local worker processes.

    Starts a burst of example workflows and shows workers scaling from zero, the work completing,
    and the workers scaling back to zero.
    """
    from workerplane.embedded.up import run_up

    code = run_up(
        workflows=workflows,
        activity_seconds=activity_seconds,
        keep=keep,
        state_dir=state_dir.resolve(),
        spec_file=file,
        # A live screen, never wider than the terminal (or 80 columns when piped).
        console=Console(),
        log_format=log_format,
    )
    os._exit(code)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"workerplane {_version()}\n")
        raise typer.Exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("workerplane")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@app.callback()
def _options(
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """A control plane for Temporal workers: start, scale and retire workers from the backlog."""


def _mount_subcommands() -> None:
    from workerplane.cli.api_commands import register
    from workerplane.export.cli import app as export_app
    from workerplane.lab.cli import app as bench_app
    from workerplane.nexus.cli import nexus_handler

    app.command("status")(status)
    app.command("nexus-handler")(nexus_handler)
    register(app)  # serve, push, endpoints, versions, rollout, tokens, keys
    app.add_typer(
        export_app, name="export", help="Export a deployment to other autoscalers (KEDA)."
    )
    app.add_typer(bench_app, name="bench", help="Benchmarks: the scaling policy lab.")


_mount_subcommands()


def main() -> None:
    """Run the CLI, then leave with ``os._exit``.

    temporalio can crash at interpreter exit (SDK issue #300) after all work is done, which would
    turn a clean result into a segfault exit code; so flush and exit without interpreter teardown.
    """
    code: int = 0
    try:
        app()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except Exception as err:
        # Commands report what they expect in one line; anything else is said in one line too,
        # with the traceback on demand (a bug report wants it, a user does not).
        if os.environ.get(DEBUG_ENV):
            raise
        err_console.print(
            f"error: {type(err).__name__}: {err} (set {DEBUG_ENV}=1 for the traceback)",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
