"""A safety net under faust's consumer: offsets it never delivered.

Seen on takeovers (issue 4): after a rebalance faust seeks to the committed
offsets twice in quick succession, and records fetched in between can be
marked as read without ever reaching the stream, so a worker silently skips a
run of offsets (30..37 of a partition, say) and goes on. Input and score
topics here are plain append-only logs (no compaction, no transactions), so
every offset from the committed one on must be seen: the agents ask
``GapFiller.fill`` for each batch, and any offsets missing before an event are
read straight from the broker and processed first, in order. Records faust
delivers twice are harmless: every state update is idempotent.

A skipped run at the *end* of a partition has no later event to reveal it,
and was the loss seen under load (a worker that took partitions over went
idle with a few hundred records unprocessed and the consumer at the end of
the log). So when an agent has been idle for a while, ``fill_tail`` compares
each assigned partition's end with the next offset the agent expects and
reads what lies between.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)
RECHECK_SECONDS = 5.0
NONE_RECHECK_SECONDS = 1.0
READ_SECONDS = 60.0  # a direct read that gets nothing for this long fails (the caller retries or restarts)


@dataclass
class GapMessage:
    """What the agents read of a faust message, for a record read directly."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class GapEvent:
    """Stands in for a faust event: ``message`` for the agents and the table
    stores (which pick the changelog partition from it), ``value`` decoded by
    the caller's deserializer."""

    __slots__ = ("__weakref__", "message", "value")

    def __init__(self, message: GapMessage, value: Any) -> None:
        self.message = message
        self.value = value

    def ref(self) -> weakref.ref:
        return weakref.ref(self)


class GapFiller:
    def __init__(self, bootstrap: str, group_id: str, deserialize=lambda b: b, client: dict | None = None,
                 assigned: Callable[[], list[TopicPartition]] | None = None) -> None:
        self.bootstrap = bootstrap
        # The agent's partitions now: their committed offsets are asked for
        # together, once a generation. Asked partition by partition, as each
        # first appeared in a batch, a fresh stream paid one client start (and
        # a second ask a second later when none was committed) per partition:
        # about 30 ms of every batch of the Kafka benchmark's burst.
        self.assigned = assigned or (lambda: [])
        # Read by the commit rule (streams.kafka.commits): where processing of
        # each partition starts in this generation.
        self.floors: dict[tuple[str, int], int] = {}
        self.client = client or {}  # security settings (streams.kafka.security.client_kwargs)
        self.group_id = group_id
        self.deserialize = deserialize
        self.expected: dict[tuple[str, int], int] = {}
        self.uncommitted: dict[tuple[str, int], float] = {}  # no committed offset yet: when we last asked
        self.unconfirmed: set[tuple[str, int]] = set()  # "none committed", not asked a second time yet
        self.generation: int | None = None
        self._probe: AIOKafkaConsumer | None = None  # one long-lived client for end offsets
        self.filled = 0  # records read directly so far (a metric for the curious)
        self.repeated = 0  # records faust delivered after they had been read directly
        self.confirm_rounds = 0  # second asks made (one a call, for all of its partitions)
        # Offset ranges read directly, every offset in them now accounted for
        # (a record returned, or no record there): ``take_ranges``.
        self.ranges: list[tuple[str, int, int, int]] = []

    async def _committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
                             **self.client)
        await c.start()
        try:
            return {tp: await c.committed(tp) for tp in tps}
        finally:
            await c.stop()

    async def _read(self, tp: TopicPartition, start: int, end: int) -> list[GapMessage]:
        """The records at offsets [start, end) (fewer where retention deleted
        the first ones), or TimeoutError: a partial read taken for a whole one would skip the rest
        for good. The consumer's position, not the last record, says when the
        read is done: offsets without a record (transaction markers) count."""
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None, **self.client)
        await c.start()
        out: list[GapMessage] = []
        try:
            c.assign([tp])
            first = (await c.beginning_offsets([tp]))[tp]
            if first > start:
                log.warning("%s[%d] offsets %d..%d were deleted (retention) before they were read", tp.topic,
                            tp.partition, start, first - 1)
                start = first
            c.seek(tp, start)
            deadline = time.monotonic() + READ_SECONDS
            while await c.position(tp) < end:
                records = (await c.getmany(tp, timeout_ms=1000)).get(tp, [])
                out += [GapMessage(tp.topic, tp.partition, r.offset, r.key, r.value) for r in records
                        if r.offset < end]
                if records:
                    deadline = time.monotonic() + READ_SECONDS
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"{tp.topic}[{tp.partition}]: offsets {start}..{end - 1} not all read in "
                                       f"{READ_SECONDS:.0f} s ({len(out)} records so far)")
        finally:
            await c.stop()
        return out

    async def _start(self, generation: int, tps: list[TopicPartition]) -> None:
        """A new generation forgets positions; partitions not seen in this one
        start at their committed offsets."""
        if generation != self.generation:  # a rebalance: positions restart at the committed offsets
            self.generation = generation
            self.expected.clear()
            self.uncommitted.clear()
            self.floors.clear()
            self.unconfirmed.clear()
            self.ranges.clear()  # reads of the old generation are not acked in the new one
        now = time.monotonic()
        # A partition without a committed offset starts at its first offset.
        # During a rebalance the coordinator can answer "none" for a moment, and
        # a wrong "none" would re-read the partition from its start (wasted
        # work only: every state update is idempotent). So the answer is
        # confirmed (``_confirm``) before any direct read it would cause: in the
        # usual case, a fresh partition whose first event is its first offset,
        # nothing waits.
        def unknown_of(candidates: list[TopicPartition]) -> set[TopicPartition]:
            return {tp for tp in candidates if (tp.topic, tp.partition) not in self.expected
                    and now - self.uncommitted.get((tp.topic, tp.partition), -1e9) > RECHECK_SECONDS}

        unknown = unknown_of(tps)
        if unknown:
            unknown |= unknown_of(self.assigned())  # the agent's other partitions, in the same ask
            committed = await self._committed(sorted(unknown))
            missing = [tp for tp, off in committed.items() if off is None or off < 0]
            firsts = await self.beginning_offsets(missing) if missing else {}
            for tp, off in committed.items():
                key = (tp.topic, tp.partition)
                if off is None or off < 0:
                    off = firsts.get(tp)
                    self.uncommitted[key] = now
                    self.unconfirmed.add(key)
                if off is not None:
                    self.expected[key] = off
                    self.floors[key] = off

    async def _confirm(self, keys: set[tuple[str, int]]) -> None:
        """Asks once more, a moment later, for the committed offsets of
        partitions that had none, before reading any from its first offset.
        All of a call's partitions wait together: one at a time, a cold start
        whose eight partitions all needed a direct read took eight seconds."""
        if not keys:
            return
        self.confirm_rounds += 1
        await asyncio.sleep(NONE_RECHECK_SECONDS)
        committed = await self._committed([TopicPartition(*key) for key in sorted(keys)])
        self.unconfirmed -= keys  # only once asked: a failed ask leaves them to be confirmed next time
        for tp, off in committed.items():
            key = (tp.topic, tp.partition)
            if off is not None and off >= 0:
                self.uncommitted.pop(key, None)
                self.expected[key] = max(self.expected.get(key, 0), off)
                self.floors[key] = off

    async def _confirm_before_reads(self, firsts: dict[tuple[str, int], int]) -> None:
        """Confirms, in one round, every unconfirmed "none committed" start that
        the call's first offset per partition (``firsts``) lies past: a direct
        read from it would follow."""
        await self._confirm({key for key, beyond in firsts.items()
                             if key in self.unconfirmed and (want := self.expected.get(key)) is not None
                             and beyond > want})

    async def start_offsets(self, generation: int, tps: list[TopicPartition]) -> dict[tuple[str, int], int]:
        """Where processing of each partition continues in this generation: the
        committed offset, or, with none confirmed twice, the first offset."""
        await self._start(generation, tps)
        await self._confirm({(tp.topic, tp.partition) for tp in tps} & self.unconfirmed)
        return {key: self.expected[key] for tp in tps if (key := (tp.topic, tp.partition)) in self.expected}

    async def _client(self) -> AIOKafkaConsumer:
        if self._probe is None:
            self._probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                           **{**self.client, "request_timeout_ms": 8000})
            await self._probe.start()
        return self._probe

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return await (await self._client()).beginning_offsets(tps)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's end, from the broker: faust's own highwater is only
        refreshed by its fetches, which a stalled fetcher does not make."""
        if not tps:
            return {}
        return await (await self._client()).end_offsets(tps)

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            try:
                await probe.stop()
            except Exception:  # a broken client is dropped either way
                log.debug("closing the end-offsets client failed", exc_info=True)

    async def _gap(self, tp: TopicPartition, start: int, end: int) -> list[GapEvent]:
        return [GapEvent(m, self.deserialize(m.value)) for m in await self._read(tp, start, end)]

    def _next(self, key: tuple[str, int], seen: dict[tuple[str, int], int]) -> int | None:
        """The next offset expected of a partition in this call (``seen`` holds
        the call's own progress)."""
        return seen.get(key, self.expected.get(key))

    def _apply(self, seen: dict[tuple[str, int], int], reads: list[tuple[str, int, int, int, int]]) -> None:
        """Records what a call read and where each partition now continues, once
        the whole call has succeeded. A call that fails part-way (the broker
        went away during its third read, say) must leave no trace: marking the
        first two reads done would make the records they returned, which the
        caller never gets, look processed, and faust's later delivery of them
        would be skipped as already read (seen: a broker restart lost 380 posts
        that way, every partition at lag 0)."""
        for key, offset in seen.items():
            self.expected[key] = max(self.expected.get(key, offset), offset)
        for topic, partition, start, end, found in reads:
            self.filled += found
            # Offsets deleted by retention are accounted for too: nothing can read them.
            self.ranges.append((topic, partition, start, end))

    def take_ranges(self) -> list[tuple[str, int, int, int]]:
        """(topic, partition, start, end) of every direct read since the last
        call: once the records they returned are processed, all their offsets
        may be acked (``streams.kafka.commits.ack_ranges``)."""
        out, self.ranges = self.ranges, []
        return out

    async def fill_tail(self, assigned: list[TopicPartition], ends: dict[TopicPartition, int | None],
                        generation: int) -> list[GapEvent]:
        """Records between the next expected offset and the end of each assigned
        partition, read directly. Call it only when the agent has seen nothing
        for a while (faust has delivered all it buffered) and no rebalance or
        recovery is under way."""
        await self._start(generation, assigned)
        await self._confirm_before_reads({(tp.topic, tp.partition): end for tp in assigned
                                          if (end := ends.get(tp)) is not None})
        out: list[GapEvent] = []
        seen: dict[tuple[str, int], int] = {}
        reads: list[tuple[str, int, int, int, int]] = []
        for tp in assigned:
            key = (tp.topic, tp.partition)
            end = ends.get(tp)
            if end is None or (want := self._next(key, seen)) is None or end <= want:
                continue
            log.warning("%s[%d] offsets %d..%d never reached the agent: reading them directly", key[0], key[1],
                        want, end - 1)
            found = await self._gap(tp, want, end)
            out += found
            reads.append((tp.topic, tp.partition, want, end, len(found)))
            seen[key] = end
        self._apply(seen, reads)
        return out

    async def fill(self, events: list[Any], generation: int) -> list[Any]:
        """The batch with any skipped records inserted (as GapEvents) before the
        event that revealed them, and without events already read directly."""
        await self._start(generation, [TopicPartition(e.message.topic, e.message.partition) for e in events])
        firsts: dict[tuple[str, int], int] = {}
        for e in events:
            firsts.setdefault((e.message.topic, e.message.partition), e.message.offset)
        await self._confirm_before_reads(firsts)
        out: list[Any] = []
        seen: dict[tuple[str, int], int] = {}
        reads: list[tuple[str, int, int, int, int]] = []
        for e in events:
            key = (e.message.topic, e.message.partition)
            want = self._next(key, seen)
            if want is not None and e.message.offset < want:
                # Already read directly in this generation (the idle tail got
                # there first): processing it again would repeat its side
                # effects, such as its dead letter. The caller still acks it.
                self.repeated += 1
                continue
            if want is not None and e.message.offset > want:
                log.warning("faust skipped %s[%d] offsets %d..%d: reading them directly", key[0], key[1], want,
                            e.message.offset - 1)
                found = await self._gap(TopicPartition(*key), want, e.message.offset)
                out += found
                reads.append((key[0], key[1], want, e.message.offset, len(found)))
            out.append(e)
            seen[key] = max(seen.get(key, 0), e.message.offset + 1)
        self._apply(seen, reads)
        return out
