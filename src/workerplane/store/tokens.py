"""API bearer tokens, stored as SHA-256 hashes only."""

from __future__ import annotations

import time

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from workerplane.security.tokens import hash_token
from workerplane.store.db import Database
from workerplane.store.models import ApiToken


class TokenStore:
    """Tokens. Positive verifications are cached briefly per process, so the common request is
    answered without touching the database."""

    def __init__(self, db: Database, *, cache_s: float = 10.0) -> None:
        self._db = db
        self._cache: dict[str, float] = {}
        self._cache_s = cache_s

    def add(self, token: str, name: str = "default") -> bool:
        """Store a token's hash; returns False when it was already there."""
        try:
            with self._db.write_session() as s:
                s.add(
                    ApiToken(
                        name=name, token_hash=hash_token(token), created_at=time.time(),
                        revoked=False,
                    )
                )  # fmt: skip
            return True
        except IntegrityError:
            return False

    def any(self) -> bool:
        """Whether any token was ever stored (``serve`` bootstraps one when none was)."""
        with self._db.read_session() as s:
            return s.scalar(select(ApiToken.id).limit(1)) is not None

    def revoke(self, token: str) -> bool:
        digest = hash_token(token)
        self._cache.pop(digest, None)
        with self._db.write_session() as s:
            result = s.execute(
                update(ApiToken).where(ApiToken.token_hash == digest).values(revoked=True)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def cached(self, token: str) -> bool:
        """Whether ``token`` was verified recently (no I/O: safe on the event loop)."""
        expiry = self._cache.get(hash_token(token))
        return expiry is not None and expiry > time.monotonic()

    def verify(self, token: str) -> bool:
        """Whether ``token`` is a live token."""
        if self.cached(token):
            return True
        digest = hash_token(token)
        with self._db.read_session() as s:
            live = s.scalar(
                select(ApiToken.id).where(
                    ApiToken.token_hash == digest, ApiToken.revoked.is_(False)
                )
            )
        if live is not None:
            self._cache[digest] = time.monotonic() + self._cache_s
        return live is not None
