"""Request and response bodies of the access routes: API tokens (``/v1/tokens``) and the audit log
(``/v1/audit``). The resource schemas are in :mod:`workerplane.api.schemas`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from workerplane.api.schemas import RequestModel

TokenName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}$")]
#: The longest a token may live: ten years.
MAX_TOKEN_LIFETIME_S = 10 * 365 * 86_400


class TokenCreate(RequestModel):
    """``POST /v1/tokens``: a new token, shown once in the answer."""

    name: TokenName
    scope: Literal["admin", "read"] = "read"
    expires_in_s: int | None = Field(default=None, ge=60, le=MAX_TOKEN_LIFETIME_S)
    """Seconds until the token stops working (``null``: never)."""


class TokenOut(BaseModel):
    """A token's record: never the token itself."""

    id: int
    name: str
    scope: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked: bool


class TokenCreated(TokenOut):
    token: str
    """The bearer token: shown this once, stored only as a hash."""


class TokenList(BaseModel):
    items: list[TokenOut]


class AuditEntryOut(BaseModel):
    """One write: who (the token), what (method, path, resource), when, and the HTTP status."""

    id: int
    at: float
    token_id: int | None
    token_name: str | None
    method: str
    path: str
    resource: str
    status: int


class AuditList(BaseModel):
    items: list[AuditEntryOut]
    total: int
    next_offset: int | None
