"""Input topics read in micro-batches with aiokafka, past faust's per-message path.

faust still owns the group: its assignment decides which input partitions a
worker has (so the authors table stays co-partitioned with them), it commits
their offsets (``streams.kafka.commits``, from the acks of processed ranges)
and its rebalances wait for what a worker holds. It only stops *fetching*
them (``streams.kafka.faust_patches``): a worker's own consumer, assigned those partitions, reads
each in order from where the gap filler says it starts (the committed offset)
with ``getmany``.

Measured on the Kafka benchmark (issue 14): delivered by faust, every input
record went through its conductor, a stream channel and an event, and one
poll's records reached the agents in order, so score envelopes queued behind
thousands of inputs waiting for the classifier; the aggregation went idle for
a second at a time and its idle tail read the scores directly. Read here, an
input record costs a ``getmany`` share and the scores flow on at once.

Exactness: a batch is read only while no rebalance or restore is under way,
and is registered with faust's consumer as unacked (``InFlight``) until the
agent has settled it, so a rebalance waits for it as it waits for faust's own
events, before the partitions move. A batch read across a rebalance is
dropped and read again from the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.commits import Ranges
from streams.kafka.faust_patches import hold_unacked, release_unacked
from streams.kafka.gaps import GapEvent, GapFiller, GapMessage
from streams.kafka.restore import state_settled

log = logging.getLogger(__name__)


class InFlight:
    """A directly read batch, as faust's consumer sees it: one unacked message
    that its rebalances and shutdown wait for (``Consumer.wait_empty``)."""

    refcount = 1

    def __init__(self, consumer: Any, records: int) -> None:
        self.consumer, self.records, self.acked = consumer, records, False
        hold_unacked(consumer, self)  # a WeakSet: the agent's batch holds this object

    def release(self) -> None:
        if not self.acked:
            self.acked = True
            release_unacked(self.consumer, self)

    def __repr__(self) -> str:
        return f"<direct batch of {self.records} input records>"


class Read(NamedTuple):
    """One read of the input partitions: its records (as events), the offset
    ranges they account for, the rebalance generation it was read in, and the
    in-flight mark to release once the batch is settled (None: nothing read)."""

    events: list[GapEvent]
    ranges: Ranges
    generation: int
    mark: InFlight | None


class DirectReader:
    """Micro-batches of the input partitions faust assigned to this worker."""

    def __init__(self, app: Any, gaps: GapFiller, owned: Callable[[], list[TopicPartition]], batch_size: int,
                 within: float, client: dict | None = None) -> None:
        self.app, self.gaps, self.owned = app, gaps, owned
        self.batch_size, self.within = batch_size, within
        self.client = client or {}
        self.consumer: AIOKafkaConsumer | None = None
        self.placed: tuple[int, frozenset[TopicPartition]] | None = None  # generation and partitions sought
        self.dropped = 0  # batches read across a rebalance and read again

    async def _consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(
                bootstrap_servers=self.gaps.bootstrap, group_id=None, enable_auto_commit=False,
                auto_offset_reset="earliest", max_poll_records=self.batch_size, **self.client)
            await self.consumer.start()
        return self.consumer

    async def _place(self, generation: int, tps: list[TopicPartition]) -> AIOKafkaConsumer:
        """Assigns and seeks the partitions to where processing continues, once
        a generation (and again after a dropped batch)."""
        c = await self._consumer()
        key = (generation, frozenset(tps))
        if self.placed == key:
            return c
        starts = await self.gaps.start_offsets(generation, tps)
        c.assign(tps)
        for tp in tps:
            start = starts.get((tp.topic, tp.partition))
            if start is None:
                raise RuntimeError(f"{tp.topic}[{tp.partition}]: no offset to start from")
            c.seek(tp, start)
        self.placed = key
        return c

    async def _read(self, c: AIOKafkaConsumer, tps: list[TopicPartition]) -> list[Any]:
        """Up to ``batch_size`` records, waiting at most ``within`` to fill the batch."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.within
        out: list[Any] = []
        while len(out) < self.batch_size:
            left = deadline - loop.time()
            if left <= 0 and out:
                break
            got = await c.getmany(*tps, timeout_ms=max(0, int(left * 1000)), max_records=self.batch_size - len(out))
            for records in got.values():
                out += records
            if left <= 0:
                break
        return out

    async def batch(self) -> Read:
        """The next batch: (events, the offset ranges they account for, the
        generation they were read in, the in-flight mark to release once
        settled). No events after ``within`` without records, or while a
        rebalance or restore is under way."""
        generation = self.app.consumer_generation_id
        tps = self.owned()
        if not tps or not state_settled(self.app):
            await asyncio.sleep(self.within)
            return Read([], [], generation, None)
        c = await self._place(generation, tps)
        records = await self._read(c, tps)
        if not records:
            return Read([], [], generation, None)
        if self.app.consumer_generation_id != generation or not state_settled(self.app):
            # Read across a rebalance: its partitions may be someone else's now.
            self.placed, self.dropped = None, self.dropped + 1
            return Read([], [], generation, None)
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        events = []
        for r in records:
            key = (r.topic, r.partition)
            start = first.setdefault(key, self.gaps.expected.get(key, r.offset))
            if r.offset < start:  # never expected of a seek; a repeat would repeat its side effects
                continue
            last[key] = r.offset
            events.append(GapEvent(GapMessage(r.topic, r.partition, r.offset, r.key, r.value), r.value))
        # Every offset from where a partition continued to its last record is
        # accounted for: offsets without a record are markers or were deleted.
        ranges = [(key[0], key[1], first[key], end + 1) for key, end in last.items()]
        self.gaps.expected.update({key: end + 1 for key, end in last.items()})
        return Read(events, ranges, generation, InFlight(self.app.consumer, len(events)))

    def lag(self) -> dict[TopicPartition, int]:
        """Records between each read partition's end and the next offset to read."""
        c = self.consumer
        if c is None:
            return {}
        out = {}
        for tp in c.assignment():
            high, want = c.highwater(tp), self.gaps.expected.get((tp.topic, tp.partition))
            if high is not None and want is not None:
                out[tp] = max(0, high - want)
        return out

    async def close(self) -> None:
        c, self.consumer = self.consumer, None
        if c is not None:
            await c.stop()
