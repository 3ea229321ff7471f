"""Replay a burst through each scaler: ``python -m workerplane.scaling [--tasks N] [--verbose]``.

A small deterministic queue model, only to show the scalers' decisions side by side (the policy
lab in :mod:`workerplane.sim` is the real simulator). ``N`` one-second tasks land on an idle
queue at t=0; a worker needs 1 s to start and runs 4 tasks at a time; invoke workers exit after
5 s idle. Every scaler is driven through the :class:`~workerplane.scaling.base.Scaler` protocol
at its own poll interval (Temporal's scalers at their minimum allowed interval).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Any

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import (
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)

TICK = 0.1
SLOTS = 4
STARTUP_S = 1.0
TASK_S = 1.0
IDLE_EXIT_S = 5.0


@dataclass
class _Worker:
    ready_at: float
    busy_until: list[float] = field(default_factory=list)
    idle_since: float = 0.0
    retiring: bool = False


@dataclass
class Outcome:
    name: str
    first_worker_s: float | None
    makespan_s: float | None
    back_to_zero_s: float | None
    worker_seconds: float
    peak_workers: int
    decisions: int


def simulate(
    name: str, scaler_type: str, details: dict[str, Any], strategy: Strategy, tasks: int,
    verbose: bool = False, horizon_s: float = 900.0,
) -> Outcome:  # fmt: skip
    scaler = build_scaler(scaler_type, details, strategy)
    state = scaler.initial_state(0.0)
    waiting = [0.0] * tasks  # enqueue times
    workers: list[_Worker] = []
    done = 0
    dispatched: list[float] = []
    size = 0
    next_poll = 0.0
    first_worker = makespan = zero = None
    worker_seconds = 0.0
    peak = decisions = 0
    steps = round(horizon_s / TICK)
    for i in range(steps + 1):
        now = i * TICK
        # Tasks finish, workers pull work.
        for w in workers:
            finished = [t for t in w.busy_until if t <= now + 1e-9]
            done += len(finished)
            w.busy_until = [t for t in w.busy_until if t > now + 1e-9]
            if w.ready_at <= now and not w.retiring:
                if first_worker is None:
                    first_worker = now
                while waiting and len(w.busy_until) < SLOTS:
                    waiting.pop(0)
                    w.busy_until.append(now + TASK_S)
                    dispatched.append(now)
                if w.busy_until:
                    w.idle_since = now
        if done == tasks and makespan is None:
            makespan = now
        # Invoke workers exit when idle; retiring worker-set workers leave once drained.
        workers = [
            w
            for w in workers
            if not (
                (strategy is Strategy.INVOKE and not w.busy_until and now - w.idle_since
                 >= IDLE_EXIT_S and w.ready_at <= now)
                or (w.retiring and not w.busy_until)
            )
        ]  # fmt: skip
        worker_seconds += TICK * len(workers)
        peak = max(peak, len(workers))
        if makespan is not None and not workers and zero is None:
            zero = now
            break
        if now + 1e-9 < next_poll:
            continue
        next_poll = now + scaler.poll_interval_s
        dispatched = [t for t in dispatched if t > now - 1.0]
        in_flight = sum(len(w.busy_until) for w in workers)
        live = [w for w in workers if not w.retiring]
        metrics = GroupMetrics(
            stats=QueueStats(
                backlog_count=len(waiting),
                backlog_age_s=now - waiting[0] if waiting else 0.0,
                add_rate=tasks / 1.0 if now < 1.0 else 0.0,
                dispatch_rate=float(len(dispatched)),
                pollers=len([w for w in live if w.ready_at <= now]),
            ),
            workers=WorkerCensus(
                running=len(live),
                in_flight=in_flight,
                desired=size if strategy is Strategy.WORKER_SET else None,
            ),
            observed_at=now,
        )
        state, decision = scaler.decide(state, metrics, now)
        if isinstance(decision, StartWorkers):
            decisions += 1
            workers += [
                _Worker(ready_at=now + STARTUP_S, idle_since=now) for _ in range(decision.count)
            ]
        elif isinstance(decision, SetSize):
            decisions += 1
            size = decision.size
            live = [w for w in workers if not w.retiring]
            if size > len(live):
                workers += [
                    _Worker(ready_at=now + STARTUP_S, idle_since=now)
                    for _ in range(size - len(live))
                ]
            else:
                # Retire the least busy workers first; they finish what they run (graceful).
                for w in sorted(live, key=lambda w: len(w.busy_until))[: len(live) - size]:
                    w.retiring = True
        if verbose and not isinstance(decision, Hold):
            print(f"  [{name}] t={now:6.1f}s {decision.reason}")
    return Outcome(name, first_worker, makespan, zero, worker_seconds, peak, decisions)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--verbose", action="store_true", help="print every decision's reason")
    args = parser.parse_args(argv)
    ideal = math.ceil(args.tasks / (10 * SLOTS)) * TASK_S + STARTUP_S
    cases: list[tuple[str, str, dict[str, Any], Strategy]] = [
        ("backlog/invoke", "backlog", {"target_per_worker": SLOTS}, Strategy.INVOKE),
        ("backlog/worker-set", "backlog", {"target_per_worker": SLOTS}, Strategy.WORKER_SET),
        ("no-sync/invoke", "no-sync", {"metrics_poll_interval_ms": 10_000}, Strategy.INVOKE),
        ("rate-based/worker-set", "rate-based",
         {"max_count": 10, "metrics_poll_interval_ms": 30_000, "scale_down_cooldown_ms": 30_000},
         Strategy.WORKER_SET),
    ]  # fmt: skip
    print(
        f"{args.tasks} x {TASK_S:g}s tasks at t=0, {SLOTS} slots/worker, max 10 workers, "
        f"{STARTUP_S:g}s startup; ideal makespan ~{ideal:g}s"
    )
    print(
        f"{'scaler':<24}{'1st worker':>11}{'makespan':>10}{'to zero':>9}"
        f"{'worker-s':>10}{'peak':>6}{'actions':>9}"
    )

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}s"

    for name, kind, details, strategy in cases:
        o = simulate(name, kind, details, strategy, args.tasks, verbose=args.verbose)
        print(
            f"{o.name:<24}{fmt(o.first_worker_s):>11}{fmt(o.makespan_s):>10}"
            f"{fmt(o.back_to_zero_s):>9}{o.worker_seconds:>10.1f}{o.peak_workers:>6}"
            f"{o.decisions:>9}"
        )


if __name__ == "__main__":
    main()
