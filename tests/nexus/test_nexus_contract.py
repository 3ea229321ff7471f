"""The worker-provider service's contract: typed values survive the wire, errors keep their kind,
and the handler's provider file decides what a caller may set."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.converter import DataConverter

from workerplane.config.model import ComputeConfig
from workerplane.config.validation import validate_compute_config
from workerplane.nexus.handler import ProviderFile
from workerplane.nexus.service import (
    SERVICE_NAME,
    CensusOutput,
    GroupRef,
    WorkerEnv,
    handler_error,
    provider_error,
)
from workerplane.providers.base import ProviderError, WorkerEnvironment
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.types import WorkerCensus


def test_service_name_is_versioned() -> None:
    assert SERVICE_NAME.endswith(".v1")


@pytest.mark.parametrize(
    "census",
    [
        WorkerCensus(),
        WorkerCensus(
            running=3,
            ready=2,
            in_flight=5,
            desired=3,
            slots=4,
            mean_task_s=0.25,
            tasks_finished=7,
            tasks_completed=9,
            last_worker_exit="exit 1: boom",
            schedule_to_start=LatencySketch.of([0.01, 0.2, 1.5, 3.0]),
        ),
    ],
)
def test_census_survives_the_wire(census: WorkerCensus) -> None:
    converter = DataConverter.default.payload_converter
    payload = converter.to_payload(CensusOutput.of(census))
    assert converter.from_payload(payload, CensusOutput).census() == census


def test_worker_env_leaves_secrets_behind() -> None:
    env = WorkerEnvironment(
        address="t:7233",
        namespace="ns",
        task_queues=("q",),
        task_queue_types=("WORKFLOW",),
        secret_env={"TEMPORAL_API_KEY": "s3cr3t-key"},
        extra_env={"WORKERPLANE_X": "1"},
    )
    sent = WorkerEnv.of(env)
    assert "s3cr3t-key" not in repr(sent)
    assert sent.environment() == WorkerEnvironment(
        address="t:7233",
        namespace="ns",
        task_queues=("q",),
        task_queue_types=("WORKFLOW",),
        extra_env={"WORKERPLANE_X": "1"},
    )


@pytest.mark.parametrize(
    ("kind", "retryable"),
    [
        ("invalid", False),
        ("not_found", False),
        ("access_denied", False),
        ("throttled", True),
        ("internal", True),
    ],
)
def test_errors_keep_their_kind(kind: str, retryable: bool) -> None:
    seen = provider_error(handler_error(ProviderError("no", kind=kind)), "endpoint 'e'")
    assert (seen.kind, seen.retryable) == (kind, retryable)
    assert str(seen) == "endpoint 'e': no"


def test_local_details_win_and_caller_keys_filter(tmp_path: Path) -> None:
    path = tmp_path / "provider.yaml"
    path.write_text("type: subprocess\ndetails: {command: safe-worker}\n")
    local = ProviderFile.load(path)
    caller = {"command": "rm", "slots": 4, "strategy": "worker-set"}
    assert local.details_for(caller) == {
        "command": "safe-worker",
        "slots": 4,
        "strategy": "worker-set",
    }
    strict = local.model_copy(update={"caller_keys": ["strategy"]})
    assert strict.details_for(caller) == {"command": "safe-worker", "strategy": "worker-set"}


def test_provider_file_names_a_known_type(tmp_path: Path) -> None:
    path = tmp_path / "provider.yaml"
    path.write_text("type: mainframe\n")
    with pytest.raises(ValueError, match="invalid compute provider type 'mainframe'"):
        ProviderFile.load(path)


def test_group_ref_round_trips() -> None:
    group = GroupRef("d", "g", "subprocess", {"command": "x"}, WorkerEnv("a", "n", ["q"]))
    converter = DataConverter.default.payload_converter
    assert converter.from_payload(converter.to_payload(group), GroupRef) == group


def _config(endpoint: str) -> ComputeConfig:
    return ComputeConfig.model_validate(
        {
            "scaling_groups": {
                "workers": {
                    "provider": {
                        "type": "subprocess",
                        "details": {"command": "python"},
                        "nexus_endpoint": endpoint,
                    }
                }
            }
        }
    )


@pytest.mark.parametrize("endpoint", ["", "team-a-workers", "teamA_workers2"])
def test_valid_nexus_endpoint_names(endpoint: str) -> None:
    assert validate_compute_config(_config(endpoint)) == []


@pytest.mark.parametrize("endpoint", ["-workers", "workers-", "team a", "9lives", "x" * 201])
def test_invalid_nexus_endpoint_names(endpoint: str) -> None:
    [issue] = validate_compute_config(_config(endpoint))
    assert issue.path == "compute.scaling_groups.workers.provider.nexus_endpoint"
    assert issue.message.startswith("entry workers: invalid Nexus endpoint name")
