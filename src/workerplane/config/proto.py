"""Conversion between workerplane's config model and Temporal's ``compute.v1`` protos (and JSON).

* ``ComputeConfig`` <-> ``temporalio.api.compute.v1.ComputeConfig``;
* ``ScalingGroupUpdate`` <-> ``temporalio.api.compute.v1.ComputeConfigScalingGroupUpdate``;
* task-queue type names (``WORKFLOW``) <-> ``temporalio.api.enums.v1.TaskQueueType``;
* proto3 JSON (``google.protobuf.json_format``) for both config messages.

Details travel as a ``Payload`` encoded exactly as Temporal's default data converter encodes JSON:
``metadata.encoding = "json/plain"``, data = compact JSON with sorted keys. Temporal's own
converters are used for both directions, so a Go or Python SDK client reads what we write.

Losslessness:

* model -> proto -> model is the identity;
* proto -> model -> proto is the identity for every json/plain payload that holds a JSON object
  (compared as JSON: ``{"a": 1}`` and ``{"a":1}`` are the same payload). An absent payload,
  ``binary/null`` and the JSON ``null`` all mean "no details" and come back as an absent payload.
* A payload in any other encoding (``binary/encrypted``, ``binary/protobuf``, JSON that is not an
  object, ...) cannot be read here; it is kept verbatim in the details as
  ``{"$payload": {"metadata": {k: base64}, "data": base64}}`` and written back byte for byte.
  Validation reports such details (workerplane can only run groups whose details it can read).
* A task-queue type number this build does not know is kept as its decimal string.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.compute.v1 import config_pb2, provider_pb2, scaler_pb2
from temporalio.api.enums.v1 import task_queue_pb2
from temporalio.converter import PayloadConverter

from workerplane.config.model import ComputeConfig, ProviderSpec, ScalerSpec, ScalingGroup

_Message = TypeVar("_Message", bound=Message)

#: The details key under which a payload that is not a JSON object is kept verbatim.
PAYLOAD_ENVELOPE_KEY = "$payload"

_JSON_PLAIN = b"json/plain"
_BINARY_NULL = b"binary/null"
_PREFIX = "TASK_QUEUE_TYPE_"


class ProtoConversionError(ValueError):
    """A proto or JSON document that cannot be represented in the config model."""


@dataclass(frozen=True)
class ScalingGroupUpdate:
    """``ComputeConfigScalingGroupUpdate``: a group and the fields of it to apply.

    Attributes:
        scaling_group: the new values.
        update_mask: field-mask paths (see :data:`workerplane.config.update.ACCEPTED_PATHS`).
            Ignored when the group is new; empty means "no change" for an existing group.
    """

    scaling_group: ScalingGroup
    update_mask: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# task-queue types
# --------------------------------------------------------------------------------------------


def task_queue_type_to_proto(name: str) -> task_queue_pb2.TaskQueueType.ValueType:
    """``"WORKFLOW"`` (any case, with or without ``TASK_QUEUE_TYPE_``) -> the enum value.

    ``"UNSPECIFIED"`` maps to 0 so that an invalid config still converts (validation rejects
    it with Temporal's message); a decimal string maps to that number.

    Raises:
        ProtoConversionError: any other name.
    """
    stripped = name.strip()
    if stripped.isdigit():
        return task_queue_pb2.TaskQueueType.ValueType(int(stripped))
    upper = stripped.upper()
    if not upper.startswith(_PREFIX):
        upper = _PREFIX + upper
    try:
        return task_queue_pb2.TaskQueueType.Value(upper)
    except ValueError:
        raise ProtoConversionError(
            f"unknown task queue type '{name}' (expected WORKFLOW, ACTIVITY or NEXUS)"
        ) from None


def task_queue_type_from_proto(value: int) -> str:
    """The enum value -> ``"WORKFLOW"``, ``"ACTIVITY"``, ``"NEXUS"``, ``"UNSPECIFIED"``, or the
    number as a string when this build does not know it."""
    try:
        return task_queue_pb2.TaskQueueType.Name(
            task_queue_pb2.TaskQueueType.ValueType(value)
        ).removeprefix(_PREFIX)
    except ValueError:
        return str(value)


# --------------------------------------------------------------------------------------------
# payloads
# --------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def payload_envelope_encoding(details: Mapping[str, Any]) -> str | None:
    """The encoding of a verbatim-kept payload (see module doc), or ``None`` for plain details."""
    if set(details) != {PAYLOAD_ENVELOPE_KEY}:
        return None
    envelope = details[PAYLOAD_ENVELOPE_KEY]
    if not isinstance(envelope, Mapping):
        return None
    metadata = envelope.get("metadata")
    if not isinstance(metadata, Mapping) or "encoding" not in metadata:
        return "unknown"
    try:
        return base64.b64decode(str(metadata["encoding"])).decode("utf-8", "replace")
    except ValueError:
        return "unknown"


def details_to_payload(details: Mapping[str, Any]) -> Payload | None:
    """Details -> the ``Payload`` Temporal's default converter would produce, or ``None`` when
    there are no details."""
    if not details:
        return None
    if payload_envelope_encoding(details) is not None:
        envelope = details[PAYLOAD_ENVELOPE_KEY]
        try:
            return Payload(
                metadata={k: base64.b64decode(v) for k, v in envelope.get("metadata", {}).items()},
                data=base64.b64decode(envelope.get("data", "")),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise ProtoConversionError(f"malformed {PAYLOAD_ENVELOPE_KEY} envelope: {exc}") from exc
    try:
        [payload] = PayloadConverter.default.to_payloads([dict(details)])
    except (TypeError, ValueError) as exc:
        raise ProtoConversionError(f"details are not JSON-serializable: {exc}") from exc
    return payload


def details_from_payload(payload: Payload | None) -> dict[str, Any]:
    """A ``Payload`` -> details. JSON objects are decoded; anything else is kept verbatim."""
    if payload is None:
        return {}
    encoding = payload.metadata.get("encoding")
    if encoding == _BINARY_NULL or (encoding is None and not payload.data and not payload.metadata):
        return {}
    if encoding == _JSON_PLAIN:
        try:
            value = json.loads(payload.data)
        except ValueError:
            value = ...  # not JSON: fall through to the verbatim envelope
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
    return {
        PAYLOAD_ENVELOPE_KEY: {
            "metadata": {k: _b64(v) for k, v in sorted(payload.metadata.items())},
            "data": _b64(payload.data),
        }
    }


# --------------------------------------------------------------------------------------------
# groups and configs
# --------------------------------------------------------------------------------------------


def scaling_group_to_proto(group: ScalingGroup) -> config_pb2.ComputeConfigScalingGroup:
    """A group -> ``ComputeConfigScalingGroup``.

    The scaler message is left out when it is empty (no type, no details): Temporal then picks
    its default algorithm, whereas a scaler with an empty type is rejected by Temporal.
    """
    msg = config_pb2.ComputeConfigScalingGroup(
        task_queue_types=[task_queue_type_to_proto(t) for t in group.task_queue_types],
        region_ids=list(group.region_ids),
        provider=provider_pb2.ComputeProvider(
            type=group.provider.type,
            details=details_to_payload(group.provider.details),
            nexus_endpoint=group.provider.nexus_endpoint,
        ),
    )
    if group.scaler.type or group.scaler.details:
        msg.scaler.CopyFrom(
            scaler_pb2.ComputeScaler(
                type=group.scaler.type, details=details_to_payload(group.scaler.details)
            )
        )
    return msg


def scaling_group_from_proto(msg: config_pb2.ComputeConfigScalingGroup) -> ScalingGroup:
    """``ComputeConfigScalingGroup`` -> a group (an absent provider or scaler is an empty one)."""
    provider = msg.provider
    scaler = msg.scaler
    return ScalingGroup(
        task_queue_types=[task_queue_type_from_proto(t) for t in msg.task_queue_types],
        region_ids=list(msg.region_ids),
        provider=ProviderSpec(
            type=provider.type,
            details=details_from_payload(
                provider.details if provider.HasField("details") else None
            ),
            nexus_endpoint=provider.nexus_endpoint,
        ),
        scaler=ScalerSpec(
            type=scaler.type,
            details=details_from_payload(scaler.details if scaler.HasField("details") else None),
        ),
    )


def compute_config_to_proto(cfg: ComputeConfig) -> config_pb2.ComputeConfig:
    """A config -> ``temporalio.api.compute.v1.ComputeConfig``."""
    msg = config_pb2.ComputeConfig()
    for key, group in cfg.scaling_groups.items():
        msg.scaling_groups[key].CopyFrom(scaling_group_to_proto(group))
    return msg


def compute_config_from_proto(msg: config_pb2.ComputeConfig) -> ComputeConfig:
    """``temporalio.api.compute.v1.ComputeConfig`` -> a config (groups sorted by ID, since proto
    maps have no order)."""
    return ComputeConfig(
        scaling_groups={
            key: scaling_group_from_proto(msg.scaling_groups[key])
            for key in sorted(msg.scaling_groups)
        }
    )


def scaling_group_update_to_proto(
    update: ScalingGroupUpdate,
) -> config_pb2.ComputeConfigScalingGroupUpdate:
    """An update -> ``ComputeConfigScalingGroupUpdate``."""
    msg = config_pb2.ComputeConfigScalingGroupUpdate(
        scaling_group=scaling_group_to_proto(update.scaling_group)
    )
    msg.update_mask.paths.extend(update.update_mask)
    return msg


def scaling_group_update_from_proto(
    msg: config_pb2.ComputeConfigScalingGroupUpdate,
) -> ScalingGroupUpdate:
    """``ComputeConfigScalingGroupUpdate`` -> an update."""
    return ScalingGroupUpdate(
        scaling_group=scaling_group_from_proto(msg.scaling_group),
        update_mask=tuple(msg.update_mask.paths),
    )


def updates_from_proto(
    groups: Mapping[str, config_pb2.ComputeConfigScalingGroupUpdate], remove: Sequence[str]
) -> tuple[dict[str, ScalingGroupUpdate], list[str]]:
    """The ``compute_config_scaling_groups`` and ``remove_compute_config_scaling_groups`` fields of
    ``Update``/``ValidateWorkerDeploymentVersionComputeConfigRequest`` -> arguments of
    :func:`workerplane.config.update.apply_compute_config_update`."""
    return (
        {key: scaling_group_update_from_proto(groups[key]) for key in sorted(groups)},
        list(remove),
    )


# --------------------------------------------------------------------------------------------
# proto3 JSON
# --------------------------------------------------------------------------------------------


def compute_config_to_json(cfg: ComputeConfig, *, indent: int | None = 2) -> str:
    """A config -> proto3 JSON of ``temporal.api.compute.v1.ComputeConfig`` (enum names, camelCase
    field names, base64 payload bytes), as any Temporal client would print it."""
    return json_format.MessageToJson(compute_config_to_proto(cfg), indent=indent, sort_keys=True)


def _parse_json(text: str | bytes, message: _Message, what: str) -> _Message:
    """Fill ``message`` from proto3 JSON; :class:`ProtoConversionError` names ``what`` it is not."""
    try:
        json_format.Parse(text, message)
    except json_format.ParseError as exc:
        raise ProtoConversionError(f"not a valid {what}: {exc}") from exc
    return message


def compute_config_from_json(text: str | bytes) -> ComputeConfig:
    """proto3 JSON of ``ComputeConfig`` (camelCase or snake_case names) -> a config.

    Raises:
        ProtoConversionError: not valid proto3 JSON for the message.
    """
    msg = _parse_json(text, config_pb2.ComputeConfig(), "ComputeConfig JSON document")
    return compute_config_from_proto(msg)


def scaling_group_update_to_json(update: ScalingGroupUpdate, *, indent: int | None = 2) -> str:
    """An update -> proto3 JSON of ``ComputeConfigScalingGroupUpdate``."""
    return json_format.MessageToJson(
        scaling_group_update_to_proto(update), indent=indent, sort_keys=True
    )


def scaling_group_update_from_json(text: str | bytes) -> ScalingGroupUpdate:
    """proto3 JSON of ``ComputeConfigScalingGroupUpdate`` -> an update.

    Raises:
        ProtoConversionError: not valid proto3 JSON for the message.
    """
    msg = _parse_json(
        text, config_pb2.ComputeConfigScalingGroupUpdate(), "ComputeConfigScalingGroupUpdate"
    )
    return scaling_group_update_from_proto(msg)
