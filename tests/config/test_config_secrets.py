"""Secrets follow the model: sealed for storage, opened for the controller, redacted for output."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from workerplane.config.model import DeploymentSpec
from workerplane.config.secrets import keep_redacted, open_spec, public_spec, seal_spec
from workerplane.providers.registry import PROVIDER_TYPES
from workerplane.security.crypto import SecretBox, generate_key
from workerplane.security.redact import REDACTED, scrub

_AWS = {
    "role": "arn:aws:iam::123456789012:role/r",
    "role_external_id": "sec-external-id",
    "aws_access_key_id": "sec-access-key",
    "aws_secret_access_key": "sec-secret-key",
    "aws_session_token": "sec-session-token",
}

#: Every provider type with every secret key it has set (a new type must add its case here).
DETAILS: dict[str, dict[str, Any]] = {
    "subprocess": {"command": "w", "env": {"MODE": "x"}, "secret_env": {"DB_PW": "sec-sub-env"}},
    "k8s": {
        "deployment": "d",
        "kubeconfig": "sec-kubeconfig",
        "managed": {"image": "img", "secret_env": {"DB_PW": "sec-k8s-env"}},
    },
    "aws-lambda": {"arn": "worker", **_AWS},
    "aws-ecs": {"cluster": "c", "service": "s", **_AWS},
    "gcp-cloud-run": {"project": "p", "region": "r", "worker_pool": "w"},
    "webhook": {"url": "https://h/x", "secret": "sec-webhook"},
}


def spec_for(ptype: str, **details: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": "d",
            "temporal": {
                "api_key": "sec-api-key",
                "tls": {"client_key_data": "sec-tls-key", "client_cert_data": "sec-tls-cert"},
            },
            "task_queues": ["q"],
            "compute": {
                "scaling_groups": {
                    "g": {"provider": {"type": ptype, "details": {**DETAILS[ptype], **details}}}
                }
            },
        }
    )


def secrets_in(doc: Any) -> list[str]:
    return [part for part in json.dumps(doc).split('"') if part.startswith("sec-")]


@pytest.fixture(scope="module")
def box() -> SecretBox:
    return SecretBox(base64.b64decode(generate_key()))


def test_every_provider_type_has_a_case() -> None:
    assert set(DETAILS) == set(PROVIDER_TYPES)


@pytest.mark.parametrize("ptype", sorted(DETAILS))
def test_seal_then_open_round_trips(ptype: str, box: SecretBox) -> None:
    spec = spec_for(ptype)
    sealed = seal_spec(spec, box)
    assert secrets_in(sealed) == []
    json.dumps(sealed)
    assert open_spec(sealed, box) == spec


@pytest.mark.parametrize("ptype", sorted(DETAILS))
def test_public_output_never_holds_a_secret(ptype: str) -> None:
    doc = public_spec(spec_for(ptype))
    assert secrets_in(doc) == []
    assert doc["temporal"]["api_key"] == REDACTED
    # A plain JSON dump (what FastAPI writes) redacts the spec's own secrets too.
    assert spec_for(ptype).model_dump(mode="json")["temporal"]["api_key"] == REDACTED


def test_env_secrets_are_sealed_and_redacted_plain_env_is_not(box: SecretBox) -> None:
    spec = spec_for("subprocess")
    details = seal_spec(spec, box)["compute"]["scaling_groups"]["g"]["provider"]["details"]
    assert details["env"] == {"MODE": "x"}
    assert details["secret_env"]["DB_PW"].startswith("wpenc:v2:")
    public = public_spec(spec)["compute"]["scaling_groups"]["g"]["provider"]["details"]
    assert public["secret_env"] == {"DB_PW": REDACTED}


def test_revealed_and_sealed_values_are_scrubbed_from_logs(box: SecretBox) -> None:
    seal_spec(spec_for("webhook"), box)
    assert "sec-webhook" not in scrub("the key is sec-webhook")


def test_redacted_marker_sent_back_keeps_the_stored_secret() -> None:
    previous = spec_for("k8s")
    sent_back = DeploymentSpec.model_validate(json.loads(json.dumps(public_spec(previous))))
    assert keep_redacted(sent_back, previous) == previous


def test_a_retyped_secret_replaces_the_stored_one() -> None:
    previous = spec_for("webhook")
    new = spec_for("webhook", secret="sec-new-webhook")
    kept = keep_redacted(new, previous)
    details = kept.compute.scaling_groups["g"].provider.details
    assert details["secret"] == "sec-new-webhook"


def test_redacted_with_nothing_stored_stays_as_sent() -> None:
    new = spec_for("webhook", secret=REDACTED)
    assert keep_redacted(new, spec_for("gcp-cloud-run")) == new
