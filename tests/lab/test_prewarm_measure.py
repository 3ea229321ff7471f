"""How the pre-warming bench reads the controller's published statuses."""

from __future__ import annotations

from tests.planning.test_readiness import group
from workerplane.lab.prewarm_measure import polling_at
from workerplane.lab.prewarm_run import GROUP
from workerplane.planning.status import GroupStatus


def status(ready: int) -> GroupStatus:
    return group(GROUP, ready=ready, running=ready)


def test_a_status_holds_until_the_next_so_a_slow_cycle_does_not_hide_a_polling_worker() -> None:
    # The last publish before the action was 1.6 s earlier (a slow cycle) and showed a worker.
    history = [(97.0, [status(0)]), (98.4, [status(1)]), (100.3, [status(1)])]
    assert polling_at(history, 100.0)


def test_only_the_last_status_before_the_moment_counts() -> None:
    history = [(99.0, [status(1)]), (99.8, [status(0)]), (100.1, [status(1)])]
    assert not polling_at(history, 100.0)
    assert not polling_at([(100.1, [status(1)])], 100.0)
