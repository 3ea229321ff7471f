"""The cycle counters and histograms: counted from real cycle reports of fake groups, and
exported in the text format Prometheus scrapes."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.controller.metrics_scenario import drive
from workerplane.controller.prometheus import ProcessMetrics


def samples(process: ProcessMetrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    body, _content_type = process.exposition()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def by(metric: dict[tuple[tuple[str, str], ...], float], **labels: str) -> float:
    """The sum of the samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for key, value in metric.items() if wanted <= set(key))


async def test_cycles_are_counted_by_kind_and_outcome() -> None:
    process = ProcessMetrics()
    await drive(process)
    m = samples(process)
    decisions = m["workerplane_decisions_total"]
    assert by(decisions, group="g", kind="scale_up") == 2  # to 2, then to 1 (throttled)
    assert by(decisions, group="g", kind="scale_down") == 1
    assert by(decisions, group="g", kind="hold") == 3
    assert by(decisions, group="lambda", kind="invoke") == 1
    # The throttled call started nothing.
    assert by(m["workerplane_workers_started_total"], group="g") == 2
    assert by(m["workerplane_workers_started_total"], group="lambda") == 2
    assert by(m["workerplane_workers_retired_total"], group="g") == 2
    assert by(m["workerplane_provider_calls_total"], group="g", call="set_size") == 3
    assert by(m["workerplane_provider_calls_total"], group="lambda", call="invoke") == 1
    errors = m["workerplane_provider_errors_total"]
    assert errors == {
        (
            ("group", "g"),
            ("kind", "throttled"),
            ("provider", "subprocess"),
            ("version", "orders"),
        ): 1
    }
    assert by(m["workerplane_stats_reads_total"], group="g") == 6
    assert by(m["workerplane_stats_read_failures_total"], group="g") == 1
    assert by(m["workerplane_fresh_signal_reads_total"], group="g") == 1
    assert by(m["workerplane_cycle_duration_seconds_count"]) == 7
    # Both workers of the first scale-up were seen polling one cycle (one second) later.
    assert by(m["workerplane_time_to_polling_seconds_count"], provider="subprocess") == 2
    assert by(m["workerplane_time_to_polling_seconds_sum"], provider="subprocess") == 2.0
    # The gauges come from the same registry.
    assert by(m["workerplane_group_workers"], group="g") == 0


async def test_untracked_statuses_leave_the_gauges() -> None:
    process = ProcessMetrics()
    untrack = process.track(lambda: [])
    untrack()
    untrack()  # idempotent
    assert "workerplane_group_workers" not in samples(process)
