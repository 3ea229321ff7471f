"""The ``gcp-cloud-run`` provider against a local HTTP server standing in for Cloud Run's API.

There is no Cloud Run emulator. The server below is a real HTTP server on loopback that implements
the three REST endpoints the provider uses, with the API's JSON shapes: worker-pool GET, worker-pool
PATCH (returning a long-running operation that completes after a few polls) and operations GET. The
provider talks to it through the official ``google-cloud-run`` client
(``run_v2.WorkerPoolsClient``, REST transport, ``client_options.api_endpoint`` pointing here,
anonymous credentials), so the request building, the field mask, the operation polling and the
error mapping are the client's real code.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import ValidationError

from workerplane.providers._retry import Backoff
from workerplane.providers.base import ProviderError, WorkerEnvironment
from workerplane.providers.cloud_run.details import CloudRunDetails
from workerplane.providers.cloud_run.provider import CloudRunProvider
from workerplane.providers.factory import build_provider

POOL_RE = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/workerPools/[^/:]+)$")
OP_RE = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/operations/[^/:]+)$")


@dataclass
class FakeCloudRun:
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls_to_finish: int = 2
    forbidden: set[str] = field(default_factory=set)
    fail_next: list[int] = field(default_factory=list)
    patches: list[tuple[str, dict[str, Any], list[str]]] = field(default_factory=list)
    op_polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    endpoint: str = ""


def _handler(state: FakeCloudRun) -> type[BaseHTTPRequestHandler]:
    def error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
        return code, {"error": {"code": code, "status": status, "message": message}}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> tuple[int, dict[str, Any]]:
            url = urlparse(self.path)
            with state.lock:
                if state.fail_next:
                    code = state.fail_next.pop(0)
                    return error(code, "UNAVAILABLE", "injected")
                if match := POOL_RE.match(url.path):
                    name = match.group(1)
                    if name.rsplit("/", 1)[1] in state.forbidden:
                        return error(403, "PERMISSION_DENIED", "caller lacks run.workerPools")
                    pool = state.pools.get(name)
                    if pool is None:
                        return error(404, "NOT_FOUND", f"{name} not found")
                    if method == "GET":
                        return 200, pool
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    mask = parse_qs(url.query).get("updateMask", [""])[0].split(",")
                    state.patches.append((name, body, mask))
                    if mask != ["scaling.manualInstanceCount"]:
                        return error(400, "INVALID_ARGUMENT", f"unexpected mask {mask}")
                    pending = {**pool, "scaling": body["scaling"], "reconciling": True}
                    op_name = (
                        name.split("/workerPools/")[0]
                        + f"/operations/op-{len(state.operations) + 1}"
                    )
                    state.operations[op_name] = {
                        "name": op_name,
                        "done": False,
                        "_left": state.polls_to_finish,
                        "_pool": (name, pending),
                    }
                    return 200, {"name": op_name, "done": False}
                if (match := OP_RE.match(url.path)) and method == "GET":
                    op = state.operations.get(match.group(1))
                    if op is None:
                        return error(404, "NOT_FOUND", "no such operation")
                    state.op_polls += 1
                    op["_left"] -= 1
                    if op["_left"] > 0:
                        return 200, {"name": op["name"], "done": False}
                    name, pending = op["_pool"]
                    done = {**pending, "reconciling": False}
                    state.pools[name] = done
                    response = {
                        "@type": "type.googleapis.com/google.cloud.run.v2.WorkerPool",
                        **done,
                    }
                    return 200, {"name": op["name"], "done": True, "response": response}
            return error(404, "NOT_FOUND", f"no route {method} {url.path}")

        def do_GET(self) -> None:
            self._reply(*self._route("GET"))

        def do_PATCH(self) -> None:
            self._reply(*self._route("PATCH"))

    return Handler


@pytest.fixture
def cloud_run() -> Iterator[FakeCloudRun]:
    state = FakeCloudRun()
    name = "projects/acme/locations/europe-west1/workerPools/temporal-workers"
    state.pools[name] = {"name": name, "scaling": {"manualInstanceCount": 0}, "reconciling": False}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


FAST = Backoff(attempts=4, base_s=0.01, max_s=0.05)


def _details(state: FakeCloudRun, **extra: Any) -> dict[str, Any]:
    return {
        "project": "acme",
        "region": "europe-west1",
        "worker_pool": "temporal-workers",
        "api_endpoint": state.endpoint,
        "anonymous": True,
        **extra,
    }


def _provider(state: FakeCloudRun, **extra: Any) -> CloudRunProvider:
    return CloudRunProvider(CloudRunDetails.model_validate(_details(state, **extra)), backoff=FAST)


async def test_set_size_patches_with_mask_and_waits_for_operation(
    cloud_run: FakeCloudRun, tmp_path: Path
) -> None:
    ctx = dict(
        deployment="shop",
        group_id="g",
        details=_details(cloud_run),
        worker_env=WorkerEnvironment(address="x:7233", namespace="default", task_queues=("q",)),
        state_dir=tmp_path,
    )
    provider = build_provider("gcp-cloud-run", **ctx)
    assert isinstance(provider, CloudRunProvider)
    check = await provider.validate()
    assert check.ok, check.message

    await provider.set_size(4)
    # set_size returned only after the operation reported done (it took 2 polls).
    assert cloud_run.op_polls >= 2
    name, body, mask = cloud_run.patches[-1]
    assert name.endswith("/workerPools/temporal-workers")
    assert body["scaling"] == {"manualInstanceCount": 4}
    assert mask == ["scaling.manualInstanceCount"]
    census = await provider.census()
    assert (census.running, census.desired) == (4, 4)

    await provider.set_size(0)
    assert (await provider.census()).desired == 0
    await provider.close()


async def test_not_found_and_access_denied(cloud_run: FakeCloudRun) -> None:
    missing = _provider(cloud_run, worker_pool="ghost")
    check = await missing.validate()
    assert (check.ok, check.kind) == (False, "not_found")
    await missing.close()

    cloud_run.forbidden.add("temporal-workers")
    denied = _provider(cloud_run)
    check = await denied.validate()
    assert (check.ok, check.kind) == (False, "access_denied")
    with pytest.raises(ProviderError) as info:
        await denied.set_size(2)
    assert info.value.kind == "access_denied" and not info.value.retryable
    assert cloud_run.patches == []
    await denied.close()


async def test_unavailable_is_retried(cloud_run: FakeCloudRun) -> None:
    provider = _provider(cloud_run)
    cloud_run.fail_next = [503, 503]
    await provider.set_size(2)
    assert (await provider.census()).desired == 2

    cloud_run.fail_next = [503] * 10
    with pytest.raises(ProviderError) as info:
        await provider.census()
    assert info.value.kind == "internal" and info.value.retryable
    await provider.close()


def test_details_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"worker_pool"):
        CloudRunDetails.model_validate({"project": "p", "region": "r"})
