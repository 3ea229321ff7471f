"""The store's views as response bodies (secrets redacted, provider messages scrubbed)."""

from __future__ import annotations

import dataclasses

from fastapi import Response
from pydantic import BaseModel

from workerplane.api import endpoint_schemas as ES
from workerplane.api import schemas as S
from workerplane.api import status_schemas as ST
from workerplane.api.rollout_schemas import RolloutOut
from workerplane.planning.status import GroupStatus
from workerplane.security.redact import REDACTED, scrub
from workerplane.store.spec_codec import public_spec
from workerplane.store.views import DeploymentView, EndpointView, VersionView


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize a response model once, in pydantic-core.

    Returning a model lets FastAPI dump it to a dict, validate that against ``response_model``
    and encode it again; on the hot read routes (get and list) that triple work was most of the
    request's CPU. The model is already the declared response type, so nothing is lost.
    """
    return Response(
        content=model.model_dump_json(), media_type="application/json", status_code=status_code
    )


def group_status_out(g: GroupStatus) -> ST.GroupStatusOut:
    return ST.GroupStatusOut(
        provider_type=g.provider_type,
        scaler_type=g.scaler_type,
        strategy=g.strategy,
        current_size=g.workers_running,
        desired_size=g.desired,
        workers_ready=g.workers_ready,
        pollers=g.pollers,
        backlog=g.backlog,
        backlog_age_s=g.backlog_age_s,
        add_rate=g.add_rate,
        dispatch_rate=g.dispatch_rate,
        in_flight=g.in_flight,
        last_decision=g.last_decision,
        last_reason=scrub(g.last_reason),
        last_error=scrub(g.last_error) if g.last_error else None,
        metrics_ok=g.metrics_ok,
        updated_at=g.updated_at,
        last_worker_exit=scrub(g.last_worker_exit) if g.last_worker_exit else None,
        schedule_to_start=(
            ST.AchievedLatencyOut(**dataclasses.asdict(g.schedule_to_start))
            if g.schedule_to_start is not None
            else None
        ),
        warmups=[ST.WarmupOut(**dataclasses.asdict(w)) for w in g.warmups],
        unmanaged_pollers=g.unmanaged_pollers,
        unmanaged_identities=list(g.unmanaged_identities),
        unmanaged_counted=g.unmanaged_counted,
    )


def version_out(v: VersionView) -> S.VersionOut:
    return S.VersionOut(
        deployment_name=v.deployment,
        build_id=v.build_id,
        namespace=v.namespace,
        task_queues=list(v.spec.task_queues),
        compute_config=public_spec(v.spec)["compute"],
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
        compute_status=ST.ComputeStatusOut(
            provider_validation=ST.ProviderValidationOut(
                last_validated_at=v.last_validation_at, error=v.last_validation_error
            ),
            scaling_groups={g.group_id: group_status_out(g) for g in v.groups},
        ),
        created_at=v.created_at,
        updated_at=v.updated_at,
        sunset=ST.SunsetOut(**dataclasses.asdict(v.sunset)) if v.sunset is not None else None,
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


def endpoint_out(e: EndpointView, rollout: RolloutOut | None = None) -> ES.EndpointOut:
    """The endpoint as the API shows it; ``rollout`` is a versioned endpoint's."""
    fields = e.fields
    version = e.version
    return ES.EndpointOut(
        **fields.model_dump(exclude={"secret_env_keys", "temporal_namespace"}),
        temporal_namespace=fields.temporal_namespace or version.deployment_namespace,
        secret_env=dict.fromkeys(fields.secret_env_keys, REDACTED),
        id=e.id,
        name=e.name,
        endpoint_type=e.endpoint_type,
        status=version.status,
        status_reason=version.status_reason,
        available_workers=version.available_workers,
        unavailable_workers=version.unavailable_workers,
        deployment_name=version.deployment,
        build_id=version.build_id,
        rollout=rollout,
        conflict_token=e.conflict_token,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )
