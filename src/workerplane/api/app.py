"""The FastAPI application: Temporal-shaped compute resources and Launch-style endpoints.

Routes (all under ``/v1`` need ``Authorization: Bearer <token>``; ``/healthz`` does not):

* ``/v1/worker-deployments`` (+ ``/{name}``, ``/{name}/set-current``, ``/{name}/set-ramping``)
* ``/v1/worker-deployments/{name}/versions`` (+ ``/{build_id}``, ``/compute-config``,
  ``/compute-config/validate``, ``/drain``)
* ``/v1/validate``
* ``/v1/endpoints`` (+ ``/{id or name}``)
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from workerplane.api.deps import Routing, require_token
from workerplane.api.errors import ERROR_RESPONSES, install_error_handlers
from workerplane.api.routers import deployments, endpoints, health, versions
from workerplane.api.settings import ApiSettings, TemporalHook
from workerplane.store.store import Store


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
    app.include_router(health.router)
    for resource in (deployments, versions, endpoints):
        app.include_router(
            resource.router,
            prefix="/v1",
            dependencies=[Depends(require_token)],
            responses=ERROR_RESPONSES,
        )
    return app
