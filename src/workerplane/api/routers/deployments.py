"""``/v1/worker-deployments``: create, list, describe and delete deployments, and route their
versions (Temporal's SetWorkerDeploymentCurrentVersion / RampingVersion)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from workerplane.api import schemas as S
from workerplane.api.deps import RoutingDep, SettingsDep, StoreDep
from workerplane.api.pagination import PageRequest, encode_page_token, page_params
from workerplane.api.responses import deployment_out
from workerplane.api.rollouts import maybe_rollout_out
from workerplane.errors import NotFound
from workerplane.store.store import Store
from workerplane.store.views import DeploymentView

router = APIRouter(prefix="/worker-deployments", tags=["deployments"])

#: The list name inside this list's page tokens.
LISTING = "worker-deployments"


@router.post("", response_model=S.DeploymentOut, status_code=201, responses={200: S.REPLAYED})
def create_deployment(
    body: S.DeploymentCreate, response: Response, store: StoreDep
) -> S.DeploymentOut:
    view, created = store.deployments.create(
        body.name, body.namespace, body.request_id, fingerprint=body.fingerprint()
    )
    if not created:
        response.status_code = 200
    return deployment_out(view)


@router.get("", response_model=S.DeploymentList)
def list_deployments(
    store: StoreDep, page: Annotated[PageRequest, Depends(page_params(LISTING))]
) -> S.DeploymentList:
    if page.offset is not None:
        views, total = store.deployments.list(page.size, page.offset)
        nxt = page.offset + page.size if page.offset + page.size < total else None
        items = [deployment_out(v) for v in views]
        return S.DeploymentList(items=items, total=total, next_offset=nxt)
    views, after = store.deployments.page(page.size, page.after)
    return S.DeploymentList(
        items=[deployment_out(v) for v in views],
        next_page_token=encode_page_token(LISTING, after),
    )


@router.get("/{name}", response_model=S.DeploymentOut)
def describe_deployment(name: S.DeploymentName, store: StoreDep) -> S.DeploymentOut:
    """The deployment, its routing, and the rollout of its newest build."""
    view = store.deployments.get(name)
    return deployment_out(view).model_copy(update={"rollout": maybe_rollout_out(store, view)})


@router.delete("/{name}", status_code=204)
def delete_deployment(name: S.DeploymentName, store: StoreDep) -> Response:
    store.deployments.delete(name)
    return Response(status_code=204)


async def _routed(store: Store, name: str, build_id: str | None) -> DeploymentView:
    """The deployment, checked to have version ``build_id`` (``None``: no version)."""
    dep = await run_in_threadpool(store.deployments.get, name)
    if build_id is not None and build_id not in dep.build_ids:
        raise NotFound(f"version '{build_id}' of worker deployment '{name}' not found")
    return dep


@router.post("/{name}/set-current", response_model=S.DeploymentOut)
async def set_current(
    name: S.DeploymentName,
    body: S.SetCurrentVersion,
    store: StoreDep,
    settings: SettingsDep,
    routing: RoutingDep,
) -> S.DeploymentOut:
    """``SetWorkerDeploymentCurrentVersion``; the previous current version starts draining."""
    dep = await _routed(store, name, body.build_id)
    namespace = dep.namespace or settings.default_namespace
    await routing(
        "set_current", {"deployment": name, "build_id": body.build_id, "namespace": namespace}
    )
    view = await run_in_threadpool(
        lambda: store.deployments.set_routing(
            name, current=body.build_id, conflict_token=body.conflict_token
        )
    )
    return deployment_out(view)


@router.post("/{name}/set-ramping", response_model=S.DeploymentOut)
async def set_ramping(
    name: S.DeploymentName,
    body: S.SetRampingVersion,
    store: StoreDep,
    settings: SettingsDep,
    routing: RoutingDep,
) -> S.DeploymentOut:
    """``SetWorkerDeploymentRampingVersion``: ramp ``percentage`` of new workflows."""
    dep = await _routed(store, name, body.build_id)
    await routing(
        "set_ramping",
        {
            "deployment": name,
            "build_id": body.build_id,
            "percentage": body.percentage,
            "namespace": dep.namespace or settings.default_namespace,
        },
    )
    view = await run_in_threadpool(
        lambda: store.deployments.set_routing(
            name, ramping=body.build_id, percentage=body.percentage,
            conflict_token=body.conflict_token,
        )
    )  # fmt: skip
    return deployment_out(view)
