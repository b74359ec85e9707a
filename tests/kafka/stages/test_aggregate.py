"""The aggregate stage without a broker: envelopes counted in the windows once,
hostile envelopes dead-lettered, replays changing nothing (streams.kafka.stages.aggregate)."""

from __future__ import annotations

import asyncio
import base64
import copy
import json

import numpy as np

from streams.kafka.direct import Read
from streams.kafka.messages import counts_of, decode_message
from streams.kafka.messages_v1 import encode_observation, envelopes
from streams.kafka.stages.aggregate import AggregateStage
from streams.kafka.stages.context import DEAD_LETTERS, SCORES
from streams.kafka.stages.score import ScoreStage
from tests.kafka.stages.memory_io import demo_lines, event, memory_context
from tests.kafka.stages.test_score import POSTS, RESPONSES, metric


def scored_envelopes(settings, classifier, batches: int = 1) -> list[bytes]:
    """The envelopes of 60 records scored in ``batches`` score batches."""
    ctx, io, _, _ = memory_context(settings, classifier)
    stage = ScoreStage(ctx, reader=None)  # type: ignore[arg-type]
    events = [event("posts", 0, i, line) for i, line in enumerate(demo_lines(POSTS, 30))]
    events += [event("lm-responses", 0, i, line) for i, line in enumerate(demo_lines(RESPONSES, 30))]

    async def go() -> None:
        size = -(-len(events) // batches)
        for k in range(0, len(events), size):
            batch = await stage.start(Read(events[k : k + size], [], 1, None))
            await stage.send(batch)

    asyncio.run(go())
    return [payload for _, payload in io.sent[SCORES]]


def test_envelopes_are_counted_once_and_a_replay_changes_nothing(settings, classifier):
    envelopes = scored_envelopes(settings, classifier)
    ctx, io, _, windows = memory_context(settings, classifier)
    stage = AggregateStage(ctx, gaps=None)  # type: ignore[arg-type]
    events = [event("affect-scores", 0, i, payload) for i, payload in enumerate(envelopes)]
    events.insert(1, event("affect-scores", 0, 99, b"\xff not an envelope"))

    async def count() -> None:
        assert len(await stage.count(events)) == 1  # the hostile one's dead letter
        ctx.windows.flush(io.restore_current_event)

    asyncio.run(count())
    counted = sum(metric(ctx, "affectwatch_counted_records_total", stream=s) for s in ("human", "lm"))
    assert counted == 60
    assert [d["reason"] for _, d in io.sent[DEAD_LETTERS]] == ["invalid_score"]
    state = copy.deepcopy(windows)
    asyncio.run(count())  # the same envelopes again, as after a crash before the commit
    assert windows == state
    figures = ctx.core.aggregator.figures().to_dict()
    assert figures["series"] and all(row["n"] > 0 for row in figures["series"])


def test_the_windows_do_not_depend_on_how_envelopes_are_batched(settings, classifier):
    envelopes = scored_envelopes(settings, classifier)
    tables = []
    for size in (1, 3, len(envelopes)):
        ctx, io, _, windows = memory_context(settings, classifier)
        stage = AggregateStage(ctx, gaps=None)  # type: ignore[arg-type]
        events = [event("affect-scores", 0, i, payload) for i, payload in enumerate(envelopes)]

        async def go(stage=stage, events=events, ctx=ctx, io=io, size=size) -> None:
            for k in range(0, len(events), size):
                await stage.count(events[k : k + size])
                ctx.windows.flush(io.restore_current_event)

        asyncio.run(go())
        tables.append(windows)
    assert tables[0] == tables[1] == tables[2]


def as_version_1(payload: bytes, keep) -> bytes | None:
    """The rows of a version 2 envelope that ``keep`` selects, as a version 1 envelope (an older release's)."""
    counts = counts_of(decode_message(payload))
    items = []
    for i in range(len(counts)):
        obs, origin = counts.observation(i)
        if keep(origin):
            entry = {"series": obs.series.id, "event_ms": obs.event_ms,
                     "labels": {k: list(v) for k, v in obs.labels.items()},
                     "probs": {k: list(v) for k, v in obs.probs.items()}, "origin": list(origin)}
            items.append(encode_observation(counts.subject, entry, None))
    for key, envelope in envelopes(items):
        if key == counts.subject:
            return envelope
    return None


def test_envelopes_of_the_release_before_are_read_at_an_upgrade(settings, classifier):
    """An older worker wrote version 1 envelopes for the first records, then
    stopped before its commit; the new release scores every record again."""
    new = scored_envelopes(settings, classifier)
    # the first posts: rows come in batch order (posts, then responses), so these lead every envelope
    first_posts = lambda origin: origin[0] == "posts/0" and origin[1] < 15  # noqa: E731
    old = [p for p in (as_version_1(payload, first_posts) for payload in new) if p is not None]
    tables, counted = [], []
    for payloads in (new, old + new):
        ctx, io, _, windows = memory_context(settings, classifier)
        stage = AggregateStage(ctx, gaps=None)  # type: ignore[arg-type]

        async def go(stage=stage, payloads=payloads, ctx=ctx, io=io) -> None:
            assert await stage.count([event("affect-scores", 0, i, p) for i, p in enumerate(payloads)]) == []
            ctx.windows.flush(io.restore_current_event)

        asyncio.run(go())
        tables.append(windows)
        counted.append(sum(metric(ctx, "affectwatch_counted_records_total", stream=s) for s in ("human", "lm")))
    assert len(old) > 1 and tables[0] == tables[1]
    assert counted[0] == 60 and counted[1] == 60 + 15  # a replayed record is reported counted again, as before


def test_a_column_that_lies_is_a_dead_letter_and_writes_nothing(settings, classifier):
    """Its header reads well; its label sets point past their names, found when the rows are read
    (a topic key's first envelope is added row by row: the skew guard holds its first records)."""
    payload = scored_envelopes(settings, classifier)[0]
    msg = decode_message(payload)
    n = msg["n"]
    msg["cols"]["sets"]["emotion"] = base64.b64encode(np.full(n, 999, "<u2").tobytes()).decode()
    msg.pop("_scores", None)
    ctx, io, _, windows = memory_context(settings, classifier)
    stage = AggregateStage(ctx, gaps=None)  # type: ignore[arg-type]

    async def go() -> None:
        assert len(await stage.count([event("affect-scores", 0, 0, json.dumps(msg).encode())])) == 1
        ctx.windows.flush(io.restore_current_event)

    asyncio.run(go())
    assert [d["reason"] for _, d in io.sent[DEAD_LETTERS]] == ["invalid_score"]
    assert "out of range" in io.sent[DEAD_LETTERS][0][1]["detail"]
    assert not any(k.startswith(("tb|", "w|")) for k in windows)


class CountingTable(dict):
    """The windows table, counting its writes (each one a changelog message on Kafka)."""

    writes = 0

    def __setitem__(self, key, value) -> None:
        self.writes += 1
        super().__setitem__(key, value)


class NoGaps:
    """A gap filler that finds nothing missing (the real one is tested against a broker)."""

    def __init__(self) -> None:
        self.ranges: list = []

    async def fill(self, delivered, generation):
        return list(delivered)

    def take_ranges(self):
        ranges, self.ranges = self.ranges, []
        return ranges

    async def end_offsets(self, tps):
        return {}

    async def fill_tail(self, tps, ends, generation):
        return []


def held_stage(settings, classifier, every: float):
    s = settings.changed(worker__windows_flush_seconds=every)
    ctx, io, _, _ = memory_context(s, classifier)
    table = CountingTable()
    ctx.windows.table = table
    stage = AggregateStage(ctx, gaps=NoGaps())  # type: ignore[arg-type]
    acked: list = []

    async def ack_delivered(events) -> None:
        acked.extend(events)

    stage.ack_delivered = ack_delivered
    return ctx, io, stage, table, acked


def test_windows_are_written_once_a_flush_interval_and_envelopes_acked_after(settings, classifier):
    envelopes = scored_envelopes(settings, classifier, batches=4)
    events = [event("affect-scores", 0, i, payload) for i, payload in enumerate(envelopes)]
    _, io, stage, table, acked = held_stage(settings, classifier, every=60)

    async def go() -> None:
        for e in events:  # one envelope a batch: each batch rewrites the same few keys
            await stage.take([e])
        assert not table and not acked and stage.held is not None
        assert io.marks and not io.marks[0].released  # a rebalance would wait for the held envelopes
        await stage.flush()

    asyncio.run(go())
    assert acked == events and io.marks[0].released and stage.held is None
    assert table.writes == len(table)  # each changed key written once
    _, _, stage_each, table_each, _ = held_stage(settings, classifier, every=0)

    async def each() -> None:
        for e in events:
            await stage_each.take([e])

    asyncio.run(each())
    assert table_each == table  # the same windows as flushed after every batch
    assert table_each.writes > table.writes


def test_a_rebalance_flushes_at_once_and_one_that_passed_drops_what_was_held(settings, classifier):
    envelopes = scored_envelopes(settings, classifier)
    events = [event("affect-scores", 0, i, payload) for i, payload in enumerate(envelopes)]
    _, io, stage, table, acked = held_stage(settings, classifier, every=60)
    _, _, alone, expected, _ = held_stage(settings, classifier, every=0)

    async def go() -> None:
        await alone.take(events)
        await stage.take(events[:2])
        io.is_settled = False  # a rebalance began: it waits for the held envelopes
        await stage.take([])
        assert acked == events[:2] and table and stage.held is None
        io.is_settled = True
        await stage.take(events[2:4])
        io.generation += 1  # it completed without this worker: its partitions may be another's now
        written = copy.deepcopy(dict(table))
        io.is_settled = False  # and another begins: an idle batch must not write what was held
        await stage.take([])
        assert dict(table) == written and io.marks[1].released and stage.held is None
        io.is_settled = True
        await stage.take(events[4:])
        await stage.flush()

    asyncio.run(go())
    # The envelopes of the dropped writes are never acked: they are read again, and counted as new.
    assert acked == events[:2] + events[4:]
    await_again = events[2:4]

    async def again() -> None:
        await stage.take(await_again)
        await stage.flush()

    asyncio.run(again())
    assert table == expected
