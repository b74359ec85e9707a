"""The score stage without a broker: validation, dead letters, skips, envelopes,
acks and the order of batches in flight (streams.kafka.stages.score)."""

from __future__ import annotations

import asyncio
from collections import Counter

from streams.core.subjects import ALL
from streams.kafka.direct import Read
from streams.kafka.messages import counts_of, decode_message
from streams.kafka.stages.context import DEAD_LETTERS, SCORES
from streams.kafka.stages.score import ScoreStage
from streams.settings import BUNDLED
from tests.kafka.stages.memory_io import demo_lines, event, memory_context

POSTS = BUNDLED / "demo" / "posts.jsonl"
RESPONSES = BUNDLED / "demo" / "responses.jsonl"


def metric(ctx, name: str, **labels: str) -> float:
    value = ctx.metrics.registry.get_sample_value(name, {"run": ctx.metrics.run, **labels})
    return value or 0.0


def observations(io) -> list:
    counts = [counts_of(decode_message(payload)) for _, payload in io.sent[SCORES]]
    return [c.observation(i) for c in counts for i in range(len(c))]


def test_a_batch_is_scored_dead_lettered_skipped_and_acked_once_delivered(settings, classifier):
    settings = settings.changed(worker__backfill_to_ms=1709294496000)  # the fifth demo post is past it
    ctx, io, _, _ = memory_context(settings, classifier)
    stage = ScoreStage(ctx, reader=None)  # type: ignore[arg-type]
    posts = demo_lines(POSTS, 6)
    events = [event("posts", 0, i, line) for i, line in enumerate(posts)]
    events += [event("posts", 0, 6, b"{not json"), event("posts", 0, 7, None)]  # hostile, then a tombstone
    events += [event("lm-responses", 1, i, line) for i, line in enumerate(demo_lines(RESPONSES, 3))]
    ranges = [("posts", 0, 0, 8), ("lm-responses", 1, 0, 3)]

    async def go() -> None:
        batch = await stage.start(Read(events, ranges, 1, None))
        assert len(batch.records) == 4 + 3 and len(batch.pending) == 1  # 4 posts in range, 3 responses
        await stage.send(batch)
        assert not io.acked
        await stage.settle(batch)

    asyncio.run(go())
    assert io.acked == [(ranges, 1)]
    [(key, dead)] = io.sent[DEAD_LETTERS]
    assert key == b"posts/0/6" and dead["reason"] == "malformed_json"
    assert metric(ctx, "affectwatch_skipped_records_total", reason="tombstone") == 1
    assert metric(ctx, "affectwatch_skipped_records_total", reason="outside_range") == 2
    scored = sum(metric(ctx, "affectwatch_records_total", stream=s) for s in ("human", "lm"))
    dead_letters = metric(ctx, "affectwatch_dead_letters_total", reason="malformed_json")
    skipped = sum(metric(ctx, "affectwatch_skipped_records_total", reason=r) for r in ("tombstone", "outside_range"))
    assert scored + dead_letters + skipped == len(events)  # every input record accounted for once
    # Each scored record once in its own topic key's envelope and once in ``all``'s, with its source offset.
    seen = observations(io)
    origins = Counter(origin for obs, origin in seen if obs.subject != ALL)
    assert sorted(origins) == sorted([("posts/0", i) for i in range(4)] + [("lm-responses/1", i) for i in range(3)])
    assert Counter(origin for obs, origin in seen if obs.subject == ALL) == origins
    # The authors written once per author, on its own event's partition (the current event at flush).
    assert io.current is not None


def test_batches_in_flight_are_sent_and_acked_in_order_and_released_on_stop(settings, classifier):
    ctx, io, _, _ = memory_context(settings, classifier)
    lines = demo_lines(POSTS, 40)
    released: list[int] = []

    class Mark:
        def __init__(self, n: int) -> None:
            self.n = n

        def release(self) -> None:
            released.append(self.n)

    class Reader:
        """Ten batches of four posts, then empty reads until the stage is stopped."""

        def __init__(self) -> None:
            self.k, self.closed = 0, False

        async def batch(self) -> Read:
            k, self.k = self.k, self.k + 1
            if k < 10:
                part = [event("posts", 0, 4 * k + i, line) for i, line in enumerate(lines[4 * k : 4 * k + 4])]
                return Read(part, [("posts", 0, 4 * k, 4 * k + 4)], 1, Mark(k))  # type: ignore[arg-type]
            await asyncio.sleep(0.01)
            if len(io.acked) == 10:
                io.should_stop = True
            return Read([], [], 1, None)

        async def close(self) -> None:
            self.closed = True

    reader = Reader()
    asyncio.run(asyncio.wait_for(ScoreStage(ctx, reader).run(), 120))
    assert [r[0][0][2] for r in io.acked] == [4 * k for k in range(10)]  # in order, each once
    assert released == list(range(10)) and reader.closed
    assert len({o for obs, o in observations(io) if obs.subject == ALL}) == 40


def test_a_batch_held_at_stop_is_released_unacked_for_the_next_owner(settings, classifier):
    ctx, io, _, _ = memory_context(settings, classifier)
    released = []

    class Mark:
        def release(self) -> None:
            released.append(True)

    class Reader:
        async def batch(self) -> Read:
            io.should_stop = True  # the stop comes while this batch is classified
            return Read([event("posts", 0, 0, demo_lines(POSTS, 1)[0])], [("posts", 0, 0, 1)], 1, Mark())  # type: ignore[arg-type]

        async def close(self) -> None:
            return None

    asyncio.run(asyncio.wait_for(ScoreStage(ctx, Reader()).run(), 60))
    assert (released == [True] and io.acked == []) or io.acked == [([("posts", 0, 0, 1)], 1)]


def test_a_rebalance_between_read_and_settle_acks_nothing(settings, classifier):
    ctx, io, _, _ = memory_context(settings, classifier)
    stage = ScoreStage(ctx, reader=None)  # type: ignore[arg-type]

    async def go() -> None:
        batch = await stage.start(Read([event("posts", 0, 0, demo_lines(POSTS, 1)[0])], [("posts", 0, 0, 1)], 1, None))
        await stage.send(batch)
        io.generation = 2  # the partitions may be someone else's now: they read it again
        await stage.settle(batch)

    asyncio.run(go())
    assert io.acked == [] and decode_message(io.sent[SCORES][0][1])["topic_key"]
