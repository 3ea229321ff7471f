"""The API under many clients: no dropped connections, keep-alive that outlives client pools,
and list pages cut in SQL that still add up (on SQLite and on a real PostgreSQL)."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
from api_support import RunningApi


def _endpoint(name: str, team: str) -> dict[str, object]:
    return {
        "name": name, "endpoint_type": "temporal", "temporal_task_queue": f"{name}-q",
        "command": ["python", "-m", "examples.worker"], "min_workers": 0, "max_workers": 2,
        "labels": {"team": team},
    }  # fmt: skip


def test_100_concurrent_clients_get_answers_and_pages_add_up(served_api: RunningApi) -> None:
    """100 clients at once (httpx's default pool: one connection each) create, get and list;
    every request is answered (no "Server disconnected"), then the pages cover every endpoint
    exactly once, in name order, with and without a label filter."""
    api = served_api
    stored = 240

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}, limits=limits,
            timeout=120,
        ) as client:  # fmt: skip
            sem = asyncio.Semaphore(100)

            async def call(method: str, path: str, **kw: object) -> int:
                async with sem:
                    response = await client.request(method, path, **kw)  # type: ignore[arg-type]
                    return response.status_code

            created = await asyncio.gather(
                *(
                    call("POST", "/v1/endpoints", json=_endpoint(f"ep-{i:04d}", f"t{i % 3}"))
                    for i in range(stored)
                )
            )
            gets = [call("GET", f"/v1/endpoints/ep-{i % stored:04d}") for i in range(300)]
            lists = [
                call("GET", "/v1/endpoints", params={"limit": 20, "offset": i}) for i in range(100)
            ]
            mixed = await asyncio.gather(*gets, *lists)
            return [*created, *mixed]

    statuses = asyncio.run(run())
    assert statuses.count(201) == stored
    assert all(code in (200, 201) for code in statuses), sorted(set(statuses))

    with api.client() as client:
        names: list[str] = []
        offset: int | None = 0
        while offset is not None:
            page = client.get("/v1/endpoints", params={"limit": 50, "offset": offset}).json()
            assert page["total"] == stored
            names += [item["name"] for item in page["items"]]
            offset = page["next_offset"]
        assert names == sorted(f"ep-{i:04d}" for i in range(stored))

        team: list[str] = []
        offset = 0
        while offset is not None:
            page = client.get(
                "/v1/endpoints", params={"limit": 7, "offset": offset, "label": "team=t1"}
            ).json()
            assert page["total"] == stored // 3
            team += [item["name"] for item in page["items"]]
            offset = page["next_offset"]
        assert team == sorted(f"ep-{i:04d}" for i in range(stored) if i % 3 == 1)


def _get(sock: socket.socket, token: str) -> bytes:
    sock.sendall(
        f"GET /v1/endpoints HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data  # the server closed the connection
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_idle_keep_alive_connection_outlives_client_pools(sqlite_api: RunningApi) -> None:
    """A connection left idle for 6 s (longer than httpx's 5 s pool expiry, and than uvicorn's
    default keep-alive of 5 s that made clients hit "Server disconnected") still serves the
    next request."""
    host, port = sqlite_api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        assert _get(sock, sqlite_api.token).startswith(b"HTTP/1.1 200")
        time.sleep(6)
        assert _get(sock, sqlite_api.token).startswith(b"HTTP/1.1 200")
