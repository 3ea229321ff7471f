"""What a cycle report means: the kind of decision, the call, the workers started and retired."""

from __future__ import annotations

import dataclasses

import pytest

from tests.controller.reports import report
from workerplane.controller.cycle_facts import (
    decision_kind,
    provider_call,
    retired_workers,
    started_workers,
)
from workerplane.planning.actions import Action, Invoke, NoAction, Reconcile, Resize
from workerplane.scaling.types import WorkerCensus


@pytest.mark.parametrize(
    ("action", "held", "kind", "call"),
    [
        (Resize(3, "up"), 1, "scale_up", "set_size"),
        (Resize(0, "down"), 2, "scale_down", "set_size"),
        (Resize(2, "same"), 2, "hold", "set_size"),
        (Invoke(4), None, "invoke", "invoke"),
        (Reconcile(size=2, running=1), 2, "reconcile", "set_size"),
        (NoAction(), 2, "hold", None),
    ],
)
def test_decision_kind_and_call(
    action: Action, held: int | None, kind: str, call: str | None
) -> None:
    made = report(0.0, action, held=held)
    assert (decision_kind(made), provider_call(made)) == (kind, call)


def test_workers_started_and_retired_per_action() -> None:
    assert started_workers(report(0.0, Invoke(3))) == 3
    assert started_workers(report(0.0, Resize(5, "up"), held=2)) == 3
    assert retired_workers(report(0.0, Resize(1, "down"), held=4)) == 3
    # A crashed worker asked for again; an extra one retired.
    assert started_workers(report(0.0, Reconcile(size=3, running=1))) == 2
    assert retired_workers(report(0.0, Reconcile(size=1, running=2))) == 1
    assert started_workers(report(0.0, Invoke(3), failed=True)) == 0
    # An adopted group's first cycle: the held size is the provider's census.
    first = report(0.0, Resize(2, "up"), first=True)
    first = dataclasses.replace(
        first,
        observation=dataclasses.replace(
            first.observation, census=WorkerCensus(running=1, desired=1)
        ),
    )
    assert started_workers(first) == 1
