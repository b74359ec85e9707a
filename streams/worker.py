"""The faust-streaming adapter: the same core as the embedded runner, on Kafka.

- ``score`` consumes ``posts`` and ``lm-responses``: validates (dead letters with
  their reason, bytes and topic/partition/offset), micro-batches with
  ``take_events``, runs the classifier in a thread so heartbeats keep flowing,
  and publishes each score twice to ``affect-scores``, keyed by its topic and by
  ``all``, so that every group of one topic key meets on one partition.
- ``aggregate`` consumes ``affect-scores`` one event at a time and counts it in
  our own event-time windows (``streams.windows``), stored in a plain
  changelog-backed table; faust's windowed tables are not used (their issues
  #118, #172, #185, #651).
- A timer recomputes the figures of the partitions this worker owns, exports
  them at ``/metrics`` and publishes them to ``drift-snapshots``.

Exactness: processing is at-least-once, and every state update is idempotent:
each table value remembers the last source offset it took per source
partition (``streams.windows``), so a killed worker that replays records changes
nothing twice. The authors table is updated the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import weakref
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
from faust.streams import _current_event
from mode.supervisors import CrashingSupervisor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from models.classifier import Classifier
from streams.app import build_core
from streams.records import DeadLetter, Parsed
from streams.settings import Settings
from streams.topics import ALL
from streams.windows import Observation, Series, Windows


class TableMapping(MutableMapping[str, dict]):
    """A faust Table seen as the plain mapping the core expects."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, key: str) -> dict:
        return self.table[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.table.get(key, default)

    def __setitem__(self, key: str, value: dict) -> None:
        self.table[key] = value

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table.keys()))

    def __len__(self) -> int:
        return len(self.table)

    def items(self):  # type: ignore[override]
        return list(self.table.items())

    def keys(self):  # type: ignore[override]
        return list(self.table.keys())


def observation_message(scored: Any, topic_key: str) -> dict[str, Any]:
    obs = scored.observation()
    src = scored.parsed.source
    return {
        "topic_key": topic_key,
        "series": obs.series.id,
        "event_ms": obs.event_ms,
        "labels": {k: list(v) for k, v in obs.labels.items()},
        "probs": {k: list(v) for k, v in obs.probs.items()},
        "origin": [f"{src['topic']}/{src['partition']}", src["offset"]],
        "score": scored.to_record(),
    }


def observation_of(msg: dict[str, Any]) -> tuple[Observation, tuple[str, int]]:
    obs = Observation(
        series=Series.from_id(msg["series"]),
        topic=msg["topic_key"],
        event_ms=int(msg["event_ms"]),
        labels={k: tuple(v) for k, v in msg["labels"].items()},
        probs={k: tuple(v) for k, v in msg["probs"].items()},
    )
    return obs, (str(msg["origin"][0]), int(msg["origin"][1]))


def create_app(settings: Settings, classifier: Classifier | None = None) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        web_enabled=True,
        autodiscover=False,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka_heartbeat_seconds,
        stream_recovery_delay=settings.recovery_delay_seconds,
        producer_acks=-1,
        processing_guarantee="at_least_once",
        key_serializer="json",
        value_serializer="json",
    )
    core = build_core(settings, classifier)
    metrics = core.metrics
    run = metrics.run
    executor = ThreadPoolExecutor(1, thread_name_prefix="classify")

    inputs = app.topic(settings.topic_posts, settings.topic_responses, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    scores_topic = app.topic(settings.topic_scores, key_serializer="raw", value_serializer="json")
    dead_topic = app.topic(settings.topic_dead_letters, key_serializer="raw", value_serializer="json")
    snapshot_topic = app.topic(settings.topic_snapshots, key_serializer="raw", value_serializer="json")
    # Tables use the app's json serializers for keys and values.
    authors = app.Table("authors", default=None, partitions=settings.partitions)
    windows_table = app.Table("windows", default=None, partitions=settings.partitions)
    # Every topic key is fed by all partitions of both input topics.
    core.aggregator.windows.cfg.expected_sources = 2 * settings.partitions
    core.scorer.authors = TableMapping(authors)
    core.aggregator.windows.table = TableMapping(windows_table)
    state = {"figures_at": 0.0}
    worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def in_range(ms: int) -> bool:
        return (settings.event_from_ms is None or ms >= settings.event_from_ms) and (
            settings.event_to_ms is None or ms < settings.event_to_ms
        )

    async def reject(dead: DeadLetter) -> Any:
        """Sends a dead letter; returns the delivery future to await before acking."""
        metrics.dead_letters.labels(run, dead.reason).inc()
        return await dead_topic.send(key=None, value=dead.to_dict(settings.dead_letter_max_raw_bytes))

    # An agent that fails on infrastructure (not on data: data is dead-lettered)
    # must take the worker down, so that a restart re-reads from the committed
    # offsets; faust's default supervisor would restart it in place and skip
    # the events it held.
    @app.agent(inputs, supervisor_strategy=CrashingSupervisor)
    async def score(stream: faust.Stream) -> None:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_seconds):
            arrived = time.perf_counter()
            batch: list[tuple[Any, Parsed]] = []
            pending: list[Any] = []
            for ev in events:
                msg = ev.message
                kind = "post" if msg.topic == settings.topic_posts else "lm"
                source = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
                parsed = core.scorer.parse(ev.value if ev.value is not None else b"", kind, source)
                if isinstance(parsed, DeadLetter):
                    pending.append(await reject(parsed))
                elif not in_range(parsed.record.created_at):
                    metrics.skipped.labels(run).inc()
                else:
                    batch.append((ev, parsed))
            if not batch:
                await asyncio.gather(*pending)
                continue
            t0 = time.perf_counter()
            outputs = await loop.run_in_executor(executor, core.scorer.classify, [p for _, p in batch])
            metrics.classify_latency.labels(run).observe(time.perf_counter() - t0)
            metrics.batch_size.labels(run).observe(len(batch))
            for i, (ev, parsed) in enumerate(batch):
                # The author table writes to the changelog partition of the
                # current event: make it this record's event, not the batch's last.
                _current_event.set(weakref.ref(ev))
                scored = core.scorer.assemble(parsed, outputs, i)
                if scored.topic_how == "explicit_unknown":
                    metrics.unknown_topics.labels(run).inc()
                for key in (scored.topic, ALL):
                    pending.append(await scores_topic.send(key=key.encode(), value=observation_message(scored, key)))
                metrics.records.labels(run, scored.series.stream).inc()
            # The batch's offsets may be committed once it returns: its scores must
            # be on the broker by then, not in a buffer a kill -9 would lose.
            await asyncio.gather(*pending)
            metrics.e2e_latency.labels(run).observe(time.perf_counter() - arrived)

    @app.agent(scores_topic, supervisor_strategy=CrashingSupervisor)
    async def aggregate(stream: faust.Stream) -> None:
        async for event in stream.events():
            try:
                obs, origin = observation_of(event.value)
            except (KeyError, TypeError, ValueError) as exc:
                raw = json.dumps(event.value, default=str).encode()
                src = {"topic": event.message.topic, "partition": event.message.partition,
                       "offset": event.message.offset}
                await (await reject(DeadLetter(raw, src, "invalid_score", str(exc))))
                continue
            fresh = obs.topic != ALL  # count a late record once, in its own topic
            if not core.aggregator.add(obs, origin) and fresh:
                metrics.late.labels(run, obs.series.stream).inc()

    maker, window_cfg = core.aggregator.maker, core.aggregator.windows.cfg
    figures_pool = ThreadPoolExecutor(1, thread_name_prefix="figures")

    def compute(snapshot: dict[str, dict]) -> Any:
        return maker.compute(Windows(snapshot, window_cfg))

    watched = {settings.topic_posts, settings.topic_responses, settings.topic_scores}

    async def export_lag() -> None:
        """Records between each owned partition's end and our position."""
        consumer = app.consumer
        for tp in consumer.assignment():
            if tp.topic not in watched:
                continue
            try:
                pos = await consumer.position(tp)
                high = consumer.highwater(tp)
            except Exception:  # lag is best-effort: never let it stop the figures
                continue
            if pos is not None and high is not None:
                metrics.lag.labels(run, tp.topic, str(tp.partition)).set(max(0, high - pos))

    @app.timer(settings.figures_interval_seconds)
    async def publish_figures() -> None:
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return
        # Copy the state on the loop (consistent: no agent runs meanwhile), then
        # compute off the loop so the agents and heartbeats keep going.
        await export_lag()
        snapshot = dict(windows_table.items())
        figs = await asyncio.get_running_loop().run_in_executor(figures_pool, compute, snapshot)
        metrics.figures.figures = figs
        view = Windows(snapshot, window_cfg)
        wm = max((view.watermark(t) or 0 for t in view.topics()), default=0)
        if wm:
            metrics.watermark.labels(run).set(wm / 1000)
        metrics.last_update.labels(run).set(time.time())
        state["figures_at"] = time.time()
        if figs.end_ms is not None:
            await snapshot_topic.send(key=worker_id.encode(), value={"run": run, "worker": worker_id, **figs.to_dict()})

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        ok = not app.rebalancing and app.tables.recovery.completed.is_set()
        body = {"ready": ok, "rebalancing": app.rebalancing, "figures_at": state["figures_at"]}
        return web.json(body, status=200 if ok else 503)

    app.affectwatch_core = core  # for tests and the CLI
    return app


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    from streams.kafka_io import create_topics

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    create_topics(settings)  # idempotent; a backfill run needs its own score and snapshot topics
    app = create_app(settings)
    # The web host and port come from the app's settings (web_host, web_port).
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
