"""The policy benchmark: run every policy on every trace, compare with the oracle, and report.

:func:`run_benchmark` returns plain data (:class:`TraceReport` per trace); :func:`write_outputs`
turns it into PNG plots, ``summary.md`` and ``results.json``; :func:`render_tables` makes the rich
tables the CLI prints. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from rich.table import Table
from rich.text import Text

from workerplane.lab.why_missed import why_missed
from workerplane.sim.models import ServerModel, SimResult, WorkerModel
from workerplane.sim.oracle import OracleResult, oracle, whole_task_oracle
from workerplane.sim.policies import Policy, best_fixed, builtin_policies, fixed_policy
from workerplane.sim.traces import Trace

#: The policy whose numbers the acceptance checks are about.
DEFAULT_POLICY = "workerplane-slo"

#: The default policy must stay within this factor of the whole-task oracle's worker-seconds.
ORACLE_BUDGET = 1.25


@dataclass(frozen=True)
class PolicyRow:
    """One policy's figures on one trace."""

    policy: str
    kind: str
    description: str
    p50_s: float
    p95_s: float
    p99_s: float
    worker_seconds: float
    startup_seconds: float
    retiring_seconds: float
    scale_actions: int
    launches: int
    unfinished: int
    cost_ratio: float
    slo_met: bool
    whole_cost_ratio: float = math.inf


@dataclass
class TraceReport:
    """Everything measured on one trace."""

    trace: str
    description: str
    n_tasks: int
    horizon_s: float
    slo_s: float
    oracle_worker_seconds: float
    oracle_launches: float
    whole_oracle_worker_seconds: float = 0.0
    rows: list[PolicyRow] = field(default_factory=list)
    results: dict[str, SimResult] = field(default_factory=dict, repr=False)
    oracle_plan: OracleResult | None = field(default=None, repr=False)
    miss_reason: str | None = None

    def row(self, policy: str) -> PolicyRow:
        for r in self.rows:
            if r.policy == policy:
                return r
        raise KeyError(policy)

    @property
    def anchors_missing_slo(self) -> list[str]:
        return [r.policy for r in self.rows if r.kind == "anchor" and not r.slo_met]

    def verdict(self, policy: str = DEFAULT_POLICY) -> dict[str, bool]:
        """The acceptance checks for ``policy`` on this trace."""
        me = self.row(policy)
        rivals = [r for r in self.rows if r.kind == "anchor" and r.slo_met]
        return {
            "meets_slo": me.slo_met,
            "within_oracle_budget": me.whole_cost_ratio <= ORACLE_BUDGET,
            "cheaper_than_anchors_meeting_slo": all(
                me.worker_seconds < r.worker_seconds for r in rivals
            ),
        }


def _row(
    policy: Policy | None,
    name: str,
    kind: str,
    description: str,
    r: SimResult,
    oracle_ws: float,
    whole_ws: float,
    slo_s: float,
) -> PolicyRow:
    p95 = r.percentile(95)
    return PolicyRow(
        policy=name,
        kind=kind,
        description=description,
        p50_s=r.percentile(50),
        p95_s=p95,
        p99_s=r.percentile(99),
        worker_seconds=r.worker_seconds,
        startup_seconds=r.startup_seconds,
        retiring_seconds=r.retiring_seconds,
        scale_actions=r.scale_actions,
        launches=r.launches,
        unfinished=r.unfinished,
        cost_ratio=r.worker_seconds / oracle_ws if oracle_ws > 0 else math.inf,
        slo_met=p95 <= slo_s and r.unfinished == 0,
        whole_cost_ratio=r.worker_seconds / whole_ws if whole_ws > 0 else math.inf,
    )


def run_trace(
    trace: Trace,
    *,
    slo_s: float = 5.0,
    workers: WorkerModel | None = None,
    server: ServerModel | None = None,
    seed: int = 0,
    policies: Sequence[Policy] | None = None,
    include_fixed: bool = True,
    max_count: int = 100,
) -> TraceReport:
    """Run every policy on ``trace`` and compare it with the oracle."""
    wm = workers or WorkerModel()
    plan = oracle(trace, slots=wm.slots, startup_s=wm.startup.mean, slo_s=slo_s)
    whole = whole_task_oracle(trace, slots=wm.slots, startup_s=wm.startup.mean, slo_s=slo_s)
    oracles = (plan.worker_seconds, whole.worker_seconds)
    rep = TraceReport(
        trace=trace.name,
        description=trace.description,
        n_tasks=trace.n_tasks,
        horizon_s=trace.horizon_s,
        slo_s=slo_s,
        oracle_worker_seconds=plan.worker_seconds,
        oracle_launches=plan.launches,
        whole_oracle_worker_seconds=whole.worker_seconds,
        oracle_plan=plan,
    )
    for p in policies if policies is not None else builtin_policies(slo_s, max_count):
        r = p.run(trace, wm, server, seed)
        rep.results[p.name] = r
        rep.rows.append(_row(p, p.name, p.kind, p.description, r, *oracles, slo_s))
    if include_fixed:
        n, r = best_fixed(trace, wm, slo_s, server, seed)
        fp = fixed_policy(n)
        rep.results[fp.name] = r
        rep.rows.append(_row(fp, fp.name, fp.kind, fp.description, r, *oracles, slo_s))
    if DEFAULT_POLICY in rep.results and not rep.row(DEFAULT_POLICY).slo_met:
        rep.miss_reason = why_missed(rep.results[DEFAULT_POLICY], slo_s, wm)
    return rep


def run_benchmark(
    traces: Sequence[Trace],
    *,
    slo_s: float = 5.0,
    workers: WorkerModel | None = None,
    server: ServerModel | None = None,
    seed: int = 0,
) -> list[TraceReport]:
    """:func:`run_trace` for each trace."""
    return [run_trace(t, slo_s=slo_s, workers=workers, server=server, seed=seed) for t in traces]


# ----------------------------------------------------------------------------------- rendering


def render_tables(reports: Sequence[TraceReport]) -> list[object]:
    """Rich renderables: one table per trace, with the verdict underneath."""
    out: list[object] = []
    for rep in reports:
        table = Table(
            title=f"{rep.trace}: {rep.n_tasks} tasks, {rep.description}",
            title_justify="left",
        )
        for col, justify in [
            ("policy", "left"),
            ("p50 s", "right"),
            ("p95 s", "right"),
            ("p99 s", "right"),
            ("worker-s", "right"),
            ("actions", "right"),
            ("x oracle", "right"),
            ("x whole", "right"),
            (f"SLO {rep.slo_s:g}s", "center"),
        ]:
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in rep.rows:
            style = "bold" if r.policy == DEFAULT_POLICY else ""
            table.add_row(
                r.policy,
                f"{r.p50_s:.2f}",
                f"{r.p95_s:.2f}",
                f"{r.p99_s:.2f}",
                f"{r.worker_seconds:,.0f}",
                str(r.scale_actions),
                f"{r.cost_ratio:.2f}",
                f"{r.whole_cost_ratio:.2f}",
                Text("yes", style="green") if r.slo_met else Text("NO", style="red"),
                style=style,
            )
        table.add_row(
            "oracle",
            "-",
            "-",
            "-",
            f"{rep.oracle_worker_seconds:,.0f}",
            "-",
            "1.00",
            f"{rep.oracle_worker_seconds / rep.whole_oracle_worker_seconds:.2f}"
            if rep.whole_oracle_worker_seconds > 0
            else "-",
            "all",
            style="dim",
        )
        out.append(table)
        v = rep.verdict()
        missing = ", ".join(rep.anchors_missing_slo) or "none"
        marks = "  ".join(f"{k}={'yes' if ok else 'NO'}" for k, ok in v.items())
        why = f"; it misses because {rep.miss_reason}" if rep.miss_reason else ""
        out.append(Text(f"{DEFAULT_POLICY}: {marks}; anchors missing the SLO: {missing}{why}\n"))
    return out


def _rolling_p95(
    arrivals: np.ndarray, waits: np.ndarray, horizon: float, step: float
) -> tuple[np.ndarray, np.ndarray]:
    edges = np.arange(0.0, horizon + step, step)
    idx = np.searchsorted(edges, arrivals, side="right") - 1
    w = np.where(np.isnan(waits), np.inf, waits)
    vals = np.full(len(edges) - 1, np.nan)
    for b in range(len(edges) - 1):
        sel = w[idx == b]
        if len(sel):
            vals[b] = float(np.percentile(sel, 95))
    return edges[:-1] + step / 2, vals


def plot_trace(rep: TraceReport, path: Path) -> None:
    """Backlog, workers and p95 latency over time, one line per policy (PNG).

    A bare :class:`~matplotlib.figure.Figure` renders with Agg and leaves pyplot's global state
    (its backend, its open figures) alone.
    """
    fig = Figure(figsize=(11, 8.5), dpi=72)
    axes = fig.subplots(3, 1, sharex=True)
    colors = colormaps["tab10"]
    for i, (name, r) in enumerate(rep.results.items()):
        c = colors(i % 10)
        lw = 2.0 if name == DEFAULT_POLICY else 1.0
        axes[0].plot(r.series_t, r.series_backlog, color=c, lw=lw, label=name)
        axes[1].plot(r.series_t, r.series_workers, color=c, lw=lw, label=name)
        tx, p95 = _rolling_p95(r.arrivals, r.waits, rep.horizon_s, 60.0)
        axes[2].plot(tx, p95, color=c, lw=lw, label=name)
    if rep.oracle_plan is not None:
        axes[1].plot(
            rep.oracle_plan.t,
            rep.oracle_plan.workers,
            color="black",
            lw=0.8,
            ls=":",
            label="oracle",
        )
    axes[2].axhline(rep.slo_s, color="red", lw=0.8, ls="--", label=f"SLO {rep.slo_s:g}s")
    axes[0].set_ylabel("backlog (tasks)")
    axes[1].set_ylabel("workers alive")
    axes[2].set_ylabel("p95 wait per minute (s)")
    axes[2].set_yscale("symlog", linthresh=1.0)
    axes[2].set_ylim(bottom=0)
    axes[2].set_xlabel("time (s)")
    axes[0].set_title(f"{rep.trace}: {rep.description}", fontsize=10)
    axes[1].legend(fontsize=7, ncol=2, loc="upper right")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def summary_markdown(reports: Sequence[TraceReport], command: str) -> str:
    """The markdown summary committed under ``bench/results/``."""
    lines = [
        "# Scaling policy benchmark",
        "",
        f"Regenerate with `{command}`. Simulated (see docs/policy-lab.md for the model); "
        f"every run is seeded and exactly reproducible.",
        "",
    ]
    for rep in reports:
        lines += [
            f"## {rep.trace}",
            "",
            f"{rep.n_tasks} tasks over {rep.horizon_s:g}s: {rep.description}. "
            f"SLO: p95 schedule-to-start <= {rep.slo_s:g}s. Oracle: "
            f"{rep.oracle_worker_seconds:,.0f} worker-s ({rep.oracle_launches:.0f} launches); "
            f"whole-task oracle: {rep.whole_oracle_worker_seconds:,.0f} worker-s.",
            "",
            "| policy | p50 s | p95 s | p99 s | worker-s | scale actions | x oracle | x whole "
            "| SLO met |",
            "|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
        ]
        for r in rep.rows:
            name = f"**{r.policy}**" if r.policy == DEFAULT_POLICY else r.policy
            lines.append(
                f"| {name} | {r.p50_s:.2f} | {r.p95_s:.2f} | {r.p99_s:.2f} | "
                f"{r.worker_seconds:,.0f} | {r.scale_actions} | {r.cost_ratio:.2f} | "
                f"{r.whole_cost_ratio:.2f} | {'yes' if r.slo_met else '**no**'} |"
            )
        v = rep.verdict()
        lines += [
            "",
            f"- {DEFAULT_POLICY} meets the SLO: **{'yes' if v['meets_slo'] else 'no'}**; "
            f"within {ORACLE_BUDGET:g}x the whole-task oracle: "
            f"**{'yes' if v['within_oracle_budget'] else 'no'}** "
            f"({rep.row(DEFAULT_POLICY).whole_cost_ratio:.4f}x); cheaper than every anchor "
            f"that meets the SLO: **{'yes' if v['cheaper_than_anchors_meeting_slo'] else 'no'}**.",
            f"- Anchors that miss the SLO: {', '.join(rep.anchors_missing_slo) or 'none'}.",
            *([f"- Why {DEFAULT_POLICY} misses: {rep.miss_reason}."] if rep.miss_reason else []),
            "",
            f"![{rep.trace}]({rep.trace}.png)",
            "",
        ]
    lines += ["## Policies", ""]
    if reports:
        for r in reports[0].rows:
            lines.append(f"- `{r.policy}`: {r.description}")
    lines.append("")
    return "\n".join(lines)


def write_outputs(
    reports: Sequence[TraceReport], out: Path, command: str, plots: bool = True
) -> None:
    """Write ``<trace>.png``, ``summary.md`` and ``results.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    if plots:
        for rep in reports:
            plot_trace(rep, out / f"{rep.trace}.png")
    (out / "summary.md").write_text(summary_markdown(reports, command))
    data = [
        {
            "trace": rep.trace,
            "description": rep.description,
            "n_tasks": rep.n_tasks,
            "slo_s": rep.slo_s,
            "oracle_worker_seconds": round(rep.oracle_worker_seconds, 3),
            "whole_oracle_worker_seconds": round(rep.whole_oracle_worker_seconds, 3),
            "rows": [
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(r).items()}
                for r in rep.rows
            ],
            "verdict": rep.verdict(),
            "miss_reason": rep.miss_reason,
            "anchors_missing_slo": rep.anchors_missing_slo,
        }
        for rep in reports
    ]
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
