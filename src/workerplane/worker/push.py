"""Push a worker's schedule-to-start sketch to the control plane, for workers the controller
cannot read directly (Kubernetes pods, ECS tasks, Cloud Run, webhook-launched, Lambda).

The provider hands the worker ``WORKERPLANE_REPORT_URL`` (the API's ``/v1/worker-reports``) and
``WORKERPLANE_REPORT_TOKEN`` (a token that may only report for this worker's group). Every
:data:`PUSH_INTERVAL_S` a daemon thread posts the whole sketch since the worker started, with a
growing sequence number (the API keeps the latest per worker, so a retry never counts twice);
it posts at least every :data:`HEARTBEAT_PUSH_S` even with nothing new, so the API does not
take a quiet worker for a stopped one. :meth:`SketchPusher.close` pushes a last time (a Lambda
invocation does so before it returns).

A failed push never disturbs the worker: it is logged (rarely) and retried later, backing off
up to :data:`MAX_BACKOFF_S`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping

from workerplane.scaling.latency import LatencySketch

#: The API route workers push to (``WORKERPLANE_REPORT_URL`` is the API's URL plus this).
REPORT_PATH = "/v1/worker-reports"
REPORT_URL_ENV = "WORKERPLANE_REPORT_URL"
REPORT_TOKEN_ENV = "WORKERPLANE_REPORT_TOKEN"
PUSH_INTERVAL_ENV = "WORKERPLANE_REPORT_INTERVAL_S"
#: How often a worker pushes what it measured (when it measured something new).
PUSH_INTERVAL_S = 10.0
#: A worker pushes at least this often, new measurements or not (a third of the time after
#: which the API folds a silent worker into its group's stopped workers).
HEARTBEAT_PUSH_S = 100.0
MAX_BACKOFF_S = 300.0
REQUEST_TIMEOUT_S = 5.0

logger = logging.getLogger("workerplane.worker.push")


def worker_name() -> str:
    """A name unique to this process's measurements (host, pid and a random part): a new
    process starts a new sketch, so it must not reuse an earlier one's name."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:60] or "worker"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:12]}".lstrip("-._") or uuid.uuid4().hex


class SketchPusher:
    """Posts ``snapshot()`` to ``url`` with ``token`` (see the module doc)."""

    def __init__(
        self,
        url: str,
        token: str,
        snapshot: Callable[[], LatencySketch],
        *,
        interval_s: float = PUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._token = token
        self._snapshot = snapshot
        self._interval_s = interval_s
        self._clock = clock
        self.worker = worker_name()
        self._sequence = 0
        self._pushed: LatencySketch | None = None
        self._pushed_at = float("-inf")
        self._failures = 0
        self._next_at = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(
        cls, snapshot: Callable[[], LatencySketch], environ: Mapping[str, str] = os.environ
    ) -> SketchPusher | None:
        """A pusher when the provider gave the worker somewhere to push; ``None`` otherwise."""
        url, token = environ.get(REPORT_URL_ENV), environ.get(REPORT_TOKEN_ENV)
        if not url or not token:
            return None
        interval = float(environ.get(PUSH_INTERVAL_ENV) or PUSH_INTERVAL_S)
        return cls(url, token, snapshot, interval_s=interval)

    def start(self) -> SketchPusher:
        """Push from a daemon thread until :meth:`close`."""
        self._thread = threading.Thread(target=self._run, name="workerplane-push", daemon=True)
        self._thread.start()
        return self

    def close(self) -> bool:
        """Stop the thread and push what is new one last time; whether it was delivered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT_S + 1)
        return self.push(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.push()

    def push(self, *, final: bool = False) -> bool:
        """Push now if there is something new, a heartbeat is due or ``final``; honours the
        backoff otherwise. Whether the API has the latest sketch afterwards."""
        with self._lock:
            now = self._clock()
            sketch = self._snapshot()
            unchanged = self._pushed is not None and sketch == self._pushed
            if unchanged and now - self._pushed_at < HEARTBEAT_PUSH_S:
                return True
            if not final and now < self._next_at:
                return False
            self._sequence += 1
            try:
                self._post(sketch)
            except (OSError, ValueError) as err:  # URLError and HTTPError are OSErrors
                self._failed(now, err)
                return False
            self._pushed, self._pushed_at, self._failures = sketch, now, 0
            self._next_at = float("-inf")
            return True

    def _post(self, sketch: LatencySketch) -> None:
        body = {
            "worker": self.worker,
            "sequence": self._sequence,
            "schedule_to_start": sketch.to_wire(),
        }
        request = urllib.request.Request(
            self._url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            response.read()

    def _failed(self, now: float, err: Exception) -> None:
        self._failures += 1
        backoff = min(MAX_BACKOFF_S, self._interval_s * 2 ** min(self._failures, 10))
        self._next_at = now + backoff
        if self._failures in (1, 5) or self._failures % 50 == 0:
            # The error names the URL's host at most: never the token.
            detail = f"HTTP {err.code}" if isinstance(err, urllib.error.HTTPError) else str(err)
            logger.warning(
                "could not push schedule-to-start (%d failure(s), next try in %.0f s): %s",
                self._failures,
                backoff,
                detail,
            )
