"""What routes depend on: the store, the settings, the routing hook, and the bearer token with
its scope.

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
from workerplane.store.tokens import TokenInfo

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


#: What a ``read`` token may do: look, never change.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_token(
    request: Request,
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenInfo:
    """Every ``/v1`` route needs a live bearer token; a ``read`` token may only GET. The caller
    is kept on the request (``request.state.caller``) for the audit log."""
    if credentials is None or not credentials.credentials:
        raise _unauthenticated("a bearer token is required")
    token = credentials.credentials
    if len(token) > MAX_TOKEN_LENGTH:
        raise _unauthenticated("invalid bearer token")
    # The common case is answered on the loop without a thread hop.
    caller = store.tokens.cached(token) or await run_in_threadpool(store.tokens.identify, token)
    if caller is None:
        raise _unauthenticated("invalid, expired or revoked bearer token")
    request.state.caller = caller
    if caller.scope != "admin" and request.method not in READ_METHODS:
        raise StarletteHTTPException(
            403,
            f"token '{caller.name}' has the read-only scope '{caller.scope}': it may only GET; "
            "use a token with the 'admin' scope to change anything",
        )
    return caller


CallerDep = Annotated[TokenInfo, Depends(require_token)]


async def require_admin(caller: CallerDep) -> TokenInfo:
    """Routes that manage tokens or read the audit log need the ``admin`` scope."""
    if caller.scope != "admin":
        raise StarletteHTTPException(
            403, f"token '{caller.name}' lacks the 'admin' scope this route needs"
        )
    return caller
