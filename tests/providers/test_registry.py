"""The provider type registry: one typed details model per type, strategies, Temporal's keys."""

from __future__ import annotations

import importlib

import pytest
from pydantic import SecretStr, ValidationError

from workerplane.config.model import ProviderSpec
from workerplane.providers.aws_lambda.details import LambdaDetails
from workerplane.providers.base import Provider
from workerplane.providers.registry import (
    PROVIDER_TYPES,
    parse_provider_details,
    provider_strategy,
    provider_type,
    provider_types,
)
from workerplane.providers.subprocess.details import SubprocessDetails
from workerplane.scaling.types import Strategy


def test_every_type_has_one_model_and_an_implementation() -> None:
    assert provider_types() == sorted(PROVIDER_TYPES)
    models = [t.details_model for t in PROVIDER_TYPES.values()]
    assert len(set(models)) == len(models)
    for name, ptype in PROVIDER_TYPES.items():
        assert ptype.name == name
        assert ptype.default_strategy in ptype.strategies
        module_name, class_name = ptype.implementation.split(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(cls, Provider)
        assert cls.type == name


def test_unknown_type() -> None:
    with pytest.raises(ValueError, match="invalid compute provider type 'nope'"):
        provider_type("nope")
    with pytest.raises(ValueError, match="invalid compute provider type 'nope'"):
        parse_provider_details("nope", {})


def test_details_of_a_spec_validate_through_the_registry() -> None:
    spec = ProviderSpec(type="webhook", details={"url": "https://h/x", "secret": "k"})
    model = parse_provider_details(spec.type, spec.details)
    assert isinstance(model, PROVIDER_TYPES["webhook"].details_model)


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


def test_secrets_are_hidden_in_repr() -> None:
    details = parse_provider_details("webhook", {"url": "https://h/x", "secret": "hmac-key"})
    assert "hmac-key" not in repr(details)
    secret = details.secret  # type: ignore[attr-defined]
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == "hmac-key"


@pytest.mark.parametrize(
    ("details", "region"),
    [
        ({"arn": "arn:aws:lambda:eu-west-3:123456789012:function:w"}, "eu-west-3"),
        (
            {"arn": "arn:aws:lambda:eu-west-3:123456789012:function:w", "region": "us-east-1"},
            "us-east-1",
        ),
        ({"arn": "worker"}, None),
    ],
)
def test_lambda_region_defaults_to_the_functions(
    details: dict[str, str], region: str | None
) -> None:
    assert LambdaDetails.model_validate(details).effective_region == region


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
