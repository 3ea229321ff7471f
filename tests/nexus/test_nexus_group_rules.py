"""What a group behind a Nexus endpoint must get right, said by field: the endpoint's name (which
rule it breaks), the details keys the spec still needs although the handler pins them, and the
handler's provider file (``caller_keys`` and pinned details fit the type). Through
``workerplane validate``, the API (a 400 naming the field, nothing stored) and
``workerplane nexus-handler``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from api_support import Api, make_api
from typer.testing import CliRunner

from workerplane.cli.main import app
from workerplane.config.model import ComputeConfig
from workerplane.config.nexus_rules import REQUIRED_BEHIND_NEXUS, SECRET_BEHIND_NEXUS
from workerplane.config.validation import validate_compute_config
from workerplane.nexus.handler import ProviderFile

runner = CliRunner()
ENDPOINT_PATH = "compute.scaling_groups.workers.provider.nexus_endpoint"
COMMAND_PATH = "compute.scaling_groups.workers.provider.details.command"


def _group(details: dict[str, Any], endpoint: str = "team-a-workers") -> dict[str, Any]:
    return {
        "provider": {"type": "subprocess", "details": details, "nexus_endpoint": endpoint},
        "scaler": {"type": "backlog", "details": {"max_count": 3}},
    }


def _issues(details: dict[str, Any], endpoint: str = "team-a-workers") -> dict[str, str]:
    config = ComputeConfig.model_validate(
        {"scaling_groups": {"workers": _group(details, endpoint)}}
    )
    return {issue.path: issue.rule for issue in validate_compute_config(config)}


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("9lives", "it does not start with a letter"),
        ("workers-", "it does not end with a letter or digit"),
        ("team a", "it holds a character other than a letter, a digit, '-' or '_'"),
        ("x" * 201, "it has 201 characters"),
    ],
)
def test_an_endpoint_name_says_which_rule_it_breaks(endpoint: str, problem: str) -> None:
    rule = _issues({"command": "python"}, endpoint)[ENDPOINT_PATH]
    assert rule.startswith(f"invalid Nexus endpoint name: {problem} (Temporal's rule: ")
    assert endpoint not in rule  # the value is not quoted back


def test_a_required_key_is_explained_behind_nexus_only() -> None:
    assert _issues({"args": ["-m", "w"]}) == {COMMAND_PATH: REQUIRED_BEHIND_NEXUS}
    assert _issues({"args": ["-m", "w"]}, endpoint="") == {COMMAND_PATH: "is required"}
    # Other details problems of a Nexus group read as for any group.
    assert _issues({"command": "python", "slots": "many"}) == {
        "compute.scaling_groups.workers.provider.details.slots": "must be an integer"
    }


def test_a_secret_in_the_details_of_a_nexus_group_is_refused() -> None:
    """The details travel in the Nexus operation's input, which Temporal keeps in the caller
    workflow's history: a secret there would be stored unencrypted, outside workerplane."""
    details = {"command": "python", "secret_env": {"API_KEY": "s3cr3t", "DB_PASSWORD": "pw"}}
    issues = _issues(details)
    secret_path = "compute.scaling_groups.workers.provider.details.secret_env"
    assert issues == {
        f"{secret_path}.API_KEY": SECRET_BEHIND_NEXUS,
        f"{secret_path}.DB_PASSWORD": SECRET_BEHIND_NEXUS,
    }
    assert not any("s3cr3t" in rule for rule in issues.values())
    # The same details on a group the controller drives itself are fine.
    assert _issues(details, endpoint="") == {}


def test_workerplane_validate_names_each_field(tmp_path: Path) -> None:
    spec = tmp_path / "deploy.yaml"
    spec.write_text(
        yaml.safe_dump({
            "name": "orders", "task_queue": "orders",
            "compute": {"scaling_groups": {"workers": _group({"args": ["w"]}, "team a")}},
        })
    )  # fmt: skip
    result = runner.invoke(app, ["validate", "-f", str(spec)])
    assert result.exit_code == 1, result.output
    assert f"{COMMAND_PATH}: {REQUIRED_BEHIND_NEXUS}" in result.stderr
    assert f"{ENDPOINT_PATH}: invalid Nexus endpoint name: it holds a character" in result.stderr


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return make_api(f"sqlite:///{tmp_path / 'api.db'}")


async def test_the_api_refuses_with_the_field_and_stores_nothing(api: Api) -> None:
    versions = "/v1/worker-deployments/shop/versions"
    async with api.client() as c:
        assert (await c.post("/v1/worker-deployments", json={"name": "shop"})).status_code == 201
        body = {"build_id": "v1", "task_queues": ["q"]}
        missing = await c.post(
            versions, json={**body, "compute_config": {"scaling_groups": {"workers": _group({})}}}
        )
        assert missing.status_code == 400, missing.text
        assert missing.json()["error"]["details"] == [
            {"field": COMMAND_PATH, "message": f"entry workers: {REQUIRED_BEHIND_NEXUS}"}
        ]
        assert (await c.get(f"{versions}/v1")).status_code == 404

        good = {"scaling_groups": {"workers": _group({"command": "python"})}}
        assert (await c.post(versions, json={**body, "compute_config": good})).status_code == 201
        before = (await c.get(f"{versions}/v1")).json()
        renamed = _group({"command": "python"}, "-bad-")
        update = {"scaling_groups": {"workers": {
            "scaling_group": renamed, "update_mask": ["provider.nexus_endpoint"],
        }}}  # fmt: skip
        refused = await c.patch(f"{versions}/v1/compute-config", json=update)
        assert refused.status_code == 400, refused.text
        [detail] = refused.json()["error"]["details"]
        assert (
            detail["field"] == ENDPOINT_PATH and "does not start with a letter" in detail["message"]
        )
        after = (await c.get(f"{versions}/v1")).json()
        assert (after["compute_config"], after["generation"]) == (
            before["compute_config"], before["generation"]
        )  # fmt: skip

        with_secret = _group({"command": "python", "secret_env": {"KEY": "s3cr3t"}})
        secret = await c.post(
            versions,
            json={
                **body, "build_id": "v2",
                "compute_config": {"scaling_groups": {"workers": with_secret}},
            },
        )  # fmt: skip
        assert secret.status_code == 400, secret.text
        assert "s3cr3t" not in secret.text
        assert secret.json()["error"]["details"] == [
            {
                "field": "compute.scaling_groups.workers.provider.details.secret_env.KEY",
                "message": f"entry workers: {SECRET_BEHIND_NEXUS}",
            }
        ]
        assert (await c.get(f"{versions}/v2")).status_code == 404

        checked = await c.post("/v1/validate", json={
            "task_queues": ["q"], "compute_config": {"scaling_groups": {"workers": _group({})}},
        })  # fmt: skip
        assert checked.status_code == 200, checked.text
        assert checked.json()["issues"] == [
            {"field": COMMAND_PATH, "message": f"entry workers: {REQUIRED_BEHIND_NEXUS}"}
        ]


def _provider_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "provider.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "type: subprocess\ncaller_keys: [strategy, flavour]\n",
            ["caller_keys[1]: 'flavour' is not a subprocess details key (known: command, args"],
        ),
        (
            "type: subprocess\ndetails: {command: python}\ncaller_keys: [command]\n",
            ["caller_keys[0]: 'command' is pinned in details, so a caller's value would never"],
        ),
        (
            "type: subprocess\ndetails: {command: python, slots: many, colour: red}\n",
            ["details.slots: Input should be a valid integer", "details.colour: not a details key"],
        ),
        ("type: mainframe\n", ["invalid compute provider type 'mainframe'"]),
        ("type: subprocess\nextra: 1\n", ["extra: Extra inputs are not permitted"]),
    ],
)
def test_a_provider_file_names_each_problem(tmp_path: Path, text: str, problems: list[str]) -> None:
    with pytest.raises(ValueError) as raised:
        ProviderFile.load(_provider_file(tmp_path, text))
    for problem in problems:
        assert problem in str(raised.value)
    assert "many" not in str(raised.value)  # values are not quoted


def test_a_provider_file_may_leave_required_keys_to_the_caller(tmp_path: Path) -> None:
    loaded = ProviderFile.load(
        _provider_file(
            tmp_path, "type: k8s\ndetails: {namespace: team-a}\ncaller_keys: [deployment]\n"
        )
    )
    assert loaded.details_for({"deployment": "w", "namespace": "other"}) == {
        "deployment": "w", "namespace": "team-a",
    }  # fmt: skip


def test_the_handler_refuses_a_bad_file_before_connecting(tmp_path: Path) -> None:
    path = _provider_file(tmp_path, "type: subprocess\ncaller_keys: [flavour]\n")
    result = runner.invoke(
        app, ["nexus-handler", "--task-queue", "q", "--provider-file", str(path)]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}: caller_keys[0]: 'flavour' is not a")
