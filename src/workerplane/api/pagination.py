"""List pages: keyset pagination behind an opaque ``page_token``, with the old ``offset`` kept.

A page token names the last row of the page before it (base64url of a small JSON document with
the list it belongs to), so the next page starts right after that row: each page costs the same
however deep it is, and rows inserted or deleted meanwhile never make a row show twice or get
skipped (a row inserted behind the cursor is simply not on a later page). No page counts the
table. A request with ``offset`` still gets the old offset page with ``total`` and
``next_offset`` (one count per request: prefer ``page_token``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Query

from workerplane.errors import Invalid

#: Rows per page when the request names no size.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PageRequest:
    """What a list request asked for: ``size`` rows after the row ``after`` (keyset), or the
    old ``offset`` page when ``offset`` is set."""

    size: int
    after: str | None
    offset: int | None


def encode_page_token(listing: str, after: str | None) -> str | None:
    """The token of the page after the row ``after`` of ``listing`` (``None``: no next page)."""
    if after is None:
        return None
    document = json.dumps({"l": listing, "a": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def decode_page_token(listing: str, token: str) -> str:
    """The row a token continues after.

    Raises:
        Invalid: the token is not one this list handed out.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
        after = document["a"]
        if document["l"] != listing or not isinstance(after, str):
            raise ValueError(listing)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise Invalid.field(
            "page_token", "not a page token of this list; use next_page_token as returned"
        ) from None
    return after


def page_params(listing: str) -> Callable[..., PageRequest]:
    """A FastAPI dependency reading ``page_size``/``page_token`` (and the older ``limit`` and
    ``offset``) of the list ``listing``."""

    def dependency(
        page_size: int | None = Query(None, ge=1, le=MAX_PAGE_SIZE, description="Rows per page."),
        page_token: str | None = Query(
            None, max_length=2048, pattern=r"^[A-Za-z0-9_-]+$",
            description="next_page_token of the previous page.",
        ),
        limit: int | None = Query(None, ge=1, le=MAX_PAGE_SIZE, description="Old page_size."),
        offset: int | None = Query(
            None, ge=0, le=10**9, description="Old offset paging (counts the table: prefer "
            "page_token)."
        ),
    ) -> PageRequest:  # fmt: skip
        size = page_size or limit or DEFAULT_PAGE_SIZE
        after = decode_page_token(listing, page_token) if page_token else None
        if after is not None and offset is not None:
            raise Invalid.field("offset", "give page_token or offset, not both")
        return PageRequest(size=size, after=after, offset=offset)

    return dependency
