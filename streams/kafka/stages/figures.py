"""The figures publisher: every interval, the figures of the windows this worker
owns, exported at ``/metrics`` and sent to the snapshots topic.

The state is copied on the loop (consistent: no stage runs meanwhile), then
decoded and computed off it (``streams.kafka.figures_process``: a child process
by default), so the stages and heartbeats keep going.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from streams.core.windows import Windows
from streams.kafka.stages.context import SNAPSHOTS, WorkerContext
from streams.kafka.tables import decode_values
from streams.kafka.writeback import WATERMARK_PREFIX

log = logging.getLogger(__name__)
Compute = Callable[[dict[str, bytes], dict[str, Any]], Awaitable[tuple[Any, bytes | None]]]


class FiguresPublisher:
    def __init__(self, ctx: WorkerContext, compute: Compute, input_lag: Callable[[], dict[Any, int]]) -> None:
        self.ctx, self.compute, self.input_lag = ctx, compute, input_lag

    async def every_interval(self) -> None:
        """Refreshes start every interval whatever they take (faust's timers sleep
        the interval *after* each run: with a 2.5 s refresh under load, figures
        came every 7.5 s); one that overruns is followed by the next at once."""
        interval = self.ctx.settings.figures.interval_seconds
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while not self.ctx.io.should_stop:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due + interval, loop.time())
            try:
                await self.publish()
            except asyncio.CancelledError:
                raise
            except Exception:  # one failed refresh must not end the refreshes
                if self.ctx.io.should_stop:  # a stop signal also ends the figures process: not a failure
                    return
                log.exception("figures refresh failed; the next one is due in %.1f s", interval)

    async def export_lag(self) -> None:
        """Records between each owned partition's end and our position (the
        inputs': the direct reader's)."""
        m = self.ctx.metrics
        scores = await self.ctx.io.lag({self.ctx.settings.kafka.topic_scores})
        self.ctx.liveness.waiting("aggregate", any(scores.values()))
        for tp, n in {**self.input_lag(), **scores}.items():
            m.lag.labels(m.run, tp.topic, str(tp.partition)).set(n)

    async def publish(self) -> None:
        ctx, m = self.ctx, self.ctx.metrics
        if not ctx.io.settled():  # a half-restored table would publish wrong figures
            return
        began = time.perf_counter()
        await self.export_lag()
        snapshot = ctx.io.table_snapshot("windows")  # key -> JSON bytes (streams.kafka.tables)
        figs, message = await self.compute(snapshot, {"run": m.run, "worker": ctx.worker_id})
        m.figures.figures = figs
        cfg = ctx.core.aggregator.windows.cfg
        view = Windows(decode_values({k: v for k, v in snapshot.items() if k.startswith(WATERMARK_PREFIX)}), cfg)
        if wm := max((view.watermark(t) or 0 for t in view.topics()), default=0):
            m.watermark.labels(m.run).set(wm / 1000)
        m.last_update.labels(m.run).set(time.time())
        ctx.figures_at = time.time()
        if message is not None:
            await ctx.io.send(SNAPSHOTS, ctx.worker_id.encode(), message)
        m.figures_refresh.labels(m.run).observe(time.perf_counter() - began)
