"""``workerplane validate`` as a user runs it: a real subprocess, its exit code and its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workerplane.cli.main", "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )


def test_example_spec_is_valid() -> None:
    result = _validate(REPO_ROOT / "examples" / "deploy.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_bad_yaml_gives_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "deploy.yaml"
    bad.write_text(
        "name: x\n"
        "task_queue: q\n"
        "compute:\n"
        "  scaling_groups:\n"
        "    wf:\n"
        "      provider: {type: subprocess, details: {command: python}}\n"
        "      scaler: {type: backlog, details: {max_count: many}}\n"
    )
    result = _validate(bad)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(bad) in lines[0]
    assert "compute.scaling_groups.wf.scaler.details.max_count" in lines[0]
    assert "entry wf" in lines[0]
    assert "Traceback" not in result.stderr


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "deploy.yaml"
    bad.write_text("name: [\n")
    result = _validate(bad)
    assert result.returncode == 1
    assert "line" in result.stderr and "Traceback" not in result.stderr


def test_temporal_rule_message_is_shared(tmp_path: Path) -> None:
    bad = tmp_path / "deploy.yaml"
    bad.write_text(
        "name: x\ntask_queue: q\ncompute:\n  scaling_groups:\n    a: {provider: {type: nope}}\n"
    )
    result = _validate(bad)
    assert result.returncode == 1
    assert "invalid compute provider type 'nope'" in result.stderr


def test_an_unreachable_slo_is_a_warning_naming_the_minimum(tmp_path: Path) -> None:
    spec = tmp_path / "deploy.yaml"
    spec.write_text(
        "name: x\n"
        "task_queue: q\n"
        "compute:\n"
        "  scaling_groups:\n"
        "    wf:\n"
        "      provider: {type: subprocess, details: {command: python, strategy: worker-set}}\n"
        "      scaler: {type: slo, details: {schedule_to_start_slo_ms: 500}}\n"
    )
    result = _validate(spec)
    assert result.returncode == 0, result.stderr
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
    assert "schedule_to_start_slo_ms" in line and "raise it to at least" in line
    assert "entry wf" in line
