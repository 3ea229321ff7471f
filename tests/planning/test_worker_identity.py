"""Table tests of the worker identity marker: made, parsed, and told apart from other pollers."""

from __future__ import annotations

import pytest

from workerplane.planning.identity import WorkerMarker, parse_identity, worker_identity

MARKER = WorkerMarker("orders", "default", "activities")


@pytest.mark.parametrize(
    "marker",
    [
        MARKER,
        WorkerMarker("team/orders", "v2@2026", "g 1"),
        WorkerMarker("o", "b", "wp:g/x"),
    ],
)
def test_an_identity_parses_back_to_its_base_and_marker(marker: WorkerMarker) -> None:
    identity = worker_identity("4242@host-1", marker)
    assert parse_identity(identity).base == "4242@host-1"
    assert parse_identity(identity).marker == marker


def test_the_marker_text_from_the_environment_makes_the_same_identity() -> None:
    assert worker_identity("1@h", MARKER.text) == worker_identity("1@h", MARKER)
    assert MARKER.text == "wp:orders/default/activities"


@pytest.mark.parametrize(
    "identity",
    [
        "4242@host-1",  # the SDK's default: a worker started by hand
        "",
        "1@h@wp:",  # a marker with no parts
        "1@h@wp:orders/default",  # too few parts
        "1@h@wp:orders/default/g/extra",  # too many
        "1@h@wp:orders//g",  # an empty part
        "1@hwp:orders/default/g",  # no separator
    ],
)
def test_identities_without_a_valid_marker_have_none(identity: str) -> None:
    parsed = parse_identity(identity)
    assert parsed.marker is None
    assert parsed.base == identity


def test_the_last_marker_wins_when_a_base_holds_one() -> None:
    inner = worker_identity("1@h", WorkerMarker("a", "b", "c"))
    parsed = parse_identity(worker_identity(inner, MARKER))
    assert parsed.marker == MARKER and parsed.base == inner
