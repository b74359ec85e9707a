"""The aggregate stage without a broker: envelopes counted in the windows once,
hostile envelopes dead-lettered, replays changing nothing (streams.kafka.stages.aggregate)."""

from __future__ import annotations

import asyncio
import copy

from streams.kafka.direct import Read
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
