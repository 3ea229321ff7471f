"""Every error the API returns has one body: ``{"error": {code, message, details}}``.

:class:`~workerplane.errors.Invalid` and request validation become 400 with one detail per field
(:class:`InvalidQuery`, a query parameter out of its domain, 422),
:class:`~workerplane.errors.NotFound` 404, :class:`~workerplane.errors.Conflict` 409.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from workerplane.api import schemas as S
from workerplane.errors import Conflict, Invalid, NotFound, ValidationIssue
from workerplane.security.crypto import DecryptionError
from workerplane.security.redact import scrub

logger = logging.getLogger("workerplane.api")

#: The error responses every ``/v1`` route declares in the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": S.ErrorResponse, "description": "Invalid input (field-level messages)"},
    401: {"model": S.ErrorResponse, "description": "Missing or invalid bearer token"},
    403: {"model": S.ErrorResponse, "description": "The token's scope does not allow this"},
    404: {"model": S.ErrorResponse, "description": "Not found"},
    409: {"model": S.ErrorResponse, "description": "Conflict (name taken, stale token)"},
}

_HTTP_CODES = {
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
}


def _error(
    status_code: int, code: str, message: str, issues: Iterable[ValidationIssue] = ()
) -> JSONResponse:
    details = [{"field": issue.path, "message": issue.message} for issue in issues]
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(status_code=status_code, content=body)


def pydantic_issues(errors: Sequence[Any]) -> list[ValidationIssue]:
    """Pydantic's errors as issues: the field's dotted path (without ``body``), and the message
    without pydantic's "Value error, " prefix."""
    issues = []
    for err in errors:
        path = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        rule = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        issues.append(ValidationIssue(path=path, rule=rule))
    return issues


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = pydantic_issues(exc.errors())
    message = "; ".join(f"{i.path}: {i.message}" for i in issues[:5])
    return _error(400, "invalid_argument", message or "invalid request", issues)


class InvalidQuery(Invalid):
    """A query parameter outside its domain (a time window, a page size): 422 naming it."""


async def _on_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Invalid)
    status = 422 if isinstance(exc, InvalidQuery) else 400
    return _error(status, "invalid_argument", str(exc), exc.issues)


async def _on_not_found(_: Request, exc: Exception) -> JSONResponse:
    return _error(404, "not_found", str(exc))


async def _on_conflict(_: Request, exc: Exception) -> JSONResponse:
    return _error(409, "conflict", str(exc))


def _allowed_methods(request: Request) -> str:
    """Every method the OpenAPI document lists at this path (Starlette's 405 names only the
    methods of the first route that matched the path)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = _error(exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed_methods(request)
    return response


async def _on_undecryptable(_: Request, exc: Exception) -> JSONResponse:
    """A stored secret this process cannot open: its message names the key id (never data)."""
    logger.error("%s", exc)
    return _error(500, "encryption_key", str(exc))


async def _on_crash(_: Request, exc: Exception) -> JSONResponse:
    logger.error("internal error: %s", scrub(f"{type(exc).__name__}: {exc}"))
    return _error(500, "internal", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Invalid, _on_invalid)
    app.add_exception_handler(NotFound, _on_not_found)
    app.add_exception_handler(Conflict, _on_conflict)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(DecryptionError, _on_undecryptable)
    app.add_exception_handler(Exception, _on_crash)
