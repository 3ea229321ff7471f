"""``workerplane serve``: the API and the controller in one process and one event loop.

uvicorn serves the app; next to it a task waits for the controller lease, runs the controller on
the store-backed spec source and status sink while it holds the lease (their writes fenced by the
lease's token), and stops it if the lease is lost; then it stands by to take the lease again. No
database error ends that task. Migrations run before anything else. The rollout runner
(:mod:`workerplane.controller.rollouts`) runs beside the controller, on the same lease or shards.

With ``shards`` (``serve --shards K``) the replicas share the work instead: each holds some of K
shard leases and runs a controller on the versions of those shards
(:mod:`workerplane.store.shard_keeper`, docs/scaling-out.md). Any number of replicas, with or
without a controller, serve the API on the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from anyio import to_thread
from sqlalchemy.engine import make_url

from workerplane.api.app import create_app
from workerplane.api.readiness import ServeRuntime, TemporalHealth, watch_temporal
from workerplane.api.routers.metrics import mount_metrics
from workerplane.api.settings import ApiSettings
from workerplane.controller.controller import Controller
from workerplane.controller.interfaces import ProviderFactory
from workerplane.controller.prometheus import ProcessMetrics
from workerplane.controller.rollouts import RolloutRunner
from workerplane.controller.settings import ControllerSettings
from workerplane.controller.telemetry import RecordingStatusSink, TelemetryRecorder
from workerplane.controller.worker_reports import PushedSketches, reporting_providers
from workerplane.providers.kubernetes.provider import load_cluster_policy
from workerplane.security.crypto import load_secret_box
from workerplane.security.redact import install_log_scrubber, register_secret
from workerplane.store.controller_io import FencingSource, StoreSpecSource, StoreStatusSink
from workerplane.store.db import Database, default_sqlite_url, normalize_url
from workerplane.store.leases import ControllerLease, LeaseLost
from workerplane.store.rollout_io import StoreRolloutIO
from workerplane.store.rows import version_key
from workerplane.store.shard_keeper import ShardKeeper
from workerplane.store.shards import ShardScope, ShardStore
from workerplane.store.store import Store
from workerplane.store.telemetry import DEFAULT_RETENTION_S, StoreTelemetrySink
from workerplane.temporal.versioning import Versioning, temporal_routing_hook

logger = logging.getLogger("workerplane.serve")


@dataclass
class ServeConfig:
    """Everything ``workerplane serve`` needs.

    Attributes:
        database_url: SQLAlchemy URL; else read from ``database_url_file``, else from
            ``WORKERPLANE_DATABASE_URL``, else SQLite under ``state_dir``. The file and the
            variable keep the password out of ``ps``.
        controller: run the embedded controller (only while holding the lease).
        shards: share the controller's work among replicas through this many shard leases
            (every replica must use the same count); 0 runs one controller at a time under the
            single controller lease, the others standing by.
        tokens: bearer tokens to accept (stored hashed at start).
        temporal_routing: mirror set-current / set-ramping to the Temporal server.
        telemetry_retention_s: how long the console's samples and events are kept.
        api_threads: threads for blocking store calls. Few threads beat many: each request is
            mostly Python work under the GIL; in one bench run 40 threads gave a create p99
            3x that of 8.
        report_url: the API's base URL as workers reach it: workers the controller cannot read
            (Kubernetes, ECS, Cloud Run, webhook, Lambda) push their schedule-to-start there.
            Default: ``http://<host>:<port>``, with this machine's name for a wildcard host.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8233
    database_url: str | None = None
    database_url_file: Path | None = None
    temporal_address: str = "127.0.0.1:7233"
    namespace: str = "default"
    controller: bool = True
    tokens: tuple[str, ...] = ()
    temporal_routing: bool = True
    refresh_s: float = 1.0
    lease_ttl_s: float = 15.0
    shards: int = 0
    drain_on_exit: bool = False
    api_threads: int = 16
    telemetry_retention_s: float = DEFAULT_RETENTION_S
    report_url: str | None = None

    def worker_report_base_url(self) -> str:
        """:attr:`report_url`, or the URL this process serves on as seen from elsewhere."""
        if self.report_url:
            return self.report_url
        host = socket.getfqdn() if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


#: Idle keep-alive connections are kept this long. It must exceed the keep-alive of common
#: clients (httpx 5 s, aiohttp 15 s, load balancers 60 s): with uvicorn's default of 5 s, a client
#: that reuses a pooled connection just as the server closes it gets "Server disconnected
#: without sending a response" (the failure the API benchmark used to hit).
KEEP_ALIVE_S = 75

#: Requests waiting for a free slot in the server's accept queue before the kernel refuses.
BACKLOG = 2048


def uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """The uvicorn settings of ``workerplane serve`` (also used by the tests' server)."""
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
        log_config=None,  # uvicorn logs through the process's handlers (text or JSON)
        timeout_keep_alive=KEEP_ALIVE_S, backlog=BACKLOG,
    )  # fmt: skip


#: The environment variable ``serve`` reads the database URL from (the Helm chart mounts the
#: Secret's key as a file and passes ``--database-url-file`` instead).
DATABASE_URL_ENV = "WORKERPLANE_DATABASE_URL"


def resolve_database_url(config: ServeConfig, environ: Mapping[str, str] = os.environ) -> str:
    """The database URL: explicit, from the file, from the environment, else local SQLite.

    Its password is registered with the log scrubber, so no log line can show it.
    """
    url = config.database_url
    if not url and config.database_url_file is not None:
        url = config.database_url_file.read_text().strip()
    if not url:
        url = environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        return default_sqlite_url(config.state_dir)
    password = make_url(normalize_url(url)).password
    if password:
        register_secret(str(password))
    return url


def build_store(config: ServeConfig) -> Store:
    install_log_scrubber()
    db = Database(resolve_database_url(config))
    db.migrate()
    box = load_secret_box(state_dir=config.state_dir)
    store = Store(db, box)
    store.telemetry.retention_s = config.telemetry_retention_s
    for token in config.tokens:
        register_secret(token)
        store.tokens.add(token, "serve")
    return store


async def serve(
    config: ServeConfig,
    *,
    stop: asyncio.Event | None = None,
    metrics: ProcessMetrics | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when ``stop`` is ``None``); ``/metrics``
    shows ``metrics`` (the process's, when another part of it exports too), else its own."""
    metrics = metrics or ProcessMetrics()
    store = await asyncio.to_thread(build_store, config)
    settings = ApiSettings(
        temporal_address=config.temporal_address,
        default_namespace=config.namespace,
        temporal_routing=config.temporal_routing,
        controller="embedded" if config.controller else "external",
        cluster_policy=load_cluster_policy(),
    )
    app = create_app(store, settings, temporal_hook=temporal_routing_hook(config.temporal_address))
    sharded = config.controller and config.shards > 0
    runtime = ServeRuntime(
        controller_mode=settings.controller,
        lease=ControllerLease(store.leases, ttl_s=config.lease_ttl_s)
        if config.controller and not sharded
        else None,
        shards=ShardKeeper(ShardStore(store.db), config.shards, ttl_s=config.lease_ttl_s)
        if sharded
        else None,
        temporal=TemporalHealth(config.temporal_address, config.namespace),
    )
    app.state.runtime = runtime
    mount_metrics(app, metrics)
    # Blocking store calls run in this thread pool (sync routes, run_in_threadpool); it matches
    # the database pool (pool_size + max_overflow) so a thread never waits for a connection.
    to_thread.current_default_thread_limiter().total_tokens = config.api_threads
    # Everything loaded so far (FastAPI, SQLAlchemy, temporalio, ...) lives as long as the
    # process: move it out of the collector's reach. A full collection over it took ~70 ms, and
    # those pauses were the p99 of get and list at low load.
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(uvicorn_config(app, config.host, config.port))
    if stop is None:
        stop = asyncio.Event()
        # While serving, uvicorn (>= 0.29) captures SIGINT/SIGTERM itself (main thread only):
        # the API task ends and the wait below sets `stop`. Afterwards it re-raises the signal
        # under the handler found before; these loop handlers absorb it (no KeyboardInterrupt
        # in the middle of the controller's shutdown).
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

    api_task = asyncio.create_task(server.serve())
    assert runtime.temporal is not None
    temporal_task = asyncio.create_task(watch_temporal(runtime.temporal, stop))
    # One recorder for the process: its flush outlives a lost and regained lease.
    recorder = TelemetryRecorder(StoreTelemetrySink(store.telemetry))
    recorder_stop = asyncio.Event()
    recorder_task = asyncio.create_task(recorder.run(recorder_stop))
    wiring = _Wiring(
        metrics,
        recorder,
        reporting_providers(
            config.worker_report_base_url(), store.box, PushedSketches(store.worker_reports)
        ),
    )
    controller_task = None
    if runtime.lease is not None:
        controller_task = asyncio.create_task(
            _controller_loop(store, runtime.lease, config, stop, wiring)
        )
    elif runtime.shards is not None:
        controller_task = asyncio.create_task(
            _sharded_controller_loop(store, runtime.shards, config, stop, wiring)
        )
    logger.info("workerplane API on http://%s:%d", config.host, config.port)
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({api_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    if controller_task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await controller_task
    recorder_stop.set()  # after the controller's last cycle: the last flush has everything
    await recorder_task
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await api_task
    temporal_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await temporal_task
    store.db.dispose()


async def _controller_loop(
    store: Store,
    lease: ControllerLease,
    config: ServeConfig,
    stop: asyncio.Event,
    wiring: _Wiring,
) -> None:
    """Hold the lease and run the controller; on losing the lease, stop it and stand by.

    The controller's reads and writes carry the lease's fence, so once another process holds
    a newer token the store refuses them (and the controller stops at the first refusal).
    """
    while not stop.is_set():
        fence = await lease.wait_acquire(stop)
        if fence is None:
            return
        controller = _controller(store, config, fence, lease.mark_lost, wiring)
        untrack = wiring.metrics.track(controller.statuses)
        run_stop = asyncio.Event()
        keeper = asyncio.create_task(lease.keep(run_stop))
        relay_task = asyncio.create_task(_first_of(stop, lease.lost, then=run_stop))
        rollouts = asyncio.create_task(_rollout_runner(store, config).run(run_stop))
        try:
            await controller.run(run_stop)
        finally:
            # Without --drain the workers live on, for the next holder to adopt.
            await controller.shutdown(drain=config.drain_on_exit and stop.is_set())
            untrack()
            run_stop.set()
            await rollouts
            relay_task.cancel()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if stop.is_set():
            await lease.release()
            return


@dataclass(frozen=True)
class _Wiring:
    """What every controller of the process reports to (its metrics and its telemetry), and
    how it builds providers (their workers push their measurements to this API)."""

    metrics: ProcessMetrics
    recorder: TelemetryRecorder
    providers: ProviderFactory


def _controller(
    store: Store,
    config: ServeConfig,
    fence: FencingSource,
    on_fenced: Callable[[], None],
    wiring: _Wiring,
) -> Controller:
    """A controller on the store, its reads and writes made under ``fence``."""
    return Controller(
        StoreSpecSource(store.controller, config.namespace, fence=fence, on_fenced=on_fenced),
        RecordingStatusSink(
            StoreStatusSink(store.controller, fence=fence, on_fenced=on_fenced), wiring.recorder
        ),
        ControllerSettings(
            state_dir=config.state_dir.resolve(),
            address=config.temporal_address,
            refresh_s=config.refresh_s,
        ),
        observers=[*wiring.metrics.observers, wiring.recorder],
        providers=wiring.providers,
    )


def _rollout_runner(
    store: Store,
    config: ServeConfig,
    covers: Callable[[str, str], bool] = lambda _deployment, _build: True,
) -> RolloutRunner:
    """The rollouts next to a controller, asking Temporal for routing when ``serve`` mirrors
    routing to it (else they move the stored routing only)."""
    versioning = Versioning(config.temporal_address) if config.temporal_routing else None
    return RolloutRunner(
        StoreRolloutIO(store), versioning, default_namespace=config.namespace,
        interval_s=config.refresh_s, covers=covers,
    )  # fmt: skip


def _shard_covers(scope: Callable[[], ShardScope]) -> Callable[[str, str], bool]:
    """Whether a version falls in a shard held now (none once the shards changed)."""

    def covers(deployment: str, build_id: str) -> bool:
        try:
            return scope().covers(version_key(deployment, build_id))
        except LeaseLost:
            return False

    return covers


async def _sharded_controller_loop(
    store: Store, keeper: ShardKeeper, config: ServeConfig, stop: asyncio.Event, wiring: _Wiring
) -> None:
    """Run a controller on the shards this replica holds; restart it whenever shards must go.

    The keeper renews the shards until the controller has stopped (its workers keep running
    for the next holder to adopt), then this replica leaves: the others take its shards at once.
    """
    keeper_stop = asyncio.Event()
    keeper_task = asyncio.create_task(keeper.run(keeper_stop))
    try:
        while await keeper.wait_for_shards(stop):
            epoch = keeper.begin_epoch()
            scope = keeper.scope_for(epoch)
            controller = _controller(store, config, scope, keeper.mark_lost, wiring)
            untrack = wiring.metrics.track(controller.statuses)
            run_stop = asyncio.Event()
            relay_task = asyncio.create_task(_first_of(stop, keeper.shrunk, then=run_stop))
            runner = _rollout_runner(store, config, covers=_shard_covers(scope))
            rollouts = asyncio.create_task(runner.run(run_stop))
            try:
                await controller.run(run_stop)
            finally:
                await controller.shutdown(drain=config.drain_on_exit and stop.is_set())
                untrack()
                relay_task.cancel()
                run_stop.set()
                await rollouts
            await keeper.release_surplus()
    finally:
        keeper_stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper_task
        await keeper.leave()


async def _first_of(*events: asyncio.Event, then: asyncio.Event) -> None:
    """Set ``then`` as soon as one of ``events`` is set."""
    waiters = {asyncio.create_task(event.wait()) for event in events}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
    then.set()
