"""The Kafka path against a real Apache Kafka broker (KRaft) started by the suite,
with real worker processes: parity with the embedded runner, dead letters,
kill -9, broker restart, two workers, replay speed."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.core.inputs import RawInput
from streams.embedded import EmbeddedRunner, read_inputs
from streams.kafka.io import create_topics, plan, replay
from streams.kafka.localkafka import LocalKafka
from streams.settings import BUNDLED
from streams.wiring import build_core
from tests.conftest import T0
from tests.kafka_support import (
    Snapshots,
    Worker,
    env_of,
    figure_diff,
    figures_by_topic,
    isolated_settings,
    read_topic,
    total_n,
)

pytestmark = pytest.mark.timeout(600)

DOMAINS = {"conservative": ["https://www.breitbart.com/a", "foxnews.com"], "liberal": ["https://www.huffpost.com/b"]}


def embedded_run(settings, classifier, inputs: list[RawInput]):
    core = build_core(settings, classifier)
    return EmbeddedRunner(core.scorer, core.aggregator).run(inputs)


def embedded_figures(settings, classifier, inputs: list[RawInput]) -> dict:
    return figures_by_topic(embedded_run(settings, classifier, inputs).figures.to_dict())


def demo_inputs(limit: int, shift_ms: int = 0) -> list[RawInput]:
    """Demo posts without their explicit group, so the authors table decides it
    from the domains they share, interleaved with the demo responses, moved
    ``shift_ms`` later in event time."""
    posts = [json.loads(x) for x in (BUNDLED / "demo" / "posts.jsonl").read_text().splitlines()]
    resp = [json.loads(x) for x in (BUNDLED / "demo" / "responses.jsonl").read_text().splitlines()]
    items = []
    for r in posts + resp:
        r["created_at"] += shift_ms
    for p in posts[: limit // 2]:
        group = p.pop("group")
        p["urls"] = DOMAINS[group][: 1 + hash(p["author_id"]) % 2] if group == "conservative" else DOMAINS[group]
        items.append(RawInput(json.dumps(p).encode(), "post", {}))
    items += [RawInput(json.dumps(r).encode(), "lm", {}) for r in resp[: limit // 2]]
    return items


def start(settings, tmp_path: Path, n: int = 1) -> list[Worker]:
    workers = [Worker(settings, tmp_path / f"worker-{i}.log", tmp_path / f"state-{i}").start() for i in range(n)]
    for w in workers:
        w.wait_ready()
    return workers


def test_parity_with_the_embedded_runner_and_dead_letters(kafka, classifier, small_stream, tmp_path):
    # zstd, not the default (none): its messages must read back the same, through the CLI too.
    s = isolated_settings(kafka.bootstrap, tmp_path, kafka__producer_compression="zstd")
    create_topics(s)
    inputs = read_inputs(*small_stream)
    local_run = embedded_run(s, classifier, inputs)
    expected = figures_by_topic(local_run.figures.to_dict())
    (w,) = start(s, tmp_path)
    snaps = Snapshots(s)
    try:
        replay(s, plan(s, inputs), None)
        seen = snaps.wait_for(expected)
        assert total_n(seen) == 240
        assert seen == expected, figure_diff(seen, expected)
        dead = [json.loads(m.value) for m in read_topic(s, s.kafka.topic_dead_letters)]
        assert sorted(d["reason"] for d in dead) == sorted([
            "invalid_utf8", "malformed_json", "missing_field:author_id", "missing_field:model",
            "text_too_long", "unknown_group"])
        for d in dead:
            assert d["source"]["topic"] in (s.kafka.topic_posts, s.kafka.topic_responses)
            assert isinstance(d["source"]["offset"], int) and d["source"]["partition"] >= 0
        big = next(d for d in dead if d["reason"] == "text_too_long")
        assert big["raw_truncated"] and big["raw_bytes"] > 1_000_000
        assert len(big["raw"]) == s.limits.dead_letter_max_raw_bytes
        bad = next(d for d in dead if d["reason"] == "invalid_utf8")
        assert bad["raw_encoding"] == "base64" and base64.b64decode(bad["raw"]) == b"\xff\xfe\x00"
        status, body = w.get("/metrics")
        assert status == 200 and 'affectwatch_dead_letters_total{reason="malformed_json",run="live"} 1.0' in body
        assert "affectwatch_alignment{" in body
        status, some = w.get("/metrics?name[]=affectwatch_dead_letters_total&name[]=affectwatch_alignment")
        assert 'affectwatch_dead_letters_total{reason="malformed_json",run="live"} 1.0' in some
        assert "affectwatch_alignment{" in some and "affectwatch_records_total" not in some
        # The refreshes that published those figures, each timed (count and total time).
        refreshes = {x.split("{", 1)[0]: float(x.rsplit(" ", 1)[1]) for x in body.splitlines()
                     if x.startswith(("affectwatch_figures_refresh_seconds_count{",
                                      "affectwatch_figures_refresh_seconds_sum{"))}
        assert refreshes["affectwatch_figures_refresh_seconds_count"] >= 1
        assert 0 < refreshes["affectwatch_figures_refresh_seconds_sum"] < 60 * refreshes[
            "affectwatch_figures_refresh_seconds_count"]
        # Guardrail violations: the same ones as the embedded runner's, with their levels.
        local = {v["id"]: v for v in local_run.violations}
        sent = {v["id"]: v for v in (json.loads(m.value) for m in read_topic(s, s.kafka.topic_violations))}
        assert local and sent.keys() == local.keys()
        for vid, v in sent.items():
            assert (v["spectrum"], v["level"], v["response"]["text"]) == (
                local[vid]["spectrum"], local[vid]["level"], local[vid]["response"]["text"])
            assert v["source"]["topic"] == s.kafka.topic_responses
        n = sum(float(x.rsplit(" ", 1)[1]) for x in body.splitlines()
                if x.startswith("affectwatch_guardrail_violations_total{"))
        assert n == len(local)
        # Per-record scores, read back one by one from the envelopes (compressed
        # with the default codec) by the CLI an operator would use.
        out = subprocess.run([sys.executable, "-m", "streams.cli", "scores", "--idle", "3"], env=env_of(s),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        printed = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(printed) == 240 and len({r["id"] for r in printed}) == 240
        assert all(r["topic"] != "all" and set(r["emotion"]) and set(r["moral"]) for r in printed)
    finally:
        snaps.close()
        w.stop()


def test_kill_minus_9_mid_stream_resumes_with_exact_counts(kafka, classifier, tmp_path):
    s = isolated_settings(kafka.bootstrap, tmp_path, worker__store="rocksdb://")
    create_topics(s)
    inputs = demo_inputs(1200)
    expected = embedded_figures(s, classifier, inputs)
    (w,) = start(s, tmp_path)
    snaps = Snapshots(s)
    try:
        replay(s, plan(s, inputs), None)
        deadline = time.monotonic() + 120
        while total_n(snaps.by_topic()) < 300 and time.monotonic() < deadline:
            snaps.poll()
        assert 0 < total_n(snaps.by_topic()) < 1200, "kill must land mid-stream"
        w.kill()
        (w2,) = start(s, tmp_path)
        seen = snaps.wait_for(expected)
        assert total_n(seen) == 1200
        assert seen == expected, figure_diff(seen, expected)
        w2.stop()
    finally:
        snaps.close()
        w.kill()


def test_two_workers_equal_one_and_survive_losing_one(kafka, classifier, small_stream, tmp_path):
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    first = read_inputs(*small_stream)
    more = demo_inputs(400, shift_ms=2 * 3_600_000)  # after the first batch: nothing late
    w1, w2 = start(s, tmp_path, 2)
    snaps = Snapshots(s)
    try:
        replay(s, plan(s, first), None)
        seen = snaps.wait_for(expected := embedded_figures(s, classifier, first))
        assert seen == expected, figure_diff(seen, expected)
        for w in (w1, w2):  # the input partitions were split: both scored records
            body = w.get("/metrics")[1]
            scored = sum(float(x.rsplit(" ", 1)[1]) for x in body.splitlines()
                         if x.startswith("affectwatch_records_total{"))
            assert 0 < scored < 240
        w1.kill()
        replay(s, plan(s, more), None)
        seen = snaps.wait_for(expected := embedded_figures(s, classifier, first + more), timeout=240)
        assert total_n(seen) == 240 + 400, _diagnose([w2])
        assert seen == expected, figure_diff(seen, expected)
    finally:
        snaps.close()
        w1.kill()
        w2.stop()


def test_broker_restart_mid_stream(classifier, tmp_path):
    k = LocalKafka(extra={"group.initial.rebalance.delay.ms": "0"}, data_dir=tmp_path / "broker").start()
    s = isolated_settings(k.bootstrap, tmp_path)
    create_topics(s)
    inputs = demo_inputs(1000)
    expected = embedded_figures(s, classifier, inputs)
    (w,) = start(s, tmp_path)
    try:
        replay(s, plan(s, inputs[:500]), None)
        time.sleep(4)
        k.stop()  # the broker goes away mid-stream ...
        time.sleep(5)
        k.start()  # ... and comes back on the same ports with the same data
        replay(s, plan(s, inputs[500:]), None)
        snaps = Snapshots(s)
        seen = snaps.wait_for(expected, timeout=240)
        snaps.close()
        assert total_n(seen) == 1000
        assert seen == expected, figure_diff(seen, expected)
        assert w.proc.poll() is None
    finally:
        w.stop()
        k.cleanup()


def test_replay_in_real_time_gives_the_figures_of_max_speed(kafka, classifier, small_stream, tmp_path):
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    inputs = read_inputs(*small_stream)
    messages = plan(s, inputs)
    span_s = (max(m.timestamp_ms or 0 for m in messages) - min(m.timestamp_ms or 2**62 for m in messages)) / 1000
    (w,) = start(s, tmp_path)
    snaps = Snapshots(s)
    try:
        started = time.monotonic()
        replay(s, messages, span_s / 15)  # two hours of events in about 15 s, paced by event time
        assert time.monotonic() - started > 10
        seen = snaps.wait_for(embedded_figures(s, classifier, inputs))
        assert total_n(seen) == 240
        assert seen == embedded_figures(s, classifier, inputs)
    finally:
        snaps.close()
        w.stop()


def test_backfill_run_of_a_time_range_leaves_live_state_alone(kafka, classifier, small_stream, tmp_path):
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    inputs = read_inputs(*small_stream)
    live_expected = embedded_figures(s, classifier, inputs)
    (live,) = start(s, tmp_path)
    snaps = Snapshots(s)
    replay(s, plan(s, inputs), None)
    try:
        assert snaps.wait_for(live_expected) == live_expected
        lo, hi = T0 + 30 * 60_000, T0 + 90 * 60_000
        in_range = [i for i in inputs if _event_ms(i) is not None and lo <= _event_ms(i) < hi]
        backfill = Worker(s, tmp_path / "backfill.log", tmp_path / "state-backfill",
                          args=("--run", "backfill", "--from", str(lo), "--to", str(hi))).start()
        backfill.wait_ready()
        bsnaps = Snapshots(s, f"{s.kafka.topic_snapshots}-backfill")
        expected = embedded_figures(s, classifier, in_range)
        assert bsnaps.wait_for(expected) == expected
        assert total_n(expected) == 120  # one hour of the two
        _, body = backfill.get("/metrics")
        assert 'affectwatch_skipped_records_total{reason="outside_range",run="backfill"} 120.0' in body
        snaps.poll()
        assert snaps.by_topic() == live_expected  # the live run is untouched
        assert 'affectwatch_consumer_lag_records{' in live.get("/metrics")[1]
        bsnaps.close()
        backfill.stop()
    finally:
        snaps.close()
        live.stop()


def _event_ms(item: RawInput) -> int | None:
    try:
        return int(json.loads(item.raw)["created_at"])
    except (ValueError, KeyError, TypeError):
        return None


def test_gap_filler_reads_offsets_faust_never_delivered(kafka, tmp_path):
    """The safety net under faust's consumer (streams/kafka/gaps.py): a batch that
    jumps from offset 2 to 7 gets 3..6 read from the broker and put first."""
    import asyncio
    from types import SimpleNamespace

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from streams.kafka.gaps import GapEvent, GapFiller

    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    p = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    for i in range(10):
        p.send(s.kafka.topic_posts, key=b"k", value=f"v{i}".encode(), partition=1)
    for i in range(4):
        p.send(s.kafka.topic_posts, key=b"k", value=f"v{i}".encode(), partition=3)
    p.flush()
    p.close()
    c = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap, group_id=s.kafka.app_id, enable_auto_commit=False)
    c.commit({TopicPartition(s.kafka.topic_posts, 1): OffsetAndMetadata(1, "", -1)})
    c.close()

    def event(offset: int, partition: int = 1):
        return SimpleNamespace(message=SimpleNamespace(topic=s.kafka.topic_posts, partition=partition, offset=offset),
                               value=f"v{offset}".encode())

    def once(filler: GapFiller, call):
        """Runs one call on its own event loop and closes the filler's client on it
        (left open, a client's finalizer can run during a later test)."""

        async def go():
            try:
                return await call
            finally:
                await filler.close()

        return asyncio.run(go())

    filler = GapFiller(s.kafka.bootstrap, s.kafka.app_id)
    out = once(filler, filler.fill([event(o) for o in (1, 2, 7, 8)], generation=5))
    assert [e.message.offset for e in out] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.value for e in out[2:6]] == [b"v3", b"v4", b"v5", b"v6"]
    assert all(isinstance(e, GapEvent) for e in out[2:6]) and filler.filled == 4
    # Later batches continue from there; a new generation starts again from the committed offset.
    assert [e.message.offset for e in once(filler, filler.fill([event(9)], generation=5))] == [9]
    again = once(filler, filler.fill([event(3)], generation=6))
    assert [e.message.offset for e in again] == [1, 2, 3]
    # A run skipped at the end of the partition: no later event reveals it, the idle check does.
    from aiokafka import TopicPartition as ATP

    tp = ATP(s.kafka.topic_posts, 1)
    tail = once(filler, filler.fill_tail([tp], {tp: 10}, generation=6))
    assert [e.message.offset for e in tail] == [4, 5, 6, 7, 8, 9] and all(isinstance(e, GapEvent) for e in tail)
    assert once(filler, filler.fill_tail([tp], {tp: 10}, generation=6)) == []  # nothing twice
    fresh = GapFiller(s.kafka.bootstrap, s.kafka.app_id)  # nothing seen yet: from the committed offset on
    assert [e.message.offset for e in once(fresh, fresh.fill_tail([tp], {tp: 10}, generation=1))] == list(range(1, 10))
    # Faust delivering what was read directly is not processed twice (its side effects would repeat).
    assert once(fresh, fresh.fill([event(8), event(9)], generation=1)) == [] and fresh.repeated == 2
    # A partition without a committed offset starts at its first offset, and that is where commits may start.
    assert [e.message.offset for e in once(fresh, fresh.fill([event(0, partition=2)], generation=1))] == [0]
    assert fresh.floors[(s.kafka.topic_posts, 2)] == 0 and fresh.floors[(s.kafka.topic_posts, 1)] == 1
    # "None committed" is asked again before it causes a direct read: still none, so from the first offset ...
    none3 = GapFiller(s.kafka.bootstrap, s.kafka.app_id)  # (a filler's clients live on one event loop)
    assert [e.message.offset for e in once(none3, none3.fill([event(3, partition=3)], generation=1))] == [0, 1, 2, 3]
    # ... but a commit found by the second ask is where the partition starts. The agent's other
    # partitions are asked together, at its first batch (one ask a generation, not one a partition).
    p3 = ATP(s.kafka.topic_posts, 3)
    late = GapFiller(s.kafka.bootstrap, s.kafka.app_id, assigned=lambda: [p3])

    async def commit_between() -> list[int]:
        first = [e.message.offset for e in await late.fill([event(1)], generation=1)]
        assert late.expected[(s.kafka.topic_posts, 3)] == 0 and (s.kafka.topic_posts, 3) in late.unconfirmed
        c = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap, group_id=s.kafka.app_id, enable_auto_commit=False)
        c.commit({TopicPartition(s.kafka.topic_posts, 3): OffsetAndMetadata(2, "", -1)})
        c.close()
        return first + [e.message.offset for e in await late.fill([event(3, partition=3)], generation=1)]

    assert once(late, commit_between()) == [1, 2, 3]
    assert late.floors[(s.kafka.topic_posts, 3)] == 2
    # Partitions that all need a direct read from a "none committed" start are asked again
    # together, in one round (one at a time, a cold start of eight partitions took eight seconds).
    idle = [ATP(s.kafka.topic_posts, n) for n in (1, 3)]
    together = GapFiller(s.kafka.bootstrap, f"{s.kafka.app_id}-other", assigned=lambda: idle)  # a group with no commits
    found = once(together, together.fill_tail(idle, {idle[0]: 3, idle[1]: 2}, generation=1))
    assert [(e.message.partition, e.message.offset) for e in found] == [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1)]
    assert together.confirm_rounds == 1 and not together.unconfirmed
    both = GapFiller(s.kafka.bootstrap, f"{s.kafka.app_id}-other")
    out = once(both, both.fill([event(2, partition=1), event(3, partition=3)], generation=1))
    assert [(e.message.partition, e.message.offset) for e in out] == [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1),
                                                                      (3, 2), (3, 3)]
    assert both.confirm_rounds == 1
    # A read that cannot get all its offsets fails instead of passing a partial run off as whole
    # (offsets 10..14 do not exist yet): the caller keeps its position and tries again.
    import streams.kafka.gaps as gaps

    short = GapFiller(s.kafka.bootstrap, s.kafka.app_id)
    old, gaps.READ_SECONDS = gaps.READ_SECONDS, 2.0
    try:
        with pytest.raises(TimeoutError):
            once(short, short.fill_tail([tp], {tp: 15}, generation=1))
        # A call whose second read fails leaves no trace of its first, whose records the
        # caller never got: otherwise faust's later delivery of them is skipped as already read.
        with pytest.raises(TimeoutError):
            once(short, short.fill_tail([tp, p3], {tp: 10, p3: 99}, generation=1))
    finally:
        gaps.READ_SECONDS = old
    assert short.expected[(s.kafka.topic_posts, 1)] == 1 and short.filled == 0 and short.take_ranges() == []
    retried = once(short, short.fill_tail([tp, p3], {tp: 10, p3: 4}, generation=1))
    assert [(e.message.partition, e.message.offset) for e in retried] == [(1, o) for o in range(1, 10)] + [(3, 2),
                                                                                                         (3, 3)]


def test_chaos_three_workers_killed_at_random_end_exact(kafka, classifier, tmp_path):
    """Three workers; a random one is killed with SIGKILL several times while the
    stream flows, and restarted on its own state: the figures end equal to the
    embedded runner's, exactly. Bounded: 4 kills, each after a chunk of the stream."""
    import random

    rng = random.Random(20261128)
    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    inputs = demo_inputs(1200)
    expected = embedded_figures(s, classifier, inputs)
    env = {"AFFECTWATCH_WORKER_CLASSIFIER_PROCESSES": "1"}  # three workers share two cores
    workers = [Worker(s, tmp_path / f"worker-{i}.log", tmp_path / f"state-{i}", extra_env=env).start()
               for i in range(3)]
    for w in workers:
        w.wait_ready()
    snaps = Snapshots(s)
    messages = plan(s, inputs)
    cut = [len(messages) * i // 5 for i in range(6)]
    chunks = [messages[cut[i]:cut[i + 1]] for i in range(5)]  # in event order, as a live stream comes
    try:
        for n, chunk in enumerate(chunks):
            replay(s, chunk, None)
            if n == len(chunks) - 1:
                break
            time.sleep(rng.uniform(0.5, 4.0))
            victim = rng.randrange(3)
            workers[victim].kill()
            workers[victim] = Worker(s, tmp_path / f"worker-{victim}-{n}.log", tmp_path / f"state-{victim}",
                                     extra_env=env).start()
        for w in workers:
            w.wait_ready(180)
        seen = snaps.wait_for(expected, timeout=300)
        assert total_n(seen) == 1200, _diagnose(workers)
        assert seen == expected, figure_diff(seen, expected)
    finally:
        snaps.close()
        for w in workers:
            w.kill()


def _diagnose(workers: list[Worker]) -> str:
    """What each worker says it did, for a failure message."""
    out = []
    for w in workers:
        try:
            body = w.get("/metrics")[1]
        except OSError as exc:
            out.append(f"{w.log.name}: no /metrics ({exc})")
            continue
        keep = [x for x in body.splitlines() if x.startswith((
            "affectwatch_records_total", "affectwatch_counted_records_total", "affectwatch_consumer_lag",
            "affectwatch_late_records_total", "affectwatch_dead_letters_total", "affectwatch_last_update"))]
        out.append(f"{w.log.name}:\n  " + "\n  ".join(keep) + "\n" + w.stacks())
    return "\n".join(out)
