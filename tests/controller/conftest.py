"""Fixtures that run the real controller in-process against the real dev server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.controller.support import RunningController
from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.planning.status import GroupStatus


@pytest.fixture
async def run_controller(
    temporal_address: str, tmp_path: Path
) -> AsyncIterator[Callable[[Path], Any]]:
    """Start the controller on a spec file; stops (and drains) it after the test."""
    running: list[tuple[RunningController, asyncio.Event, asyncio.Task[None]]] = []

    async def start(spec_path: Path, state_dir: Path | None = None) -> RunningController:
        state = state_dir or tmp_path / "state"
        history: list[list[GroupStatus]] = []
        controller = Controller(
            FileSpecSource(spec_path),
            JsonStatusSink(state / "status.json"),
            ControllerSettings(state_dir=state, address=temporal_address, refresh_s=0.2),
            on_cycle=history.append,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(controller.run(stop))
        handle = RunningController(controller, state, history)
        running.append((handle, stop, task))
        return handle

    yield start
    for handle, stop, task in running:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await handle.controller.shutdown(drain=True)
