"""The provider type registry: strategies, secret keys, Temporal's key shapes."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from workerplane.config.provider_details import (
    PROVIDER_TYPES,
    SubprocessDetails,
    parse_provider_details,
    provider_strategy,
    redact_details,
    secret_fields,
)
from workerplane.scaling.types import Strategy


def test_registry_covers_every_implemented_provider() -> None:
    from workerplane.providers.registry import provider_types

    assert sorted(PROVIDER_TYPES) == provider_types()


@pytest.mark.parametrize(
    ("ptype", "strategies", "default"),
    [
        ("subprocess", {Strategy.INVOKE, Strategy.WORKER_SET}, Strategy.INVOKE),
        ("webhook", {Strategy.INVOKE, Strategy.WORKER_SET}, Strategy.INVOKE),
        ("aws-lambda", {Strategy.INVOKE}, Strategy.INVOKE),
        ("aws-ecs", {Strategy.WORKER_SET}, Strategy.WORKER_SET),
        ("gcp-cloud-run", {Strategy.WORKER_SET}, Strategy.WORKER_SET),
        ("k8s", {Strategy.WORKER_SET}, Strategy.WORKER_SET),
    ],
)
def test_strategies(ptype: str, strategies: set[Strategy], default: Strategy) -> None:
    assert PROVIDER_TYPES[ptype].strategies == strategies
    assert provider_strategy(ptype, {}) == default


def test_strategy_from_details() -> None:
    assert provider_strategy("subprocess", {"strategy": "worker-set"}) == Strategy.WORKER_SET
    details = parse_provider_details("subprocess", {"command": "w", "strategy": "worker-set"})
    assert provider_strategy("subprocess", details) == Strategy.WORKER_SET
    with pytest.raises(ValueError, match="does not support strategy 'invoke'"):
        provider_strategy("aws-ecs", {"strategy": "invoke"})
    with pytest.raises(ValueError, match="invalid compute provider type 'nope'"):
        provider_strategy("nope", {})
    with pytest.raises(ValueError, match="strategy must be one of"):
        provider_strategy("subprocess", {"strategy": "fork"})


def test_secret_fields() -> None:
    assert secret_fields("webhook") == {"secret"}
    assert secret_fields("aws-lambda") == {
        "role_external_id",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
    assert secret_fields("aws-ecs") == secret_fields("aws-lambda")
    assert secret_fields("k8s") == {"kubeconfig"}
    assert secret_fields("subprocess") == set()
    assert secret_fields("unknown") == set()


def test_secrets_are_hidden_in_repr_and_redacted() -> None:
    details = parse_provider_details("webhook", {"url": "https://h/x", "secret": "hmac-key"})
    assert "hmac-key" not in repr(details)
    secret = details.secret  # type: ignore[attr-defined]
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == "hmac-key"
    assert redact_details("webhook", {"url": "https://h/x", "secret": "hmac-key"}) == {
        "url": "https://h/x",
        "secret": "**********",
    }


def test_subprocess_defaults_and_temporal_args_string() -> None:
    d = SubprocessDetails.model_validate({"command": "python"})
    assert (d.strategy, d.grace_period_s, d.idle_exit_s, d.max_lifetime_s, d.slots) == (
        "invoke",
        30.0,
        10.0,
        None,
        None,
    )
    # Temporal's subprocess provider takes args as one comma-separated string.
    assert SubprocessDetails.model_validate({"command": "w", "args": "-m,app"}).args == [
        "-m",
        "app",
    ]
    assert (
        SubprocessDetails.model_validate({"command": "w", "idle_exit_s": None}).idle_exit_s is None
    )


def test_temporal_lambda_details_are_accepted() -> None:
    """The exact keys a Temporal server config carries for aws-lambda."""
    parse_provider_details(
        "aws-lambda",
        {
            "arn": "arn:aws:lambda:us-east-1:123456789012:function:worker",
            "role": "arn:aws:iam::123456789012:role/temporal-invoker",
            "role_external_id": "ext-123",
        },
    )


def test_details_models_reject_unknown_keys() -> None:
    for name, ptype in PROVIDER_TYPES.items():
        with pytest.raises(ValidationError):
            ptype.details_model.model_validate({"definitely_not_a_key": 1})
        assert ptype.name == name
