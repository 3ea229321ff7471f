"""The upcoming schedule warm-ups of a group, in ``workerplane status`` and the API body."""

from __future__ import annotations

import dataclasses
import time

from rich.console import Console

from workerplane.api.responses import group_status_out
from workerplane.planning.status import GroupStatus, Warmup
from workerplane.terminal import status_table

WARMUP = Warmup(
    schedule_id="nightly",
    action_at=43_200.0,
    starts_at=43_195.5,
    ends_at=43_202.0,
    workers=5,
    basis="learned: 20 tasks of 1.0s over 0.1s (last 3 runs)",
)


def _status() -> GroupStatus:
    return GroupStatus(
        version_key="orders", group_id="g", provider_type="subprocess", scaler_type="slo",
        strategy="worker-set", workers_running=0, workers_ready=0, in_flight=0, pollers=0,
        backlog=0, backlog_age_s=0.0, add_rate=0.0, dispatch_rate=0.0, desired=0,
        last_decision="hold", last_reason="idle", last_error=None, provider_validation_error=None,
        metrics_ok=True, updated_at=time.time(), warmups=(WARMUP,),
    )  # fmt: skip


def test_status_prints_each_upcoming_warmup() -> None:
    console = Console(width=200, record=True)
    console.print(status_table([_status()]))
    text = console.export_text()
    assert "warm-up: 5 workers for schedule nightly at 12:00:00 UTC (from 11:59:55;" in text
    assert "learned: 20 tasks" in text


def test_a_ramped_warmup_says_when_all_its_workers_are_asked_for() -> None:
    ramped = dataclasses.replace(WARMUP, ramp=((43_195.5, 2), (43_197.0, 5)))
    console = Console(width=200, record=True)
    console.print(status_table([dataclasses.replace(_status(), warmups=(ramped,))]))
    assert "(from 11:59:55, all by 11:59:57;" in console.export_text()
    body = group_status_out(dataclasses.replace(_status(), warmups=(ramped,))).model_dump()
    assert body["warmups"][0]["ramp"] == [(43_195.5, 2), (43_197.0, 5)]
    # Read back from the store (JSON lists), it is the same warm-up.
    assert Warmup.coerce({**dataclasses.asdict(ramped), "ramp": [[43_195.5, 2], [43_197, 5]]}) == (
        ramped
    )


def test_the_api_body_carries_the_warmups() -> None:
    body = group_status_out(_status()).model_dump()
    assert body["warmups"] == [{**dataclasses.asdict(WARMUP), "ramp": []}]
    assert (
        group_status_out(dataclasses.replace(_status(), warmups=())).model_dump()["warmups"] == []
    )
