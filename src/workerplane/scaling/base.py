"""The scaler contract shared by every scaling algorithm."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from workerplane.scaling.types import Decision, GroupMetrics, Strategy

StateT = TypeVar("StateT")


class Scaler(Protocol, Generic[StateT]):
    """A scaling algorithm bound to its (validated) configuration.

    Implementations are pure: ``decide`` reads nothing but its arguments and returns a new state
    instead of mutating the old one. The controller and the simulator both drive scalers through
    this protocol, so the same code is what runs in production and what the policy lab measures.
    """

    #: The strategy of the provider this scaler drives.
    strategy: Strategy

    @property
    def poll_interval_s(self) -> float:
        """How often the controller should observe the group and call :meth:`decide`."""
        ...

    def initial_state(self, now: float) -> StateT:
        """The state before the first observation."""
        ...

    def decide(
        self, state: StateT, metrics: GroupMetrics | None, now: float
    ) -> tuple[StateT, Decision]:
        """Decide what to do given the latest observation.

        ``metrics`` is ``None`` when the metrics could not be read; scalers must then hold the
        current size (never scale to zero on missing data).
        """
        ...
