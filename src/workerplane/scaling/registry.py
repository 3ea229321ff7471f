"""Maps a ``scaler.type`` to its details model, its strategies and its implementation.

Config validation checks ``scaler.details`` against :attr:`ScalerType.details_model` and the
provider's strategy against :attr:`ScalerType.strategies`; the controller and the simulator build
scalers with :func:`build_scaler`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import BaseModel

from workerplane.scaling.backlog import BacklogDetails, BacklogScaler
from workerplane.scaling.base import Scaler
from workerplane.scaling.no_sync import NoSyncDetails, NoSyncScaler
from workerplane.scaling.rate_based import RateBasedDetails, RateBasedScaler
from workerplane.scaling.slo import SloDetails, SloScaler
from workerplane.scaling.types import Strategy


@dataclass(frozen=True)
class ScalerType:
    """One scaling algorithm.

    Attributes:
        name: the ``scaler.type`` value.
        details_model: the pydantic model ``scaler.details`` must validate against.
        strategies: the launch strategies the algorithm can drive.
        factory: builds the scaler from validated details and the provider's strategy.
    """

    name: str
    details_model: type[pydantic.BaseModel]
    strategies: frozenset[Strategy]
    factory: Callable[[BaseModel, Strategy], Scaler[Any]]


class ScalerConfigError(ValueError):
    """A scaler config is invalid. ``problems`` holds ``(field, message)`` pairs; ``field`` is
    ``""`` for rules that span fields or concern the scaler as a whole."""

    def __init__(self, scaler_type: str, problems: list[tuple[str, str]]) -> None:
        self.scaler_type = scaler_type
        self.problems = problems
        text = "; ".join(f"{f}: {m}" if f else m for f, m in problems)
        super().__init__(text)


def _backlog(details: BaseModel, strategy: Strategy) -> Scaler[Any]:
    assert isinstance(details, BacklogDetails)
    return BacklogScaler(details, strategy)


def _no_sync(details: BaseModel, strategy: Strategy) -> Scaler[Any]:
    assert isinstance(details, NoSyncDetails)
    return NoSyncScaler(details, strategy)


def _rate_based(details: BaseModel, strategy: Strategy) -> Scaler[Any]:
    assert isinstance(details, RateBasedDetails)
    return RateBasedScaler(details, strategy)


def _slo(details: BaseModel, strategy: Strategy) -> Scaler[Any]:
    assert isinstance(details, SloDetails)
    return SloScaler(details, strategy)


SCALER_TYPES: dict[str, ScalerType] = {
    "backlog": ScalerType(
        name="backlog",
        details_model=BacklogDetails,
        strategies=frozenset({Strategy.INVOKE, Strategy.WORKER_SET}),
        factory=_backlog,
    ),
    "no-sync": ScalerType(
        name="no-sync",
        details_model=NoSyncDetails,
        strategies=frozenset({Strategy.INVOKE}),
        factory=_no_sync,
    ),
    "rate-based": ScalerType(
        name="rate-based",
        details_model=RateBasedDetails,
        strategies=frozenset({Strategy.WORKER_SET}),
        factory=_rate_based,
    ),
    "slo": ScalerType(
        name="slo",
        details_model=SloDetails,
        strategies=frozenset({Strategy.INVOKE, Strategy.WORKER_SET}),
        factory=_slo,
    ),
}

#: The scaler of a group whose ``scaler.type`` is empty: meet a p95 schedule-to-start SLO (5 s
#: unless set) at the lowest cost. The policy lab (docs/policy-lab.md) measures it against the
#: other scalers, KEDA+HPA, fixed replicas and a clairvoyant oracle.
DEFAULT_SCALER = "slo"


def problems_of(error: pydantic.ValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` pairs of a details validation error, messages without pydantic's
    ``"Value error, "`` decoration."""
    out: list[tuple[str, str]] = []
    for e in error.errors(include_url=False):
        field = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"])
        ctx = e.get("ctx") or {}
        if e["type"] == "unknown_key":
            field = str(ctx.get("key", field))
        elif e["type"] == "model_type":
            msg = "details must be a JSON object"
        elif e["type"] == "extra_forbidden":
            msg = f'unknown config key "{field}"'
        out.append((field, msg))
    return out


def validate_details(scaler_type: str, details: Mapping[str, Any] | None) -> BaseModel:
    """Validate ``details`` for ``scaler_type``; raise :class:`ScalerConfigError` if invalid.

    An empty ``scaler_type`` means :data:`DEFAULT_SCALER`.
    """
    name = scaler_type or DEFAULT_SCALER
    spec = SCALER_TYPES.get(name)
    if spec is None:
        raise ScalerConfigError(name, [("", f"invalid scaling algorithm type '{name}'")])
    try:
        data: Any = dict(details) if isinstance(details, Mapping) else details
        return spec.details_model.model_validate({} if data is None else data)
    except pydantic.ValidationError as exc:
        raise ScalerConfigError(name, problems_of(exc)) from None


def build_scaler(scaler_type: str, details: Mapping[str, Any], strategy: Strategy) -> Scaler[Any]:
    """Validate ``details`` and build the scaler for a provider of ``strategy``.

    Raises :class:`ScalerConfigError` (a ``ValueError``) for an unknown type, invalid details or a
    strategy the algorithm cannot drive.
    """
    name = scaler_type or DEFAULT_SCALER
    model = validate_details(name, details)
    spec = SCALER_TYPES[name]
    if strategy not in spec.strategies:
        allowed = ", ".join(sorted(s.value for s in spec.strategies))
        raise ScalerConfigError(
            name,
            [
                (
                    "",
                    f"scaling algorithm '{name}' does not support the {strategy.value} launch "
                    f"strategy (supports: {allowed})",
                )
            ],
        )
    return spec.factory(model, strategy)
