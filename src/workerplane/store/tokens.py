"""API bearer tokens, stored as SHA-256 hashes only, and the audit log of writes.

A token has a scope (``admin``: everything; ``read``: GET only), may expire, and may be revoked.
Positive verifications are cached briefly per process, so the common request is answered without
touching the database: a revocation takes effect at once in the process that revoked the token
and within ``cache_s`` in the others (an expiry is checked on every request).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from workerplane.security.tokens import generate_token, hash_token
from workerplane.store.db import Database
from workerplane.store.models import ApiToken, AuditEntry

Scope = Literal["admin", "read"]
SCOPES: tuple[Scope, ...] = ("admin", "read")

#: The audit log keeps this many entries (the oldest go first).
AUDIT_LIMIT = 10_000


@dataclass(frozen=True)
class TokenInfo:
    """What is known of a token, never the token itself."""

    id: int
    name: str
    scope: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked: bool

    def live(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id, name=row.name, scope=row.scope, created_at=row.created_at,
        expires_at=row.expires_at, last_used_at=row.last_used_at, revoked=row.revoked,
    )  # fmt: skip


class TokenStore:
    """Tokens: created, listed, revoked, and identified from a presented bearer token."""

    def __init__(self, db: Database, *, cache_s: float = 10.0) -> None:
        self._db = db
        self._cache: dict[str, tuple[TokenInfo, float]] = {}
        self._cache_s = cache_s

    def add(
        self,
        token: str,
        name: str = "default",
        scope: Scope = "admin",
        expires_at: float | None = None,
    ) -> TokenInfo | None:
        """Store a given token's hash (``serve --token``); ``None`` when it was already there."""
        try:
            with self._db.write_session() as s:
                row = ApiToken(
                    name=name, token_hash=hash_token(token), created_at=time.time(),
                    revoked=False, scope=scope, expires_at=expires_at,
                )  # fmt: skip
                s.add(row)
                s.flush()
                return _info(row)
        except IntegrityError:
            return None

    def create(
        self, name: str, scope: Scope = "admin", expires_at: float | None = None
    ) -> tuple[TokenInfo, str]:
        """A new random token: its record, and the token itself (the only time it is known)."""
        token = generate_token()
        info = self.add(token, name, scope, expires_at)
        if info is None:  # 256 random bits collided: cannot happen
            raise RuntimeError("token collision")
        return info, token

    def any(self) -> bool:
        """Whether any token was ever stored (``serve`` bootstraps one when none was)."""
        with self._db.read_session() as s:
            return s.scalar(select(ApiToken.id).limit(1)) is not None

    def list(self) -> list[TokenInfo]:
        with self._db.read_session() as s:
            return [_info(row) for row in s.scalars(select(ApiToken).order_by(ApiToken.id))]

    def revoke(self, token_id: int) -> bool:
        """Revoke the token ``token_id``; False when there is no such token."""
        self._cache = {k: v for k, v in self._cache.items() if v[0].id != token_id}
        with self._db.write_session() as s:
            result = s.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked=True))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def cached(self, token: str) -> TokenInfo | None:
        """The live token ``token`` if it was verified recently (no I/O: safe on the loop)."""
        entry = self._cache.get(hash_token(token))
        if entry is None or entry[1] <= time.monotonic() or not entry[0].live(time.time()):
            return None
        return entry[0]

    def identify(self, token: str) -> TokenInfo | None:
        """The live token ``token`` (``None``: unknown, revoked or expired). Records when it was
        last used, at most once per cache period."""
        found = self.cached(token)
        if found is not None:
            return found
        digest = hash_token(token)
        now = time.time()
        with self._db.write_session() as s:
            row = s.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
            if row is None or not _info(row).live(now):
                return None
            s.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
            info = _info(row)
        self._cache[digest] = (info, time.monotonic() + self._cache_s)
        return info

    def verify(self, token: str) -> bool:
        """Whether ``token`` is a live token."""
        return self.identify(token) is not None


@dataclass(frozen=True)
class AuditRecord:
    """One write: who, what, when, and its HTTP status."""

    id: int
    at: float
    token_id: int | None
    token_name: str | None
    method: str
    path: str
    resource: str
    status: int


def _audit_record(row: AuditEntry) -> AuditRecord:
    return AuditRecord(
        id=row.id, at=row.at, token_id=row.token_id, token_name=row.token_name,
        method=row.method, path=row.path, resource=row.resource, status=row.status,
    )  # fmt: skip


class AuditLog:
    """The last :data:`AUDIT_LIMIT` writes."""

    def __init__(self, db: Database, *, limit: int = AUDIT_LIMIT) -> None:
        self._db = db
        self._limit = limit

    def record(
        self, who: TokenInfo | None, method: str, path: str, resource: str, status: int
    ) -> None:
        with self._db.write_session() as s:
            entry = AuditEntry(
                at=time.time(), token_id=who.id if who else None,
                token_name=who.name if who else None, method=method, path=path[:1024],
                resource=resource[:512], status=status,
            )  # fmt: skip
            s.add(entry)
            s.flush()
            s.execute(delete(AuditEntry).where(AuditEntry.id <= entry.id - self._limit))

    def page(self, limit: int, offset: int) -> tuple[list[AuditRecord], int]:
        """Newest first, and the total kept."""
        with self._db.read_session() as s:
            total = int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)
            rows = s.scalars(
                select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
            )
            return [_audit_record(r) for r in rows], total
