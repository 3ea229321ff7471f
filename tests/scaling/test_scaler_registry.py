"""The scaler registry: the interface config validation and the controller rely on."""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic
import pytest
from scaler_helpers import m, run

from workerplane.scaling.registry import (
    DEFAULT_SCALER,
    SCALER_TYPES,
    ScalerConfigError,
    ScalerType,
    build_scaler,
)
from workerplane.scaling.types import GroupMetrics, Strategy


def test_registry_shape() -> None:
    assert set(SCALER_TYPES) == {"backlog", "no-sync", "rate-based", "slo"}
    assert DEFAULT_SCALER == "slo"  # the policy lab's SLO-driven scaler (docs/policy-lab.md)
    assert SCALER_TYPES["backlog"].strategies == {Strategy.INVOKE, Strategy.WORKER_SET}
    assert SCALER_TYPES["no-sync"].strategies == {Strategy.INVOKE}
    assert SCALER_TYPES["rate-based"].strategies == {Strategy.WORKER_SET}
    for name, spec in SCALER_TYPES.items():
        assert isinstance(spec, ScalerType)
        assert spec.name == name
        assert issubclass(spec.details_model, pydantic.BaseModel)
        assert spec.details_model.model_config.get("extra") == "forbid"
        assert spec.details_model.model_config.get("frozen") is True
        for strategy in spec.strategies:
            s = spec.factory(spec.details_model(), strategy)
            assert s.strategy is strategy
            assert s.poll_interval_s > 0


@pytest.mark.parametrize("name", sorted(SCALER_TYPES))
def test_unknown_key_rejected_for_every_type(name: str) -> None:
    strategy = next(iter(SCALER_TYPES[name].strategies))
    with pytest.raises(ScalerConfigError) as err:
        build_scaler(name, {"surprise": 1}, strategy)
    assert err.value.problems == [
        ("surprise", f'unknown config key "surprise" for {name} scaling algorithm')
    ]
    assert isinstance(err.value, ValueError)


SCRIPT: list[tuple[float, GroupMetrics | None]] = [
    (0.0, m(0)),
    (60.0, m(120, add=5.0, dispatch=0.0, running=0)),
    (120.0, None),
    (180.0, m(80, add=5.0, dispatch=4.0, running=2, in_flight=8, desired=2)),
    (240.0, m(0, running=4, in_flight=0, desired=4)),
    (300.0, m(0, running=4, in_flight=0, desired=4)),
]


@pytest.mark.parametrize(
    ("name", "strategy"),
    [(n, s) for n, spec in sorted(SCALER_TYPES.items()) for s in sorted(spec.strategies)],
)
def test_scalers_are_pure_and_deterministic(name: str, strategy: Strategy) -> None:
    details: dict[str, Any] = {}
    first_state, first = run(build_scaler(name, details, strategy), SCRIPT)
    second_state, second = run(build_scaler(name, details, strategy), SCRIPT)
    assert first == second
    assert first_state == second_state
    # States are frozen values: decide() cannot have changed an old one.
    assert dataclasses.is_dataclass(first_state)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first_state.__setattr__("size", 1)
