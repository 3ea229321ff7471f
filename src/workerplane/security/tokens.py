"""API bearer tokens: generated with enough entropy that a plain SHA-256 is a safe stored form.

Tokens are random 256-bit values, so a slow password hash (bcrypt, argon2) buys nothing: there is no
dictionary to attack. Only the SHA-256 hex digest is stored; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "wpt_"


def generate_token() -> str:
    """A new random bearer token (shown once, never stored in clear)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time check of a presented token against a stored hash."""
    return hmac.compare_digest(hash_token(token), stored_hash)
