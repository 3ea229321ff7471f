"""What routes depend on: the store, the settings, the routing hook and the bearer token.

Each is set on ``app.state`` by :func:`workerplane.api.app.create_app`; the dependencies are
coroutines with no I/O, so they run on the event loop without a thread hop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from workerplane.api.readiness import ServeRuntime
from workerplane.api.settings import ApiSettings, TemporalHook
from workerplane.store.store import Store

#: Longer tokens are refused without hashing them.
MAX_TOKEN_LENGTH = 512


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_runtime(request: Request) -> ServeRuntime:
    """The process state ``serve`` set; an app made without it (tests) has a bare one."""
    runtime: ServeRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        settings: ApiSettings = request.app.state.settings
        runtime = ServeRuntime(controller_mode=settings.controller)
    return runtime


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
RuntimeDep = Annotated[ServeRuntime, Depends(get_runtime)]


class Routing:
    """Mirrors routing changes to Temporal when the app has a hook and the settings ask for it."""

    def __init__(self, hook: TemporalHook | None, settings: ApiSettings) -> None:
        self._hook = hook if settings.temporal_routing else None

    async def __call__(self, operation: str, args: dict[str, Any]) -> None:
        if self._hook is not None:
            await self._hook(operation, args)


async def get_routing(request: Request) -> Routing:
    routing: Routing = request.app.state.routing
    return routing


RoutingDep = Annotated[Routing, Depends(get_routing)]

_bearer = HTTPBearer(auto_error=False)


def _unauthenticated(message: str) -> StarletteHTTPException:
    return StarletteHTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def require_token(
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Every ``/v1`` route needs a live bearer token."""
    if credentials is None or not credentials.credentials:
        raise _unauthenticated("a bearer token is required")
    token = credentials.credentials
    if len(token) > MAX_TOKEN_LENGTH:
        raise _unauthenticated("invalid bearer token")
    if store.tokens.cached(token):
        return  # the common case, answered on the loop without a thread hop
    if not await run_in_threadpool(store.tokens.verify, token):
        raise _unauthenticated("invalid bearer token")
