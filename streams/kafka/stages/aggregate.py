"""The aggregate stage: score envelopes in, event-time windows updated.

Envelopes are read in micro-batches (``streams.kafka.batches``), so that one
wait for the changelog covers many of them and each changed key is written
once per batch (``WriteBack``). An envelope's counts are added to our own
windows in one step (``streams.core.window_batches``), exactly as its records
one by one would be; the windows remember the last source offset they took
per source partition, so a replayed envelope changes nothing twice. Envelopes
of version 1 (one observation a record) are still read. A batch is acked
only once its table writes are on the broker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable
from typing import Any

from streams.core.records import DeadLetter
from streams.core.subjects import ALL
from streams.kafka.batches import micro_batches
from streams.kafka.gaps import GapFiller
from streams.kafka.messages import ENVELOPE_VERSION, MalformedEnvelope, counts_of, decode_message
from streams.kafka.messages_v1 import observations_of
from streams.kafka.stages.context import WorkerContext
from streams.kafka.stages.idle_tail import IdleTail


class AggregateStage:
    def __init__(self, ctx: WorkerContext, gaps: GapFiller) -> None:
        self.ctx, self.gaps = ctx, gaps
        s = ctx.settings
        self.idle = IdleTail(ctx.io, {s.kafka.topic_scores}, gaps, s.worker.aggregate_within_seconds)
        self.indexed_in: int | None = None  # the rebalance generation the windows' key index was read in

    async def run(self, stream: Any) -> None:
        """Takes micro-batches of the faust stream of scores until it stops."""
        s = self.ctx.settings
        # A short wait: the envelopes of one score batch arrive together, so a
        # longer one mostly adds latency (0.2 s at a live rate, 2026-12-06).
        batches: AsyncIterable[list[Any]] = micro_batches(stream, s.worker.aggregate_batch_size,
                                                          s.worker.aggregate_within_seconds, idle=True)
        async for events in batches:
            await self.take(events)

    async def take(self, delivered: list[Any]) -> None:
        """One micro-batch: the events faust delivered, with any it skipped read
        directly; counted, written, and acked once the writes are on the broker.
        faust's own events are acked by ``micro_batches`` when the next batch is asked for."""
        io = self.ctx.io
        generation = io.generation
        events = await self.gaps.fill(delivered, generation)
        events = await self.idle.check(bool(delivered)) + events
        ranges = self.gaps.take_ranges()
        if not events:
            io.ack(ranges, generation)  # offsets without records, if any
            self.ctx.liveness.moved("aggregate")
            return
        await io.wait_restored()  # never update windows read from a half-restored table
        if io.generation != self.indexed_in:
            # A rebalance restores some keys and hides others: expiry and the cache read them anew.
            self.ctx.core.aggregator.windows.forget_keys()
            self.ctx.windows.forget()
            self.indexed_in = io.generation
        pending = await self.count(events)
        self.ctx.lease.check()  # a worker paused past its session writes nothing from before
        self.ctx.windows.flush(io.restore_current_event)  # each key to its own event's partition
        await asyncio.gather(*pending)
        await io.delivered("windows")
        self.ctx.lease.check()
        io.ack(ranges, generation)
        self.ctx.liveness.moved("aggregate")

    async def count(self, events: list[Any]) -> list[Any]:
        """Counts every envelope's records in the windows (cached: ``flush``
        writes them); returns the deliveries of the dead letters sent."""
        ctx, pending = self.ctx, []
        for event in events:
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
