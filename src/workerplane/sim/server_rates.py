"""Temporal's task add and dispatch rates, as the matching service counts them.

The server (``service/matching/task_tracker.go``, created by ``newTaskTracker(timeSource, 5 s,
30 s)``) counts tasks in a circular buffer of ``30 s / 5 s + 1 = 7`` buckets of 5 s. Each event
adds one to the current bucket; moving to a new bucket clears it. The rate is the buffer's total
over ``min(time since the current bucket started + 30 s, time since the tracker was created)``.
So a rate is a sliding-window count: it reaches exactly zero about 35 s after the last task, and a
burst shows up at once instead of rising like an average. Modelled here bucket for bucket.
"""

from __future__ import annotations

import math

#: The server's bucket size and measured interval (``newTaskTracker``'s arguments).
BUCKET_S = 5.0
WINDOW_S = 30.0


class SlidingRate:
    """A count of events over a sliding window of whole buckets, read as events per second."""

    def __init__(self, bucket_s: float = BUCKET_S, window_s: float = WINDOW_S) -> None:
        self.bucket_s = bucket_s
        self.window_s = window_s
        self.buckets = [0] * (int(window_s / bucket_s) + 1)
        self.position = 0
        self.bucket_start = 0.0
        self.created = 0.0

    def _advance(self, now: float) -> None:
        elapsed = math.floor((now - self.bucket_start) / self.bucket_s + 1e-9)
        for _ in range(min(max(elapsed, 0), len(self.buckets))):
            self.position = (self.position + 1) % len(self.buckets)
            self.buckets[self.position] = 0
        if elapsed > 0:
            self.bucket_start += elapsed * self.bucket_s

    def hit(self, now: float) -> None:
        """Count one event at ``now``."""
        self._advance(now)
        self.buckets[self.position] += 1

    def read(self, now: float) -> float:
        """Events per second over the window, as ``rateAndFull`` computes it."""
        self._advance(now)
        span = min(now - self.bucket_start + self.window_s, now - self.created)
        return sum(self.buckets) / span if span > 0 else 0.0
