"""Update-mask semantics of ``UpdateWorkerDeploymentVersionComputeConfig``, as Temporal applies them."""
# ruff: noqa: E501  (the rule tables read best one case per line)

from __future__ import annotations

from typing import Any

import pytest

from workerplane.config.model import ComputeConfig, ProviderSpec, ScalerSpec, ScalingGroup
from workerplane.config.update import (
    ACCEPTED_PATHS,
    ScalingGroupUpdate,
    UpdateError,
    apply_compute_config_update,
)

WF = ScalingGroup(
    task_queue_types=["WORKFLOW"],
    provider=ProviderSpec(type="subprocess", details={"command": "wf-worker"}),
    scaler=ScalerSpec(type="backlog", details={"target_per_worker": 50}),
)
ACT = ScalingGroup(
    task_queue_types=["ACTIVITY"],
    provider=ProviderSpec(type="aws-ecs", details={"cluster": "c", "service": "s"}),
    scaler=ScalerSpec(type="rate-based", details={"max_count": 20}),
)
CURRENT = ComputeConfig(scaling_groups={"wf": WF, "act": ACT})

NEW = ScalingGroup(
    task_queue_types=["NEXUS"],
    region_ids=["aws-us-east-1"],
    provider=ProviderSpec(type="aws-lambda", details={"arn": "fn"}, nexus_endpoint="ep"),
    scaler=ScalerSpec(type="no-sync", details={"scale_up_cooloff_ms": 500}),
)


def update(mask: tuple[str, ...], group: ScalingGroup = NEW) -> dict[str, ScalingGroupUpdate]:
    return {"wf": ScalingGroupUpdate(group, mask)}


# (mask, expected "wf" group after the update)
CASES: list[tuple[str, tuple[str, ...], ScalingGroup]] = [
    ("empty mask is a no-op", (), WF),
    ("task_queue_types", ("task_queue_types",), WF.model_copy(update={"task_queue_types": ["NEXUS"]})),
    ("region_ids", ("region_ids",), WF.model_copy(update={"region_ids": ["aws-us-east-1"]})),
    ("whole provider", ("provider",), WF.model_copy(update={"provider": NEW.provider})),
    ("provider.type only", ("provider.type",), WF.model_copy(update={"provider": WF.provider.model_copy(update={"type": "aws-lambda"})})),
    ("provider.details only", ("provider.details",), WF.model_copy(update={"provider": WF.provider.model_copy(update={"details": {"arn": "fn"}})})),
    ("provider.nexus_endpoint only", ("provider.nexus_endpoint",), WF.model_copy(update={"provider": WF.provider.model_copy(update={"nexus_endpoint": "ep"})})),
    ("whole scaler", ("scaler",), WF.model_copy(update={"scaler": NEW.scaler})),
    ("scaler.type only", ("scaler.type",), WF.model_copy(update={"scaler": ScalerSpec(type="no-sync", details={"target_per_worker": 50})})),
    ("scaler.details only", ("scaler.details",), WF.model_copy(update={"scaler": ScalerSpec(type="backlog", details={"scale_up_cooloff_ms": 500})})),
    ("several paths", ("task_queue_types", "scaler.details"), WF.model_copy(update={"task_queue_types": ["NEXUS"], "scaler": ScalerSpec(type="backlog", details={"scale_up_cooloff_ms": 500})})),
]  # fmt: skip


@pytest.mark.parametrize(("mask", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mask_on_existing_group(mask: tuple[str, ...], expected: ScalingGroup) -> None:
    result = apply_compute_config_update(CURRENT, update(mask), validate=False)
    assert result.scaling_groups["wf"] == expected
    assert result.scaling_groups["act"] == ACT  # untouched
    assert CURRENT.scaling_groups["wf"] == WF  # the input is not modified


def test_masked_field_empty_in_the_update_is_cleared() -> None:
    empty = ScalingGroup()
    result = apply_compute_config_update(
        CURRENT, update(("scaler", "provider.details"), empty), validate=False
    )
    assert result.scaling_groups["wf"].scaler == ScalerSpec()
    assert result.scaling_groups["wf"].provider == ProviderSpec(type="subprocess")


def test_new_group_is_added_whole_and_its_mask_ignored() -> None:
    result = apply_compute_config_update(
        CURRENT, {"nx": ScalingGroupUpdate(NEW, ("scaler.type",))}, validate=False
    )
    assert result.scaling_groups["nx"] == NEW
    assert set(result.scaling_groups) == {"wf", "act", "nx"}


def test_remove_group() -> None:
    result = apply_compute_config_update(CURRENT, {}, ["act"])
    assert set(result.scaling_groups) == {"wf"}


def test_removing_a_missing_group_is_not_an_error() -> None:
    assert apply_compute_config_update(CURRENT, {}, ["nope"]) == CURRENT


def test_removal_wins_over_an_upsert_of_the_same_group() -> None:
    result = apply_compute_config_update(CURRENT, update(("scaler",)), ["wf"])
    assert set(result.scaling_groups) == {"act"}


def test_invalid_path_fails_the_whole_update() -> None:
    upserts = {
        "act": ScalingGroupUpdate(NEW, ("scaler.details",)),  # valid on its own
        "wf": ScalingGroupUpdate(NEW, ("scaler.details", "provider.detail", "name")),
    }
    with pytest.raises(UpdateError) as info:
        apply_compute_config_update(CURRENT, upserts, ["act"], validate=False)
    assert [i.message for i in info.value.issues] == [
        'entry wf: unsupported field mask path: "provider.detail"',
        'entry wf: unsupported field mask path: "name"',
    ]
    assert info.value.issues[0].path == "compute.scaling_groups.wf.update_mask"
    assert CURRENT.scaling_groups["act"] == ACT


def test_group_without_id_is_rejected() -> None:
    with pytest.raises(UpdateError, match="scaling groups without an ID are not supported"):
        apply_compute_config_update(CURRENT, {"": ScalingGroupUpdate(NEW)})


def test_result_is_validated_by_default() -> None:
    # Moving the activity group to WORKFLOW makes WORKFLOW claimed twice.
    dup = ScalingGroupUpdate(ScalingGroup(task_queue_types=["WORKFLOW"]), ("task_queue_types",))
    with pytest.raises(UpdateError) as info:
        apply_compute_config_update(CURRENT, {"act": dup})
    assert [i.message for i in info.value.issues] == [
        "entry act: task type Workflow appears in more than one entry"
    ]
    assert "task type Workflow appears in more than one entry" in str(info.value)
    # Without validation the (invalid) result is returned as Temporal would build it.
    result = apply_compute_config_update(CURRENT, {"act": dup}, validate=False)
    assert result.scaling_groups["act"].task_queue_types == ["WORKFLOW"]


def test_incompatible_scaler_after_update_is_rejected() -> None:
    change: dict[str, Any] = {
        "act": ScalingGroupUpdate(ScalingGroup(scaler=ScalerSpec(type="no-sync")), ("scaler",))
    }
    with pytest.raises(UpdateError, match="Scaling Algorithm 'no-sync' is not compatible"):
        apply_compute_config_update(CURRENT, change)


def test_accepted_paths_match_temporal() -> None:
    assert set(ACCEPTED_PATHS) == {
        "task_queue_types",
        "region_ids",
        "provider",
        "provider.type",
        "provider.details",
        "provider.nexus_endpoint",
        "scaler",
        "scaler.type",
        "scaler.details",
    }


def test_accepted_paths_are_the_ones_the_proto_documents() -> None:
    from temporalio.api.compute.v1 import config_pb2

    doc = config_pb2.DESCRIPTOR.message_types_by_name["ComputeConfigScalingGroupUpdate"]
    names = {f.name for f in config_pb2.ComputeConfigScalingGroup.DESCRIPTOR.fields}
    assert doc is not None
    assert {p.split(".")[0] for p in ACCEPTED_PATHS} == names
