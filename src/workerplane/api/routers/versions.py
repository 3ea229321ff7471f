"""``/v1/worker-deployments/{name}/versions``: versions with Temporal's compute config, their
masked updates and validation, draining and deletion; and ``/v1/validate``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from workerplane.api import schemas as S
from workerplane.api.deps import SettingsDep, StoreDep
from workerplane.api.responses import version_out
from workerplane.api.rollouts import new_version_spec, start_rollout
from workerplane.api.service import (
    check_spec,
    provider_checks,
    spec_issues,
    version_spec,
    write_unguarded,
)
from workerplane.api.settings import ApiSettings
from workerplane.config.advice import spec_warnings
from workerplane.config.model import ComputeConfig, DeploymentSpec
from workerplane.config.proto import ScalingGroupUpdate
from workerplane.config.update import UpdateError, apply_compute_config_update
from workerplane.errors import Invalid
from workerplane.providers.kubernetes.details import ClusterPolicy
from workerplane.security.redact import scrub
from workerplane.store.rows import is_replay
from workerplane.store.store import Store

router = APIRouter(tags=["versions"])

VERSIONS = "/worker-deployments/{name}/versions"
VERSION = VERSIONS + "/{build_id}"


@router.post(VERSIONS, response_model=S.VersionOut, status_code=201, responses={200: S.REPLAYED})
def create_version(
    name: S.DeploymentName,
    body: S.VersionCreate,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
) -> S.VersionOut:
    """``CreateWorkerDeploymentVersion`` with a compute config; with a ``rollout`` (given, or
    the current version's), the new build is rolled out."""
    dep = store.deployments.get(name)
    spec = new_version_spec(store, dep, body)
    check_spec(spec, settings.cluster_policy)
    view, created = store.versions.create(
        name, body.build_id, spec, body.request_id, body.fingerprint()
    )
    if created:
        start_rollout(store, dep, spec)
    else:
        response.status_code = 200
    return version_out(view)


@router.get(VERSIONS, response_model=S.VersionList)
def list_versions(name: S.DeploymentName, store: StoreDep) -> S.VersionList:
    return S.VersionList(items=[version_out(v) for v in store.versions.list(name)])


@router.get(VERSION, response_model=S.VersionOut)
def describe_version(name: S.DeploymentName, build_id: S.BuildId, store: StoreDep) -> S.VersionOut:
    """``DescribeWorkerDeploymentVersion`` with the compute status."""
    return version_out(store.versions.get(name, build_id))


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
        raise Invalid(exc.issues) from None


@router.patch(VERSION + "/compute-config", response_model=S.VersionOut)
def update_compute_config(
    name: S.DeploymentName,
    build_id: S.BuildId,
    body: S.ComputeConfigUpdate,
    store: StoreDep,
    settings: SettingsDep,
) -> S.VersionOut:
    """``UpdateWorkerDeploymentVersionComputeConfig``: per-group masks and removals."""
    return write_unguarded(
        body.conflict_token is not None,
        lambda: _update_compute_config(name, build_id, body, store, settings.cluster_policy),
    )


def _update_compute_config(
    name: str, build_id: str, body: S.ComputeConfigUpdate, store: Store, policy: ClusterPolicy
) -> S.VersionOut:
    # Read the spec and its token, compute the new spec here, then store it only if the token
    # is still the one read (the client's, when it sent one).
    current = store.versions.editable(name, build_id)
    fingerprint = body.fingerprint()
    if is_replay(
        body.request_id, fingerprint, stored_id=current.last_update_request_id,
        stored_hash=current.last_update_request_hash,
    ):  # fmt: skip
        return version_out(store.versions.get(name, build_id))
    new = current.spec.model_copy(update={"compute": _apply_update(current.spec.compute, body)})
    new = DeploymentSpec.model_validate(new.model_dump())
    check_spec(new, policy)
    view, _ = store.versions.replace_spec(
        name,
        build_id,
        new,
        expected_token=body.conflict_token or current.conflict_token,
        request_id=body.request_id,
        fingerprint=fingerprint,
    )
    return version_out(view)


async def _validate(
    spec: DeploymentSpec, run_checks: bool, settings: ApiSettings
) -> S.ValidationOut:
    found = spec_issues(spec, settings.cluster_policy)
    issues = [S.FieldIssue(field=i.path, message=i.message) for i in found]
    checks: list[S.ProviderCheckOut] = []
    if not issues and run_checks:
        for c in await provider_checks(
            spec, address=settings.temporal_address, namespace=settings.default_namespace
        ):
            c["message"] = scrub(str(c.get("message", "")))
            checks.append(S.ProviderCheckOut(**c))
    ok = not issues and all(c.ok for c in checks)
    warnings = [S.FieldIssue(field=w.path, message=w.message) for w in spec_warnings(spec)]
    return S.ValidationOut(valid=ok, issues=issues, provider_checks=checks, warnings=warnings)


def _verdict(result: S.ValidationOut) -> str | None:
    """What a validation found, as one line (``None`` when valid)."""
    if result.valid:
        return None
    issues = "; ".join(i.message for i in result.issues)
    return issues or "; ".join(c.message for c in result.provider_checks if not c.ok)


@router.post(VERSION + "/compute-config/validate", response_model=S.ValidationOut)
async def validate_update(
    name: S.DeploymentName,
    build_id: S.BuildId,
    body: S.ComputeConfigUpdate,
    store: StoreDep,
    settings: SettingsDep,
) -> S.ValidationOut:
    """``ValidateWorkerDeploymentVersionComputeConfig``: check an update, apply nothing."""
    current = (await run_in_threadpool(store.versions.editable, name, build_id)).spec
    try:
        new_compute = _apply_update(current.compute, body)
    except Invalid as exc:
        issues = [S.FieldIssue(field=i.path, message=i.message) for i in exc.issues]
        return S.ValidationOut(valid=False, issues=issues, provider_checks=[])
    result = await _validate(current.model_copy(update={"compute": new_compute}), True, settings)
    await run_in_threadpool(store.versions.record_validation, name, build_id, _verdict(result))
    return result


@router.post("/validate", response_model=S.ValidationOut)
async def validate_config(body: S.ConfigValidate, settings: SettingsDep) -> S.ValidationOut:
    """Validate a whole compute config (Temporal's rules, typed details, provider checks)."""
    spec = version_spec(
        "validate",
        "validate",
        list(body.task_queues),
        body.compute_config,
        body.temporal_namespace,
    )
    return await _validate(spec, body.provider_checks, settings)


@router.post(VERSION + "/drain", response_model=S.VersionOut)
def drain_version(
    name: S.DeploymentName, build_id: S.BuildId, body: S.VersionAction, store: StoreDep
) -> S.VersionOut:
    """Mark a version draining: it scales to zero once its pinned work is done."""
    return version_out(store.versions.set_draining(name, build_id, True, body.conflict_token))


@router.delete(VERSION, response_model=S.VersionOut, status_code=202, responses={204: S.DELETED})
def delete_version(
    name: S.DeploymentName,
    build_id: S.BuildId,
    store: StoreDep,
    settings: SettingsDep,
    conflict_token: S.ConflictToken | None = None,
) -> Any:
    """Drain the version's workers, then delete it (DELETE_IN_PROGRESS until done)."""
    view = store.versions.delete(name, build_id, conflict_token)
    if settings.controller == "none":
        store.versions.purge(name, build_id)
        return Response(status_code=204)
    return version_out(view)
