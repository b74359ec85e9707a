"""The score stage: input records in, score envelopes out.

faust assigns the input partitions and commits them; the records are read
here in micro-batches (``streams.kafka.direct``), validated (dead letters with
their reason, bytes and topic/partition/offset), classified in the
classifier's processes, and published to the scores topic as one envelope per
topic key per batch (``streams.kafka.messages``).

Batches are in flight in two queues: the next ones are classified while this
one is assembled and sent, and sent ones wait for the broker's acks while the
next are assembled, so neither the classifier nor the loop waits for a round
trip to the broker (measured: with the wait inline, one worker was held near
batch size / ack latency, with 40% of two cores idle). Batches are sent, and
acked, in order. The next batch is read while the held ones are classified,
and one whose classification ends mid-read is sent at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from models.classifier_process import ClassifierUnavailable
from streams.core.pairing import Pairing, add_scored
from streams.core.pipeline import source_origin
from streams.core.records import DeadLetter, Parsed, internal_error
from streams.core.scoring import Scored
from streams.kafka.commits import Ranges
from streams.kafka.direct import InFlight, Read
from streams.kafka.messages import EnvelopeWriter, encode_json
from streams.kafka.stages.context import SCORES, VIOLATIONS, WorkerContext


class Reader(Protocol):
    """Where the stage's input batches come from (``streams.kafka.direct.DirectReader``)."""

    async def batch(self) -> Read: ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class Batch:
    """One micro-batch of input records on its way: classifying, then sent, then settled."""

    records: list[tuple[Any, Parsed]]  # (event, parsed record) of each record to score
    classified: asyncio.Future | None  # the classifier's (outputs, seconds); None: nothing to classify
    arrived: float  # perf_counter when read
    ranges: Ranges  # offsets the batch accounts for, acked once it is settled
    generation: int  # the rebalance generation it was read in
    mark: InFlight | None  # what a rebalance waits for until the batch is settled
    pending: list[Any] = field(default_factory=list)  # deliveries to await before acking

    @property
    def is_classified(self) -> bool:
        return self.classified is None or self.classified.done()

    @property
    def delivered(self) -> bool:
        return all(f.done() for f in self.pending)

    def release(self) -> None:
        """Lets a rebalance waiting for this batch go on (acked or not: an unacked one is read again)."""
        if self.mark is not None:
            self.mark.release()


class ScoreStage:
    def __init__(self, ctx: WorkerContext, reader: Reader) -> None:
        self.ctx, self.reader = ctx, reader
        self.pairing = Pairing()  # this worker's tallies; the metrics are what is read

    async def run(self) -> None:
        """Reads, classifies, sends and settles batches until the worker stops."""
        ctx, ahead = self.ctx, self.ctx.settings.classifier.batches_ahead
        held: deque[Batch] = deque()  # classifying, oldest first
        sent: deque[Batch] = deque()  # sent, waiting for the broker's acks
        reading: asyncio.Future | None = None
        try:
            while not ctx.io.should_stop:
                reading = reading or asyncio.ensure_future(self.reader.batch())
                classifying = [held[0].classified] if held and not held[0].is_classified else []
                await asyncio.wait([reading, *classifying], return_when=asyncio.FIRST_COMPLETED)
                idle = False
                if reading.done():
                    read = reading.result()  # a failed read takes the worker down
                    reading = None
                    if read.events:
                        held.append(await self.start(read))
                    idle = not read.events
                while held and (len(held) > ahead or idle or held[0].is_classified):
                    batch = held.popleft()
                    await self.send(batch)
                    sent.append(batch)
                while sent and (len(sent) > ahead or idle or sent[0].delivered):
                    await self.settle(sent.popleft())
                    ctx.liveness.moved("score")
                if idle and not (held or sent):
                    ctx.liveness.moved("score")  # nothing to read and nothing held: idle, not stalled
                ctx.liveness.waiting("score", bool(held or sent))
        finally:
            if reading is not None:  # a batch read but not started is not acked either: read again
                reading.cancel()
                done = (await asyncio.gather(reading, return_exceptions=True))[0]
                if isinstance(done, Read) and done.mark is not None:
                    done.mark.release()
            for batch in (*held, *sent):  # never acked: the next owner reads them again
                batch.release()
            await self.reader.close()

    async def start(self, read: Read) -> Batch:
        """Validates a batch read directly (dead letters sent, tombstones and
        records outside the run's range skipped) and starts classifying it."""
        ctx, arrived = self.ctx, time.perf_counter()
        if read.events:
            await ctx.io.wait_restored()  # groups read the authors table: never a half-restored one
        records: list[tuple[Any, Parsed]] = []
        pending: list[Any] = []
        for ev in read.events:
            msg = ev.message
            if ev.value is None:  # a tombstone deletes a key; it holds no record to score
                ctx.metrics.record_skipped("tombstone")
                continue
            kind = "post" if msg.topic == ctx.settings.kafka.topic_posts else "lm"
            source = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
            parsed = ctx.core.scorer.parse(ev.value, kind, source)
            if isinstance(parsed, DeadLetter):
                pending.append(await ctx.reject(parsed))
            elif not ctx.in_range(parsed.record.created_at):
                ctx.metrics.record_skipped("outside_range")
            else:
                records.append((ev, parsed))
        classified = None
        if records:
            loop = asyncio.get_running_loop()
            classified = loop.run_in_executor(ctx.executor, ctx.core.scorer.classify_timed, [p for _, p in records])
        return Batch(records, classified, arrived, read.ranges, read.generation, read.mark, pending)

    async def _classified(self, batch: Batch) -> list[tuple[Any, Parsed, tuple, int]]:
        """(event, parsed, outputs, index) of each record the classifier scored."""
        ctx = self.ctx
        try:
            outputs, seconds = await batch.classified  # type: ignore[misc]
        except ClassifierUnavailable:
            raise  # infrastructure, not data: the worker exits and is restarted on its committed offsets
        except Exception:  # one text broke the batch: classify one by one, dead-letter the culprits
            work = []
            for ev, parsed in batch.records:
                try:
                    work.append((ev, parsed, ctx.core.scorer.classify([parsed]), 0))
                except ClassifierUnavailable:
                    raise
                except Exception as exc:
                    batch.pending.append(await ctx.reject(internal_error(parsed, exc)))
            return work
        ctx.metrics.batch_classified(len(batch.records), seconds)
        return [(ev, parsed, outputs, i) for i, (ev, parsed) in enumerate(batch.records)]

    def _encoded(self, scored: Scored) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """A score record and its violations (key, value), each encoded once: a
        value the codec refuses (a lone surrogate) fails here, for this record
        alone. The record holds every name the envelope's header does."""
        violations = self.ctx.core.scorer.violations(scored) if scored.behavior else []
        return encode_json(scored.to_record()), [(v["id"].encode(), encode_json(v)) for v in violations]

    async def send(self, batch: Batch) -> None:
        """Assembles a classified batch (topics, groups, guardrails) and sends its
        envelopes and violations; ``settle`` acks it once they are on the broker."""
        if batch.classified is None:
            return
        ctx = self.ctx
        writer = EnvelopeWriter(ctx.core.aggregator.windows.cfg.bucket_ms)
        for ev, parsed, outputs, i in await self._classified(batch):
            # The authors table writes to the changelog partition of the current
            # event: make it this record's event, not the batch's last.
            ctx.io.set_current_event(ev)
            try:
                scored = ctx.core.scorer.assemble(parsed, outputs, i)
                record, violations = self._encoded(scored)
                origin = source_origin(parsed.source)
                if origin is None:
                    raise ValueError("a record read from Kafka without its topic, partition and offset")
                units = scored.units()  # once a record: its observation and both envelopes' columns
                writer.add(scored.observation(units), origin, units, record)
            except Exception as exc:  # data must never stop a worker: this record's dead letter
                batch.pending.append(await ctx.reject(internal_error(parsed, exc)))
                continue
            ctx.metrics.record_scored(scored)
            if pairs := add_scored(self.pairing, scored):  # a probe answer: how it relates to its post
                ctx.metrics.paired(scored, pairs)
            if scored.behavior:
                ctx.metrics.judged(scored)
                for key, value in violations:
                    batch.pending.append(await ctx.io.send(VIOLATIONS, key, value))
        ctx.lease.check()  # nothing from before a long pause is written
        ctx.authors.flush(ctx.io.restore_current_event)  # each author to its own event's partition
        # One message per topic key per micro-batch, holding its counts, instead of two per record.
        for key, payload in writer.envelopes():
            batch.pending.append(await ctx.io.send(SCORES, key.encode(), payload))

    async def settle(self, batch: Batch) -> None:
        """Acks a sent batch. Its offsets may be committed once it is acked: its
        scores and author updates must be on the broker by then, not in a
        buffer a kill -9 would lose."""
        ctx = self.ctx
        try:
            await asyncio.gather(*batch.pending)
            await ctx.io.delivered("authors")
            ctx.lease.check()
            ctx.io.ack(batch.ranges, batch.generation)
        finally:
            batch.release()
        if batch.classified is not None:
            ctx.metrics.e2e_latency.labels(ctx.metrics.run).observe(time.perf_counter() - batch.arrived)
