"""API latency benchmark (not a test): p50/p99 of create, get and list at 100 concurrent clients,
SQLite vs PostgreSQL side by side, with 1,000 endpoints stored.

    .venv/bin/python bench/api_latency.py [--clients 100] [--stored 1000] [--requests 2000]

Each backend gets its own uvicorn on loopback (one worker process, like `workerplane serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import importlib.util

_spec = importlib.util.spec_from_file_location(
    "api_support", Path(__file__).resolve().parents[1] / "tests" / "api" / "api_support.py"
)
assert _spec and _spec.loader
support = importlib.util.module_from_spec(_spec)
sys.modules["api_support"] = support
_spec.loader.exec_module(support)

from workerplane.api.app import ApiSettings, create_app  # noqa: E402
from workerplane.security.tokens import generate_token  # noqa: E402
from workerplane.store.localpg import start_local_postgres  # noqa: E402
from workerplane.temporal.devserver import free_port  # noqa: E402


def body(name: str) -> dict[str, object]:
    return {"name": name, "endpoint_type": "temporal", "temporal_task_queue": f"{name}-q",
            "command": ["python", "-m", "examples.worker"], "min_workers": 0, "max_workers": 3}  # fmt: skip


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def run_backend(url: str, clients: int, stored: int, requests: int) -> dict[str, list[float]]:
    store = support.make_store(url)
    token = generate_token()
    store.add_token(token)
    port = free_port()
    results: dict[str, list[float]] = {"create": [], "get": [], "list": []}
    with support.ServerThread(create_app(store, ApiSettings(controller="none")), port):
        # Under uvicorn's 5 s keep-alive so the client never reuses a connection the server closed.
        limits = httpx.Limits(
            max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                     headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:  # fmt: skip
            sem = asyncio.Semaphore(clients)

            async def timed(kind: str, method: str, path: str, **kw: object) -> None:
                async with sem:
                    start = time.perf_counter()
                    r = await c.request(method, path, **kw)  # type: ignore[arg-type]
                    elapsed = time.perf_counter() - start
                    assert r.status_code < 300, r.text
                    if kind:
                        results[kind].append(elapsed)

            await asyncio.gather(
                *(timed("", "POST", "/v1/endpoints", json=body(f"seed-{i}")) for i in range(stored))
            )
            await asyncio.gather(
                *(
                    timed("create", "POST", "/v1/endpoints", json=body(f"new-{i}"))
                    for i in range(requests // 4)
                )
            )
            await asyncio.gather(
                *(timed("get", "GET", f"/v1/endpoints/seed-{i % stored}") for i in range(requests))
            )
            await asyncio.gather(
                *(
                    timed("list", "GET", "/v1/endpoints", params={"limit": 50})
                    for i in range(requests // 2)
                )
            )
    store.db.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wp-bench-"))
    pg = start_local_postgres()
    try:
        table = {}
        for label, url in (
            ("sqlite", f"sqlite:///{tmp / 'bench.db'}"),
            ("postgresql", pg.create_database()),
        ):
            table[label] = asyncio.run(run_backend(url, args.clients, args.stored, args.requests))
    finally:
        pg.stop()
    print(f"{args.clients} concurrent clients, {args.stored} endpoints stored, ms")
    print(f"{'op':8} {'sqlite p50':>11} {'sqlite p99':>11} {'pg p50':>9} {'pg p99':>9}  n")
    for op in ("create", "get", "list"):
        s, p = table["sqlite"][op], table["postgresql"][op]
        print(
            f"{op:8} {pct(s, 50):11.1f} {pct(s, 99):11.1f} {pct(p, 50):9.1f} {pct(p, 99):9.1f}  {len(s)}"
        )
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    _ = statistics
    main()
