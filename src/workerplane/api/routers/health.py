"""``/healthz``: liveness and readiness, with no token."""

from __future__ import annotations

from fastapi import APIRouter

from workerplane.api import schemas as S
from workerplane.api.deps import SettingsDep, StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=S.Health)
def health(store: StoreDep, settings: SettingsDep) -> S.Health:
    """Liveness and readiness; needs no token."""
    return S.Health(
        status="ok", database=store.db.engine.dialect.name, controller=settings.controller
    )
