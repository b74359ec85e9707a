"""The figures publisher without a broker: a settled state is published (metrics,
snapshot message, watermark); an unsettled one never is (streams.kafka.stages.figures)."""

from __future__ import annotations

import asyncio

from streams.kafka.figures_process import computed
from streams.kafka.stages.aggregate import AggregateStage
from streams.kafka.stages.context import SNAPSHOTS
from streams.kafka.stages.figures import FiguresPublisher
from streams.kafka.tables import encode_value
from tests.kafka.stages.memory_io import event, memory_context
from tests.kafka.stages.test_aggregate import scored_envelopes
from tests.kafka.stages.test_score import metric


def test_published_only_when_settled(settings, classifier):
    ctx, io, _, windows = memory_context(settings, classifier)
    stage = AggregateStage(ctx, gaps=None)  # type: ignore[arg-type]
    events = [event("affect-scores", 0, i, p) for i, p in enumerate(scored_envelopes(settings, classifier))]

    async def compute(snapshot, head):
        return computed(ctx.core.aggregator.maker, ctx.core.aggregator.windows.cfg, snapshot, head)

    publisher = FiguresPublisher(ctx, compute, lambda: {})

    async def go() -> None:
        await stage.count(events)
        ctx.windows.flush(io.restore_current_event)
        io.tables["windows"] = {k: encode_value(v) for k, v in windows.items()}
        io.is_settled = False
        await publisher.publish()
        assert ctx.metrics.figures.figures is None and not io.sent[SNAPSHOTS]
        io.is_settled = True
        await publisher.publish()

    asyncio.run(go())
    assert ctx.metrics.figures.figures is not None and ctx.figures_at > 0
    [(key, message)] = io.sent[SNAPSHOTS]
    assert key == b"test:1" and b'"worker":"test:1"' in message.replace(b" ", b"")
    assert metric(ctx, "affectwatch_watermark_seconds") > 1.7e9
    assert metric(ctx, "affectwatch_figures_refresh_seconds_count") == 1
