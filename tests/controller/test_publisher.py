"""Status goes out on a timer, carrying only the groups that changed (and their versions)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.controller.test_controller_unit import spec
from workerplane.controller.local import JsonStatusSink, read_controller_status, read_status_file
from workerplane.controller.publisher import StatusPublisher
from workerplane.planning.plan import unstarted_status
from workerplane.planning.status import (
    ControllerStatus,
    GroupStatus,
    ManagedVersion,
    VersionStatus,
)


@dataclass
class Call:
    statuses: list[GroupStatus]
    versions: list[str]
    partial: bool


@dataclass
class RecordingSink:
    calls: list[Call] = field(default_factory=list)

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        self.calls.append(Call(list(statuses), [v.version_key for v in versions], partial))


def status(version: str, workers: int = 0, at: float = 0.0) -> GroupStatus:
    base = unstarted_status(
        version, "g", "subprocess", "backlog", "worker-set", error=None, wall_time=at
    )
    return dataclasses.replace(base, workers_running=workers, updated_at=at)


VERSIONS = [ManagedVersion(key=k, spec=spec()) for k in ("a", "b", "c")]


async def test_only_changed_groups_and_their_versions_are_published() -> None:
    sink = RecordingSink()
    publisher = StatusPublisher(sink, heartbeat_s=30.0)
    table = [status("a"), status("b"), status("c")]
    await publisher.publish(table, VERSIONS, now=0.0)
    assert (sink.calls[-1].partial, sink.calls[-1].versions) == (False, ["a", "b", "c"])

    # "b" grew a worker; "a" and "c" were only re-read (a new updated_at): only "b" goes out.
    table = [status("a", at=1.0), status("b", workers=1, at=1.0), status("c", at=1.0)]
    await publisher.publish(table, VERSIONS, now=1.0)
    last = sink.calls[-1]
    assert last.partial and [s.version_key for s in last.statuses] == ["b"]
    assert last.versions == ["b"]

    # Nothing changed: an empty partial publish.
    await publisher.publish(table, VERSIONS, now=2.0)
    assert sink.calls[-1].partial and sink.calls[-1].statuses == []


async def test_an_unchanged_group_is_resent_after_the_heartbeat() -> None:
    sink = RecordingSink()
    publisher = StatusPublisher(sink, heartbeat_s=30.0)
    await publisher.publish([status("a"), status("b")], VERSIONS, now=0.0)
    await publisher.publish([status("a", at=10), status("b", workers=2, at=10)], VERSIONS, 10.0)
    await publisher.publish([status("a", at=31), status("b", workers=2, at=31)], VERSIONS, 31.0)
    assert [s.version_key for s in sink.calls[-1].statuses] == ["a"]


async def test_a_removed_group_sends_the_whole_table() -> None:
    sink = RecordingSink()
    publisher = StatusPublisher(sink)
    await publisher.publish([status("a"), status("b")], VERSIONS, now=0.0)
    await publisher.publish([status("a", at=1.0)], VERSIONS[:1], now=1.0)
    assert not sink.calls[-1].partial


async def test_on_publish_hears_the_full_table_each_tick() -> None:
    heard: list[list[GroupStatus]] = []
    publisher = StatusPublisher(RecordingSink(), on_publish=heard.append)
    table = [status("a"), status("b")]
    await publisher.publish(table, VERSIONS, now=0.0)
    await publisher.publish(table, VERSIONS, now=1.0)
    assert heard == [table, table]


async def test_the_json_sink_merges_partial_publishes(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    sink = JsonStatusSink(path)
    controller = ControllerStatus(40.0, 12.5, 60.0, 3, 97, 0, 1.0)
    await sink.publish([status("a"), status("b")], controller=controller)
    await sink.publish([status("b", workers=3)], partial=True, controller=controller)
    _pid, groups = read_status_file(path)
    assert {(g.version_key, g.workers_running) for g in groups} == {("a", 0), ("b", 3)}
    assert read_controller_status(path) == controller
    await sink.publish([status("b", workers=3)])  # a full publish: "a" is gone
    assert [g.version_key for g in read_status_file(path)[1]] == ["b"]
    assert json.loads(path.read_text())["pid"]
