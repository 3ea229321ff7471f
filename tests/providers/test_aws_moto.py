"""Lambda and ECS control-plane calls against a real moto server (an AWS emulator) on loopback.

Covers GetFunction, STS AssumeRole with an external ID, ECS DescribeServices and UpdateService, and
the not-found and access-denied paths (moto enforces IAM policies after seeding, see
``aws_fixtures``). Lambda invocations themselves run against serverless-offline in
``tests/worker/test_aws_lambda_e2e.py``: moto cannot run handlers without Docker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.providers.aws_fixtures import REGION, MotoWorld, moto_world
from workerplane.providers._retry import Backoff
from workerplane.providers.aws_ecs.details import EcsDetails
from workerplane.providers.aws_ecs.provider import EcsProvider
from workerplane.providers.aws_lambda.provider import LambdaProvider
from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.factory import build_provider

__all__ = ["moto_world"]

FAST = Backoff(attempts=3, base_s=0.01, max_s=0.05)
ENV = WorkerEnvironment(address="127.0.0.1:7233", namespace="default", task_queues=("q",))


def _ctx(details: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return dict(
        deployment="shop", group_id="g", details=details, worker_env=ENV, state_dir=tmp_path
    )


def _lambda(world: MotoWorld, tmp_path: Path, keys: Any = None, **extra: Any) -> LambdaProvider:
    details = {
        "arn": world.function_arn,
        "region": REGION,
        "endpoint_url": world.lambda_endpoint,
        **(keys or world.admin).details(),
        **extra,
    }
    provider = build_provider("aws-lambda", **_ctx(details, tmp_path))
    assert isinstance(provider, LambdaProvider)
    return provider


def _ecs(world: MotoWorld, keys: Any = None, **extra: Any) -> EcsProvider:
    details = {
        "cluster": world.cluster,
        "service": world.service,
        "region": REGION,
        "endpoint_url": world.endpoint,
        **(keys or world.admin).details(),
        **extra,
    }
    return EcsProvider(EcsDetails.model_validate(details), backoff=FAST)


async def test_lambda_validate_finds_function_and_reads_timeout(
    moto_world: MotoWorld, tmp_path: Path
) -> None:
    provider = _lambda(moto_world, tmp_path)
    check = await provider.validate()
    assert check.ok, check.message
    # The census TTL follows the function timeout (120 s here) when no worker_ttl_s is set.
    assert provider._census.ttl_s == 120.0
    await provider.close()


async def test_lambda_validate_assumes_role_with_external_id(
    moto_world: MotoWorld, tmp_path: Path
) -> None:
    provider = _lambda(moto_world, tmp_path, role=moto_world.role_arn, role_external_id="ext-123")
    check = await provider.validate()
    assert check.ok, check.message
    assert "role assumable" in check.message
    await provider.close()


async def test_lambda_not_found(moto_world: MotoWorld, tmp_path: Path) -> None:
    missing = moto_world.function_arn.replace("temporal-worker", "nope")
    provider = _lambda(moto_world, tmp_path, arn=missing)
    check = await provider.validate()
    assert not check.ok
    assert check.kind == "not_found"
    assert "GetFunction" in check.message
    await provider.close()


async def test_lambda_access_denied_is_final(moto_world: MotoWorld, tmp_path: Path) -> None:
    # The role lives on the enforcing server; the limited user may not assume it.
    provider = _lambda(
        moto_world,
        tmp_path,
        keys=moto_world.limited,
        role=moto_world.role_arn,
        role_external_id="ext-123",
        endpoint_url=moto_world.endpoint,
    )
    check = await provider.validate()
    assert (check.ok, check.kind) == (False, "access_denied")
    assert "AssumeRole" in check.message
    assert moto_world.limited.secret_access_key not in check.message
    assert "ext-123" not in repr(provider.details)
    await provider.close()


async def test_ecs_validate_set_size_and_census(moto_world: MotoWorld) -> None:
    provider = _ecs(moto_world)
    check = await provider.validate()
    assert check.ok, check.message
    await provider.set_size(3)
    census = await provider.census()
    assert census.desired == 3
    await provider.set_size(0)
    assert (await provider.census()).desired == 0
    await provider.close()


async def test_ecs_with_role(moto_world: MotoWorld) -> None:
    provider = _ecs(moto_world, role=moto_world.role_arn, role_external_id="ext-9")
    check = await provider.validate()
    assert check.ok, check.message
    await provider.set_size(2)
    assert (await provider.census()).desired == 2
    await provider.set_size(0)
    await provider.close()


async def test_ecs_not_found_and_inactive(moto_world: MotoWorld) -> None:
    missing = _ecs(moto_world, service="ghost")
    check = await missing.validate()
    assert (check.ok, check.kind) == (False, "not_found")
    await missing.close()

    no_cluster = _ecs(moto_world, cluster="ghost-cluster")
    check = await no_cluster.validate()
    assert (check.ok, check.kind) == (False, "not_found")
    await no_cluster.close()

    retired = _ecs(moto_world, service=moto_world.inactive_service)
    check = await retired.validate()
    assert not check.ok
    assert check.kind in ("invalid", "not_found")
    await retired.close()


async def test_ecs_access_denied(moto_world: MotoWorld) -> None:
    provider = _ecs(moto_world, keys=moto_world.limited)
    check = await provider.validate()
    assert (check.ok, check.kind) == (False, "access_denied")
    from workerplane.providers.base import ProviderError

    with pytest.raises(ProviderError) as info:
        await provider.set_size(5)
    assert info.value.kind == "access_denied"
    assert not info.value.retryable
    await provider.close()
