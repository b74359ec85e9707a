"""What the worker relies on in faust's internals (streams.kafka.faust_patches, written
for faust-streaming 0.15.3): each signature and behaviour the patches assume is pinned here,
so a faust upgrade that changes one fails in this file, not in a running worker. The
real-broker tests of the patched paths (the direct reads, faust's fetch without the
inputs) are here too, as they stand in for faust's consumer."""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections import defaultdict

import faust
from faust.streams import Stream, current_event
from faust.tables.base import Collection
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Producer

from streams.kafka import faust_patches
from streams.kafka.commits import FLOOR_ATTR
from streams.kafka.io import create_topics
from streams.kafka.worker import faust_app
from streams.settings import Settings
from tests.kafka_support import isolated_settings


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_written_for_the_installed_faust_minor_version():
    """A new minor version of faust may move what the patches replace: read them again, then move the pin."""
    assert faust.__version__.rsplit(".", 1)[0] == faust_patches.WRITTEN_FOR.rsplit(".", 1)[0], (
        f"faust {faust.__version__}: the patches were written for {faust_patches.WRITTEN_FOR}")


def test_the_replaced_methods_keep_their_signatures():
    originals = {
        Consumer._new_offset: ["self", "tp"],
        faust_patches._faust_fetch_records: ["self", "consumer", "active_partitions", "timeout", "max_records"],
        faust_patches._faust_verify_event_path: ["self", "now", "tp"],
        Stream._enable_passive: ["self", "channel", "declare"],
    }
    for fn, params in originals.items():
        assert _params(fn) == params, fn
    assert _params(faust_patches._fetch_without_direct) == _params(faust_patches._faust_fetch_records)
    assert _params(faust_patches._verify_fetched_only) == _params(faust_patches._faust_verify_event_path)


def test_the_consumer_state_the_patches_read_is_where_they_read_it():
    init = inspect.getsource(Consumer.__init__)
    for name in ("_acked", "_acked_index", "_committed_offset", "_gap", "_unacked_messages", "_waiting_for_ack"):
        assert re.search(rf"self\.{name}\b", init), name
    # A rebalance and a stop wait for the unacked set to empty: what holds a batch read directly.
    assert "self._unacked_messages" in inspect.getsource(Consumer.wait_empty)
    assert "_fetch_records" in inspect.getsource(AIOKafkaConsumerThread.getmany)


def test_install_replaces_faust_s_methods_process_wide():
    app = type("App", (), {})()
    faust_patches.install(app, {"posts"})
    assert Consumer._new_offset is faust_patches._new_offset
    assert AIOKafkaConsumerThread._fetch_records is faust_patches._fetch_without_direct
    assert AIOKafkaConsumerThread.verify_event_path is faust_patches._verify_fetched_only
    assert Producer._settings_extra is faust_patches._idempotent
    assert app.affectwatch_direct_topics == frozenset({"posts"})


def test_the_worker_s_producer_is_idempotent_and_fails_a_send_within_the_request_timeout():
    """faust builds its aiokafka producer from ``_settings_extra`` last (so it overrides its
    defaults); the one built for a worker acks on all in-sync replicas, is idempotent, and
    gives up on a request (and a batch waiting to be sent) after the request timeout."""
    assert _params(Producer._settings_extra) == ["self"]
    assert "**self._settings_extra()" in inspect.getsource(Producer._new_producer)
    app = faust_app(Settings(kafka__request_timeout_seconds=12))
    faust_patches.install(app, {"posts"})

    async def built() -> tuple:
        producer = app.producer._new_producer()
        try:
            return (producer._txn_manager is not None, producer._sender._acks, producer._request_timeout_ms,
                    producer._message_accumulator._batch_ttl)
        finally:
            await producer.stop()

    idempotent, acks, request_ms, batch_ttl = asyncio.run(built())
    assert idempotent and acks == -1 and request_ms == 12_000 and batch_ttl == 12.0


def test_the_commit_rule_on_faust_s_own_bookkeeping_types():
    """faust's consumer keeps acks in lists per partition, an index of sets, the
    committed offsets and an IntervalTree of gaps: the rule reads all four."""
    from intervaltree import IntervalTree

    tp = faust.types.TP("posts", 0)
    consumer = type("C", (), {})()
    consumer.app = type("App", (), {})()
    setattr(consumer.app, FLOOR_ATTR, {})
    consumer._acked, consumer._acked_index = defaultdict(list), defaultdict(set)
    consumer._committed_offset, consumer._gap = defaultdict(lambda: None), defaultdict(IntervalTree)
    consumer._acked[tp] = [12, 10, 11, 14]
    consumer._acked_index[tp] = {10, 11, 12, 14}
    consumer._committed_offset[tp] = 10
    consumer._gap[tp].addi(13, 14)  # faust would count the gap at 13 as acked and commit 15
    assert faust_patches._new_offset(consumer, tp) == 13
    assert consumer._acked[tp] == [14] and consumer._acked_index[tp] == {14} and tp not in consumer._gap


def test_the_current_event_is_what_a_table_write_reads():
    """A table picks the changelog partition of a write from ``current_event()``."""
    event = type("Event", (), {})()
    faust_patches.set_current_event(event)
    assert current_event() is event
    ref = faust_patches.current_event_ref()
    faust_patches.restore_current_event(None)
    assert current_event() is None
    faust_patches.restore_current_event(ref)
    assert current_event() is event
    assert "current_event()" in inspect.getsource(Collection.partition_for_key)


def test_an_unacked_batch_holds_faust_s_wait_and_its_release_wakes_it():
    import asyncio
    from weakref import WeakSet

    async def go() -> None:
        consumer = type("C", (), {})()
        consumer._unacked_messages, consumer._waiting_for_ack = WeakSet(), asyncio.get_running_loop().create_future()
        mark = type("Mark", (), {})()
        faust_patches.hold_unacked(consumer, mark)
        assert mark in consumer._unacked_messages
        faust_patches.release_unacked(consumer, mark)
        assert mark not in consumer._unacked_messages and consumer._waiting_for_ack.done()

    asyncio.run(go())


def test_direct_reader_reads_owned_inputs_from_their_commits(kafka, tmp_path):
    """The score agent's own reads (streams/kafka/direct.py): each owned partition
    in order from its committed offset, in batches of at most the batch size whose
    ranges account for every offset; a batch is held as unacked by faust's consumer
    until it is settled; nothing is read while a rebalance or restore is under way;
    a read that spans a rebalance is dropped and read again from the commits."""
    import asyncio
    import itertools
    from types import SimpleNamespace
    from weakref import WeakSet

    from aiokafka import TopicPartition as ATP
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from streams.kafka.direct import DirectReader
    from streams.kafka.gaps import GapFiller

    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    p = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    for i in range(10):
        p.send(s.kafka.topic_posts, value=f"p1-{i}".encode(), partition=1)
    for i in range(4):
        p.send(s.kafka.topic_responses, value=f"r3-{i}".encode(), partition=3)
    p.send(s.kafka.topic_posts, value=b"not ours", partition=2)
    p.flush()
    p.close()
    c = KafkaConsumer(bootstrap_servers=s.kafka.bootstrap, group_id=s.kafka.app_id, enable_auto_commit=False)
    c.commit({TopicPartition(s.kafka.topic_posts, 1): OffsetAndMetadata(3, "", -1)})
    c.close()

    done = asyncio.Event()
    done.set()
    recovery = SimpleNamespace(completed=done, signal_recovery_start=asyncio.Event(), active_highwaters={},
                               active_tps=set(), need_recovery=lambda: False)
    consumer = SimpleNamespace(_unacked_messages=WeakSet(), _waiting_for_ack=None)
    # faust's state as the reader sees it: generation, rebalance and restore flags, the unacked set
    app = SimpleNamespace(consumer_generation_id=1, rebalancing=False, rebalancing_count=0, in_recovery=False,
                          tables=SimpleNamespace(recovery=recovery), consumer=consumer)
    owned = [ATP(s.kafka.topic_posts, 1), ATP(s.kafka.topic_responses, 3)]  # posts[2] is another worker's

    async def go() -> None:
        reader = DirectReader(app, GapFiller(s.kafka.bootstrap, s.kafka.app_id), lambda: owned, batch_size=4,
                              within=0.5)
        try:
            seen: dict[tuple[str, int], list[int]] = {}
            covered: dict[tuple[str, int], list[tuple[int, int]]] = {}
            marks = []
            while sum(map(len, seen.values())) < 11:
                events, ranges, generation, mark = await reader.batch()
                assert len(events) <= 4 and generation == 1
                if events:
                    assert mark is not None and mark in consumer._unacked_messages
                    marks.append(mark)
                for e in events:
                    seen.setdefault((e.message.topic, e.message.partition), []).append(e.message.offset)
                    assert e.value == e.message.value
                for topic, partition, start, end in ranges:
                    covered.setdefault((topic, partition), []).append((start, end))
            assert seen == {(s.kafka.topic_posts, 1): list(range(3, 10)), (s.kafka.topic_responses, 3): list(range(4))}
            # Consecutive ranges from the commit (or the first offset) to the last record read.
            for key, spans in covered.items():
                assert spans[0][0] == seen[key][0] and spans[-1][1] == seen[key][-1] + 1
                assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
            assert (await reader.batch())[0] == []  # the end: nothing after waiting ``within``
            for mark in marks:  # settled: faust's rebalance no longer waits for them
                mark.release()
            assert len(consumer._unacked_messages) == 0
            assert set(reader.lag().values()) == {0}  # nothing left to read
            # No read while a rebalance is under way.
            app.rebalancing = True
            t = time.monotonic()
            assert (await reader.batch())[0] == [] and time.monotonic() - t < 2
            app.rebalancing = False
            # A read that spans a rebalance is dropped; the new generation starts at the commits.
            def rebalanced() -> list:
                app.consumer_generation_id = 2
                return owned

            reader.owned = rebalanced
            p2 = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
            p2.send(s.kafka.topic_posts, value=b"p1-10", partition=1)
            p2.flush()
            p2.close()
            events, _, _, mark = await reader.batch()
            assert events == [] and mark is None and reader.dropped == 1
            reader.owned = lambda: owned
            again: list[int] = []
            while len(again) < 12:
                events, _, generation, _ = await reader.batch()
                assert generation == 2
                again += [e.message.offset for e in events if e.message.partition == 1] + [
                    -1 for e in events if e.message.partition == 3]
            assert [o for o in again if o >= 0] == list(range(3, 11))  # from the commit again, 10 included
        finally:
            await reader.close()
            await reader.gaps.close()

    asyncio.run(go())


def test_faust_fetches_none_of_the_inputs_it_leaves_to_the_reader(kafka, tmp_path):
    """faust's fetch with the inputs left out (faust_patches.install): given
    partitions of both kinds, its aiokafka client returns only the scores and holds
    the inputs paused, so it neither fetches nor buffers them; its livelock check
    leaves them alone (it would report them as never fetched)."""
    import asyncio
    from types import SimpleNamespace

    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as ATP
    from kafka import KafkaProducer

    s = isolated_settings(kafka.bootstrap, tmp_path)
    create_topics(s)
    p = KafkaProducer(bootstrap_servers=s.kafka.bootstrap)
    for i in range(5):
        p.send(s.kafka.topic_posts, value=f"post {i}".encode(), partition=0)
        p.send(s.kafka.topic_scores, value=f"score {i}".encode(), partition=0)
    p.flush()
    p.close()
    app = SimpleNamespace()
    faust_patches.install(app, {s.kafka.topic_posts, s.kafka.topic_responses})
    thread = SimpleNamespace(consumer=SimpleNamespace(app=app, flow_active=True))
    posts, scores = ATP(s.kafka.topic_posts, 0), ATP(s.kafka.topic_scores, 0)

    async def go() -> tuple[list[bytes], set, set]:
        c = AIOKafkaConsumer(bootstrap_servers=s.kafka.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
        await c.start()
        try:
            c.assign([posts, scores])
            got: list[bytes] = []
            for _ in range(10):
                records = await faust_patches._fetch_without_direct(thread, c, {posts, scores}, timeout=1.0,
                                                             max_records=100)
                got += [r.value for tp, rs in records.items() for r in rs]
                if len(got) >= 5:
                    break
            await asyncio.sleep(1.0)  # time for any background fetch of the inputs
            return got, c.paused(), set(c._fetcher._records)
        finally:
            await c.stop()

    got, paused, buffered = asyncio.run(go())
    assert sorted(got) == [f"score {i}".encode() for i in range(5)]
    assert posts in paused and scores not in paused and posts not in buffered
    assert faust_patches._verify_fetched_only(thread, 0.0, posts) is None  # not judged by faust's fetches
