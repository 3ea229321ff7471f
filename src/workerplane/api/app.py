"""The FastAPI application: Temporal-shaped compute resources and Launch-style endpoints.

Routes (all under ``/v1`` need ``Authorization: Bearer <token>``; ``/healthz`` does not):

* ``/v1/worker-deployments`` (+ ``/{name}``, ``/{name}/set-current``, ``/{name}/set-ramping``)
* ``/v1/worker-deployments/{name}/versions`` (+ ``/{build_id}``, ``/compute-config``,
  ``/compute-config/validate``, ``/drain``)
* ``/v1/validate``
* ``/v1/endpoints`` (+ ``/{id or name}``)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from workerplane.api import schemas as S
from workerplane.api.service import (
    ENDPOINT_FIELDS,
    check_spec,
    issues_to_invalid,
    provider_checks,
    redacted_secret_env,
    render_endpoint,
    version_spec,
)
from workerplane.config.model import ComputeConfig, DeploymentSpec
from workerplane.config.proto import ScalingGroupUpdate
from workerplane.config.update import UpdateError, apply_compute_config_update
from workerplane.config.validation import validate_spec
from workerplane.security.redact import REDACTED, scrub
from workerplane.store.repository import (
    ENDPOINT_BUILD_ID,
    Conflict,
    DeploymentView,
    EndpointView,
    Invalid,
    NotFound,
    Store,
    VersionView,
)

logger = logging.getLogger("workerplane.api")

TemporalHook = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class ApiSettings:
    """How the API behaves.

    Attributes:
        temporal_address: the Temporal frontend workers and the controller use.
        default_namespace: the namespace when a request names none.
        temporal_routing: also call SetWorkerDeploymentCurrent/RampingVersion on Temporal.
        controller: "embedded", "external" or "none" (shown by /healthz). With "none", deletes
            complete at once because no controller would ever drain them.
    """

    temporal_address: str = "127.0.0.1:7233"
    default_namespace: str = "default"
    temporal_routing: bool = False
    controller: str = "embedded"
    extra: dict[str, Any] = field(default_factory=dict)


def _error(
    status_code: int, code: str, message: str, details: list[dict[str, str]] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(status_code=status_code, content=body)


def _json(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize a response model once, in pydantic-core.

    Returning a model lets FastAPI dump it to a dict, validate that against ``response_model``
    and encode it again; on the hot read routes (get and list) that triple work was most of the
    request's CPU. The model is already the declared response type, so nothing is lost.
    """
    return Response(
        content=model.model_dump_json(), media_type="application/json", status_code=status_code
    )


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


_ERRORS = {
    400: {"model": S.ErrorResponse, "description": "Invalid input (field-level messages)"},
    401: {"model": S.ErrorResponse, "description": "Missing or invalid bearer token"},
    404: {"model": S.ErrorResponse, "description": "Not found"},
    409: {"model": S.ErrorResponse, "description": "Conflict (name taken, stale token)"},
}


def _group_status(g: dict[str, Any]) -> S.GroupStatusOut:
    return S.GroupStatusOut(
        provider_type=g.get("provider_type", ""),
        scaler_type=g.get("scaler_type", ""),
        strategy=g.get("strategy", ""),
        current_size=int(g.get("workers_running", 0)),
        desired_size=g.get("desired"),
        workers_ready=g.get("workers_ready"),
        pollers=int(g.get("pollers", 0)),
        backlog=int(g.get("backlog", 0)),
        backlog_age_s=float(g.get("backlog_age_s", 0.0)),
        add_rate=float(g.get("add_rate", 0.0)),
        dispatch_rate=float(g.get("dispatch_rate", 0.0)),
        in_flight=g.get("in_flight"),
        last_decision=str(g.get("last_decision", "")),
        last_reason=scrub(str(g.get("last_reason", ""))),
        last_error=scrub(g["last_error"]) if g.get("last_error") else None,
        metrics_ok=bool(g.get("metrics_ok", False)),
        updated_at=float(g.get("updated_at", 0.0)),
    )


def version_out(v: VersionView) -> S.VersionOut:
    return S.VersionOut(
        deployment_name=v.deployment,
        build_id=v.build_id,
        namespace=v.namespace,
        task_queues=list(v.spec.get("task_queues") or []),
        compute_config=v.spec.get("compute") or {},
        status=v.status,
        status_reason=v.status_reason,
        draining=v.draining,
        deleting=v.deleting,
        is_current=v.is_current,
        ramping_percentage=v.ramping_percentage,
        generation=v.generation,
        conflict_token=v.conflict_token,
        available_workers=v.available_workers,
        unavailable_workers=v.unavailable_workers,
        compute_status=S.ComputeStatusOut(
            provider_validation=S.ProviderValidationOut(
                last_validated_at=v.last_validation_at, error=v.last_validation_error
            ),
            scaling_groups={g["group_id"]: _group_status(g) for g in v.groups},
        ),
        created_at=v.created_at,
        updated_at=v.updated_at,
    )


def deployment_out(d: DeploymentView) -> S.DeploymentOut:
    return S.DeploymentOut(
        name=d.name,
        namespace=d.namespace,
        owner=d.owner,
        current_version=d.current_build_id,
        ramping_version=d.ramping_build_id,
        ramping_percentage=d.ramp_percentage,
        build_ids=d.build_ids,
        conflict_token=d.conflict_token,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def endpoint_out(e: EndpointView) -> S.EndpointOut:
    f = e.fields
    v = e.version
    return S.EndpointOut(
        id=e.id,
        name=e.name,
        endpoint_type=e.endpoint_type,
        status=v.status,  # type: ignore[arg-type]
        status_reason=v.status_reason,
        temporal_task_queue=f["temporal_task_queue"],
        temporal_namespace=f.get("temporal_namespace") or v.namespace,
        command=f.get("command"),
        image=f.get("image"),
        env=f.get("env") or {},
        secret_env=redacted_secret_env(f.get("secret_env_keys") or []),
        cpus=f.get("cpus"),
        gpus=int(f.get("gpus") or 0),
        gpu_type=f.get("gpu_type"),
        memory=f.get("memory"),
        storage=f.get("storage"),
        k8s_namespace=f.get("k8s_namespace"),
        min_workers=int(f["min_workers"]),
        max_workers=int(f["max_workers"]),
        per_worker=int(f["per_worker"]),
        labels=f.get("labels") or {},
        available_workers=v.available_workers,
        unavailable_workers=v.unavailable_workers,
        deployment_name=v.deployment,
        build_id=v.build_id,
        conflict_token=e.conflict_token,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


def create_app(
    store: Store,
    settings: ApiSettings | None = None,
    *,
    temporal_hook: TemporalHook | None = None,
) -> FastAPI:
    """Build the app.

    Args:
        store: the repository (migrations already applied).
        settings: behaviour knobs.
        temporal_hook: ``hook(operation, args)`` that mirrors routing changes to a real Temporal
            server (``set_current`` / ``set_ramping``); it raises :class:`Conflict` when
            Temporal refuses. ``None``: routing is only stored.
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

    @app.exception_handler(RequestValidationError)
    async def _on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            msg = str(err.get("msg", "invalid value"))
            msg = msg.removeprefix("Value error, ")
            details.append({"field": _loc(tuple(err.get("loc", ()))), "message": msg})
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return _error(400, "invalid_argument", message or "invalid request", details)

    @app.exception_handler(Invalid)
    async def _on_invalid(_: Request, exc: Invalid) -> JSONResponse:
        details = [{"field": f, "message": m} for f, m in exc.issues]
        return _error(400, "invalid_argument", str(exc), details)

    @app.exception_handler(NotFound)
    async def _on_not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _on_conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {401: "unauthenticated", 404: "not_found", 405: "method_not_allowed"}
        response = _error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _on_crash(_: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error: %s", scrub(f"{type(exc).__name__}: {exc}"))
        return _error(500, "internal", "internal error")

    bearer = HTTPBearer(auto_error=False)

    async def require_token(
        # A plain default, not Annotated[...]: with postponed annotations FastAPI cannot see
        # the local `bearer` and would read `credentials` as a query parameter.
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> None:
        if credentials is None or not credentials.credentials:
            raise StarletteHTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        token = credentials.credentials
        if len(token) <= 512 and store.token_cached(token):
            return  # the common case, answered on the loop without a thread hop
        if len(token) > 512 or not await run_in_threadpool(store.verify_token, token):
            raise StarletteHTTPException(
                401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    @app.get("/healthz", response_model=S.Health, tags=["health"])
    def health() -> S.Health:
        """Liveness and readiness; needs no token."""
        return S.Health(
            status="ok", database=store.db.engine.dialect.name, controller=settings.controller
        )

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses=_ERRORS)

    # -- worker deployments ------------------------------------------------------------------

    @v1.post(
        "/worker-deployments", response_model=S.DeploymentOut, status_code=201, tags=["deployments"]
    )
    def create_deployment(body: S.DeploymentCreate, response: Response) -> S.DeploymentOut:
        view, created = store.create_deployment(body.name, body.namespace, body.request_id)
        if not created:
            response.status_code = 200
        return deployment_out(view)

    @v1.get("/worker-deployments", response_model=S.DeploymentList, tags=["deployments"])
    def list_deployments(
        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9)
    ) -> S.DeploymentList:
        views, total = store.list_deployments(limit, offset)
        nxt = offset + limit if offset + limit < total else None
        return S.DeploymentList(
            items=[deployment_out(v) for v in views], total=total, next_offset=nxt
        )

    @v1.get("/worker-deployments/{name}", response_model=S.DeploymentOut, tags=["deployments"])
    def describe_deployment(name: S.DeploymentName) -> S.DeploymentOut:
        return deployment_out(store.get_deployment(name))

    @v1.delete("/worker-deployments/{name}", status_code=204, tags=["deployments"])
    def delete_deployment(name: S.DeploymentName) -> Response:
        store.delete_deployment(name)
        return Response(status_code=204)

    async def _routing(op: str, args: dict[str, Any]) -> None:
        if temporal_hook is not None and settings.temporal_routing:
            await temporal_hook(op, args)

    @v1.post(
        "/worker-deployments/{name}/set-current",
        response_model=S.DeploymentOut,
        tags=["deployments"],
    )
    async def set_current(name: S.DeploymentName, body: S.SetCurrentVersion) -> S.DeploymentOut:
        """``SetWorkerDeploymentCurrentVersion``; the previous current version starts draining."""
        dep = await run_in_threadpool(store.get_deployment, name)
        if body.build_id is not None and body.build_id not in dep.build_ids:
            raise NotFound(f"version '{body.build_id}' of worker deployment '{name}' not found")
        await _routing(
            "set_current",
            {
                "deployment": name,
                "build_id": body.build_id,
                "namespace": dep.namespace or settings.default_namespace,
            },
        )
        view = await run_in_threadpool(
            lambda: store.set_routing(
                name, current=body.build_id, conflict_token=body.conflict_token
            )
        )
        return deployment_out(view)

    @v1.post(
        "/worker-deployments/{name}/set-ramping",
        response_model=S.DeploymentOut,
        tags=["deployments"],
    )
    async def set_ramping(name: S.DeploymentName, body: S.SetRampingVersion) -> S.DeploymentOut:
        """``SetWorkerDeploymentRampingVersion``: ramp ``percentage`` of new workflows."""
        dep = await run_in_threadpool(store.get_deployment, name)
        if body.build_id is not None and body.build_id not in dep.build_ids:
            raise NotFound(f"version '{body.build_id}' of worker deployment '{name}' not found")
        await _routing(
            "set_ramping",
            {
                "deployment": name,
                "build_id": body.build_id,
                "percentage": body.percentage,
                "namespace": dep.namespace or settings.default_namespace,
            },
        )
        view = await run_in_threadpool(
            lambda: store.set_routing(
                name, ramping=body.build_id, percentage=body.percentage,
                conflict_token=body.conflict_token,
            )
        )  # fmt: skip
        return deployment_out(view)

    # -- versions ----------------------------------------------------------------------------

    @v1.post(
        "/worker-deployments/{name}/versions",
        response_model=S.VersionOut,
        status_code=201,
        tags=["versions"],
    )
    def create_version(
        name: S.DeploymentName, body: S.VersionCreate, response: Response
    ) -> S.VersionOut:
        """``CreateWorkerDeploymentVersion`` with a compute config."""
        dep = store.get_deployment(name)
        spec = version_spec(
            name,
            body.build_id,
            list(body.task_queues),
            body.compute_config,
            body.temporal_namespace or dep.namespace,
        )
        check_spec(spec)
        view, created = store.create_version(name, body.build_id, spec, body.request_id)
        if not created:
            response.status_code = 200
        return version_out(view)

    @v1.get("/worker-deployments/{name}/versions", response_model=S.VersionList, tags=["versions"])
    def list_versions(name: S.DeploymentName) -> S.VersionList:
        return S.VersionList(items=[version_out(v) for v in store.list_versions(name)])

    @v1.get(
        "/worker-deployments/{name}/versions/{build_id}",
        response_model=S.VersionOut,
        tags=["versions"],
    )
    def describe_version(name: S.DeploymentName, build_id: S.BuildId) -> S.VersionOut:
        """``DescribeWorkerDeploymentVersion`` with the compute status."""
        return version_out(store.get_version(name, build_id))

    def _apply_update(current: ComputeConfig, body: S.ComputeConfigUpdate) -> ComputeConfig:
        upserts = {
            gid: ScalingGroupUpdate(scaling_group=u.scaling_group, update_mask=u.paths())
            for gid, u in body.scaling_groups.items()
        }
        try:
            return apply_compute_config_update(
                current, upserts, list(body.remove_scaling_groups), validate=False
            )
        except UpdateError as exc:
            raise issues_to_invalid(exc.issues) from None

    @v1.patch(
        "/worker-deployments/{name}/versions/{build_id}/compute-config",
        response_model=S.VersionOut,
        tags=["versions"],
    )
    def update_compute_config(
        name: S.DeploymentName, build_id: S.BuildId, body: S.ComputeConfigUpdate
    ) -> S.VersionOut:
        """``UpdateWorkerDeploymentVersionComputeConfig``: per-group masks and removals."""

        def mutate(current: DeploymentSpec, _sealed: dict[str, Any]) -> DeploymentSpec:
            new = current.model_copy(update={"compute": _apply_update(current.compute, body)})
            new = DeploymentSpec.model_validate(new.model_dump())
            check_spec(new)
            return new

        view, _ = store.update_version_spec(
            name, build_id, mutate, conflict_token=body.conflict_token, request_id=body.request_id
        )
        return version_out(view)

    @v1.post(
        "/worker-deployments/{name}/versions/{build_id}/compute-config/validate",
        response_model=S.ValidationOut,
        tags=["versions"],
    )
    async def validate_update(
        name: S.DeploymentName, build_id: S.BuildId, body: S.ComputeConfigUpdate
    ) -> S.ValidationOut:
        """``ValidateWorkerDeploymentVersionComputeConfig``: check an update, apply nothing."""
        current = await run_in_threadpool(store.open_spec, name, build_id)
        try:
            new_compute = _apply_update(current.compute, body)
        except Invalid as exc:
            issues = [S.FieldIssue(field=f, message=m) for f, m in exc.issues]
            return S.ValidationOut(valid=False, issues=issues, provider_checks=[])
        spec = current.model_copy(update={"compute": new_compute})
        result = await _validate(spec, True)
        await run_in_threadpool(
            store.record_validation, name, build_id,
            None if result.valid else "; ".join(i.message for i in result.issues) or "; ".join(c.message for c in result.provider_checks if not c.ok),  # noqa: E501
        )  # fmt: skip
        return result

    async def _validate(spec: DeploymentSpec, run_checks: bool) -> S.ValidationOut:
        issues = [S.FieldIssue(field=i.path, message=i.message) for i in validate_spec(spec)]
        checks: list[S.ProviderCheckOut] = []
        if not issues and run_checks:
            for c in await provider_checks(
                spec, address=settings.temporal_address, namespace=settings.default_namespace
            ):
                c["message"] = scrub(str(c.get("message", "")))
                checks.append(S.ProviderCheckOut(**c))
        ok = not issues and all(c.ok for c in checks)
        return S.ValidationOut(valid=ok, issues=issues, provider_checks=checks)

    @v1.post("/validate", response_model=S.ValidationOut, tags=["versions"])
    async def validate_config(body: S.ConfigValidate) -> S.ValidationOut:
        """Validate a whole compute config (Temporal's rules, typed details, provider checks)."""
        spec = version_spec(
            "validate",
            "validate",
            list(body.task_queues),
            body.compute_config,
            body.temporal_namespace,
        )
        return await _validate(spec, body.provider_checks)

    @v1.post(
        "/worker-deployments/{name}/versions/{build_id}/drain",
        response_model=S.VersionOut,
        tags=["versions"],
    )
    def drain_version(
        name: S.DeploymentName, build_id: S.BuildId, body: S.VersionAction
    ) -> S.VersionOut:
        """Mark a version draining: it scales to zero once its pinned work is done."""
        return version_out(store.set_version_draining(name, build_id, True, body.conflict_token))

    @v1.delete(
        "/worker-deployments/{name}/versions/{build_id}",
        response_model=S.VersionOut,
        status_code=202,
        tags=["versions"],
    )
    def delete_version(
        name: S.DeploymentName,
        build_id: S.BuildId,
        response: Response,
        conflict_token: S.ConflictToken | None = None,
    ) -> Any:
        """Drain the version's workers, then delete it (DELETE_IN_PROGRESS until done)."""
        view = store.delete_version(name, build_id, conflict_token)
        if settings.controller == "none":
            store.purge_version(name, build_id)
            return Response(status_code=204)
        return version_out(view)

    # -- endpoints ---------------------------------------------------------------------------

    def _fields_of(body: S.EndpointCreate) -> dict[str, Any]:
        data = body.model_dump()
        fields = {k: data[k] for k in ENDPOINT_FIELDS}
        fields["secret_env_keys"] = sorted(body.secret_env)
        return fields

    @v1.post("/endpoints", response_model=S.EndpointOut, status_code=201, tags=["endpoints"])
    def create_endpoint(body: S.EndpointCreate) -> Response:
        """Create a Launch-style ``temporal`` endpoint (idempotent by ``request_id``)."""
        fields = _fields_of(body)
        spec = render_endpoint(body.name, fields, dict(body.secret_env))
        check_spec(spec)
        view, created = store.create_endpoint(
            body.name, body.endpoint_type, fields, spec,
            body.temporal_namespace, body.request_id, list(body.secret_env),
        )  # fmt: skip
        return _json(endpoint_out(view), 201 if created else 200)

    @v1.get("/endpoints", response_model=S.EndpointList, tags=["endpoints"])
    def list_endpoints(
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
        label: str | None = Query(None, max_length=512, pattern=r"^[^=\x00]+=[^\x00]*$"),
    ) -> Response:
        selector = tuple(label.split("=", 1)) if label else None
        views, total = store.list_endpoints(limit, offset, selector)  # type: ignore[arg-type]
        nxt = offset + limit if offset + limit < total else None
        items = [endpoint_out(v) for v in views]
        return _json(S.EndpointList(items=items, total=total, next_offset=nxt))

    @v1.get("/endpoints/{ref}", response_model=S.EndpointOut, tags=["endpoints"])
    def get_endpoint(ref: S.EndpointRef) -> Response:
        return _json(endpoint_out(store.get_endpoint(ref)))

    @v1.put("/endpoints/{ref}", response_model=S.EndpointOut, tags=["endpoints"])
    def update_endpoint(ref: S.EndpointRef, body: S.EndpointUpdate) -> S.EndpointOut:
        """Change an endpoint; min/max/per_worker take effect on the running workers."""
        changes = body.model_dump(
            exclude_unset=True, exclude={"conflict_token", "request_id", "secret_env"}
        )

        def mutate(fields: dict[str, Any]) -> tuple[dict[str, Any], DeploymentSpec, list[str]]:
            name = store_name[0]
            new = {**fields, **changes}
            if body.command is not None:
                new["image"] = None
            if body.image is not None:
                new["command"] = None
            if new["min_workers"] > new["max_workers"]:
                low, high = new["min_workers"], new["max_workers"]
                message = f"min_workers ({low}) must not exceed max_workers ({high})"
                raise Invalid([("min_workers", message)])
            if body.secret_env is not None:
                secret_env = {k: v for k, v in body.secret_env.items()}
            else:
                secret_env = dict.fromkeys(fields.get("secret_env_keys") or [], REDACTED)
            new["secret_env_keys"] = sorted(secret_env)
            spec = render_endpoint(name, new, secret_env)
            check_spec(spec)
            return new, spec, sorted(secret_env)

        current = store.get_endpoint(ref)
        store_name = [current.name]
        view, _ = store.update_endpoint(
            ref, mutate, conflict_token=body.conflict_token, request_id=body.request_id
        )
        return endpoint_out(view)

    @v1.delete(
        "/endpoints/{ref}", response_model=S.EndpointOut, status_code=202, tags=["endpoints"]
    )
    def delete_endpoint(ref: S.EndpointRef, conflict_token: S.ConflictToken | None = None) -> Any:
        """Drain the endpoint's workers, then delete it (DELETE_IN_PROGRESS until done)."""
        view = store.delete_endpoint(ref, conflict_token)
        if settings.controller == "none":
            store.purge_version(view.name, ENDPOINT_BUILD_ID)
            return Response(status_code=204)
        return endpoint_out(view)

    app.include_router(v1)
    _ = jsonable_encoder, status
    return app
