"""The idle tail: records at the end of a stage's partitions that faust never delivered.

A skipped run at the *end* of a partition has no later event to reveal it
(``streams.kafka.gaps``), so after about a second without events, with no
rebalance or restore under way, the stage asks the gap filler to read what lies
between where it expects to continue and each partition's end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import Any

from streams.kafka.gaps import GapFiller
from streams.kafka.stages.context import WorkerIO

log = logging.getLogger(__name__)
SAY_EVERY_SECONDS = 30.0


class IdleTail:
    def __init__(self, io: WorkerIO, topics: Collection[str], gaps: GapFiller, within: float) -> None:
        self.io, self.topics, self.gaps = io, frozenset(topics), gaps
        self.streak = 0  # empty batches in a row
        self.idle_batches = max(2, round(1.0 / within))  # empty batches come every ``within`` seconds
        self.held_since: float | None = None  # when checks began to be skipped

    def due(self, busy: bool) -> bool:
        """Counts a batch (``busy``: it had events); whether a check is due, once per idle second."""
        self.streak = 0 if busy else self.streak + 1
        return self.streak >= self.idle_batches and not self.streak % self.idle_batches

    async def check(self, busy: bool) -> list[Any]:
        """The records read at the tail, when a check is due and the state is settled."""
        if not self.due(busy):
            return []
        if not self.io.settled():
            # A flag left set after a rebalance would keep this safety net off for good: say so.
            now = time.monotonic()
            self.held_since = self.held_since or now
            if now - self.held_since > SAY_EVERY_SECONDS:
                log.warning("idle tail check of %s skipped for %.0f s (%s)", sorted(self.topics),
                            SAY_EVERY_SECONDS, self.io.state())
                self.held_since = now
            return []
        self.held_since = None
        mine = self.io.owned(self.topics)
        try:
            ends = await asyncio.wait_for(self.gaps.end_offsets(mine), 10)
            return await self.gaps.fill_tail(mine, ends, self.io.generation)
        except Exception as exc:  # a safety net must not take the worker down: try again next idle second
            log.warning("idle check of %s failed (%r); retrying later", sorted(self.topics), exc)
            await self.gaps.close()
            return []
