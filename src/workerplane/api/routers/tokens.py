"""``/v1/tokens``: create (the token is shown once), list and revoke API tokens (admin only)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Response

from workerplane.api import access_schemas as A
from workerplane.api.deps import StoreDep
from workerplane.errors import NotFound

router = APIRouter(prefix="/tokens", tags=["tokens"])

TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", response_model=A.TokenCreated, status_code=201)
def create_token(body: A.TokenCreate, store: StoreDep) -> A.TokenCreated:
    """Create a token. The answer holds the token: it is shown this once, stored as a hash."""
    expires_at = time.time() + body.expires_in_s if body.expires_in_s is not None else None
    info, token = store.tokens.create(body.name, body.scope, expires_at)
    return A.TokenCreated(**asdict(info), token=token)


@router.get("", response_model=A.TokenList)
def list_tokens(store: StoreDep) -> A.TokenList:
    """Every token (revoked and expired ones too): never the tokens themselves."""
    return A.TokenList(items=[A.TokenOut(**asdict(info)) for info in store.tokens.list()])


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: TokenId, store: StoreDep) -> Response:
    """Revoke a token: it stops working at once here, within seconds in other processes."""
    if not store.tokens.revoke(token_id):
        raise NotFound(f"token {token_id} not found")
    return Response(status_code=204)
