"""The API's group status carries the unmanaged pollers the controller saw."""

from __future__ import annotations

from workerplane.api.responses import group_status_out
from workerplane.planning.status import GroupStatus


def test_the_group_status_body_reports_unmanaged_pollers() -> None:
    status = GroupStatus(
        version_key="orders", group_id="workers", provider_type="subprocess",
        scaler_type="backlog", strategy="worker-set", workers_running=1, workers_ready=1,
        in_flight=0, pollers=2, backlog=0, backlog_age_s=0.0, add_rate=0.0, dispatch_rate=0.0,
        desired=1, last_decision="hold", last_reason="steady", last_error=None,
        provider_validation_error=None, metrics_ok=True, updated_at=1.0,
        unmanaged_pollers=1, unmanaged_identities=("99@laptop",), unmanaged_counted=True,
    )  # fmt: skip
    body = group_status_out(status).model_dump()
    assert body["unmanaged_pollers"] == 1
    assert body["unmanaged_identities"] == ["99@laptop"]
    assert body["unmanaged_counted"] is True
