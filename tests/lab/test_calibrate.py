"""Calibration on a tiny trace: a real dev server, the real controller, real worker subprocesses.

Checks the report's structure and conservation (every task completed exactly once, for real and
in the simulator), not the size of the simulator's error: that depends on the machine's load.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from workerplane.lab.calibrate import (
    CalibrationReport,
    Figures,
    calibrate,
    compare_saved,
    fit_startup,
    overtaken_p95,
    summary_markdown,
)
from workerplane.lab.calibration import CalibrationConfig, calibration_trace
from workerplane.lab.real_run import fit_turnaround, measured


def test_calibration_trace_shape() -> None:
    trace = calibration_trace(seed=1, on_rate=4.0, on_s=5.0, off_s=5.0, n_bursts=2, lead_s=1.0)
    assert trace.horizon_s == 21.0
    assert np.all(trace.durations == 1.0)
    in_burst = ((trace.arrivals >= 1) & (trace.arrivals < 6)) | (
        (trace.arrivals >= 11) & (trace.arrivals < 16)
    )
    assert in_burst.all()
    assert trace.n_tasks > 0


def test_fit_startup_matches_mean() -> None:
    dist = fit_startup(np.array([0.5, 1.0, 1.5, math.nan]))
    assert dist.kind == "lognormal"
    assert abs(dist.mean - 1.0) < 1e-9
    assert fit_startup(np.array([])).mean == 2.0


def test_fit_turnaround_measures_a_full_workers_slot_gap_while_tasks_wait() -> None:
    def act(worker: str, scheduled: float, started: float, completed: float) -> dict[str, object]:
        return {
            "identity": worker,
            "act_scheduled": scheduled,
            "act_started": started,
            "act_completed": completed,
        }

    tasks = [
        act("w1", 0.0, 0.0, 1.0),  # w1's one slot is full; the next task waits from 0.5
        act("w1", 0.5, 1.2, 2.2),  # ... and starts 0.2 s after the slot freed
        act("w1", 0.6, 2.5, 3.5),  # ... 0.3 s after
        act("w2", 5.0, 5.0, 6.0),  # nothing waits when w2 completes: no sample
    ]
    assert fit_turnaround(tasks, slots=1) == pytest.approx(0.25)
    assert fit_turnaround(tasks, slots=2) == 0.0  # never full with 2 slots
    assert fit_turnaround([], slots=4) == 0.0


def test_measured_keeps_the_first_hop_of_tasks_that_arrived_while_a_worker_polled() -> None:
    def task(arrived: float, wft: float, scheduled: float, started: float) -> dict[str, object]:
        return {
            "arrived": 100 + arrived,
            "wft_started": 100 + wft,
            "act_scheduled": 100 + scheduled,
            "act_started": 100 + started,
            "act_completed": 100 + started + 1,
            "completed": 1,
        }

    record = {
        "t0": 100.0,
        "planned": [100.0, 105.0],
        "tasks": [task(0.0, 2.0, 2.1, 2.2), task(5.0, 5.3, 5.4, 5.5)],
        # one worker: seen at 0.5, polling from 2.0, gone at 9.0
        "workers": {"7": [0.5, 9.0, 2.0]},
        "worker_seconds": 8.5,
        "window_s": 10.0,
        "peak_workers": 1,
        "workers_at_end": 0,
        "slots": 4,
    }
    real = measured(record)
    assert real.latency.tolist() == pytest.approx([2.2, 0.5])
    assert real.startups.tolist() == [1.5]
    # The first task waited for the worker to start: only the second one's hop is kept.
    assert real.first_hop_polled.tolist() == pytest.approx([0.4])
    assert real.worker_seconds == 8.5 and real.completed.tolist() == [1, 1]


async def test_calibration_against_dev_server(temporal_address: str, tmp_path: Path) -> None:
    trace = calibration_trace(seed=3, on_rate=4.0, on_s=5.0, off_s=3.0, n_bursts=1, lead_s=1.0)
    # The session's dev server runs fast stats with the default 4 partitions.
    config = CalibrationConfig(max_count=4, drain_s=8.0, sim_seeds=2, fast_stats=True)
    assert config.server_model().stats_ttl_s == 0.2
    assert config.server_model().partitions == 4
    report, real = await calibrate(trace, config, address=temporal_address, workdir=tmp_path)

    # Conservation: every workflow's activity completed exactly once, and so did every
    # simulated task.
    assert len(real.completed) == trace.n_tasks
    assert real.completed.tolist() == [1] * trace.n_tasks
    assert report.real_completed_once and report.sim_completed_once

    # Every task has a measured latency, made of its parts.
    assert np.all(np.isfinite(real.latency)) and np.all(real.latency >= 0)
    parts = real.wft_wait + real.wft_exec + real.activity_wait
    assert np.allclose(parts, real.latency, atol=1e-3)
    assert np.all(real.run_s >= 0.9)  # the activity sleeps 1 s

    # Workers ran, were timed and billed.
    assert len(real.startups) >= 1 and np.all(real.startups >= 0)
    assert real.worker_seconds > 0 and real.peak_workers >= 1

    # The report compares the same figures both ways.
    assert report.n_tasks == trace.n_tasks
    assert report.real.p95_s >= report.real.p50_s >= 0
    assert report.sim.p95_s >= report.sim.p50_s >= 0
    assert report.sim.worker_seconds > 0
    assert set(report.error) == {"p50", "p95", "p50_raw", "p95_raw", "worker_seconds"}
    assert math.isclose(
        report.error["worker_seconds"],
        (report.sim.worker_seconds - report.real.worker_seconds) / report.real.worker_seconds,
    )
    text = report.markdown()
    assert "p95 latency" in text and "worker-seconds" in text
    assert report.to_json()["within_target"] in (True, False)

    # The saved run compares the same offline, task by task.
    again = compare_saved(tmp_path, trace, config)
    assert again.real == report.real and again.sim == report.sim
    assert len(report.real_waits) == trace.n_tasks
    assert len(report.sim_waits) == trace.n_tasks * config.sim_seeds
    assert again.real_waits == report.real_waits and again.sim_waits == report.sim_waits
    assert "every task pooled" in summary_markdown([report, again])
    assert "real_waits" not in report.to_json()


def test_default_config_models_temporals_defaults() -> None:
    model = CalibrationConfig().server_model()
    assert (model.stats_ttl_s, model.poller_history_ttl_s, model.partitions) == (5.0, 300.0, 4)
    assert model.fresh_signal_delay_s is not None


def test_overtaken_counts_later_arrivals_that_started_first() -> None:
    arrivals = np.array([0.0, 1.0, 2.0, 3.0])
    assert overtaken_p95(arrivals, arrivals + 0.5) == 0.0  # first-in, first-out
    # The first task starts last: three later tasks overtook it, none overtook the others.
    late_first = np.array([10.0, 1.5, 2.5, 3.5])
    assert overtaken_p95(arrivals, late_first) == pytest.approx(np.percentile([3, 0, 0, 0], 95))
    # A task that never started was overtaken by every later one that did.
    never = np.array([math.nan, 1.5, 2.5, 3.5])
    assert overtaken_p95(arrivals, never) == overtaken_p95(arrivals, late_first)


def _run(real_waits: list[float], sim_waits: list[float]) -> CalibrationReport:
    real = Figures(0.0, float(np.percentile(real_waits, 95, method="higher")), 100.0)
    sim = Figures(0.0, float(np.percentile(sim_waits, 95, method="higher")), 100.0)
    return CalibrationReport(
        trace="t", description="", n_tasks=len(real_waits), config=CalibrationConfig(),
        real=real, sim=sim, sim_raw=sim, error={"p95": sim.p95_s / real.p95_s - 1,
        "worker_seconds": 0.0}, startup_mean_s=0.0, startup_sigma=0.0, first_hop_median_s=0.0,
        first_hop_p95_s=0.0, turnaround_s=0.0, real_detail={}, sim_detail={},
        real_completed_once=True, sim_completed_once=True, real_waits=tuple(real_waits),
        sim_waits=tuple(sim_waits),
    )  # fmt: skip


def test_runs_are_also_judged_on_their_tasks_pooled() -> None:
    """Two runs of 20 tasks: one long wait in the real run's tail, then in the simulated one's.
    Each run's p95 is that one wait, so each misses by 90 % or 900 %; pooled, one long wait in
    40 is below the p95 on both sides, and the runs agree."""
    text = summary_markdown(
        [_run([1.0] * 19 + [10.0], [1.0] * 20), _run([1.0] * 20, [1.0] * 19 + [10.0])]
    )
    assert "0 of 2 runs within" in text
    pooled = (
        "| **every task pooled** | 1.00 s | 1.00 s | **+0%** | 200.0 | 200.0 | **+0%** | **yes** |"
    )
    assert pooled in text
