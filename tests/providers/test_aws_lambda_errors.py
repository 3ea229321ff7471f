"""Failure paths of the ``aws-lambda`` provider's invoke, over real HTTP on loopback.

The Invoke API here is the fault-injecting proxy of ``tests/worker/lambda_offline.py`` in
"throttle everything" mode (it answers Lambda's 429 ``TooManyRequestsException`` itself), or a
closed port (connection refused). Successful invokes against the real Lambda runtime
(serverless-offline) are in ``tests/worker/test_aws_lambda_e2e.py``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.worker.lambda_offline import FaultProxy, free_port
from workerplane.providers._retry import Backoff, InflightLedger, retry_async
from workerplane.providers.aws.clients import classify_aws_error
from workerplane.providers.aws_lambda.details import LambdaDetails
from workerplane.providers.aws_lambda.provider import InvokeError, LambdaProvider, build_event
from workerplane.providers.base import ProviderError, WorkerEnvironment

ENV = WorkerEnvironment(
    address="127.0.0.1:7233",
    namespace="default",
    task_queues=("orders",),
    secret_env={"TEMPORAL_API_KEY": "sekrit"},
)
FAST = Backoff(attempts=3, base_s=0.01, max_s=0.05)


def _provider(endpoint: str, **extra: Any) -> LambdaProvider:
    details = {
        "arn": "workerplane-worker-dev-worker",
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "aws_access_key_id": "offline",
        "aws_secret_access_key": "offline",
        **extra,
    }
    return LambdaProvider(
        LambdaDetails.model_validate(details),
        deployment="shop",
        group_id="g",
        worker_env=ENV,
        backoff=FAST,
    )


async def test_throttled_invokes_are_retried_then_reported() -> None:
    proxy = FaultProxy(upstream="http://127.0.0.1:9", throttle_every=1)
    proxy.start()
    provider = _provider(proxy.endpoint)
    try:
        with pytest.raises(InvokeError) as info:
            await provider.invoke(2)
    finally:
        proxy.stop()
        await provider.close()
    assert info.value.kind == "throttled"
    assert info.value.retryable
    assert info.value.started == 0
    assert proxy.throttled == 2 * FAST.attempts, "each invoke tried the whole budget"
    assert (await provider.census()).running == 0


async def test_refused_connection_is_internal_and_retryable(tmp_path: Path) -> None:
    provider = _provider(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(InvokeError) as info:
        await provider.invoke(1)
    await provider.close()
    assert (info.value.kind, info.value.retryable, info.value.started) == ("internal", True, 0)


async def test_concurrency_limit_caps_invokes_without_calling() -> None:
    provider = _provider(f"http://127.0.0.1:{free_port()}", max_concurrency=3)
    provider._census.add(["a", "b", "c"])  # three invocations already running
    assert provider.capacity() == 0
    assert await provider.invoke(5) == 0
    await provider.close()


async def test_the_census_reports_the_slots_each_invocation_runs() -> None:
    """A scaler plans with the handler's real slots, not one task per invocation."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    with_slots, without = _provider(endpoint, slots=4), _provider(endpoint)
    assert (await with_slots.census()).slots == 4
    assert (await without.census()).slots is None
    await with_slots.close()
    await without.close()


def test_event_carries_temporal_settings_but_no_secret_by_default() -> None:
    event = build_event(ENV, deployment="shop", group_id="g", invocation_id="i-1")
    env = event["workerplane"]["env"]
    assert env["TEMPORAL_ADDRESS"] == "127.0.0.1:7233"
    assert env["TEMPORAL_TASK_QUEUE"] == "orders"
    assert "TEMPORAL_API_KEY" not in env
    with_secret = build_event(
        ENV, deployment="shop", group_id="g", invocation_id="i-1", include_secrets=True
    )
    assert with_secret["workerplane"]["env"]["TEMPORAL_API_KEY"] == "sekrit"


@pytest.mark.parametrize(
    ("code", "status", "kind", "retryable"),
    [
        ("TooManyRequestsException", 429, "throttled", True),
        ("ThrottlingException", 400, "throttled", True),
        ("AccessDeniedException", 403, "access_denied", False),
        ("ResourceNotFoundException", 404, "not_found", False),
        ("ServiceException", 500, "internal", True),
        ("", 503, "internal", True),
        ("InvalidParameterValueException", 400, "invalid", False),
    ],
)
def test_classification(code: str, status: int, kind: str, retryable: bool) -> None:
    exc = botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Invoke",
    )
    error = classify_aws_error(exc, "lambda:Invoke f")
    assert (error.kind, error.retryable) == (kind, retryable)


async def test_retry_budget_and_final_errors() -> None:
    calls = 0
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ProviderError("slow down", kind="throttled", retryable=True)
        return "ok"

    backoff = Backoff(attempts=5, base_s=0.1, max_s=0.3)
    assert (
        await retry_async(flaky, backoff=backoff, what="t", sleep=sleep, rng=random.Random(1))
        == "ok"
    )
    assert calls == 3 and len(waits) == 2
    assert all(0 <= w <= 0.3 for w in waits)

    calls = 0

    async def denied() -> str:
        nonlocal calls
        calls += 1
        raise ProviderError("no", kind="access_denied", retryable=False)

    with pytest.raises(ProviderError):
        await retry_async(denied, backoff=backoff, what="t", sleep=sleep)
    assert calls == 1, "a final error is not retried"


def test_backoff_caps_and_ledger_expires() -> None:
    backoff = Backoff(attempts=10, base_s=0.2, max_s=5.0)
    rng = random.Random(7)
    assert all(backoff.delay(n, rng) <= min(5.0, 0.2 * 2 ** (n - 1)) for n in range(1, 12))
    now = [100.0]
    ledger = InflightLedger(ttl_s=10, clock=lambda: now[0])
    ledger.add(3)
    assert ledger.count() == 3
    now[0] += 10.5
    assert ledger.count() == 0
