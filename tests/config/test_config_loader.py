"""The YAML loader: real files on disk, one-line errors naming file, field, rule, group and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from workerplane.config.loader import (
    SpecError,
    dump_spec,
    format_issue,
    load_spec,
    load_spec_text,
)
from workerplane.errors import ValidationIssue
from workerplane.security.redact import REDACTED

REPO = Path(__file__).resolve().parents[2]

GOOD = textwrap.dedent(
    """\
    name: orders
    temporal:
      address: localhost:7233
      namespace: default
      api_key: s3cr3t-key
    task_queue: orders
    deployment:
      name: orders
      build_id: v1
    compute:
      scaling_groups:
        wf:
          task_queue_types: [workflow]
          provider:
            type: subprocess
            details:
              command: python
              args: [-m, app.worker]
          scaler:
            type: backlog
            details:
              target_per_worker: 50
              max_count: 4
        act:
          task_queue_types: [TASK_QUEUE_TYPE_ACTIVITY]
          provider:
            type: webhook
            details:
              url: https://launcher.example/hook
              secret: hmac-key-123
          scaler:
            details:
              max_count: 20
              target_per_worker: 4
    """
)


def write(tmp_path: Path, text: str, name: str = "deploy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value


def test_load_good_file(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.name == "orders"
    assert spec.task_queues == ["orders"]  # task_queue shorthand
    assert spec.compute.scaling_groups["wf"].task_queue_types == ["WORKFLOW"]  # normalized
    assert spec.compute.scaling_groups["act"].task_queue_types == ["ACTIVITY"]
    assert spec.temporal.api_key is not None
    assert spec.temporal.api_key.get_secret_value() == "s3cr3t-key"
    assert spec.deployment is not None and spec.deployment.build_id == "v1"


def test_repo_example_loads() -> None:
    spec = load_spec(REPO / "examples" / "deploy.yaml")
    assert spec.compute.scaling_groups


def test_bad_yaml_file_gives_one_line_error_naming_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: orders
        task_queue: orders
        compute:
          scaling_groups:
            wf:
              task_queue_types: [WORKFLOW]
              provider: {type: subprocess, details: {command: python}}
              scaler:
                type: backlog
                details:
                  max_count: 0
        """,
    )
    err = error_of(path)
    assert len(err.issues) == 1
    line = str(err)
    assert "\n" not in line
    assert line == (
        f"{path}: compute.scaling_groups.wf.scaler.details.max_count: "
        "max_count must be at least 1 (entry wf, line 11)"
    )


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "name: orders\ncompute:\n  scaling_groups: {wf: [\n"))
    [issue] = err.issues
    assert issue.code == "yaml"
    assert issue.line is not None
    assert issue.rule.startswith("YAML syntax error: ")
    assert "column" in issue.rule
    assert str(err).startswith(f"{tmp_path / 'deploy.yaml'}: YAML syntax error: ")


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "name: orders\ncompute:\n\tscaling_groups: {}\n"))
    assert err.issues[0].line == 3


def test_duplicate_group_id_is_an_error(tmp_path: Path) -> None:
    err = error_of(
        write(
            tmp_path,
            """\
            name: orders
            task_queue: orders
            compute:
              scaling_groups:
                wf: {provider: {type: subprocess, details: {command: a}}}
                wf: {provider: {type: subprocess, details: {command: b}}}
            """,
        )
    )
    assert [format_issue(i) for i in err.issues] == [
        "compute.scaling_groups.wf: duplicate key 'wf' (line 6)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "deploy.yaml: a deployment spec must be a mapping, not an empty file (line 1)"),
        ("- a\n- b\n", "deploy.yaml: a deployment spec must be a mapping, not a list (line 1)"),
        (
            "name: o\ntask_queue: o\ntask_queues: [o]\ncompute: {}\n",
            "deploy.yaml: task_queue: use either task_queue or task_queues, not both (line 2)",
        ),
        (
            "task_queue: o\ncompute: {}\n",
            "deploy.yaml: name: is required",
        ),
        (
            "name: o\ntask_queue: o\ncompute: {}\nreplicas: 3\n",
            "deploy.yaml: replicas: unknown key (allowed: name, temporal, task_queues, "
            "deployment, compute, rollout, unmanaged_pollers) (line 4)",
        ),
        (
            "name: o\ntask_queue: o\n"
            "compute: {scaling_groups: {wf: {task_queue_types: WORKFLOW}}}\n",
            "deploy.yaml: compute.scaling_groups.wf.task_queue_types: must be a list "
            "(entry wf, line 3)",
        ),
        (
            "name: o\ntask_queue: o\ntemporal: {tls: maybe}\ncompute: {}\n",
            "deploy.yaml: temporal.tls: must be true or false, or must be a mapping (line 3)",
        ),
        (
            "name: o\ntask_queue: o\ncompute: {}\n",
            "deploy.yaml: compute.scaling_groups: spec must have at least one entry (line 3)",
        ),
        (
            "name: o\ntask_queue: ''\ncompute: {scaling_groups: {a: {provider: {type: ecs}}}}\n",
            "deploy.yaml: task_queues[0]: task queue name must not be empty (line 2)\n"
            "deploy.yaml: compute.scaling_groups.a.provider.type: invalid compute provider type "
            "'ecs' (entry a, line 3)",
        ),
    ],
    ids=[
        "empty file",
        "not a mapping",
        "both task_queue forms",
        "missing name",
        "unknown top-level key",
        "wrong type",
        "union type",
        "no groups",
        "several issues",
    ],
)
def test_error_messages(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "deploy.yaml")
    assert str(info.value) == expected


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "nope.yaml")
    assert str(err).startswith(f"{tmp_path / 'nope.yaml'}: cannot read file: ")
    assert err.issues[0].code == "io"


def test_dates_stay_strings() -> None:
    spec = load_spec_text(
        "name: o\ntask_queue: o\ncompute: {scaling_groups: {a: {provider: {type: subprocess, "
        "details: {command: w, env: {SINCE: 2024-01-01}}}}}}\n"
    )
    assert spec.compute.scaling_groups["a"].provider.details["env"] == {"SINCE": "2024-01-01"}


def test_dump_round_trip_with_secrets(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    text = dump_spec(spec, reveal_secrets=True)
    assert load_spec_text(text) == spec
    assert "task_queues:" in text


def test_dump_redacts_secrets_by_default(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    text = dump_spec(spec)
    assert "s3cr3t-key" not in text
    assert "hmac-key-123" not in text
    assert text.count(REDACTED) == 2
    assert "https://launcher.example/hook" in text  # non-secret details are kept


def test_format_issue_without_file_or_group() -> None:
    assert format_issue(ValidationIssue("name", "name must not be empty")) == (
        "name: name must not be empty"
    )
    assert format_issue(ValidationIssue("", "YAML syntax error: x", line=3), "f.yaml") == (
        "f.yaml: YAML syntax error: x (line 3)"
    )


def test_docs_example_is_valid() -> None:
    """The full example in docs/config.md loads (keeps the docs honest)."""
    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = load_spec_text(block, "docs/config.md")
    assert set(spec.compute.scaling_groups) == {"workflows", "activities"}
    assert spec.compute.scaling_groups["workflows"].scaler.details["target_per_worker"] == 50
