"""Which of a group's pollers workerplane runs, and whether the others count as capacity.

A queue that workerplane scales may also be polled by workers someone started by hand, or by
another deployment. The census splits the identities ``DescribeTaskQueue`` lists
(:attr:`~workerplane.scaling.types.QueueStats.poller_identities`) by their marker
(:mod:`workerplane.planning.identity`): a poller marked with the group's own deployment is
*managed*, any other is *unmanaged*.

By default (``unmanaged_pollers: ignore``) an unmanaged poller is reported and nothing more: the
scaler sizes the group from the provider's census of its own workers, as if it did not exist. With
``count`` the scaler sees each unmanaged poller as one more ready worker, and the size it asks for
is shared: the provider is asked for what the unmanaged pollers do not already cover
(:func:`counted_metrics` before the scaler, :func:`managed_share` after it). Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from workerplane.planning.identity import parse_identity
from workerplane.scaling.types import Decision, GroupMetrics, Hold, SetSize

#: How many unmanaged identities a status lists (the count is always exact).
LISTED_IDENTITIES = 10

#: How long an unmanaged poller stays in the census after the server last listed it. The server
#: lists a poller for ``matching.PollerHistoryTTL`` after a poll starts on the partition read,
#: and an idle worker's long poll lasts about a minute; without this memory, an idle worker
#: with a short TTL (dev servers) would come and go from one read to the next, and so would the
#: capacity counted for it.
UNMANAGED_MEMORY_S = 120.0

#: How many unmanaged identities the census remembers at most (the most recently listed), so a
#: storm of short-lived pollers (each with its own identity) cannot grow a group's state.
REMEMBERED_IDENTITIES = 1000


@dataclass(frozen=True)
class PollerCensus:
    """A group's pollers split by who runs them.

    Attributes:
        managed: pollers carrying the group's deployment's marker, in the last read.
        unmanaged: every other poller, listed in the last :data:`UNMANAGED_MEMORY_S` (at most
            :data:`REMEMBERED_IDENTITIES`).
        unmanaged_identities: the first :data:`LISTED_IDENTITIES` unmanaged identities, sorted.
        last_seen: each unmanaged identity with when it was last listed (epoch seconds).
    """

    managed: int = 0
    unmanaged: int = 0
    unmanaged_identities: tuple[str, ...] = ()
    last_seen: tuple[tuple[str, float], ...] = ()


def census_pollers(
    identities: Iterable[str],
    deployment: str,
    *,
    previous: PollerCensus | None = None,
    now: float = 0.0,
) -> PollerCensus:
    """Split poller ``identities`` (listed at ``now``) into those of workers of ``deployment``
    and the others, remembering the others ``previous`` saw in the last
    :data:`UNMANAGED_MEMORY_S`.

    Any build and group of the deployment is its own: a worker of one group polls every type its
    code registers, so it shows up on the queues of the deployment's other groups too.
    """
    remembered = previous.last_seen if previous is not None else ()
    seen = {identity: at for identity, at in remembered if now - at <= UNMANAGED_MEMORY_S}
    managed = 0
    for identity in set(identities):
        marker = parse_identity(identity).marker
        if marker is not None and marker.deployment == deployment:
            managed += 1
        else:
            seen[identity] = now
    if len(seen) > REMEMBERED_IDENTITIES:
        newest = sorted(seen.items(), key=lambda item: item[1])[-REMEMBERED_IDENTITIES:]
        seen = dict(newest)
    listed = tuple(sorted(seen)[:LISTED_IDENTITIES])
    return PollerCensus(managed, len(seen), listed, tuple(sorted(seen.items())))


def counted_metrics(metrics: GroupMetrics | None, unmanaged: int) -> GroupMetrics | None:
    """``metrics`` as the scaler sees them when ``unmanaged`` pollers count as capacity: each is
    one more running, ready worker (their tasks in flight stay unknown)."""
    if metrics is None or unmanaged <= 0:
        return metrics
    census = metrics.workers
    ready = census.ready + unmanaged if census.ready is not None else None
    workers = dataclasses.replace(census, running=census.running + unmanaged, ready=ready)
    return dataclasses.replace(metrics, workers=workers)


def managed_share(
    decision: Decision, counted: int, held_size: int | None, covered: int
) -> tuple[Decision, int]:
    """The provider's share of a worker-set decision taken on :func:`counted_metrics`, and how
    many workers of the scaler's size the unmanaged pollers cover now.

    The scaler's size counts the ``counted`` unmanaged pollers, so the provider holds the rest.
    A hold keeps the scaler's size (``held_size`` held by the provider plus the ``covered`` part),
    but the split is redone when the unmanaged pollers came or left: the provider then gets a new
    size although the scaler's did not change. With nothing counted (``unmanaged_pollers:
    ignore``) every decision passes through as it is. An invoke decision needs none of this: a
    start is already net of every running worker.
    """
    if isinstance(decision, SetSize):
        total = decision.size
    elif isinstance(decision, Hold) and held_size is not None:
        total = held_size + covered
    else:
        return decision, covered
    share = min(counted, total)
    size = total - share
    if isinstance(decision, Hold) and size == held_size:
        return decision, share
    if isinstance(decision, SetSize) and share == 0:
        return decision, 0
    reason = f"{decision.reason}; {share} of {total} covered by unmanaged pollers"
    return SetSize(size, reason), share


def unmanaged_summary(count: int, identities: tuple[str, ...], counted: bool) -> str:
    """What the status and the log say of unmanaged pollers, e.g. ``2 unmanaged pollers (not
    counted as capacity): 12@laptop, 7@old-host``."""
    treated = "counted as capacity" if counted else "not counted as capacity"
    listed = ", ".join(identities)
    if count > len(identities):
        listed += f" and {count - len(identities)} more"
    return f"{count} unmanaged pollers ({treated}): {listed}"
