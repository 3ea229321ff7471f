"""Health, with no token: ``/livez`` (and ``/healthz``) for liveness, ``/readyz`` for readiness.

Liveness says the process serves HTTP, nothing more: a database outage must not get the
process restarted (it would not help). Readiness checks the database: 503 while it is down,
so a load balancer sends requests to a replica that can answer them. Its body also shows
whether this process holds the controller lease (and its fencing token) and whether Temporal
is reachable; neither changes readiness (a standby serves the API as well as the leader).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from workerplane.api import schemas as S
from workerplane.api.deps import RuntimeDep, SettingsDep, StoreDep
from workerplane.api.readiness import ServeRuntime
from workerplane.store.db import describe_db_error

router = APIRouter(tags=["health"])


class DatabaseReadiness(BaseModel):
    ok: bool
    backend: str
    error: str | None = None


class ControllerReadiness(BaseModel):
    mode: str
    holds_lease: bool
    fencing_token: int | None = None
    holder: str | None = None
    #: With ``serve --shards K``: the shards this replica acts on, of ``shard_count``, the live
    #: replicas sharing them, and why this replica may hold none (another shard count, or a
    #: replica without ``--shards`` holding the controller lease).
    shards: list[int] | None = None
    shard_count: int | None = None
    replicas: int | None = None
    shards_blocked: str | None = None


class TemporalReadiness(BaseModel):
    address: str
    reachable: bool | None
    error: str | None = None


class ReadinessError(BaseModel):
    code: Literal["unavailable"]
    message: str


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: DatabaseReadiness
    controller: ControllerReadiness
    temporal: TemporalReadiness | None = None
    error: ReadinessError | None = None


@router.get("/healthz", response_model=S.Health)
@router.get("/livez", response_model=S.Health)
def health(store: StoreDep, settings: SettingsDep) -> S.Health:
    """Liveness: the process answers (the database is not checked); needs no token."""
    return S.Health(
        status="ok", database=store.db.engine.dialect.name, controller=settings.controller
    )


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The database is unavailable"}},
)
async def ready(store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    """Readiness: 200 when the database answers, 503 (with the reason) when it does not."""
    database = DatabaseReadiness(ok=True, backend=store.db.engine.dialect.name)
    error = None
    try:
        await run_in_threadpool(store.db.ping)
    except Exception as err:
        database.ok, database.error = False, describe_db_error(err)
        error = ReadinessError(
            code="unavailable", message=f"database unavailable: {database.error}"
        )
    body = Readiness(
        status="ok" if database.ok else "unavailable",
        database=database,
        controller=_controller_readiness(runtime),
        temporal=(
            TemporalReadiness(
                address=runtime.temporal.address,
                reachable=runtime.temporal.reachable,
                error=runtime.temporal.error,
            )
            if runtime.temporal is not None
            else None
        ),
        error=error,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if database.ok else 503)


def _controller_readiness(runtime: ServeRuntime) -> ControllerReadiness:
    """The controller lease this process holds, or with shards the shards it holds."""
    keeper = runtime.shards
    if keeper is not None:
        return ControllerReadiness(
            mode=runtime.controller_mode, holds_lease=bool(keeper.fences), holder=keeper.holder,
            shards=sorted(keeper.fences), shard_count=keeper.count, replicas=keeper.members,
            shards_blocked=keeper.blocked,
        )  # fmt: skip
    lease = runtime.lease
    fence = lease.fence if lease is not None else None
    return ControllerReadiness(
        mode=runtime.controller_mode,
        holds_lease=fence is not None,
        fencing_token=fence.token if fence is not None else None,
        holder=lease.holder if lease is not None else None,
    )
