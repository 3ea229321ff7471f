"""A worker pushes its sketch to a real local HTTP server: only when something is new (or a
heartbeat is due), with a growing sequence and its token; a failure backs off and never
raises."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from workerplane.scaling.latency import LatencyRecorder
from workerplane.temporal.devserver import free_port
from workerplane.worker.push import (
    HEARTBEAT_PUSH_S,
    REPORT_TOKEN_ENV,
    REPORT_URL_ENV,
    SketchPusher,
)


class Receiver:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.status = 200


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.posts.append((self.headers["Authorization"], body))
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_port}/v1/worker-reports"
    server.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_pushes_what_is_new_with_a_growing_sequence(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    recorder, clock = LatencyRecorder(), Clock()
    pusher = SketchPusher(url, "wpr_secret", recorder.snapshot, clock=clock)
    recorder.record(0.25)
    assert pusher.push()
    assert pusher.push()  # nothing new: no request
    recorder.record(1.5)
    clock.now = 10
    assert pusher.push()
    clock.now = 10 + HEARTBEAT_PUSH_S
    assert pusher.push()  # the heartbeat: the same sketch again, a new sequence
    assert [b["sequence"] for _, b in state.posts] == [1, 2, 3]
    assert {auth for auth, _ in state.posts} == {"Bearer wpr_secret"}
    assert state.posts[-1][1]["worker"] == pusher.worker
    assert state.posts[-1][1]["schedule_to_start"] == recorder.snapshot().to_wire()


def test_a_failure_backs_off_and_the_final_push_tries_anyway(
    receiver: tuple[Receiver, str],
) -> None:
    state, url = receiver
    recorder, clock = LatencyRecorder(), Clock()
    pusher = SketchPusher(url, "t", recorder.snapshot, interval_s=10, clock=clock)
    recorder.record(0.1)
    state.status = 503
    assert not pusher.push()
    clock.now = 5
    assert not pusher.push()  # backing off: no request
    assert len(state.posts) == 1
    state.status = 200
    assert pusher.close()
    assert [b["sequence"] for _, b in state.posts] == [1, 2]


def test_an_unreachable_api_never_raises() -> None:
    recorder = LatencyRecorder()
    recorder.record(0.1)
    pusher = SketchPusher(
        f"http://127.0.0.1:{free_port()}/v1/worker-reports", "t", recorder.snapshot
    )
    assert not pusher.push()
    assert not pusher.close()


def test_only_workers_given_somewhere_to_push_push() -> None:
    snapshot = LatencyRecorder().snapshot
    assert SketchPusher.from_env(snapshot, {}) is None
    assert SketchPusher.from_env(snapshot, {REPORT_URL_ENV: "http://x"}) is None
    env = {REPORT_URL_ENV: "http://x", REPORT_TOKEN_ENV: "t"}
    assert SketchPusher.from_env(snapshot, env) is not None
