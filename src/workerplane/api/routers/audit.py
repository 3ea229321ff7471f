"""The audit log: every write through ``/v1`` (POST, PUT, PATCH, DELETE) is recorded with who
made it (the token), what (method, path, resource), when, and its outcome (the HTTP status);
``GET /v1/audit`` reads it back, newest first (admin only).

Writes refused for a missing or unknown token (401) are not recorded: anyone could send them, and
they would push real entries out of the bounded log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from fastapi import APIRouter, FastAPI, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from workerplane.api import access_schemas as A
from workerplane.api.deps import StoreDep
from workerplane.store.store import Store
from workerplane.store.tokens import TokenInfo

logger = logging.getLogger("workerplane.api.audit")

router = APIRouter(prefix="/audit", tags=["audit"])

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@router.get("", response_model=A.AuditList)
def list_audit(
    store: StoreDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10**9),
) -> A.AuditList:
    """The writes recorded, newest first."""
    records, total = store.audit.page(limit, offset)
    nxt = offset + limit if offset + limit < total else None
    items = [A.AuditEntryOut(**asdict(r)) for r in records]
    return A.AuditList(items=items, total=total, next_offset=nxt)


def resource_of(path: str) -> str:
    """The kind and name a ``/v1`` path acts on: ``endpoints/orders``, ``tokens/3``."""
    parts = [p for p in path.removeprefix("/v1/").split("/") if p]
    return "/".join(parts[:2]) or path


def install_audit(app: FastAPI) -> None:
    """Record every authenticated write through ``/v1`` once it has an answer."""

    @app.middleware("http")
    async def record_writes(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        caller: TokenInfo | None = getattr(request.state, "caller", None)
        path = request.url.path
        if caller is None or request.method not in WRITE_METHODS or not path.startswith("/v1/"):
            return response
        store: Store = request.app.state.store
        try:
            await run_in_threadpool(
                store.audit.record, caller, request.method, path, resource_of(path),
                response.status_code,
            )  # fmt: skip
        except SQLAlchemyError as exc:  # the write happened; losing its record is not its error
            logger.warning("audit record lost for %s %s: %s", request.method, path, exc)
        return response
