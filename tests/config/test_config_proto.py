"""Round trips between the config model and ``temporalio.api.compute.v1`` protos / proto3 JSON."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.api.compute.v1 import config_pb2, provider_pb2, scaler_pb2
from temporalio.api.enums.v1 import task_queue_pb2
from temporalio.converter import DataConverter

from workerplane.config.model import ComputeConfig, ProviderSpec, ScalerSpec, ScalingGroup
from workerplane.config.proto import (
    PAYLOAD_ENVELOPE_KEY,
    ScalingGroupUpdate,
    compute_config_from_json,
    compute_config_from_proto,
    compute_config_to_json,
    compute_config_to_proto,
    details_from_payload,
    details_to_payload,
    scaling_group_update_from_json,
    scaling_group_update_from_proto,
    scaling_group_update_to_json,
    scaling_group_update_to_proto,
    task_queue_type_from_proto,
    task_queue_type_to_proto,
)

TQT = task_queue_pb2.TaskQueueType

EXAMPLE = ComputeConfig(
    scaling_groups={
        "wf": ScalingGroup(
            task_queue_types=["WORKFLOW"],
            provider=ProviderSpec(
                type="subprocess",
                details={"command": "python", "args": ["-m", "worker"], "slots": 4},
            ),
            scaler=ScalerSpec(type="backlog", details={"target_per_worker": 50, "max_count": 4}),
        ),
        "act": ScalingGroup(
            task_queue_types=["ACTIVITY", "NEXUS"],
            region_ids=["aws-us-east-1"],
            provider=ProviderSpec(
                type="aws-lambda",
                details={"arn": "arn:aws:lambda:us-east-1:123456789012:function:w", "ü": "ß"},
                nexus_endpoint="ep",
            ),
            scaler=ScalerSpec(type="no-sync"),
        ),
    }
)


def test_example_to_proto_fields() -> None:
    msg = compute_config_to_proto(EXAMPLE)
    wf = msg.scaling_groups["wf"]
    assert list(wf.task_queue_types) == [TQT.TASK_QUEUE_TYPE_WORKFLOW]
    assert wf.provider.type == "subprocess"
    assert wf.provider.details.metadata["encoding"] == b"json/plain"
    # Exactly what Temporal's default data converter produces for the same dict.
    [expected] = DataConverter.default.payload_converter.to_payloads(
        [{"command": "python", "args": ["-m", "worker"], "slots": 4}]
    )
    assert wf.provider.details == expected
    assert wf.provider.details.data == b'{"args":["-m","worker"],"command":"python","slots":4}'
    act = msg.scaling_groups["act"]
    assert list(act.task_queue_types) == [TQT.TASK_QUEUE_TYPE_ACTIVITY, TQT.TASK_QUEUE_TYPE_NEXUS]
    assert list(act.region_ids) == ["aws-us-east-1"]
    assert act.provider.nexus_endpoint == "ep"
    assert act.scaler.type == "no-sync"
    assert not act.scaler.HasField("details")


def test_example_round_trips() -> None:
    assert compute_config_from_proto(compute_config_to_proto(EXAMPLE)) == EXAMPLE
    assert compute_config_from_json(compute_config_to_json(EXAMPLE)) == EXAMPLE
    # Wire bytes round trip too.
    wire = compute_config_to_proto(EXAMPLE).SerializeToString()
    parsed = config_pb2.ComputeConfig.FromString(wire)
    assert compute_config_from_proto(parsed) == EXAMPLE


def test_json_is_proto3_json() -> None:
    doc = json.loads(compute_config_to_json(EXAMPLE))
    wf = doc["scalingGroups"]["wf"]
    assert wf["taskQueueTypes"] == ["TASK_QUEUE_TYPE_WORKFLOW"]
    assert wf["provider"]["details"]["metadata"]["encoding"] == "anNvbi9wbGFpbg=="  # json/plain
    # snake_case names are accepted on input as well (json_format does)
    snake = json.dumps(
        {
            "scaling_groups": {
                "g": {"task_queue_types": ["TASK_QUEUE_TYPE_NEXUS"], "provider": {"type": "k8s"}}
            }
        }
    )
    cfg = compute_config_from_json(snake)
    assert cfg.scaling_groups["g"].task_queue_types == ["NEXUS"]


def test_empty_scaler_is_left_out() -> None:
    group = ScalingGroup(provider=ProviderSpec(type="subprocess", details={"command": "w"}))
    msg = compute_config_to_proto(ComputeConfig(scaling_groups={"g": group}))
    assert not msg.scaling_groups["g"].HasField("scaler")
    assert msg.scaling_groups["g"].HasField("provider")
    back = compute_config_from_proto(msg)
    assert back.scaling_groups["g"].scaler == ScalerSpec()


def test_proto_to_model_to_proto_for_a_temporal_style_config() -> None:
    """A config as Temporal's Go SDK writes it: json/plain payloads, no scaler on one group."""
    msg = config_pb2.ComputeConfig(
        scaling_groups={
            "wf": config_pb2.ComputeConfigScalingGroup(
                task_queue_types=[TQT.TASK_QUEUE_TYPE_WORKFLOW],
                provider=provider_pb2.ComputeProvider(
                    type="aws-lambda",
                    details=Payload(
                        metadata={"encoding": b"json/plain"},
                        data=b'{"arn":"arn:aws:lambda:us-east-1:123456789012:function:w","role":"r"}',
                    ),
                ),
                scaler=scaler_pb2.ComputeScaler(
                    type="no-sync",
                    details=Payload(
                        metadata={"encoding": b"json/plain"}, data=b'{"scale_up_cooloff_ms":500}'
                    ),
                ),
            ),
            "rest": config_pb2.ComputeConfigScalingGroup(
                provider=provider_pb2.ComputeProvider(type="subprocess")
            ),
        }
    )
    model = compute_config_from_proto(msg)
    assert model.scaling_groups["wf"].scaler.details == {"scale_up_cooloff_ms": 500}
    assert model.scaling_groups["rest"].task_queue_types == []
    assert compute_config_to_proto(model) == msg


def test_non_json_payloads_are_kept_verbatim() -> None:
    encrypted = Payload(
        metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k1"},
        data=bytes(range(256)),
    )
    details = details_from_payload(encrypted)
    assert set(details) == {PAYLOAD_ENVELOPE_KEY}
    assert details_to_payload(details) == encrypted
    # JSON that is not an object is kept verbatim as well, not coerced.
    listy = Payload(metadata={"encoding": b"json/plain"}, data=b"[1,2]")
    assert details_to_payload(details_from_payload(listy)) == listy
    # ... and survives the whole config round trip, including JSON.
    cfg = ComputeConfig(
        scaling_groups={
            "g": ScalingGroup(provider=ProviderSpec(type="subprocess", details=details))
        }
    )
    assert compute_config_from_json(compute_config_to_json(cfg)) == cfg
    assert compute_config_to_proto(cfg).scaling_groups["g"].provider.details == encrypted


def test_null_details_mean_no_details() -> None:
    for payload in (
        None,
        Payload(),
        Payload(metadata={"encoding": b"binary/null"}),
        Payload(metadata={"encoding": b"json/plain"}, data=b"null"),
    ):
        assert details_from_payload(payload) == {}
    assert details_to_payload({}) is None


def test_task_queue_types() -> None:
    assert task_queue_type_to_proto("WORKFLOW") == TQT.TASK_QUEUE_TYPE_WORKFLOW
    assert task_queue_type_to_proto("activity") == TQT.TASK_QUEUE_TYPE_ACTIVITY
    assert task_queue_type_to_proto("TASK_QUEUE_TYPE_NEXUS") == TQT.TASK_QUEUE_TYPE_NEXUS
    assert task_queue_type_to_proto("UNSPECIFIED") == TQT.TASK_QUEUE_TYPE_UNSPECIFIED
    for value in (1, 2, 3, 0, 42):
        assert task_queue_type_to_proto(task_queue_type_from_proto(value)) == value
    assert task_queue_type_from_proto(1) == "WORKFLOW"
    assert task_queue_type_from_proto(42) == "42"


def test_unknown_task_queue_type_name_is_an_error() -> None:
    import pytest

    from workerplane.config.proto import ProtoConversionError

    with pytest.raises(ProtoConversionError, match="unknown task queue type 'WORKFLOWS'"):
        task_queue_type_to_proto("WORKFLOWS")
    with pytest.raises(ProtoConversionError, match="not a valid ComputeConfig"):
        compute_config_from_json('{"scalingGroups": 3}')


def test_scaling_group_update_round_trip() -> None:
    update = ScalingGroupUpdate(
        scaling_group=EXAMPLE.scaling_groups["wf"], update_mask=("scaler.details", "provider.type")
    )
    msg = scaling_group_update_to_proto(update)
    assert list(msg.update_mask.paths) == ["scaler.details", "provider.type"]
    assert scaling_group_update_from_proto(msg) == update
    text = scaling_group_update_to_json(update)
    assert json.loads(text)["updateMask"] == "scaler.details,provider.type"
    assert scaling_group_update_from_json(text) == update
    assert json_format.Parse(text, config_pb2.ComputeConfigScalingGroupUpdate()) == msg


# ------------------------------------------------------------------------------------------
# Property-based round trips
# ------------------------------------------------------------------------------------------

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    _names,
)
_json = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_names, children, max_size=4),
    max_leaves=12,
)
# Plain details never use the envelope's reserved key: hypothesis mines string literals from the
# code under test and would otherwise write ``{"$payload": {}}``, an envelope of an empty payload,
# which (rightly) reads back as no details. Envelopes are generated by ``_envelope`` below.
_details = st.dictionaries(_names.filter(lambda k: k != PAYLOAD_ENVELOPE_KEY), _json, max_size=5)
_envelope = st.builds(
    lambda enc, data: details_from_payload(Payload(metadata={"encoding": enc}, data=data)),
    st.sampled_from([b"binary/encrypted", b"binary/protobuf", b"json/protobuf"]),
    st.binary(max_size=64),
)
_any_details = st.one_of(_details, _envelope)
_groups = st.builds(
    ScalingGroup,
    task_queue_types=st.lists(
        st.sampled_from(["WORKFLOW", "ACTIVITY", "NEXUS", "UNSPECIFIED"]), max_size=3
    ),
    region_ids=st.lists(st.from_regex(r"[a-z0-9]+(-[a-z0-9]+)*", fullmatch=True), max_size=2),
    provider=st.builds(ProviderSpec, type=_names, details=_any_details, nexus_endpoint=_names),
    scaler=st.builds(ScalerSpec, type=_names, details=_any_details),
)
_configs = st.builds(ComputeConfig, scaling_groups=st.dictionaries(_names, _groups, max_size=4))


@settings(max_examples=150, deadline=None)
@given(_configs)
def test_model_proto_model_is_identity(cfg: ComputeConfig) -> None:
    assert compute_config_from_proto(compute_config_to_proto(cfg)) == cfg


@settings(max_examples=150, deadline=None)
@given(_configs)
def test_model_json_model_is_identity(cfg: ComputeConfig) -> None:
    assert compute_config_from_json(compute_config_to_json(cfg)) == cfg
    assert compute_config_from_json(compute_config_to_json(cfg, indent=None)) == cfg


@settings(max_examples=150, deadline=None)
@given(_configs)
def test_proto_model_proto_is_identity(cfg: ComputeConfig) -> None:
    msg = compute_config_to_proto(cfg)
    again = compute_config_to_proto(compute_config_from_proto(msg))
    assert again == msg
    assert again.SerializeToString(deterministic=True) == msg.SerializeToString(deterministic=True)


@settings(max_examples=100, deadline=None)
@given(_details)
def test_json_details_decode_as_temporal_encodes_them(details: dict[str, Any]) -> None:
    [payload] = DataConverter.default.payload_converter.to_payloads([details])
    assert details_from_payload(payload) == details
    if details:
        assert details_to_payload(details) == payload
