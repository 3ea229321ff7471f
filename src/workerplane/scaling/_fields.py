"""Field helpers shared by the scaler details models.

Scaler ``details`` travel as JSON inside a Temporal ``Payload``. Temporal's server (Go) decodes
every JSON number as ``float64`` and reads numeric fields leniently (``iface/map_access.go``): an
integer key accepts ``100``, ``100.0`` and the string ``"100"``; a float key accepts any number or a
numeric string; a ``null`` value means "use the default". To keep configs portable we accept the
same inputs, with one deliberate tightening: a fractional value for an integer key (``100.5``) is
rejected instead of being silently truncated.

Error messages reuse Temporal's wording (``"<key> must be at least <min>"``,
``"<key> must be an integer and at least <min>"``, ``"unknown config key \\"x\\" for <algo> scaling
algorithm"``) so that the same config gives the same message here and on a Temporal server.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError


def _fmt_number(value: float) -> str:
    """Format a bound the way Go's ``%v`` does for the values we use (``0``, ``1``, ``0.5``)."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


INT32_MAX = 2**31 - 1


def temporal_int(minimum: int, *, int32: bool = False) -> BeforeValidator:
    """An integer field read like Temporal's ``ValidateInt64Field(key, minimum)``.

    Accepts ``int``, an integral ``float`` and a numeric string; rejects booleans, fractional
    numbers and anything else with ``"<key> must be an integer and at least <minimum>"``. With
    ``int32`` the value must also fit Temporal's ``int32`` worker counts.
    """

    def check(value: Any, info: ValidationInfo) -> int:
        key = info.field_name
        if isinstance(value, bool):
            raise PydanticCustomError(
                "temporal_int",
                "{key} must be an integer and at least {minimum}",
                {"key": key, "minimum": minimum},
            )
        number: int
        if isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise PydanticCustomError(
                    "temporal_int",
                    "{key} must be an integer and at least {minimum}",
                    {"key": key, "minimum": minimum},
                )
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.strip(), 10)
            except ValueError:
                raise PydanticCustomError(
                    "temporal_int",
                    "{key} must be an integer and at least {minimum}",
                    {"key": key, "minimum": minimum},
                ) from None
        else:
            raise PydanticCustomError(
                "temporal_int",
                "{key} must be an integer and at least {minimum}",
                {"key": key, "minimum": minimum},
            )
        if number < minimum:
            raise PydanticCustomError(
                "temporal_min",
                "{key} must be at least {minimum}",
                {"key": key, "minimum": minimum},
            )
        if int32 and number > INT32_MAX:
            raise PydanticCustomError(
                "temporal_max",
                "{key} ({value}) must not exceed math.MaxInt32 ({maximum})",
                {"key": key, "value": number, "maximum": INT32_MAX},
            )
        return number

    return BeforeValidator(check)


def temporal_float(minimum: float, *, exclusive: bool = False) -> BeforeValidator:
    """A float field read like Temporal's ``ValidateFloat64Field(key, minimum)``.

    Accepts any finite number (not a boolean) or a numeric string. ``exclusive`` makes the bound
    strict (``> minimum``), for keys where zero is meaningless (e.g. a per-worker target).
    """

    def check(value: Any, info: ValidationInfo) -> float:
        key = info.field_name
        bound = _fmt_number(minimum)
        number: float
        if isinstance(value, bool):
            raise PydanticCustomError(
                "temporal_float",
                "{key} must be a number and at least {minimum}",
                {"key": key, "minimum": bound},
            )
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise PydanticCustomError(
                    "temporal_float",
                    "{key} must be a number and at least {minimum}",
                    {"key": key, "minimum": bound},
                ) from None
        else:
            raise PydanticCustomError(
                "temporal_float",
                "{key} must be a number and at least {minimum}",
                {"key": key, "minimum": bound},
            )
        if not math.isfinite(number):
            raise PydanticCustomError("temporal_float", "{key} must be a real float", {"key": key})
        if exclusive and number <= minimum:
            raise PydanticCustomError(
                "temporal_min",
                "{key} must be greater than {minimum}",
                {"key": key, "minimum": bound},
            )
        if number < minimum:
            raise PydanticCustomError(
                "temporal_min",
                "{key} must be at least {minimum}",
                {"key": key, "minimum": bound},
            )
        return number

    return BeforeValidator(check)


def rule_error(message: str) -> PydanticCustomError:
    """A cross-field rule violation, reported with ``message`` verbatim."""
    return PydanticCustomError("scaler_rule", message)


class ScalerDetails(BaseModel):
    """Base of every scaler details model: frozen, unknown keys rejected, ``null`` = default.

    Subclasses set :attr:`algorithm_name`, used in the unknown-key message.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The scaler type, as written in ``scaler.type`` (used in the unknown-key message).
    algorithm_name: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_and_drop_nulls(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in data:
            if key not in cls.model_fields:
                raise PydanticCustomError(
                    "unknown_key",
                    'unknown config key "{key}" for {algo} scaling algorithm',
                    {"key": str(key), "algo": cls.algorithm_name or cls.__name__},
                )
        # Temporal treats a JSON null exactly like an absent key: the default applies.
        return {k: v for k, v in data.items() if v is not None}
