"""What the controller's provider sees of a handler's refusals, through a real endpoint: the
failure's kind survives the trip, and a strategy the handler does not share fails the check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from workerplane.providers.base import Provider, ProviderError, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.nexus.caller import NexusRoute
from workerplane.temporal.connection import resolve_connection

pytestmark = pytest.mark.integration


@pytest.fixture
async def through(
    temporal_address: str, tmp_path: Path
) -> AsyncIterator[Callable[[str, str, dict[str, Any]], Any]]:
    """Build and start the controller-side provider of a group behind ``endpoint``."""
    providers: list[Provider] = []

    async def build(endpoint: str, type_name: str, details: dict[str, Any]) -> Provider:
        provider = build_provider(
            type_name,
            details,
            deployment="orders",
            group_id="workers",
            worker_env=WorkerEnvironment(temporal_address, "default", ("orders",)),
            state_dir=tmp_path / "controller",
            nexus=NexusRoute(endpoint, resolve_connection(address=temporal_address)),
        )
        providers.append(provider)
        await provider.start()
        return provider

    yield build
    for provider in providers:
        await provider.close()


async def test_another_type_is_refused_as_invalid(nexus_handler: Any, through: Any) -> None:
    endpoint, _ = nexus_handler()
    provider = await through(endpoint, "aws-ecs", {"cluster": "workers", "service": "orders"})
    with pytest.raises(ProviderError) as refused:
        await provider.census()
    assert refused.value.kind == "invalid"
    assert not refused.value.retryable
    assert f"nexus endpoint '{endpoint}'" in str(refused.value)
    assert "wraps 'subprocess', not 'aws-ecs'" in str(refused.value)


async def test_a_strategy_the_handler_pins_otherwise_fails_the_check(
    nexus_handler: Any, through: Any
) -> None:
    endpoint, _ = nexus_handler(pinned={"strategy": "worker-set"})
    provider = await through(endpoint, "subprocess", {"command": "python", "strategy": "invoke"})
    check = await provider.validate()
    assert not check.ok
    assert "runs the 'worker-set' strategy, the spec says 'invoke'" in check.message


async def test_a_healthy_handler_passes_the_check(nexus_handler: Any, through: Any) -> None:
    endpoint, _ = nexus_handler()
    provider = await through(endpoint, "subprocess", {"command": "python"})
    check = await provider.validate()
    assert check.ok, check.message
    census = await provider.census()
    assert census.running == 0
