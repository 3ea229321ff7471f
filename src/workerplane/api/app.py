"""The FastAPI application: Temporal-shaped compute resources and Launch-style endpoints.

Routes (all under ``/v1`` need ``Authorization: Bearer <token>``; ``/livez``, ``/healthz`` and
``/readyz`` do not):

* ``/v1/worker-deployments`` (+ ``/{name}``, ``/{name}/set-current``, ``/{name}/set-ramping``)
* ``/v1/worker-deployments/{name}/versions`` (+ ``/{build_id}``, ``/compute-config``,
  ``/compute-config/validate``, ``/drain``)
* ``/v1/validate``
* ``/v1/endpoints`` (+ ``/{id or name}``)
* ``/v1/worker-deployments/{name}/versions/{build_id}/groups/{group}/metrics``,
  ``/v1/endpoints/{ref}/metrics``, ``/v1/events``, ``/v1/endpoints/{ref}/events``: telemetry
* ``/v1/tokens`` (+ ``/{id}``) and ``/v1/audit``: admin scope only
* ``/v1/worker-reports``: workers push their schedule-to-start, with their group's report token
  (not an API token); ``.../versions/{build_id}/groups/{group}/report-token`` (admin) shows it
* ``/ui``: the web console (static files; the data it shows comes from ``/v1`` with a token)

A ``read`` token may only GET; every write is recorded in the audit log.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from workerplane.api.console import install_console
from workerplane.api.deps import Routing, require_admin, require_token
from workerplane.api.errors import ERROR_RESPONSES, install_error_handlers
from workerplane.api.openapi_limits import publish_input_limits
from workerplane.api.routers import (
    audit,
    deployments,
    endpoints,
    health,
    rollouts,
    telemetry,
    tokens,
    versions,
    worker_reports,
)
from workerplane.api.schemas import ErrorResponse
from workerplane.api.settings import ApiSettings, TemporalHook
from workerplane.security.redact import scrub
from workerplane.store.db import describe_db_error
from workerplane.store.store import Store

logger = logging.getLogger("workerplane.api")

#: Errors that mean "the database cannot be reached now", not "this request is wrong".
_UNAVAILABLE = (
    OperationalError, InterfaceError, PoolTimeout, psycopg.OperationalError,
    psycopg.InterfaceError,
)  # fmt: skip


_UNAVAILABLE_RESPONSE = {
    "model": ErrorResponse,
    "description": "The database is unavailable (retry later)",
}


async def _on_database_error(_: Request, exc: Exception) -> JSONResponse:
    """503 with the reason (the driver's first line: no SQL, parameters or stack) while the
    database is down; any other database error stays an internal error (500)."""
    reason = scrub(describe_db_error(exc))
    if isinstance(exc, _UNAVAILABLE) or getattr(exc, "connection_invalidated", False):
        logger.warning("database unavailable: %s", reason)
        body = {"error": {"code": "unavailable", "message": f"database unavailable: {reason}",
                          "details": []}}  # fmt: skip
        return JSONResponse(status_code=503, content=body, headers={"Retry-After": "5"})
    logger.error("database error: %s", reason)
    body = {"error": {"code": "internal", "message": "internal error", "details": []}}
    return JSONResponse(status_code=500, content=body)


def create_app(
    store: Store,
    settings: ApiSettings | None = None,
    *,
    temporal_hook: TemporalHook | None = None,
) -> FastAPI:
    """Compose the app from its routers.

    Args:
        store: the store (migrations already applied).
        settings: behaviour knobs.
        temporal_hook: mirrors routing changes to a real Temporal server when
            ``settings.temporal_routing`` is on; ``None``: routing is only stored.
    """
    settings = settings or ApiSettings()
    app = FastAPI(
        title="workerplane",
        version="1",
        description=(
            "Control plane for Temporal workers: worker deployments and versions with Temporal's "
            "compute config, and Launch-style `temporal` endpoints."
        ),
    )
    app.state.store = store
    app.state.settings = settings
    app.state.routing = Routing(temporal_hook, settings)
    install_error_handlers(app)
    for error in (DBAPIError, PoolTimeout, psycopg.Error):
        app.add_exception_handler(error, _on_database_error)
    app.include_router(health.router)
    for resource in (deployments, versions, rollouts, endpoints, telemetry):
        app.include_router(
            resource.router,
            prefix="/v1",
            dependencies=[Depends(require_token)],
            responses={**ERROR_RESPONSES, 503: _UNAVAILABLE_RESPONSE},
        )
    # Its own authentication: report tokens only (see the router).
    app.include_router(
        worker_reports.router,
        prefix="/v1",
        responses={**ERROR_RESPONSES, 503: _UNAVAILABLE_RESPONSE},
    )
    for admin in (tokens.router, audit.router, worker_reports.admin_router):
        app.include_router(
            admin,
            prefix="/v1",
            dependencies=[Depends(require_admin)],
            responses={**ERROR_RESPONSES, 503: _UNAVAILABLE_RESPONSE},
        )
    audit.install_audit(app)
    install_console(app)
    publish_input_limits(app)
    return app
