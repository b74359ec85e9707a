"""The worker's two pages: ``/metrics`` (Prometheus) and ``/ready``."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.kafka.stages.context import WorkerContext

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";")[0]


class Pages:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.figure_families = frozenset(f.name for f in ctx.metrics.figures.describe())

    async def metrics(self, names: list[str]) -> bytes:
        """The exposition; ``names`` (``?name[]=...``) renders only those families, as
        client_python's own exporter does. Rendering a busy worker's figures takes tens
        of milliseconds: off the loop; without figures among the names it is cheap,
        and done on the loop (handing a poll every 0.1 s to a thread cost the loop 3%)."""
        m = self.ctx.metrics
        registry = m.registry.restricted_registry(names) if names else m.registry
        if names and self.figure_families.isdisjoint(names):
            return generate_latest(registry)
        return await asyncio.get_running_loop().run_in_executor(None, generate_latest, registry)

    def ready(self) -> tuple[dict[str, Any], int]:
        """Whether table state is whole (no rebalance, no restore) and no stage is stalled, and when
        figures were last published: a load balancer or an operator's first look."""
        stalled = self.ctx.liveness.stalled()
        ok = self.ctx.io.settled() and not stalled
        body = {"ready": ok, **self.ctx.io.state(), "stalled": stalled, "figures_at": self.ctx.figures_at}
        return body, 200 if ok else 503

    def live(self) -> tuple[dict[str, Any], int]:
        """Whether every stage with work waiting makes progress (a liveness probe: 503 means restart me)."""
        stalled = self.ctx.liveness.stalled()
        return {"live": not stalled, "stalled": stalled}, 503 if stalled else 200
