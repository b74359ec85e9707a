"""The aggregate stage: score envelopes in, event-time windows updated.

Envelopes are read in micro-batches (``streams.kafka.batches``). An envelope's
counts are added to our own windows in one step (``streams.core.window_batches``),
exactly as its records one by one would be; the windows remember the last
source offset they took per source partition, so a replayed envelope changes
nothing twice. Envelopes of version 1 (one observation a record) are still read.

The windows are written back on an interval, as Kafka Streams' record cache
and commit interval do: the counted envelopes are *held* (``Held``) while
their writes wait in the write-back cache, and every
``worker.windows_flush_seconds`` each changed key is written once and the
held envelopes are acked once those writes are on the broker. A bucket key
then costs one changelog message per interval instead of one per batch. A
held envelope is never acked before its writes, so a crash loses nothing
that is not counted again. Holding is marked to faust as records in flight:
a rebalance waits for the flush (flushed at once when one begins) rather
than handing a partition over while this worker's writes to it are still on
their way, which the next owner's restore would not see and a later one
would take over the next owner's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from streams.core.records import DeadLetter
from streams.core.subjects import ALL
from streams.kafka.batches import ack_all, micro_batches
from streams.kafka.commits import Ranges
from streams.kafka.gaps import GapFiller
from streams.kafka.messages import ENVELOPE_VERSION, MalformedEnvelope, counts_of, decode_message
from streams.kafka.messages_v1 import observations_of
from streams.kafka.stages.context import Mark, WorkerContext
from streams.kafka.stages.idle_tail import IdleTail

log = logging.getLogger(__name__)
YIELD_SECONDS = 0.05  # longest the stage counts without letting the loop's other tasks run
MAX_DIRTY_KEYS = 5_000  # a flush is due sooner once this many keys wait (the cache keeps 10,000)


@dataclass(eq=False)
class Held:
    """Envelopes counted in the windows whose writes wait for the next flush."""

    generation: int  # the rebalance generation they were counted in
    mark: Mark  # what a rebalance waits for until the flush
    since: float  # monotonic time of the first
    events: list[Any] = field(default_factory=list)  # every event counted (the writes' tokens point at them)
    delivered: list[Any] = field(default_factory=list)  # faust's own events, acked through its stream
    ranges: Ranges = field(default_factory=list)  # offsets read directly, all accounted for
    pending: list[Any] = field(default_factory=list)  # deliveries of dead letters sent

    def add(self, delivered: list[Any], events: list[Any], ranges: Ranges) -> None:
        self.delivered += delivered
        self.events += events
        self.ranges += ranges


class AggregateStage:
    def __init__(self, ctx: WorkerContext, gaps: GapFiller) -> None:
        self.ctx, self.gaps = ctx, gaps
        s = ctx.settings
        self.idle = IdleTail(ctx.io, {s.kafka.topic_scores}, gaps, s.worker.aggregate_within_seconds)
        self.indexed_in: int | None = None  # the rebalance generation the windows' key index was read in
        self.held: Held | None = None
        self.ack_delivered: Callable[[list[Any]], Awaitable[None]] = _ack_nothing

    async def run(self, stream: Any) -> None:
        """Takes micro-batches of the faust stream of scores until it stops."""
        s = self.ctx.settings
        # A short wait: the envelopes of one score batch arrive together, so a
        # longer one mostly adds latency (0.2 s at a live rate, 2026-12-06).
        batches: AsyncIterable[list[Any]] = micro_batches(stream, s.worker.aggregate_batch_size,
                                                          s.worker.aggregate_within_seconds, auto_ack=False, idle=True)

        async def ack_delivered(events: list[Any]) -> None:
            await ack_all(stream, events)

        self.ack_delivered = ack_delivered
        try:
            async for events in batches:
                await self.take(events)
        finally:
            self.drop()  # stopping: what was held is counted again after the restart

    async def take(self, delivered: list[Any]) -> None:
        """One micro-batch: the events faust delivered, with any it skipped read
        directly; counted and held, and flushed when a flush is due."""
        io = self.ctx.io
        generation = io.generation
        self._follow_generation()
        events = await self.gaps.fill(delivered, generation)
        events = await self.idle.check(bool(delivered)) + events
        ranges = self.gaps.take_ranges()
        if events:
            await io.wait_restored()  # never update windows read from a half-restored table
            self._follow_generation()
            held = self.held = self.held or Held(io.generation, io.hold(len(events)), time.monotonic())
            held.pending += await self.count(events)
            held.add(delivered, events, ranges)
        elif self.held is not None:
            self.held.add(delivered, [], ranges)
        else:
            io.ack(ranges, generation)  # offsets without records, if any
            self.ctx.liveness.moved("aggregate")
            return
        if self._flush_due(idle=not events):
            await self.flush()

    def _follow_generation(self) -> None:
        """After a rebalance the windows' key index and cache are read anew
        (it restores some keys and hides others); writes held from before it
        are dropped, as their envelopes are counted again by their owner now."""
        generation = self.ctx.io.generation
        if self.held is not None and self.held.generation != generation:
            log.warning("a rebalance completed while %d score envelopes were held: dropped, to be counted again",
                        len(self.held.events))
            self.drop()
        if generation != self.indexed_in:
            self.ctx.core.aggregator.windows.forget_keys()
            self.ctx.windows.forget()
            self.indexed_in = generation

    def _flush_due(self, idle: bool) -> bool:
        held, io = self.held, self.ctx.io
        if held is None:
            return False
        every = self.ctx.settings.worker.windows_flush_seconds
        return (time.monotonic() - held.since >= every or self.ctx.windows.dirty >= MAX_DIRTY_KEYS
                or io.should_stop or (idle and not io.settled()))  # a rebalance waits for the flush

    async def flush(self) -> None:
        """Writes every changed window key once and acks the held envelopes
        once those writes (and their dead letters) are on the broker."""
        held, io = self.held, self.ctx.io
        if held is None:
            return
        if held.generation != io.generation:  # a rebalance went on without this worker: write nothing
            self._follow_generation()
            return
        self.held = None
        try:
            self.ctx.lease.check()  # a worker paused past its session writes nothing from before
            self.ctx.windows.flush(io.restore_current_event)  # each key to its own event's partition
            await asyncio.gather(*held.pending)
            await io.delivered("windows")
            self.ctx.lease.check()
            if io.generation == held.generation:  # else their next owner counts them again
                io.ack(held.ranges, held.generation)
                await self.ack_delivered(held.delivered)
        finally:
            held.mark.release()
        self.ctx.liveness.moved("aggregate")

    def drop(self) -> None:
        """Forgets what is held: its writes are not made and its envelopes not acked."""
        held, self.held = self.held, None
        if held is not None:
            self.ctx.windows.discard()
            self.ctx.core.aggregator.windows.forget_keys()
            self.indexed_in = None
            held.mark.release()

    async def count(self, events: list[Any]) -> list[Any]:
        """Counts every envelope's records in the windows (cached: ``flush``
        writes them); returns the deliveries of the dead letters sent."""
        ctx, pending = self.ctx, []
        began = time.perf_counter()
        for event in events:
            if time.perf_counter() - began > YIELD_SECONDS:
                # A long gap read at once can hold thousands of envelopes: the loop's
                # other tasks (heartbeats among them) run between slices of it.
                await asyncio.sleep(0)
                began = time.perf_counter()
            ctx.io.set_current_event(event)  # table writes go to this event's changelog partition
            msg = event.message
            src = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
            raw = event.value if isinstance(event.value, bytes) else b""
            try:
                envelope = decode_message(raw)
                counts = counts_of(envelope) if envelope.get("v") == ENVELOPE_VERSION else None
                items = list(observations_of(envelope)) if counts is None else []
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                pending.append(await ctx.reject(DeadLetter(raw, src, "invalid_score", str(exc)[:300])))
                continue
            if counts is not None:
                try:
                    tally = ctx.core.aggregator.add_counts(counts)
                except Exception as exc:  # never stop the worker on one envelope (a bad column fails before any write)
                    malformed = isinstance(exc, MalformedEnvelope)
                    reason = "invalid_score" if malformed else f"internal_error:{type(exc).__name__}"
                    pending.append(await ctx.reject(DeadLetter(raw, src, reason, str(exc)[:300])))
                    continue
                if counts.subject != ALL:  # a record is counted once, in its own topic
                    for stream, n in tally.counted.items():
                        ctx.metrics.record_counted(stream, True, n)
                    for stream, n in tally.late.items():
                        ctx.metrics.record_counted(stream, False, n)
                continue
            pending += await self._count_v1(envelope, items, src)
        return pending

    async def _count_v1(self, envelope: dict, items: list, src: dict) -> list[Any]:
        """An envelope of version 1: one observation at a time."""
        ctx, pending = self.ctx, []
        for j, (obs, origin) in enumerate(items):
            try:
                counted = ctx.core.aggregator.add(obs, origin)
            except Exception as exc:  # never stop the worker on one observation
                one = json.dumps(envelope["obs"][j] if "obs" in envelope else envelope,
                                 default=str).encode("utf-8", "surrogatepass")
                pending.append(await ctx.reject(DeadLetter(one, {**src, "index": j},
                                                           f"internal_error:{type(exc).__name__}", str(exc)[:300])))
                continue
            if obs.subject != ALL:  # a record is counted once, in its own topic
                ctx.metrics.record_counted(obs.series.stream, counted)
        return pending


async def _ack_nothing(events: list[Any]) -> None:
    """Before ``run``: the unit tests hand events over themselves."""
