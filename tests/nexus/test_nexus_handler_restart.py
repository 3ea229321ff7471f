"""A restarted handler adopts the workers the previous one started: none orphaned, none doubled.

The handler's operations are called in process here (no endpoint), on real worker processes; the
end-to-end tests drive the same handler through a Nexus endpoint.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from nexusrpc import HandlerError, HandlerErrorType
from pydantic import ValidationError

from tests.controller.support import REPO_ROOT
from workerplane.nexus.handler import ProviderFile, WorkerProviderHandler
from workerplane.nexus.service import (
    CensusInput,
    DrainInput,
    GroupRef,
    SetSizeInput,
    ValidateInput,
    WorkerEnv,
)
from workerplane.providers.subprocess import procfs

pytestmark = pytest.mark.integration

#: The handler ignores the operation context; these tests call it without one.
NO_CONTEXT = cast(Any, None)


def _group(address: str, queue: str, provider_type: str = "subprocess") -> GroupRef:
    return GroupRef(
        deployment="orders",
        group_id="workers",
        provider_type=provider_type,
        details={
            "command": "python",
            "args": ["-m", "examples.worker"],
            "strategy": "worker-set",
            "grace_period_s": 10,
        },
        worker_env=WorkerEnv(address=address, namespace="default", task_queues=[queue]),
    )


def _local() -> ProviderFile:
    return ProviderFile(type="subprocess", details={"cwd": str(REPO_ROOT)})


async def test_restarted_handler_adopts_its_workers(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    group = _group(temporal_address, unique_name)
    first = WorkerProviderHandler(_local(), tmp_path)
    await first.set_size(NO_CONTEXT, SetSizeInput(group, 2))
    started = procfs.live_worker_pids(tmp_path)
    assert len(started) == 2
    await first.close()  # the handler stops; its workers keep running

    second = WorkerProviderHandler(_local(), tmp_path)
    census = await second.census(NO_CONTEXT, CensusInput(group))
    await second.set_size(NO_CONTEXT, SetSizeInput(group, 2))
    assert census.running == 2
    assert procfs.live_worker_pids(tmp_path) == started, "adopted, not started again"

    drained = await second.drain(NO_CONTEXT, DrainInput(group, timeout_s=10))
    assert drained.running == 0
    assert not procfs.live_worker_pids(tmp_path)


async def test_handler_refuses_another_provider_type(tmp_path: Path, unique_name: str) -> None:
    handler = WorkerProviderHandler(_local(), tmp_path)
    with pytest.raises(HandlerError) as refused:
        await handler.validate(NO_CONTEXT, ValidateInput(_group("t:1", unique_name, "k8s")))
    assert refused.value.type == HandlerErrorType.BAD_REQUEST
    assert "wraps 'subprocess', not 'k8s'" in str(refused.value)


async def test_bad_details_are_refused_without_their_values(
    tmp_path: Path, unique_name: str
) -> None:
    # The provider file refuses its own bad details when it is read; a caller's are refused at
    # the call.
    with pytest.raises(ValidationError) as bad_file:
        ProviderFile(type="subprocess", details={"secret_env": {"KEY": 12345678}})
    assert "secret_env" in str(bad_file.value) and "12345678" not in str(bad_file.value)
    handler = WorkerProviderHandler(_local(), tmp_path)
    group = _group("t:1", unique_name)
    caller = replace(group, details={**group.details, "secret_env": {"KEY": 12345678}})
    with pytest.raises(HandlerError) as refused:
        await handler.census(NO_CONTEXT, CensusInput(caller))
    assert refused.value.type == HandlerErrorType.BAD_REQUEST
    assert "secret_env" in str(refused.value)
    assert "12345678" not in str(refused.value)
