"""A Temporal dev server with Temporal's DEFAULT dynamic config, as production servers run.

Unlike the session's ``temporal_server`` (conftest), this one has no fast-stats flags: task-queue
stats are cached for 5 s and every task queue has 4 partitions. Import the fixture into a test
module (or a conftest) to use it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workerplane.temporal.devserver import DevServer, start_dev_server


@pytest.fixture(scope="session")
def default_temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """A real dev server started without any dynamic config of ours, for the whole run."""
    base = tmp_path_factory.mktemp("temporal-defaults")
    server = start_dev_server(in_memory=True, fast_stats=False, log_file=base / "server.log")
    yield server
    server.stop()
