"""``/v1/endpoints``: Launch-style ``temporal`` endpoints, each a projection of one version.

A create or update renders the endpoint's fields into its version's spec; the version's
conflict token guards both. With ``versioning``, an update that changes the build ID (what
defines the workers) is a new version and its rollout instead (docs/rollouts.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import ValidationError

from workerplane.api import endpoint_schemas as ES
from workerplane.api import schemas as S
from workerplane.api.deps import SettingsDep, StoreDep
from workerplane.api.errors import pydantic_issues
from workerplane.api.pagination import PageRequest, encode_page_token, page_params
from workerplane.api.responses import endpoint_out, json_response
from workerplane.api.rollout_schemas import RolloutOut
from workerplane.api.rollouts import maybe_rollout_out, new_rollout
from workerplane.api.service import check_spec, render_endpoint, write_unguarded
from workerplane.errors import Invalid, ValidationIssue
from workerplane.providers.kubernetes.details import ClusterPolicy
from workerplane.security.redact import REDACTED
from workerplane.store.endpoint_fields import EndpointFields, EndpointRecord
from workerplane.store.rows import is_replay
from workerplane.store.store import Store
from workerplane.store.views import EndpointView

router = APIRouter(prefix="/endpoints", tags=["endpoints"])

#: The list name inside this list's page tokens.
LISTING = "endpoints"


def _record(fields: dict[str, Any], secret_env_keys: list[str]) -> EndpointRecord:
    """The fields to store; a broken rule (such as min_workers > max_workers) is a 400."""
    try:
        return EndpointRecord.model_validate({**fields, "secret_env_keys": secret_env_keys})
    except ValidationError as err:
        raise Invalid(pydantic_issues(err.errors())) from None


def _rollout(store: Store, view: EndpointView) -> RolloutOut | None:
    if view.fields.versioning is None:
        return None
    return maybe_rollout_out(store, store.deployments.get(view.name))


def _out(store: Store, view: EndpointView) -> ES.EndpointOut:
    """A single read: the endpoint with its rollout."""
    return endpoint_out(view, _rollout(store, view))


@router.post("", response_model=ES.EndpointOut, status_code=201, responses={200: S.REPLAYED})
def create_endpoint(body: ES.EndpointCreate, store: StoreDep, settings: SettingsDep) -> Response:
    """Create a Launch-style ``temporal`` endpoint (idempotent by ``request_id``)."""
    fields = _record(
        body.model_dump(include=set(EndpointFields.model_fields)), sorted(body.secret_env)
    )
    spec = render_endpoint(body.name, fields, body.secret_env)
    check_spec(spec, settings.cluster_policy)
    view, created = store.endpoints.create(
        body.name, body.endpoint_type, fields, spec, body.request_id, body.fingerprint(),
        rollout=new_rollout(spec, previous=None),
    )  # fmt: skip
    return json_response(_out(store, view), 201 if created else 200)


@router.get("", response_model=ES.EndpointList)
def list_endpoints(
    store: StoreDep,
    page: Annotated[PageRequest, Depends(page_params(LISTING))],
    label: str | None = Query(None, max_length=512, pattern=r"^[^=\x00]+=[^\x00]*$"),
) -> Response:
    selector = None
    if label:
        key, value = label.split("=", 1)
        selector = (key, value)
    if page.offset is not None:
        views, total = store.endpoints.list(page.size, page.offset, selector)
        nxt = page.offset + page.size if page.offset + page.size < total else None
        items = [endpoint_out(v) for v in views]
        return json_response(ES.EndpointList(items=items, total=total, next_offset=nxt))
    views, after = store.endpoints.page(page.size, page.after, selector)
    token = encode_page_token(LISTING, after)
    items = [endpoint_out(v) for v in views]
    return json_response(ES.EndpointList(items=items, next_page_token=token))


@router.get("/{ref}", response_model=ES.EndpointOut)
def get_endpoint(ref: S.EndpointRef, store: StoreDep) -> Response:
    return json_response(_out(store, store.endpoints.get(ref)))


@router.put("/{ref}", response_model=ES.EndpointOut)
def update_endpoint(
    ref: S.EndpointRef, body: ES.EndpointUpdate, store: StoreDep, settings: SettingsDep
) -> ES.EndpointOut:
    """Change an endpoint; min/max/per_worker take effect on the running workers, and a new
    build ID of a versioned endpoint is a new version rolled out."""
    return write_unguarded(
        body.conflict_token is not None,
        lambda: _update_endpoint(ref, body, store, settings.cluster_policy),
    )


def _update_endpoint(
    ref: str, body: ES.EndpointUpdate, store: Store, policy: ClusterPolicy
) -> ES.EndpointOut:
    # Read, compute the new fields and spec here, then store them only if the version's conflict
    # token is still the one read (the client's, when it sent one).
    current = store.endpoints.get(ref)
    fingerprint = body.fingerprint()
    if is_replay(
        body.request_id, fingerprint, stored_id=current.version.last_update_request_id,
        stored_hash=current.version.last_update_request_hash,
    ):  # fmt: skip
        return _out(store, current)
    changes = body.model_dump(
        exclude_unset=True, exclude={"conflict_token", "request_id", "secret_env"}
    )
    for name, value in changes.items():
        if value is None:
            changes[name] = EndpointFields.model_fields[name].get_default(call_default_factory=True)
    if "versioning" in changes and (changes["versioning"] is None) != (
        current.fields.versioning is None
    ):
        raise Invalid(
            [ValidationIssue("versioning", "versioning is set when an endpoint is created")]
        )
    if body.command is not None:
        changes["image"] = None
    if body.image is not None:
        changes["command"] = None
    if body.secret_env is not None:
        secret_env = dict(body.secret_env)
    else:
        secret_env = dict.fromkeys(current.fields.secret_env_keys, REDACTED)
    stored = current.fields.model_dump(exclude={"secret_env_keys"})
    fields = _record({**stored, **changes}, sorted(secret_env))
    spec = render_endpoint(current.name, fields, secret_env)
    check_spec(spec, policy)
    rollout = None
    if spec.deployment is not None and spec.deployment.build_id != current.version.build_id:
        rollout = new_rollout(spec, store.deployments.get(current.name).current_build_id)
    view, _ = store.endpoints.update(
        current.id,
        fields,
        spec,
        expected_token=body.conflict_token or current.conflict_token,
        request_id=body.request_id,
        fingerprint=fingerprint,
        rollout=rollout,
    )
    return _out(store, view)


@router.delete("/{ref}", response_model=ES.EndpointOut, status_code=202, responses={204: S.DELETED})
def delete_endpoint(
    ref: S.EndpointRef,
    store: StoreDep,
    settings: SettingsDep,
    conflict_token: S.ConflictToken | None = None,
) -> Any:
    """Drain the endpoint's workers, then delete it (DELETE_IN_PROGRESS until done)."""
    view = store.endpoints.delete(ref, conflict_token)
    if settings.controller == "none":
        store.endpoints.purge(view.name)
        return Response(status_code=204)
    return endpoint_out(view)
