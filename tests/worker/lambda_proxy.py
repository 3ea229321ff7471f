"""A Lambda API front for serverless-offline, so that Temporal's own server can drive it.

:func:`temporal_controller_server` starts the embedded dev server with Temporal's own worker
controller on and its AWS SDK pointed at a :class:`LambdaApiProxy`; :func:`create_current_version`
gives a worker deployment version an ``aws-lambda`` + ``no-sync`` compute config and makes it
current. Used by ``tests/worker/test_temporal_controller_lambda.py`` and ``bench/vs_temporal.py``.

Temporal's worker controller (dynamic config ``workercontroller.*``, provider ``aws-lambda``) talks
to Lambda through the AWS Go SDK, which honours ``AWS_ENDPOINT_URL_LAMBDA``. Pointed at
serverless-offline directly it fails twice:

* it validates the config with ``GetFunction`` (``GET /2015-03-31/functions/<name>``), which
  serverless-offline does not serve: this proxy answers it for the one function it fronts;
* it names the function by its full ARN (``arn:aws:lambda:<region>:<account>:function:<name>``,
  URL-encoded in the path), where serverless-offline knows only the bare name: this proxy maps one
  to the other before forwarding the invoke.

Every invoke is forwarded as it came (Temporal sends ``InvocationType=Event`` with an EMPTY
payload: the handler reads its queue, deployment and build from its own environment) and counted
with its arrival time, so a test or the benchmark can count what the server invoked and when.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client

from tests.worker.lambda_offline import FUNCTION_NAME, free_port
from workerplane.client.temporal import push_compute_config
from workerplane.config.model import ComputeConfig
from workerplane.temporal.devserver import DevServer, start_dev_server

log = logging.getLogger(__name__)

FUNCTIONS_PREFIX = "/2015-03-31/functions/"
ACCOUNT_ID = "000000000000"

#: Temporal's own controller on, with the aws-lambda provider, no-sync, and no role to assume.
TEMPORAL_CONTROLLER_CONFIG = {
    "workercontroller.enabled": "true",
    "workercontroller.compute_providers.enabled": '["aws-lambda"]',
    "workercontroller.scaling_algorithms.enabled": '["no-sync"]',
    "workercontroller.compute_providers.aws.require_role_and_external_id": "false",
    # A worker that shuts down (a handler returning when idle) has the server complete its
    # outstanding polls empty (ShutdownWorker) instead of dropping them on its side: a task the
    # server matched to a dropped poll is lost until its heartbeat or start-to-close timeout.
    "frontend.enableCancelWorkerPollsOnShutdown": "true",
}

#: Temporal refuses a ``no-sync`` metrics poll more frequent than this.
MIN_NO_SYNC_POLL_MS = 10_000


def function_arn(region: str, name: str = FUNCTION_NAME) -> str:
    """The ARN under which the proxy serves the serverless-offline function."""
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def bare_function_name(name_or_arn: str) -> str:
    """``arn:aws:lambda:r:a:function:NAME[:qualifier]`` (or a partial ARN) -> ``NAME``."""
    parts = unquote(name_or_arn).split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


@dataclass(frozen=True)
class Invoke:
    """One invoke the proxy forwarded."""

    at: float
    invocation_type: str
    payload: bytes
    status: int


@dataclass
class LambdaApiProxy:
    """Serves ``GetFunction`` and forwards ``Invoke`` (name or ARN) to serverless-offline.

    Attributes:
        upstream: serverless-offline's Invoke API, ``http://127.0.0.1:<lambdaPort>`` (may be set
            after the proxy started, e.g. for a fresh serverless-offline per run).
        region: the region in the ARN the proxy reports.
        timeout_s: the ``Timeout`` ``GetFunction`` reports (the function's).
        invokes: every forwarded invoke, in arrival order.
        other_requests: ``(method, path)`` of anything else asked (answered 404).
    """

    upstream: str = ""
    region: str = "us-east-1"
    timeout_s: int = 60
    port: int = field(default_factory=free_port)
    invokes: list[Invoke] = field(default_factory=list)
    get_function_calls: int = 0
    other_requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def arn(self) -> str:
        return function_arn(self.region)

    def invoke_times(self) -> list[float]:
        with self._lock:
            return [i.at for i in self.invokes if 200 <= i.status < 300]

    def reset(self) -> None:
        with self._lock:
            self.invokes.clear()

    def _configuration(self, name: str) -> dict[str, Any]:
        return {
            "FunctionName": name,
            "FunctionArn": function_arn(self.region, name),
            "Runtime": "python3.11",
            "Handler": "handler.handler",
            "Timeout": self.timeout_s,
            "MemorySize": 1024,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Version": "$LATEST",
        }

    def _forward(
        self, name: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        host = urlsplit(self.upstream).netloc
        upstream = http.client.HTTPConnection(host, timeout=30)
        try:
            upstream.request(
                "POST", f"{FUNCTIONS_PREFIX}{name}/invocations", body=body, headers=headers
            )
            reply = upstream.getresponse()
            data = reply.read()
            passthrough = {
                k: v
                for k, v in reply.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding")
            }
            return reply.status, data, passthrough
        finally:
            upstream.close()

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _not_found(self) -> None:
                with proxy._lock:
                    proxy.other_requests.append((self.command, self.path))
                log.warning("lambda proxy: unhandled %s %s", self.command, self.path)
                error = {"Type": "User", "Message": f"not served: {self.command} {self.path}"}
                self._send(
                    404,
                    json.dumps(error).encode(),
                    {
                        "Content-Type": "application/json",
                        "x-amzn-ErrorType": "ResourceNotFoundException",
                    },
                )

            def _function_path(self) -> tuple[str, str] | None:
                """``(bare name, rest of the path)`` for ``/2015-03-31/functions/<name>...``."""
                path = urlsplit(self.path).path
                if not path.startswith(FUNCTIONS_PREFIX):
                    return None
                name, _, rest = path[len(FUNCTIONS_PREFIX) :].partition("/")
                return bare_function_name(name), rest

            def do_GET(self) -> None:
                target = self._function_path()
                if target is None or target[1] not in ("", "configuration"):
                    self._not_found()
                    return
                name, rest = target
                with proxy._lock:
                    proxy.get_function_calls += 1
                config = proxy._configuration(name)
                body = config if rest else {"Configuration": config, "Code": {}, "Tags": {}}
                self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = self._function_path()
                if target is None or target[1] != "invocations":
                    self._not_found()
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                status, data, passthrough = proxy._forward(target[0], body, headers)
                invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                with proxy._lock:
                    proxy.invokes.append(Invoke(time.time(), invocation_type, body, status))
                self._send(status, data, passthrough)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """``extra`` in ``os.environ`` while a child process is spawned (it inherits them)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def temporal_controller_server(
    proxy: LambdaApiProxy, workdir: Path, *, fast_stats: bool = True
) -> Iterator[DevServer]:
    """The embedded dev server with Temporal's own worker controller, its Lambda calls sent to
    ``proxy`` (the server's Go SDK reads the endpoint, keys and region from its environment).

    ``fast_stats=False`` keeps Temporal's default stats cache (5 s), as production servers run;
    the controller's own settings (:data:`TEMPORAL_CONTROLLER_CONFIG`) apply either way.
    """
    aws = {
        "AWS_ENDPOINT_URL": proxy.endpoint,
        "AWS_ENDPOINT_URL_LAMBDA": proxy.endpoint,
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
        "AWS_REGION": proxy.region,
    }
    with _environment(aws):
        server = start_dev_server(
            db_file=workdir / "temporal.db",
            log_file=workdir / "temporal.log",
            fast_stats=fast_stats,
            extra_config=TEMPORAL_CONTROLLER_CONFIG,
        )
    try:
        yield server
    finally:
        server.stop()


def temporal_lambda_compute(
    arn: str, *, metrics_poll_interval_ms: int = MIN_NO_SYNC_POLL_MS, **no_sync: Any
) -> ComputeConfig:
    """One scaling group: Temporal's ``aws-lambda`` provider with its ``no-sync`` scaler."""
    details = {"metrics_poll_interval_ms": metrics_poll_interval_ms, **no_sync}
    return ComputeConfig.model_validate(
        {
            "scaling_groups": {
                "lambda": {
                    "provider": {"type": "aws-lambda", "details": {"arn": arn}},
                    "scaler": {"type": "no-sync", "details": details},
                }
            }
        }
    )


async def create_current_version(
    client: Client, deployment: str, build_id: str, compute: ComputeConfig
) -> None:
    """Create the version with ``compute`` through Temporal's API and make it current.

    The server invokes the function once as soon as the version exists (its bootstrap).
    """
    answer = await push_compute_config(client, "default", deployment, build_id, compute)
    if not answer.ok:
        raise RuntimeError(
            f"Temporal refused the compute config ({answer.action}): {answer.message}"
        )
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace="default",
            deployment_name=deployment,
            build_id=build_id,
            identity="workerplane-bench",
            ignore_missing_task_queues=True,
            allow_no_pollers=True,
        )
    )


def function_environment(
    address: str, task_queue: str, deployment: str, build_id: str
) -> dict[str, str]:
    """What the function's own configuration must hold for Temporal's empty-payload invokes."""
    return {
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": task_queue,
        "TEMPORAL_DEPLOYMENT_NAME": deployment,
        "TEMPORAL_WORKER_BUILD_ID": build_id,
    }


def new_version_names(prefix: str) -> tuple[str, str, str]:
    """A fresh ``(task queue, deployment, build id)``."""
    tag = uuid.uuid4().hex[:8]
    return f"{prefix}-{tag}", f"{prefix}-{tag}", "v1"
