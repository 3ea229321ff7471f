"""The controller's edges under ``workerplane serve``: specs from the store, statuses into it.

The controller polls :meth:`StoreSpecSource.snapshot` every ``refresh_s``; a change made through
the API (a new version, new min/max, a removal) is therefore applied live, without a restart.
What it publishes moves each version's lifecycle forward (:mod:`workerplane.store.lifecycle`).
Under ``serve`` both carry a :class:`~workerplane.store.leases.Fencing`: the controller lease's
fence, or with ``--shards`` the fences of the shards this replica holds
(:class:`~workerplane.store.shards.ShardScope`). The controller then sees and writes only the
versions its fencing covers, and once a lease moved on the store refuses it
(:class:`~workerplane.store.leases.LeaseLost`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from workerplane.config.model import DeploymentSpec
from workerplane.planning.status import (
    ControllerStatus,
    GroupStatus,
    ManagedVersion,
    VersionStatus,
)
from workerplane.planning.sunset import SunsetPhase
from workerplane.security.crypto import SecretBox
from workerplane.store import spec_codec
from workerplane.store.db import Database
from workerplane.store.leases import Fencing, LeaseLost
from workerplane.store.lifecycle import DELETE_IN_PROGRESS, UPDATE_IN_PROGRESS, UPDATE_PENDING
from workerplane.store.models import DeploymentVersion, Endpoint, GroupStatusRow
from workerplane.store.rows import new_token, purge, status_payload

_T = TypeVar("_T")


def _with_namespace(spec: DeploymentSpec, namespace: str | None) -> DeploymentSpec:
    if spec.temporal.namespace:
        return spec
    temporal = spec.temporal.model_copy(update={"namespace": namespace})
    return spec.model_copy(update={"temporal": temporal})


class ControllerIO:
    """What the controller reads (versions to run) and writes (group statuses)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def snapshot(
        self, default_namespace: str | None = None, fence: Fencing | None = None
    ) -> list[ManagedVersion]:
        """Every version the controller should run now (secrets decrypted), of those ``fence``
        covers.

        Records that the controller picked up each version's current generation, so its status
        moves from UPDATE_PENDING to UPDATE_IN_PROGRESS. Deleting versions stay listed (draining)
        until their workers are gone; then they are left out and removed.
        """
        now = time.time()
        result: list[ManagedVersion] = []
        with self._db.write_session() as s:
            if fence is not None:
                fence.check(s)
            rows = list(
                s.scalars(
                    select(DeploymentVersion).options(selectinload(DeploymentVersion.deployment))
                )
            )
            for row in _covered(rows, fence):
                if row.deleting and row.delete_seen_at is not None:
                    # Its workers are gone: the controller drops it now, and the row goes too.
                    purge(s, row)
                    continue
                try:
                    spec = spec_codec.open_spec(self._box, row.spec_json)
                except ValueError:
                    continue
                namespace = row.deployment.namespace or default_namespace
                result.append(
                    ManagedVersion(
                        key=row.key,
                        spec=_with_namespace(spec, namespace),
                        draining=row.draining or row.deleting,
                        generation=row.generation,
                    )
                )
                if row.picked_generation != row.generation:
                    values: dict[str, Any] = {"picked_generation": row.generation, "picked_at": now}
                    if row.status == UPDATE_PENDING:
                        values["status"] = UPDATE_IN_PROGRESS
                    s.execute(
                        update(DeploymentVersion)
                        .where(
                            DeploymentVersion.id == row.id,
                            DeploymentVersion.generation == row.generation,
                        )
                        .values(**values)
                    )
        return result

    def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        fence: Fencing | None = None,
        partial: bool = False,
    ) -> None:
        """Store the controller's group statuses and move each version's lifecycle to the
        controller's verdict in ``versions`` (of the versions ``fence`` covers). With
        ``partial`` (see the controller's ``StatusSink``), only the rows of the versions named
        in ``statuses`` and ``versions`` are read and written."""
        now = time.time()
        verdicts = {v.version_key: v for v in versions}
        keys = {st.version_key for st in statuses} | set(verdicts)
        if partial and not keys:
            return
        with self._db.write_session() as s:
            if fence is not None:
                fence.check(s)
            version_rows = select(DeploymentVersion)
            status_rows = select(GroupStatusRow)
            if partial:
                version_rows = version_rows.where(DeploymentVersion.key.in_(keys))
                status_rows = status_rows.where(GroupStatusRow.version_key.in_(keys))
            rows = _covered(s.scalars(version_rows), fence)
            specs = {v.key: spec_codec.redacted_spec(v.spec_json) for v in rows}
            existing = {
                (r.version_key, r.group_id): r
                for r in s.scalars(status_rows)
                if r.version_key in specs
            }
            for (key, group_id), stale in existing.items():
                if key in specs and group_id not in specs[key].compute.scaling_groups:
                    s.delete(stale)  # a group removed from its version's spec
            for st in statuses:
                spec = specs.get(st.version_key)
                if spec is None or st.group_id not in spec.compute.scaling_groups:
                    continue  # deleted meanwhile: do not resurrect its status
                payload = status_payload(st)
                row = existing.get((st.version_key, st.group_id))
                if row is None:
                    s.add(
                        GroupStatusRow(
                            version_key=st.version_key, group_id=st.group_id,
                            payload_json=payload, updated_at=now,
                        )
                    )  # fmt: skip
                elif row.payload_json != payload:
                    row.payload_json = payload
                    row.updated_at = now
            # The version an endpoint shows is deleted only with its endpoint, even drained (a
            # versioned endpoint's rolled-back build): its fields are what the endpoint reads.
            draining = [version.id for version in rows if version.draining]
            shown = (
                set(s.scalars(select(Endpoint.version_id).where(Endpoint.version_id.in_(draining))))
                if draining
                else set()
            )
            for version in rows:
                verdict = verdicts.get(version.key)
                if (
                    verdict is not None
                    and version.id not in shown
                    and _sunset_over(version, verdict)
                ):
                    _delete_at_sunset(version, now)
                if version.deleting:
                    if version.delete_seen_at is None and (verdict is None or verdict.drained):
                        # Drained (or never started): the next snapshot removes the row.
                        version.delete_seen_at = now
                elif verdict is not None:
                    _advance(version, verdict, now)


def _covered(rows: Iterable[DeploymentVersion], fence: Fencing | None) -> list[DeploymentVersion]:
    """The versions that are this controller's to act on."""
    return [row for row in rows if fence is None or fence.covers(row.key)]


def _sunset_over(row: DeploymentVersion, verdict: VersionStatus) -> bool:
    """Whether the controller says the version's sunset is over (drained, scaled down long
    enough, no worker left) and it is still neither current nor ramping nor being deleted."""
    dep = row.deployment
    return (
        not row.deleting
        and row.draining
        and verdict.sunset is not None
        and verdict.sunset.phase is SunsetPhase.DELETE
        and verdict.drained
        and row.build_id not in (dep.current_build_id, dep.ramping_build_id)
    )


def _delete_at_sunset(row: DeploymentVersion, now: float) -> None:
    """Delete a version whose sunset is over, as :meth:`VersionStore.delete` does (its workers
    are gone already, so the next snapshot removes the record)."""
    row.deleting = True
    row.status = DELETE_IN_PROGRESS
    row.status_reason = "sunset: drained and scaled down, deleting"
    row.generation += 1
    row.conflict_token = new_token()
    row.updated_at = now


def _advance(row: DeploymentVersion, verdict: VersionStatus, now: float) -> None:
    """Record the controller's verdict on a version it runs at the row's current generation."""
    if (
        row.picked_generation != row.generation
        or row.status == UPDATE_PENDING
        or verdict.generation != row.generation
        or verdict.readiness is None
    ):
        return
    row.last_validation_at = now
    row.last_validation_error = verdict.validation_error
    if row.status != verdict.readiness.value or row.status_reason != verdict.reason:
        row.status = verdict.readiness.value
        row.status_reason = verdict.reason
        row.updated_at = now


#: What a spec source or status sink reads and writes under: a fixed fencing, or a function
#: returning the current one (raising :class:`LeaseLost` once it may no longer act).
FencingSource = Fencing | Callable[[], Fencing] | None


def _current(fence: FencingSource) -> Fencing | None:
    return fence() if callable(fence) else fence


async def _fenced(
    on_fenced: Callable[[], None] | None,
    fence: FencingSource,
    call: Callable[..., _T],
    *args: Any,
) -> _T:
    """Run a store call under the current fencing in a thread; tell ``on_fenced`` first when
    the fencing is gone or the store refused it."""
    try:
        return await asyncio.to_thread(call, *args, _current(fence))
    except LeaseLost:
        if on_fenced is not None:
            on_fenced()
        raise


class StoreSpecSource:
    """The controller's ``SpecSource`` backed by the store.

    With a ``fence``, reads are refused once the lease moved on; ``on_fenced`` is then called
    (it stops the controller) before the refusal propagates.
    """

    def __init__(
        self,
        io: ControllerIO,
        default_namespace: str | None = None,
        *,
        fence: FencingSource = None,
        on_fenced: Callable[[], None] | None = None,
    ) -> None:
        self._io = io
        self._default_namespace = default_namespace
        self._fence = fence
        self._on_fenced = on_fenced

    async def snapshot(self) -> list[ManagedVersion]:
        return await _fenced(
            self._on_fenced, self._fence, self._io.snapshot, self._default_namespace
        )


class StoreStatusSink:
    """The controller's ``StatusSink`` backed by the store, fenced as the spec source is."""

    def __init__(
        self,
        io: ControllerIO,
        *,
        fence: FencingSource = None,
        on_fenced: Callable[[], None] | None = None,
    ) -> None:
        self._io = io
        self._lock = asyncio.Lock()
        self._fence = fence
        self._on_fenced = on_fenced

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        """Store what changed (``controller``, the controller's own load, is not stored)."""
        async with self._lock:  # a shutdown's last publish may overlap the publisher's
            publish = functools.partial(self._io.publish, partial=partial)
            await _fenced(self._on_fenced, self._fence, publish, statuses, versions)
