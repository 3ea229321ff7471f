"""``POST /v1/worker-reports``: workers push the schedule-to-start they measured; and
``GET .../groups/{group}/report-token`` (admin) gives an operator the token for workers that
workerplane does not start itself (ECS task definitions, Cloud Run services).

Only a report token (:mod:`workerplane.security.report_tokens`, handed to the group's workers
in ``WORKERPLANE_REPORT_TOKEN``) is accepted, and only for its own group: an API token, even an
admin one, is refused (403), so the figures the controller judges an SLO by come from the
workers alone. Pushes are not written to the audit log: they change no resource, and a fleet's
pushes would crowd out the writes the log is for.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from workerplane.api import report_schemas as R
from workerplane.api import schemas as S
from workerplane.api.deps import StoreDep
from workerplane.api.errors import pydantic_issues
from workerplane.api.routers.telemetry import version_group
from workerplane.errors import Invalid, ValidationIssue
from workerplane.security.report_tokens import (
    ReportSubject,
    mint_report_token,
    verify_report_token,
)
from workerplane.security.tokens import TOKEN_PREFIX
from workerplane.worker.push import REPORT_PATH, REPORT_TOKEN_ENV, REPORT_URL_ENV

router = APIRouter(tags=["worker reports"])
#: Routes included with the ``admin`` scope.
admin_router = APIRouter(tags=["worker reports"])

_bearer = HTTPBearer(auto_error=False)


async def require_report_token(
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ReportSubject:
    """The group the presented report token reports for (verified without I/O)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or not credentials.credentials:
        raise StarletteHTTPException(401, "a report token is required", headers=challenge)
    if credentials.credentials.startswith(TOKEN_PREFIX):
        raise StarletteHTTPException(
            403,
            "API tokens cannot push worker reports: a worker uses its group's report token "
            "(WORKERPLANE_REPORT_TOKEN)",
        )
    subject = verify_report_token(store.box, credentials.credentials)
    if subject is None:
        raise StarletteHTTPException(401, "invalid report token", headers=challenge)
    return subject


ReporterDep = Annotated[ReportSubject, Depends(require_report_token)]

_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": R.WorkerReportIn.model_json_schema()}},
    }
}


async def _report(request: Request) -> R.WorkerReportIn:
    """The body, validated here, after the token was checked, rather than by FastAPI: a bad
    report answers 400 naming the field, and only to a caller allowed to report."""
    raw = await request.body()
    if len(raw) > R.MAX_BODY_BYTES:
        raise StarletteHTTPException(413, f"a report is at most {R.MAX_BODY_BYTES} bytes")
    try:
        return R.WorkerReportIn.model_validate(json.loads(raw))
    except json.JSONDecodeError as err:
        raise Invalid([ValidationIssue("body", f"not JSON: {err.msg}")]) from None
    except ValidationError as err:
        raise Invalid(pydantic_issues(err.errors())) from None


@router.post(
    REPORT_PATH.removeprefix("/v1"),
    response_model=R.WorkerReportAccepted,
    openapi_extra=_BODY_SCHEMA,
    responses={413: {"description": "The body is too large"}},
)
async def push_worker_report(request: Request, store: StoreDep, subject: ReporterDep) -> Any:
    """Keep a worker's schedule-to-start sketch for its group (idempotent per worker and
    sequence); the controller sums the group's workers into its census."""
    report = await _report(request)
    accepted = await run_in_threadpool(
        store.worker_reports.record,
        subject,
        report.worker,
        report.sequence,
        report.schedule_to_start.sketch(),
        time.time(),
    )
    return R.WorkerReportAccepted(accepted=accepted)


@admin_router.get(
    "/worker-deployments/{name}/versions/{build_id}/groups/{group}/report-token",
    response_model=R.ReportTokenOut,
)
def report_token(
    name: S.DeploymentName, build_id: S.BuildId, group: str, store: StoreDep
) -> R.ReportTokenOut:
    """The report token of a group, and the variables its workers push with. Only for workers
    whose configuration the operator writes: workerplane hands it to the workers it starts."""
    key, _ = version_group(store, name, build_id, group)
    token = mint_report_token(store.box, ReportSubject(key, group))
    return R.ReportTokenOut(
        token=token, path=REPORT_PATH, token_env=REPORT_TOKEN_ENV, url_env=REPORT_URL_ENV
    )
