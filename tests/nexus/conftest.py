"""Fixtures for the Nexus provider: the handler namespace, an endpoint and its handler process,
and the in-process controller (the controller tests' fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.controller.conftest import run_controller
from tests.nexus.nexus_support import (
    HANDLER_NAMESPACE,
    HandlerProcess,
    create_endpoint,
    create_namespace,
    new_endpoint_name,
)

__all__ = ["run_controller"]


@pytest.fixture(scope="session")
def handler_namespace(temporal_address: str) -> str:
    create_namespace(temporal_address, HANDLER_NAMESPACE)
    return HANDLER_NAMESPACE


@pytest.fixture
def nexus_handler(
    temporal_address: str, handler_namespace: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[str, HandlerProcess]]]:
    """Create an endpoint targeting a fresh queue in the handler namespace, start its handler
    (``pinned``: details its provider file pins); returns ``(endpoint name, handler)``. The
    handler is stopped after the test."""
    handlers: list[HandlerProcess] = []

    def start(pinned: dict[str, Any] | None = None) -> tuple[str, HandlerProcess]:
        endpoint = new_endpoint_name()
        queue = f"{endpoint}-handler"
        create_endpoint(temporal_address, endpoint, handler_namespace, queue)
        directory = tmp_path / endpoint
        directory.mkdir()
        handler = HandlerProcess(temporal_address, queue, directory, pinned or {})
        handlers.append(handler)
        handler.start()
        return endpoint, handler

    yield start
    for handler in handlers:
        handler.stop()
