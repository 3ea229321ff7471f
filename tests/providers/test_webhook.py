"""The ``webhook`` provider against a real HTTP receiver on loopback.

The receiver below is a real ``http.server`` in a thread. It checks the HMAC-SHA256 signature with
its own code (not the provider's helper), refuses stale timestamps and replayed signatures, and can
be told to fail the next requests with a status or to stall past the client's timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from workerplane.controller.cycle import execute
from workerplane.planning.actions import GroupState, Resize
from workerplane.planning.observe import Observation
from workerplane.planning.plan import GroupIntent, plan_cycle
from workerplane.providers._retry import Backoff
from workerplane.providers.base import ProviderError, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.webhook.details import WebhookDetails
from workerplane.providers.webhook.egress import ALLOW_PRIVATE_ENV
from workerplane.providers.webhook.provider import WebhookProvider
from workerplane.providers.webhook.signature import (
    SIGNATURE_HEADER,
    SignatureError,
    sign,
    verify_signature,
)
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy

SECRET = "s3cret-for-tests"
TOLERANCE_S = 300


@dataclass
class Receiver:
    """State shared with the request handler."""

    secret: str = SECRET
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    raw_requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    seen_signatures: set[str] = field(default_factory=set)
    fail_next: list[int] = field(default_factory=list)
    stall_next_s: list[float] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def check(self, header: str | None, body: bytes) -> str | None:
        """Independent verification: returns a rejection reason or None."""
        if not header:
            return "missing"
        fields = dict(item.split("=", 1) for item in header.split(","))
        ts, given = int(fields["t"]), fields["v1"]
        if abs(time.time() - ts) > TOLERANCE_S:
            return "stale"
        want = hmac.new(self.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, given):
            return "bad-signature"
        if given in self.seen_signatures:
            return "replay"
        return None


def _handler_for(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.raw_requests.append((dict(self.headers.items()), body))
                stall = state.stall_next_s.pop(0) if state.stall_next_s else 0.0
                fail = state.fail_next.pop(0) if state.fail_next else 0
            if stall:
                time.sleep(stall)
            if fail:
                self._send(fail, {"error": "injected"})
                return
            with state.lock:
                reason = state.check(self.headers.get(SIGNATURE_HEADER), body)
                if reason is not None:
                    state.rejected.append(reason)
                    self._send(409 if reason == "replay" else 401, {"error": reason})
                    return
                state.seen_signatures.add(self.headers[SIGNATURE_HEADER].split("v1=", 1)[1])
                state.accepted.append(json.loads(body))
            self._send(200, state.reply)

    return Handler


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A receiver on loopback, which the operator of these tests allows webhooks to reach."""
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/workers"
    yield state
    server.shutdown()
    server.server_close()


ENV = WorkerEnvironment(
    address="127.0.0.1:7233",
    namespace="default",
    task_queues=("orders",),
    task_queue_types=("ACTIVITY",),
    deployment_name="orders",
    build_id="v2",
    secret_env={"TEMPORAL_API_KEY": "never-send-me"},
    extra_env={"WORKERPLANE_WORKER_IDENTITY": "wp:shop/v2/acts"},
)

FAST = Backoff(attempts=4, base_s=0.01, max_s=0.05)


def _provider(receiver: Receiver, **details: Any) -> WebhookProvider:
    merged = {"url": receiver.url, "secret": SECRET, "timeout_s": 2.0, **details}
    return WebhookProvider(
        WebhookDetails.model_validate(merged),
        deployment="shop",
        group_id="acts",
        worker_env=ENV,
        backoff=FAST,
    )


async def test_invoke_posts_signed_body_and_counts_workers(receiver: Receiver) -> None:
    provider = _provider(receiver)
    assert await provider.invoke(3) == 3
    assert len(receiver.accepted) == 1
    body = receiver.accepted[0]
    assert body["action"] == "start"
    assert body["count"] == 3
    assert body["deployment"] == "shop"
    assert body["group"] == "acts"
    assert body["build_id"] == "v2"
    assert body["deployment_name"] == "orders"
    assert body["task_queue"] == "orders"
    assert body["task_types"] == ["ACTIVITY"]
    assert body["worker_identity"] == "wp:shop/v2/acts"
    raw = receiver.raw_requests[0][1]
    assert b"never-send-me" not in raw
    assert (await provider.census()).running == 3
    await provider.close()


async def test_wrong_secret_is_access_denied_and_not_retried(receiver: Receiver) -> None:
    provider = _provider(receiver, secret="wrong")
    with pytest.raises(ProviderError) as info:
        await provider.invoke(1)
    assert info.value.kind == "access_denied"
    assert not info.value.retryable
    assert receiver.rejected == ["bad-signature"]
    assert len(receiver.raw_requests) == 1
    assert (await provider.census()).running == 0
    await provider.close()


async def test_replayed_request_is_rejected(receiver: Receiver) -> None:
    provider = _provider(receiver)
    await provider.invoke(1)
    headers, body = receiver.raw_requests[0]
    # An attacker re-sends the captured request byte for byte.
    replay = httpx.post(
        receiver.url,
        content=body,
        headers={SIGNATURE_HEADER: headers[SIGNATURE_HEADER], "Content-Type": "application/json"},
    )
    assert replay.status_code == 409
    # A stale but correctly signed request is refused too.
    old = int(time.time()) - 3600
    stale_headers = {SIGNATURE_HEADER: sign(SECRET, body, old)}
    stale = httpx.post(receiver.url, content=body, headers=stale_headers)
    assert stale.status_code == 401
    # A tampered body with the captured signature is refused.
    tampered = body.replace(b'"count": 1', b'"count": 99')
    forged = httpx.post(
        receiver.url, content=tampered, headers={SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}
    )
    assert forged.status_code == 401
    assert receiver.rejected == ["replay", "stale", "bad-signature"]
    assert len(receiver.accepted) == 1
    await provider.close()


async def test_5xx_and_timeouts_are_retried_with_the_same_delivery(receiver: Receiver) -> None:
    provider = _provider(receiver, timeout_s=0.5)
    receiver.fail_next = [503, 0]
    receiver.stall_next_s = [0.0, 1.5]  # the second try times out on the client side
    assert await provider.invoke(2) == 2
    # 503, then a timeout (the receiver did process it late or not), then success.
    assert len(receiver.raw_requests) >= 3
    deliveries = {h.get("Workerplane-Delivery") for h, _ in receiver.raw_requests}
    assert len(deliveries) == 1
    attempts = [json.loads(b)["attempt"] for _, b in receiver.raw_requests]
    assert attempts[:3] == [1, 2, 3]
    await provider.close()


async def test_4xx_is_final_and_5xx_gives_up_after_budget(receiver: Receiver) -> None:
    provider = _provider(receiver)
    receiver.fail_next = [400]
    with pytest.raises(ProviderError) as info:
        await provider.invoke(1)
    assert info.value.kind == "invalid"
    assert len(receiver.raw_requests) == 1

    receiver.fail_next = [500] * 10
    with pytest.raises(ProviderError) as info:
        await provider.invoke(1)
    assert info.value.kind == "internal"
    assert len(receiver.raw_requests) == 1 + FAST.attempts
    await provider.close()


async def test_worker_set_strategy_reports_receiver_census(receiver: Receiver) -> None:
    provider = _provider(receiver, strategy="worker-set")
    assert provider.strategy is Strategy.WORKER_SET
    receiver.reply = {"running": 2}
    await provider.set_size(4)
    census = await provider.census()
    assert (census.running, census.desired) == (2, 4)
    assert receiver.accepted[-1]["action"] == "set_size"
    await provider.close()


async def test_a_worker_set_is_claimed_by_its_receiver_and_group(receiver: Receiver) -> None:
    """A provider built anew for the same receiver and group (a rotated secret, a new timeout)
    claims the same workers, so the controller hands them over instead of draining the receiver
    to zero for a cycle (controller tests: test_spec_changes). Another URL is another receiver;
    invocations are their own."""
    provider = _provider(receiver, strategy="worker-set")
    rotated = _provider(receiver, strategy="worker-set", secret="another-secret-0123456789")
    moved = _provider(receiver, strategy="worker-set", url=receiver.url + "/v2")
    invoking = _provider(receiver)
    try:
        assert provider.claim is not None and provider.claim == rotated.claim
        assert moved.claim != provider.claim
        assert invoking.claim is None
        assert receiver.url not in provider.claim  # the URL may carry a token
    finally:
        for p in (provider, rotated, moved, invoking):
            await p.close()


async def test_a_provider_taking_over_counts_the_receivers_workers(receiver: Receiver) -> None:
    """The receiver has no list API, so a provider built anew for it (a rotated secret) starts
    from what the one it replaces last asked for and heard, not from no workers. A provider of
    another receiver takes nothing over."""
    provider = _provider(receiver, strategy="worker-set")
    rotated = _provider(receiver, strategy="worker-set", secret="another-secret-0123456789")
    moved = _provider(receiver, strategy="worker-set", url=receiver.url + "/v2")
    try:
        await provider.set_size(3)
        before = await provider.census()
        rotated.take_over(provider)
        moved.take_over(provider)
        assert await rotated.census() == before and before.running == 3
        assert (await moved.census()).running == 0
    finally:
        for p in (provider, rotated, moved):
            await p.close()


async def test_a_restarted_controller_asks_the_receiver_for_a_size_at_once(
    receiver: Receiver,
) -> None:
    """A controller run asked the receiver for 3 workers, then stopped. The next run cannot ask
    the receiver what it holds, and the queue is idle: its first cycle asks for the scaler's
    size (0) instead of counting no workers and holding, which left the 3 workers running until
    work came. Once asked, it holds as usual."""
    before = _provider(receiver, strategy="worker-set")
    restarted = _provider(receiver, strategy="worker-set")
    scaler = build_scaler("backlog", {"max_count": 5}, Strategy.WORKER_SET)
    group = GroupIntent(
        version_key="shop", group_id="acts", provider_type="webhook", scaler_type="backlog",
        strategy=Strategy.WORKER_SET, scaler=scaler,
    )  # fmt: skip
    state = GroupState(scaler_state=scaler.initial_state(0.0))
    try:
        receiver.reply = {"running": 3}
        await before.set_size(3)
        receiver.reply = {"running": 0}  # what it says once asked for none
        for now in (1.0, 2.0):
            census = await restarted.census()
            stats = QueueStats(backlog_count=0)
            seen = Observation(census, GroupMetrics(stats, census, observed_at=now), wall_time=now)
            plan, _ = plan_cycle(seen, group, state, now)
            state = plan.state
            assert await execute(plan.action, restarted, "shop/acts") is None
            if now == 1.0:
                assert plan.action == Resize(0, plan.decision.reason), plan.decision
                assert "cannot tell the size it holds" in plan.decision.reason
        assert [(r["action"], r["count"]) for r in receiver.accepted] == [
            ("set_size", 3),
            ("set_size", 0),
        ]
    finally:
        await before.close()
        await restarted.close()


async def test_validate_and_registry(receiver: Receiver, tmp_path: Any) -> None:
    ctx = dict(
        deployment="shop",
        group_id="acts",
        details={"url": receiver.url, "secret": SECRET},
        worker_env=ENV,
        state_dir=tmp_path,
    )
    provider = build_provider("webhook", **ctx)
    check = await provider.validate()
    assert check.ok, check.message
    assert receiver.accepted[-1]["action"] == "validate"
    assert receiver.accepted[-1]["count"] == 0
    await provider.close()

    bad = _provider(receiver, secret="nope")
    check = await bad.validate()
    assert not check.ok and check.kind == "access_denied"
    assert "nope" not in check.message and "nope" not in repr(bad.details)
    await bad.close()


def test_details_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"url"):
        WebhookDetails.model_validate({"secret": "x"})
    with pytest.raises(ValidationError, match=r"strategy"):
        WebhookDetails.model_validate({"url": "http://x", "secret": "x", "strategy": "nope"})


def test_verify_signature_helper() -> None:
    body = b'{"a": 1}'
    now = time.time()
    header = sign(SECRET, body, int(now))
    seen: dict[str, float] = {}
    verify_signature(SECRET, header, body, now=now, seen=seen)
    with pytest.raises(SignatureError, match="replayed"):
        verify_signature(SECRET, header, body, now=now, seen=seen)
    with pytest.raises(SignatureError, match="mismatch"):
        verify_signature("other", header, body, now=now)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(SECRET, header, body, now=now + 1000)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature(SECRET, None, body)
