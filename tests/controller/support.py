"""Helpers for the controller tests: example scaling groups, spec files, a running controller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workerplane.controller.controller import Controller
from workerplane.embedded.example import example_worker_group, write_deployment
from workerplane.planning.status import GroupStatus

REPO_ROOT = Path(__file__).resolve().parents[2]


def subprocess_group(
    *,
    types: list[str] | None = None,
    strategy: str = "worker-set",
    slots: int = 4,
    scaler: dict[str, Any] | None = None,
    idle_exit_s: float = 2.0,
    grace_period_s: float = 60.0,
) -> dict[str, Any]:
    """A scaling group running the example worker as local processes with the backlog scaler."""
    details = {
        "min_count": 0,
        "max_count": 6,
        "target_per_worker": slots,
        "scale_down_cooldown_ms": 1500,
        "metrics_poll_interval_ms": 200,
    }
    details.update(scaler or {})
    return example_worker_group(
        cwd=REPO_ROOT,
        task_queue_types=types,
        strategy=strategy,
        slots=slots,
        idle_exit_s=idle_exit_s,
        grace_period_s=grace_period_s,
        scaler_details=details,
    )


#: The tests' name for the spec writer the bench and calibration use too.
write_spec = write_deployment


@dataclass
class RunningController:
    controller: Controller
    state_dir: Path
    history: list[list[GroupStatus]]

    def workers(self, group: str | None = None) -> int:
        statuses = self.controller.statuses()
        return sum(s.workers_running for s in statuses if group is None or s.group_id == group)

    def peak(self, group: str) -> int:
        """The most worker processes of ``group`` alive at once (retiring ones included)."""
        return max(
            (s.workers_running for snap in self.history for s in snap if s.group_id == group),
            default=0,
        )

    def peak_desired(self, group: str) -> int:
        """The largest size the scaler asked of ``group``."""
        return max(
            (s.desired or 0 for snap in self.history for s in snap if s.group_id == group),
            default=0,
        )

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not met within {timeout_s}s: {self.controller.statuses()}"
                )
            await asyncio.sleep(0.1)
