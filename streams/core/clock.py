"""The stream clock: no single record may move event time far ahead of the others.

A record dated within the plausible range (``records.parse``) can still lie far
ahead of the stream it arrives in: one post of 2025 in a replay of 2019 would
move every watermark six years on and empty every span. The clock remembers
the newest event time it has admitted; a record more than ``max_skew_ms`` ahead
of it is refused (dead-lettered as ``timestamp_ahead_of_stream``), unless it is
close to the wall clock, where live traffic is (so a worker that switches from
a replay to live records keeps counting). The first clock reading comes from
the median of the first records seen, so a hostile record at the start of a
stream cannot set the clock either.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streams.core.records import wall_ms


@dataclass
class EventClock:
    max_skew_ms: int  # 0 turns the guard off
    now_ms: Callable[[], int] = wall_ms
    newest: int | None = field(default=None)

    def seed(self, event_times: Sequence[int]) -> None:
        """Start from the median of the first records, if not started yet."""
        if self.newest is None and event_times:
            self.newest = int(statistics.median_low(event_times))

    def admit(self, event_ms: int) -> str | None:
        """None when the record may be counted (the clock moves to it), else why not."""
        if self.max_skew_ms <= 0:
            return None
        if self.newest is None:
            self.newest = event_ms
            return None
        live = event_ms >= self.now_ms() - self.max_skew_ms
        if event_ms > self.newest + self.max_skew_ms and not live:
            return (f"{(event_ms - self.newest) // 1000}s ahead of the newest event time admitted so far "
                    f"(the limit is {self.max_skew_ms // 1000}s)")
        self.newest = max(self.newest, event_ms)
        return None
