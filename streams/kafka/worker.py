"""The faust-streaming adapter: the same core as the embedded runner, on Kafka.

- ``score`` owns the partitions of ``posts`` and ``lm-responses`` that faust
  assigns, and reads them in micro-batches itself (``streams.kafka.direct``:
  faust's per-message path cost a third of the loop and held the scores
  behind the inputs); validates (dead letters with their reason, bytes and
  topic/partition/offset), runs the classifier in child processes
  (``ClassifierProcess``: their own GILs) while the loop sends the previous
  batch, and publishes one envelope per topic key per batch to
  ``affect-scores``, keyed by its topic (with the score records) and by
  ``all`` (the observations only), so that every group of one topic key meets
  on one partition.
- ``aggregate`` consumes ``affect-scores`` in micro-batches and counts each
  score in our own event-time windows (``streams.core.windows``), stored in a plain
  changelog-backed table; faust's windowed tables are not used (their issues
  #118, #172, #185, #651). A batch is acked only once its table writes are on
  the broker (``DeliveredTable``).
- A timer recomputes the figures of the partitions this worker owns, exports
  them at ``/metrics`` and publishes them to ``drift-snapshots``.

Exactness: processing is at-least-once, and every state update is idempotent:
each table value remembers the last source offset it took per source
partition (``streams.core.windows``), so a killed worker that replays records changes
nothing twice. The authors table is updated the same way.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import socket
import time
import weakref
from collections import ChainMap, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
import mode.loop
from aiokafka import TopicPartition
from faust.streams import _current_event
from mode.supervisors import CrashingSupervisor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from models.classifier import Classifier
from models.classifier_process import ClassifierProcess
from streams.core.pairing import Pairing, add_scored
from streams.core.records import DeadLetter, Parsed, internal_error
from streams.core.topics import ALL
from streams.core.windows import Windows
from streams.kafka import commits, direct
from streams.kafka.batches import micro_batches
from streams.kafka.direct import DirectReader, InFlight
from streams.kafka.figures_process import FiguresProcess, computed
from streams.kafka.gaps import GapFiller
from streams.kafka.messages import (
    EncodedObservation,
    decode_message,
    encode_json,
    encode_observation,
    envelopes,
    observation_entry,
    observations_of,
)
from streams.kafka.restore import restore_pending, state_settled, wait_restored
from streams.kafka.security import client_kwargs, faust_credentials
from streams.kafka.tables import TableMapping, decode_values, delivered_table
from streams.kafka.writeback import WATERMARK_PREFIX, WriteBack
from streams.settings import Settings
from streams.wiring import build_core, classifier_kwargs

log = logging.getLogger(__name__)


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
        web_bind=settings.worker_web_host,  # faust listens on web_bind (default 0.0.0.0), not web_host
        web_port=settings.worker_web_port,
        web_enabled=True,
        autodiscover=False,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka_heartbeat_seconds,
        # One worker consumes its inputs and the scores it produced; faust
        # delivers a poll's records one by one, and an input whose stream is
        # full blocks the rest. Unbounded (the client's default), a poll under
        # backlog held thousands of inputs and the aggregation saw no score for
        # a second at a time.
        broker_max_poll_records=settings.kafka_max_poll_records,
        stream_recovery_delay=settings.recovery_delay_seconds,
        broker_credentials=faust_credentials(settings),
        producer_acks=-1,
        # The client's 16 KiB default holds about ten score messages: once full,
        # a send waits for the batch in flight to come back.
        producer_max_batch_size=settings.producer_batch_bytes,
        producer_max_request_size=max(settings.producer_batch_bytes, 1_048_576),
        producer_linger=settings.producer_linger_seconds,
        producer_compression_type=None if settings.producer_compression == "none" else settings.producer_compression,
        processing_guarantee="at_least_once",
        key_serializer="json",
        value_serializer="json",
    )
    if classifier is None and settings.classifier_processes:
        classifier = ClassifierProcess(settings.classifier_processes, nice=settings.classifier_nice,
                                       **classifier_kwargs(settings))
    core = build_core(settings, classifier)
    metrics = core.metrics
    run = metrics.run
    executor = ThreadPoolExecutor(max(1, settings.classifier_processes), thread_name_prefix="classify")

    inputs = app.topic(settings.topic_posts, settings.topic_responses, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    # Envelopes are decoded in the agent (``decode_message``): a message that is
    # not one becomes a dead letter there, like any other hostile record.
    scores_topic = app.topic(settings.topic_scores, key_serializer="raw", value_serializer="raw")
    # Envelopes are joined from entries encoded once per record (streams.kafka.messages).
    scores_out = app.topic(settings.topic_scores, key_serializer="raw", value_serializer="raw")
    dead_topic = app.topic(settings.topic_dead_letters, key_serializer="raw", value_serializer="json")
    # Violations too are encoded once, when their record is (``encode_entry``).
    violations_topic = app.topic(settings.topic_violations, key_serializer="raw", value_serializer="raw")
    # Snapshots are encoded where the figures are computed (``computed``), off the loop.
    snapshot_topic = app.topic(settings.topic_snapshots, key_serializer="raw", value_serializer="raw")
    # Tables use the app's json serializers for keys and values.
    authors = delivered_table(app, "authors", settings.partitions)
    windows_table = delivered_table(app, "windows", settings.partitions)
    # Every topic key is fed by all partitions of both input topics.
    core.aggregator.windows.cfg.expected_sources = 2 * settings.partitions
    # Authors are written once per changed author per micro-batch, like the windows.
    authors_cache = WriteBack(TableMapping(authors), _current_event.get)
    pairing = Pairing()  # this worker's tallies; the metrics are what is read
    core.scorer.authors = authors_cache
    # Only the aggregation writes the windows table, and it forgets this cache
    # at every rebalance: between rebalances it holds what the table holds.
    window_cache = WriteBack(TableMapping(windows_table), _current_event.get, keep=True)
    core.aggregator.windows.table = window_cache
    state = {"figures_at": 0.0}
    input_names = {settings.topic_posts, settings.topic_responses}

    def owned(topics: set[str]) -> list[TopicPartition]:
        """This worker's partitions of the given topics now."""
        return [TopicPartition(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in topics]

    score_gaps = GapFiller(settings.kafka_bootstrap, settings.app_id, client=client_kwargs(settings),
                           assigned=lambda: owned(input_names))
    scores_gaps = GapFiller(settings.kafka_bootstrap, settings.app_id, client=client_kwargs(settings),
                            assigned=lambda: owned({settings.topic_scores}))
    # faust commits only past processed records, from where the gap fillers
    # found each partition starts (streams.kafka.commits).
    commits.install()
    setattr(app, commits.FLOOR_ATTR, ChainMap(score_gaps.floors, scores_gaps.floors))
    # The inputs are read in micro-batches past faust's per-message path.
    direct.install(app, input_names)
    reader = DirectReader(app, score_gaps, lambda: owned(input_names), settings.batch_size,
                          settings.batch_within_seconds, client=client_kwargs(settings))
    worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def in_range(ms: int) -> bool:
        return (settings.event_from_ms is None or ms >= settings.event_from_ms) and (
            settings.event_to_ms is None or ms < settings.event_to_ms
        )

    async def reject(dead: DeadLetter) -> Any:
        """Sends a dead letter, keyed by its source offset (so a compacted topic or
        a reader keeps one per offset); returns the delivery future to await before acking."""
        metrics.dead_letters.labels(run, dead.reason).inc()
        src = dead.source
        key = "/".join(str(src.get(k)) for k in ("topic", "partition", "offset", "index") if k in src).encode()
        return await dead_topic.send(key=key, value=dead.to_dict(settings.dead_letter_max_raw_bytes))

    class IdleTail:
        """After about a second without events, and with no rebalance or
        recovery under way, asks the gap filler for records at the end of the
        agent's partitions that faust never delivered."""

        def __init__(self, topics: set[str], gaps: GapFiller, within: float) -> None:
            self.topics, self.gaps, self.streak = topics, gaps, 0
            self.idle_batches = max(2, round(1.0 / within))  # empty batches come every ``within`` seconds
            self.held_since: float | None = None  # when checks began to be skipped

        async def check(self, busy: bool) -> list[Any]:
            self.streak = 0 if busy else self.streak + 1
            if self.streak < self.idle_batches or self.streak % self.idle_batches:
                return []
            if not state_settled(app):
                # Diagnosis of the takeover loss (issue 14): a flag left set after a
                # rebalance would keep this safety net off for good; say so once.
                now = time.monotonic()
                self.held_since = self.held_since or now
                if now - self.held_since > 30:
                    log.warning("idle tail check of %s skipped for 30 s (rebalancing=%s, restore pending=%s)",
                                sorted(self.topics), app.rebalancing, restore_pending(app))
                    self.held_since = now
                return []
            self.held_since = None
            mine = owned(self.topics)
            try:
                ends = await asyncio.wait_for(self.gaps.end_offsets(mine), 10)
                return await self.gaps.fill_tail(mine, ends, app.consumer_generation_id)
            except Exception as exc:  # a safety net must not take the worker down: try again next idle second
                log.warning("idle check of %s failed (%r); retrying later", sorted(self.topics), exc)
                await self.gaps.close()
                return []

    async def start_batch(events: list[Any], ranges: list[tuple[str, int, int, int]], generation: int,
                          mark: InFlight | None = None) -> tuple:
        """Validates a batch read directly (dead letters sent) and starts
        classifying it; its offset ranges are acked once it is settled."""
        arrived = time.perf_counter()
        if events:
            await wait_restored(app)  # groups read the authors table: never a half-restored one
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
        classified = None
        if batch:
            loop = asyncio.get_running_loop()
            classified = loop.run_in_executor(executor, core.scorer.classify_timed, [p for _, p in batch])
        return batch, pending, classified, arrived, (ranges, generation), mark

    def encode_entry(scored: Any) -> tuple[EncodedObservation, list[tuple[bytes, bytes]]]:
        """A score's envelope entries and its violations (key, value), each
        encoded once: a value the codec refuses fails here, for this record alone."""
        encoded = encode_observation(scored.topic, observation_entry(scored), scored.to_record())
        violations = core.scorer.violations(scored) if scored.behavior else []
        return encoded, [(v["id"].encode(), encode_json(v)) for v in violations]

    async def send_batch(held: tuple) -> tuple:
        """Topics, groups and sends of a classified batch; returns what ``settle``
        needs to ack it once the sends are on the broker."""
        batch, pending, classified, arrived, acks, mark = held
        if classified is not None:
            try:
                outputs, seconds = await classified
                metrics.classify_latency.labels(run).observe(seconds)
                metrics.batch_size.labels(run).observe(len(batch))
                work = [(ev, parsed, outputs, i) for i, (ev, parsed) in enumerate(batch)]
            except Exception:  # one text broke the batch: classify one by one, dead-letter the culprits
                work = []
                for ev, parsed in batch:
                    try:
                        work.append((ev, parsed, core.scorer.classify([parsed]), 0))
                    except Exception as exc:
                        pending.append(await reject(internal_error(parsed, exc)))
            entries = []
            for ev, parsed, outs, i in work:
                # The author table writes to the changelog partition of the
                # current event: make it this record's event, not the batch's last.
                _current_event.set(weakref.ref(ev))
                try:
                    scored = core.scorer.assemble(parsed, outs, i)
                    encoded, violations = encode_entry(scored)
                except Exception as exc:  # data must never stop a worker: this record's dead letter
                    pending.append(await reject(internal_error(parsed, exc)))
                    continue
                entries.append(encoded)
                if scored.topic_how == "explicit_unknown":
                    metrics.unknown_topics.labels(run).inc()
                metrics.records.labels(run, scored.series.stream).inc()
                if scored.unassigned_reason:
                    metrics.unassigned.labels(run, scored.unassigned_reason).inc()
                if pairs := add_scored(pairing, scored):  # a probe answer: how it relates to its post
                    metrics.paired(scored, pairs)
                if scored.behavior:
                    metrics.judged(scored)
                    for key, value in violations:
                        pending.append(await violations_topic.send(key=key, value=value))
            authors_cache.flush(_current_event.set)  # each author to its own event's partition
            # One message per topic key per micro-batch instead of two per record.
            for key, payload in envelopes(entries):
                pending.append(await scores_out.send(key=key.encode(), value=payload))
        return pending, acks, arrived if classified is not None else None, mark

    async def settle(sent: tuple) -> None:
        """Acks a sent batch. Its offsets may be committed once it is acked: its
        scores and author updates must be on the broker by then, not in a
        buffer a kill -9 would lose."""
        pending, (ranges, generation), arrived, mark = sent
        try:
            await asyncio.gather(*pending)
            await authors.delivered()
            commits.ack_ranges(app, ranges, generation)
        finally:
            if mark is not None:  # a rebalance waiting for this batch may go on
                mark.release()
        if arrived is not None:
            metrics.e2e_latency.labels(run).observe(time.perf_counter() - arrived)

    def delivered(sent: tuple) -> bool:
        return all(f.done() for f in sent[0])

    def is_classified(held: tuple) -> bool:
        return held[2] is None or held[2].done()

    # An agent that fails on infrastructure (not on data: data is dead-lettered)
    # must take the worker down, so that a restart re-reads from the committed
    # offsets; faust's default supervisor would restart it in place and skip
    # the events it held.
    @app.agent(inputs, supervisor_strategy=CrashingSupervisor)
    async def score(stream: faust.Stream) -> None:
        # faust assigns the input partitions and commits them; the records are
        # read here (streams.kafka.direct), so ``stream`` never yields.
        # Batches in flight: the next ones are classified (in the classifier's
        # process) while this one is assembled and sent, and sent ones wait for
        # the broker's acks while the next are assembled: neither the classifier
        # nor the loop waits for a round trip to the broker (measured: with the
        # wait inline, one worker was held near batch size / ack latency, with
        # 40% of two cores idle). Batches are sent, and acked, in order.
        held: deque[tuple] = deque()
        sent: deque[tuple] = deque()
        # The next batch is read while the held ones are classified, and one
        # whose classification ends mid-read is sent at once: read inline, it
        # waited for the read to return (up to ``within``; on average half of
        # it, on every record's way, under a steady stream).
        reading: asyncio.Future | None = None
        try:
            while not app.should_stop:
                reading = reading or asyncio.ensure_future(reader.batch())
                classifying = [held[0][2]] if held and not is_classified(held[0]) else []
                await asyncio.wait([reading, *classifying], return_when=asyncio.FIRST_COMPLETED)
                idle = False
                if reading.done():
                    events, ranges, generation, mark = reading.result()  # a failed read takes the worker down
                    reading = None
                    if events:
                        held.append(await start_batch(events, ranges, generation, mark))
                    idle = not events
                while held and (len(held) > settings.classify_ahead or idle or is_classified(held[0])):
                    sent.append(await send_batch(held.popleft()))
                while sent and (len(sent) > settings.classify_ahead or idle or delivered(sent[0])):
                    await settle(sent.popleft())
        finally:
            if reading is not None:  # a batch read but not started is not acked either: read again
                reading.cancel()
                done = (await asyncio.gather(reading, return_exceptions=True))[0]
                if isinstance(done, tuple) and done[-1] is not None:
                    done[-1].release()
            for batch in (*held, *sent):  # never acked: the next owner reads them again
                if batch[-1] is not None:
                    batch[-1].release()
            await reader.close()

    @app.agent(scores_topic, supervisor_strategy=CrashingSupervisor)
    async def aggregate(stream: faust.Stream) -> None:
        # Micro-batches, so that one wait for the changelog covers many events
        # and each changed key is written once per batch (``WriteBack``).
        idle = IdleTail({settings.topic_scores}, scores_gaps, settings.aggregate_within_seconds)
        indexed_in = None  # the rebalance generation the windows' key index was read in
        # A short wait: the envelopes of one score batch arrive together, so a
        # longer one mostly adds latency (0.2 s at a live rate, 2026-12-06).
        batches = micro_batches(stream, settings.aggregate_batch_size, settings.aggregate_within_seconds, idle=True)
        async for batch_events in batches:
            pending = []
            generation = app.consumer_generation_id
            events = await scores_gaps.fill(batch_events, generation)
            events = await idle.check(bool(batch_events)) + events
            ranges = scores_gaps.take_ranges()
            if not events:
                commits.ack_ranges(app, ranges, generation)  # offsets without records, if any
                continue
            await wait_restored(app)  # never update windows read from a half-restored table
            if app.consumer_generation_id != indexed_in:
                # A rebalance restores some keys and hides others: expiry and the
                # cache read them anew.
                core.aggregator.windows.forget_keys()
                window_cache.forget()
                indexed_in = app.consumer_generation_id
            for event in events:
                # Table writes go to the changelog partition of the current event.
                _current_event.set(weakref.ref(event))
                src = {"topic": event.message.topic, "partition": event.message.partition,
                       "offset": event.message.offset}
                raw = event.value if isinstance(event.value, bytes) else b""
                try:
                    msg = decode_message(raw)
                    items = list(observations_of(msg))
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    pending.append(await reject(DeadLetter(raw, src, "invalid_score", str(exc)[:300])))
                    continue
                for j, (obs, origin) in enumerate(items):
                    own = obs.topic != ALL  # count a record once, in its own topic
                    try:
                        counted = core.aggregator.add(obs, origin)
                    except Exception as exc:  # never stop the worker on one observation
                        one = json.dumps(msg["obs"][j] if "obs" in msg else msg,
                                         default=str).encode("utf-8", "surrogatepass")
                        pending.append(await reject(DeadLetter(one, {**src, "index": j},
                                                               f"internal_error:{type(exc).__name__}", str(exc)[:300])))
                        continue
                    if counted:
                        if own:
                            metrics.counted.labels(run, obs.series.stream).inc()
                    elif own:
                        metrics.late.labels(run, obs.series.stream).inc()
            window_cache.flush(_current_event.set)  # each key to its own event's partition
            await asyncio.gather(*pending)
            await windows_table.delivered()
            # faust's own events are acked by micro_batches when the next batch is asked for.
            commits.ack_ranges(app, ranges, generation)

    maker, window_cfg = core.aggregator.maker, core.aggregator.windows.cfg
    if settings.figures_process:
        compute = FiguresProcess(maker, window_cfg).compute
    else:
        figures_pool = ThreadPoolExecutor(1, thread_name_prefix="figures")

        async def compute(snapshot: dict[str, bytes], head: dict[str, Any]) -> tuple[Any, bytes | None]:
            return await asyncio.get_running_loop().run_in_executor(
                figures_pool, computed, maker, window_cfg, snapshot, head)

    async def export_lag() -> None:
        """Records between each owned partition's end and our position (the
        inputs': the direct reader's)."""
        for tp, n in reader.lag().items():
            metrics.lag.labels(run, tp.topic, str(tp.partition)).set(n)
        consumer = app.consumer
        for tp in consumer.assignment():
            if tp.topic != settings.topic_scores:
                continue
            try:
                pos = await consumer.position(tp)
                high = consumer.highwater(tp)
            except Exception:  # lag is best-effort: never let it stop the figures
                continue
            if pos is not None and high is not None:
                metrics.lag.labels(run, tp.topic, str(tp.partition)).set(max(0, high - pos))

    @app.task
    async def figures_every_interval() -> None:
        # Refreshes start every interval whatever they take (faust's timers sleep
        # the interval *after* each run: with a 2.5 s refresh under load, figures
        # came every 7.5 s); one that overruns is followed by the next at once.
        interval = settings.figures_interval_seconds
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while not app.should_stop:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due + interval, loop.time())
            try:
                await publish_figures()
            except asyncio.CancelledError:
                raise
            except Exception:  # one failed refresh must not end the refreshes
                if app.should_stop:  # a stop signal also ends the figures process: not a failure
                    return
                log.exception("figures refresh failed; the next one is due in %.1f s", interval)

    async def publish_figures() -> None:
        if not state_settled(app):  # a half-restored table would publish wrong figures
            return
        began = time.perf_counter()
        # Copy the state on the loop (consistent: no agent runs meanwhile), then
        # decode and compute it off the loop so the agents and heartbeats keep going.
        await export_lag()
        snapshot = dict(windows_table.items())  # key -> JSON bytes (streams.kafka.tables)
        figs, message = await compute(snapshot, {"run": run, "worker": worker_id})
        metrics.figures.figures = figs
        view = Windows(decode_values({k: v for k, v in snapshot.items() if k.startswith(WATERMARK_PREFIX)}),
                       window_cfg)
        wm = max((view.watermark(t) or 0 for t in view.topics()), default=0)
        if wm:
            metrics.watermark.labels(run).set(wm / 1000)
        metrics.last_update.labels(run).set(time.time())
        state["figures_at"] = time.time()
        if message is not None:
            await snapshot_topic.send(key=worker_id.encode(), value=message)
        metrics.figures_refresh.labels(run).observe(time.perf_counter() - began)

    figure_families = frozenset(f.name for f in metrics.figures.describe())

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        # Rendering a busy worker's figures takes tens of milliseconds: off the
        # loop. ``?name[]=...`` renders only the named metric families, as
        # client_python's own exporter does; without figures among them that is
        # cheap, and done on the loop (handing a poll every 0.1 s to a thread
        # cost the loop 3%).
        names = request.query.getall("name[]", [])
        registry = metrics.registry.restricted_registry(names) if names else metrics.registry
        if names and figure_families.isdisjoint(names):
            body = generate_latest(registry)
        else:
            body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        ok = state_settled(app)
        body = {"ready": ok, "rebalancing": app.rebalancing, "figures_at": state["figures_at"]}
        return web.json(body, status=200 if ok else 503)

    app.affectwatch_core = core  # for tests and the CLI
    return app


CLEAN_MARK = "clean-shutdown"


def prepare_state(data_dir) -> bool:
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
    import shutil

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

    if settings.worker_event_loop == "uvloop":
        # faust's supported loop (its 'uvloop' extra): the loop's own work is a
        # tenth of the worker's; this cut the worker's CPU a record by about 6%.
        mode.loop.use("uvloop")
    prepare_state(settings.data_dir)
    create_topics(settings)  # idempotent; a backfill run needs its own score and snapshot topics
    create_changelogs(settings)
    app = create_app(settings)
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
            (settings.data_dir / CLEAN_MARK).touch()
        raise
