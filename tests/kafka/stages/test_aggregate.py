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


def scored_envelopes(settings, classifier) -> list[bytes]:
    ctx, io, _, _ = memory_context(settings, classifier)
    stage = ScoreStage(ctx, reader=None)  # type: ignore[arg-type]
    events = [event("posts", 0, i, line) for i, line in enumerate(demo_lines(POSTS, 30))]
    events += [event("lm-responses", 0, i, line) for i, line in enumerate(demo_lines(RESPONSES, 30))]

    async def go() -> None:
        batch = await stage.start(Read(events, [], 1, None))
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
