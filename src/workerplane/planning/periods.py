"""Periods: when surges a group saw recur, and how far each is from its slot.

The period finding of inferred recurrence (:mod:`workerplane.planning.recurrence` counts the
surges and turns a period into upcoming runs): at least ``MIN_SURGES`` surges at near-equal
intervals (within a tolerance the caller sets from its poll interval), of similar size (within
``SIZE_RATIO``), with at most ``MAX_MISSES`` slot missed, counting the slots that passed since the
last one. Surges off the period (a fan-out at a random time) neither count nor break it; the
pattern whose last surge is the latest wins, so a period that changes is relearned from three
surges on the new one.

Pure: times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workerplane.planning.warmups import PastRun

#: Surges on the period before a run is predicted (two equal intervals: one is a coincidence).
MIN_SURGES = 3

#: Slots of the period that may pass without a surge (a missed storm does not erase the period),
#: counting the slots since its last surge; its surges outnumber its missed slots by
#: ``MIN_SURGES`` at least (three surges on four slots are no evidence).
MAX_MISSES = 1

#: How far back (in periods) a period looks for its surges.
LOOKBACK_PERIODS = 6

#: A period shorter than this is a stream, not storms.
MIN_PERIOD_S = 10.0

#: The surges of a period bring similar work: the largest at most this many times the smallest
#: (random fan-outs of random sizes rarely line up in time and in size).
SIZE_RATIO = 2.0


@dataclass(frozen=True)
class Surge:
    """A surge the group saw: when it began and what it brought."""

    onset_at: float
    tasks: int
    spread_s: float
    mean_task_s: float | None

    def past_run(self) -> PastRun:
        """The surge as a past run of its period."""
        return PastRun(self.onset_at, self.tasks, self.mean_task_s, self.spread_s)


@dataclass(frozen=True)
class Period:
    """Surges that recur: every ``period_s``, the last at ``anchor_at``, ``misses`` slots
    between them without one."""

    period_s: float
    anchor_at: float
    surges: tuple[Surge, ...]
    misses: int

    def describe(self) -> str:
        """What an inferred warm-up is based on, in a few words."""
        return f"inferred: every {duration_text(self.period_s)} from {len(self.surges)} surges"


def slots_passed(period: Period, tolerance_s: float, now: float) -> int:
    """Slots of the period since its last surge that went by without one."""
    return max(0, int((now - tolerance_s - period.anchor_at) // period.period_s))


def find_period(surges: Sequence[Surge], tolerance_s: float, now: float) -> Period | None:
    """The period of the latest surges, if they recur (see the module docstring): of the periods
    still current at ``now``, the one whose last surge is the latest, then on most surges, with
    fewest misses, the longest."""
    onsets = [s.onset_at for s in surges[-4:]]
    candidates = {b - a for i, a in enumerate(onsets) for b in onsets[i + 1 :]}
    best: Period | None = None
    for anchor in range(max(0, len(surges) - 3), len(surges)):
        for period_s in candidates:
            if period_s < MIN_PERIOD_S:
                continue
            found = fit_period(surges[: anchor + 1], period_s, tolerance_s)
            if found is None:
                continue
            missed = found.misses + slots_passed(found, tolerance_s, now)
            if missed > MAX_MISSES or len(found.surges) - missed < MIN_SURGES:
                continue
            rank = (found.anchor_at, len(found.surges), -found.misses, found.period_s)
            if best is None or rank > (
                best.anchor_at,
                len(best.surges),
                -best.misses,
                best.period_s,
            ):
                best = found
    return best


def fit_period(surges: Sequence[Surge], period_s: float, tolerance_s: float) -> Period | None:
    """The surges that lie on ``period_s`` back from the last one, the period refined on them
    (least squares); ``None`` unless enough of similar size lie on it with few misses."""
    anchor = surges[-1]

    def on_period(p: float, slack: bool) -> dict[int, Surge]:
        matched: dict[int, Surge] = {0: anchor}
        for s in reversed(surges[:-1]):
            ago = anchor.onset_at - s.onset_at
            slot = round(ago / p)
            if not 1 <= slot <= LOOKBACK_PERIODS or slot in matched:
                continue
            if abs(ago - slot * p) <= tolerance_s * (slot if slack else 1):
                matched[slot] = s
        # Back from the anchor until more slots were missed than allowed: an older surge that
        # happens to lie on the period beyond that is not part of it.
        kept: dict[int, Surge] = {}
        for slot in sorted(matched):
            if slot + 1 - (len(kept) + 1) > MAX_MISSES:
                break
            kept[slot] = matched[slot]
        return kept

    loose = on_period(period_s, slack=True)
    if len(loose) < MIN_SURGES:
        return None
    num = sum(slot * (anchor.onset_at - s.onset_at) for slot, s in loose.items())
    den = sum(slot * slot for slot in loose)
    refined = num / den
    matched = on_period(refined, slack=False)
    sizes = [max(1, s.tasks) for s in matched.values()]
    misses = max(matched) + 1 - len(matched)
    if len(matched) < MIN_SURGES or misses > MAX_MISSES or max(sizes) > SIZE_RATIO * min(sizes):
        return None
    ordered = tuple(matched[slot] for slot in sorted(matched, reverse=True))
    return Period(refined, anchor.onset_at, ordered, misses)


def duration_text(seconds: float) -> str:
    """A period as ``15m0s``, ``1h0m0s`` or ``45s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
