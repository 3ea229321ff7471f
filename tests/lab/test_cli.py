"""``workerplane bench policies`` end to end on a short trace (tables, summary, JSON, PNG)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.sim.sim_support import AZURE_SAMPLE
from workerplane.lab.cli import app, parse_duration


def test_policies_command_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(
        app,
        ["policies", "--traces", f"azure:{AZURE_SAMPLE}:600:5", "--slo", "5s", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "workerplane-slo" in result.output and "keda-hpa" in result.output
    summary = (out / "summary.md").read_text()
    assert "| **workerplane-slo** |" in summary and "Anchors that miss the SLO" in summary
    data = json.loads((out / "results.json").read_text())
    (trace,) = data
    names = {r["policy"] for r in trace["rows"]}
    assert {
        "workerplane-slo",
        "temporal-no-sync",
        "temporal-rate-based",
        "keda-hpa",
        "fixed",
    } <= names
    ours = next(r for r in trace["rows"] if r["policy"] == "workerplane-slo")
    ratio = ours["worker_seconds"] / trace["whole_oracle_worker_seconds"]
    verdict = "yes" if ratio <= 1.25 else "no"
    assert f"the whole-task oracle: **{verdict}** ({ratio:.4f}x)" in summary
    png = next(out.glob("*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_gives_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["policies", "--traces", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--traces: unknown trace 'nope'" in result.output
    result = CliRunner().invoke(app, ["policies", "--slo", "fast", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "is not a duration" in result.output


def test_parse_duration() -> None:
    assert parse_duration("5s") == 5.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1m") == 60.0
    assert parse_duration("2.5") == 2.5


def test_policies_can_retire_as_a_real_provider_does(tmp_path: Path) -> None:
    """``--retire-as-reported``: the run says so, and its report names the command that made it
    (the effect on cost: tests/sim/test_long_tasks_held.py)."""
    out = tmp_path / "results"
    args = ["policies", "--traces", f"azure:{AZURE_SAMPLE}:600:5", "--no-plots", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--retire-as-reported"])
    assert result.exit_code == 0, result.output
    assert "--retire-as-reported" in (out / "summary.md").read_text()
