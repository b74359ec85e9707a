"""The faust-streaming adapter: the same core as the embedded runner, on Kafka.

``create_app`` only wires the parts, each in a module of its own:

- the score stage (``stages.score``) reads the input partitions faust assigns
  in micro-batches (``streams.kafka.direct``), classifies them in child
  processes and publishes one envelope per topic key per batch to the scores
  topic, keyed by its topic (with the score records) and by ``all`` (the
  observations only), so that every group of one topic key meets on one partition;
- the aggregate stage (``stages.aggregate``) counts the envelopes in our own
  event-time windows (``streams.core.windows``), stored in a plain
  changelog-backed table; faust's windowed tables are not used (their issues
  #118, #172, #185, #651);
- the figures publisher (``stages.figures``) recomputes the figures of the
  partitions this worker owns every interval, exports them at ``/metrics`` and
  publishes them to the snapshots topic;
- the stages reach faust and the broker only through ``stages.context.FaustIO``,
  and faust's private internals only through ``streams.kafka.faust_patches``.

Exactness: processing is at-least-once, and every state update is idempotent:
each table value remembers the last source offset it took per source
partition (``streams.core.windows``), so a killed worker that replays records
changes nothing twice. The authors table is updated the same way.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import signal
import socket
from collections import ChainMap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
import mode.loop
from mode.supervisors import CrashingSupervisor

from models.classifier import Classifier
from models.classifier_process import ClassifierProcess
from streams.kafka import faust_patches
from streams.kafka.commits import FLOOR_ATTR
from streams.kafka.direct import DirectReader
from streams.kafka.figures_process import FiguresProcess, computed
from streams.kafka.gaps import GapFiller
from streams.kafka.security import client_kwargs, faust_credentials
from streams.kafka.stages.aggregate import AggregateStage
from streams.kafka.stages.context import DEAD_LETTERS, SCORES, SNAPSHOTS, VIOLATIONS, FaustIO, WorkerContext
from streams.kafka.stages.figures import Compute, FiguresPublisher
from streams.kafka.stages.liveness import watch
from streams.kafka.stages.score import ScoreStage
from streams.kafka.stages.web import METRICS_CONTENT_TYPE, Pages
from streams.kafka.tables import TableMapping, delivered_table
from streams.kafka.writeback import WriteBack
from streams.observe.metrics import Metrics
from streams.settings import Settings
from streams.wiring import build_core, classifier_kwargs

log = logging.getLogger(__name__)
LEASE_TICK_SECONDS = 0.25


def faust_app(settings: Settings) -> faust.App:
    k = settings.kafka
    return faust.App(
        settings.kafka.app_id,
        broker=f"kafka://{settings.kafka.bootstrap}",
        store=settings.worker.store,
        datadir=str(settings.worker.data_dir),
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        web_host=settings.worker.http_host,
        web_bind=settings.worker.http_host,  # faust listens on web_bind (default 0.0.0.0), not web_host
        web_port=settings.worker.http_port,
        web_enabled=True,
        autodiscover=False,
        broker_session_timeout=settings.kafka.session_timeout_seconds,
        # faust refuses a request timeout below the session timeout (its consumer's requests)
        broker_request_timeout=max(k.request_timeout_seconds, k.session_timeout_seconds),
        # faust's default (20 min) is also how long a batch may wait to be sent: a frozen leader
        # would hold the worker silently that long
        producer_request_timeout=k.request_timeout_seconds,
        broker_heartbeat_interval=settings.kafka.heartbeat_seconds,
        # faust delivers a poll's records (the scores) one by one; unbounded (the
        # client's default), a poll under backlog held thousands of them.
        broker_max_poll_records=settings.kafka.max_poll_records,
        stream_recovery_delay=settings.worker.recovery_delay_seconds,
        broker_credentials=faust_credentials(settings.kafka),
        producer_acks=-1,
        # The client's 16 KiB default holds about ten score messages: once full,
        # a send waits for the batch in flight to come back.
        producer_max_batch_size=settings.kafka.producer_batch_bytes,
        producer_max_request_size=max(settings.kafka.producer_batch_bytes, 1_048_576),
        producer_linger=settings.kafka.producer_linger_seconds,
        producer_compression_type=None if k.producer_compression == "none" else k.producer_compression,
        processing_guarantee="at_least_once",
        key_serializer="json",
        value_serializer="json",
    )


def figures_computer(ctx: WorkerContext) -> Compute:
    """Where the figures are computed: a child process (its own GIL) or a thread."""
    maker, cfg = ctx.core.aggregator.maker, ctx.core.aggregator.windows.cfg
    if ctx.settings.worker.figures_process:
        return FiguresProcess(maker, cfg).compute
    pool = ThreadPoolExecutor(1, thread_name_prefix="figures")

    async def compute(snapshot: dict[str, bytes], head: dict[str, Any]) -> tuple[Any, bytes | None]:
        return await asyncio.get_running_loop().run_in_executor(pool, computed, maker, cfg, snapshot, head)

    return compute


def create_app(settings: Settings, classifier: Classifier | None = None) -> faust.App:
    app = faust_app(settings)
    metrics = Metrics(settings.outputs.run_label)
    if classifier is None and settings.worker.classifier_processes:
        classifier = ClassifierProcess(
            settings.worker.classifier_processes, nice=settings.worker.classifier_nice,
            timeout=settings.classifier.timeout_seconds,
            on_restart=lambda reason: metrics.classifier_restarts.labels(metrics.run).inc(),
            **classifier_kwargs(settings))
    core = build_core(settings, classifier, metrics=metrics)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(settings.kafka.topic_posts, settings.kafka.topic_responses, key_type=bytes, value_type=bytes,
                       **raw)
    # Envelopes, violations and snapshots are encoded by the stages (once per
    # record, off the loop for snapshots); envelopes are decoded by the
    # aggregate stage, where one that is not becomes a dead letter.
    channels = {
        SCORES: app.topic(settings.kafka.topic_scores, **raw),
        DEAD_LETTERS: app.topic(settings.kafka.topic_dead_letters, key_serializer="raw", value_serializer="json"),
        VIOLATIONS: app.topic(settings.kafka.topic_violations, **raw),
        SNAPSHOTS: app.topic(settings.kafka.topic_snapshots, **raw),
    }
    tables = {name: delivered_table(app, name, settings.kafka.partitions) for name in ("authors", "windows")}
    io = FaustIO(app, channels, tables)
    # Authors are written once per changed author per micro-batch, like the windows;
    # only the aggregation writes the windows, and it forgets their cache at every
    # rebalance: between rebalances the cache holds what the table holds.
    ctx = WorkerContext(
        settings, core, io,
        executor=ThreadPoolExecutor(max(1, settings.worker.classifier_processes), thread_name_prefix="classify"),
        authors=WriteBack(TableMapping(tables["authors"]), io.current_event_ref),
        windows=WriteBack(TableMapping(tables["windows"]), io.current_event_ref, keep=True),
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
    )
    core.scorer.authors = ctx.authors
    core.aggregator.windows.table = ctx.windows
    core.aggregator.windows.cfg.expected_sources = 2 * settings.kafka.partitions  # every input partition feeds a key

    client = client_kwargs(settings.kafka)
    input_gaps = GapFiller(settings.kafka.bootstrap, settings.kafka.app_id, client=client,
                           assigned=lambda: io.owned(ctx.input_topics))
    score_gaps = GapFiller(settings.kafka.bootstrap, settings.kafka.app_id, client=client,
                           assigned=lambda: io.owned({settings.kafka.topic_scores}))
    # faust commits only past processed records, from where the gap fillers
    # found each partition starts (streams.kafka.commits); it stops fetching the
    # inputs, which the reader reads in micro-batches.
    faust_patches.install(app, ctx.input_topics)
    setattr(app, FLOOR_ATTR, ChainMap(input_gaps.floors, score_gaps.floors))
    reader = DirectReader(app, input_gaps, lambda: io.owned(ctx.input_topics), settings.classifier.batch_size,
                          settings.classifier.batch_within_seconds, client=client)
    scoring, aggregation = ScoreStage(ctx, reader), AggregateStage(ctx, score_gaps)
    figures = FiguresPublisher(ctx, figures_computer(ctx), reader.lag)
    add_agents(app, inputs, channels[SCORES], scoring, aggregation)
    add_tasks_and_pages(app, ctx, figures, Pages(ctx))
    app.affectwatch_core = core  # for tests and the CLI
    app.affectwatch_context = ctx
    return app


def add_agents(app: faust.App, inputs: Any, scores: Any, scoring: ScoreStage, aggregation: AggregateStage) -> None:
    # An agent that fails on infrastructure (not on data: data is dead-lettered)
    # must take the worker down, so that a restart re-reads from the committed
    # offsets; faust's default supervisor would restart it in place and skip
    # the events it held.
    @app.agent(inputs, supervisor_strategy=CrashingSupervisor)
    async def score(stream: faust.Stream) -> None:
        await scoring.run()  # faust assigns and commits the inputs; the reader reads them: ``stream`` never yields

    @app.agent(scores, supervisor_strategy=CrashingSupervisor)
    async def aggregate(stream: faust.Stream) -> None:
        await aggregation.run(stream)


def add_tasks_and_pages(app: faust.App, ctx: WorkerContext, figures: FiguresPublisher, pages: Pages) -> None:
    metrics = ctx.metrics

    @app.task
    async def figures_every_interval() -> None:
        await figures.every_interval()

    def report_stalls(stalled: dict[str, float]) -> None:
        for stage, seconds in stalled.items():
            metrics.stage_stalled.labels(metrics.run, stage).set(round(seconds, 1))

    @app.task
    async def watchdog() -> None:
        await watch(ctx.liveness, lambda: bool(app.rebalancing), report_stalls, lambda: bool(app.should_stop))

    @app.task
    async def hold_lease() -> None:
        while not app.should_stop:
            ctx.lease.tick()
            await asyncio.sleep(LEASE_TICK_SECONDS)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        body = await pages.metrics(request.query.getall("name[]", []))
        return web.bytes(body, content_type=METRICS_CONTENT_TYPE)

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        body, status = pages.ready()
        return web.json(body, status=status)

    @app.page("/live")
    async def live(web: Any, request: Any) -> Any:
        body, status = pages.live()
        return web.json(body, status=status)


CLEAN_MARK = "clean-shutdown"


def prepare_state(data_dir: Path) -> bool:
    """Keep the local table state only if the last run of this folder stopped
    cleanly; returns whether it was kept.

    A worker killed mid-batch can leave writes in its RocksDB whose changelog
    messages never reached the broker, with its input offsets uncommitted. On
    restart faust trusts the local files and replays only the changelog past
    its last acknowledged offset, so those writes live on here (and make the
    replayed records look applied) but exist nowhere else: the next worker to
    take the partition over would miss them. After an unclean stop the state is
    therefore rebuilt from the changelog alone, the one source of truth.
    """
    mark = data_dir / CLEAN_MARK
    kept = mark.exists()
    if kept:
        mark.unlink()  # from now on this run is unclean until it stops cleanly
    else:
        shutil.rmtree(data_dir / "v1", ignore_errors=True)  # faust's table files
    data_dir.mkdir(parents=True, exist_ok=True)
    return kept


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    from streams.kafka.io import create_changelogs, create_topics

    if settings.worker.event_loop == "uvloop":
        # faust's supported loop (its 'uvloop' extra): the loop's own work is a
        # tenth of the worker's; this cut the worker's CPU a record by about 6%.
        mode.loop.use("uvloop")
    prepare_state(settings.worker.data_dir)
    create_topics(settings)  # idempotent; a backfill run needs its own score and snapshot topics
    create_changelogs(settings)
    app = create_app(settings)
    # A SIGCONT after a SIGSTOP past the session ends the worker before its loop writes anything.
    lease = app.affectwatch_context.lease
    signal.signal(signal.SIGCONT, lambda signum, frame: lease.check())
    # What is built by now (modules, the core's rules and lexicons, faust's app)
    # lives as long as the worker: out of the collector's full passes, which
    # walked it five times in a 4 s burst and took 0.2 s of the loop's 1.3 s.
    gc.collect()
    gc.freeze()
    # The web host and port come from the app's settings (web_host, web_port).
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code in (0, None):  # stopped cleanly: producer flushed, every batch delivered
            (settings.worker.data_dir / CLEAN_MARK).touch()
        raise
