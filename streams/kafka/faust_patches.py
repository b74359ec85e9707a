"""Every use of faust's private internals, in one place (written for faust-streaming 0.15.3).

faust keeps the consumer group, the assignment, the commits and the tables; four of its
behaviours are replaced here, process-wide, by ``install`` at a worker's start:

- ``Consumer._new_offset``, its commit rule, by ``streams.kafka.commits.exact_new_offset``:
  faust's could commit past records no agent had seen (that module says how);
- ``AIOKafkaConsumerThread._fetch_records``: faust stops fetching the input topics, which
  the worker reads itself in micro-batches (``streams.kafka.direct``);
- ``AIOKafkaConsumerThread.verify_event_path``: its livelock check leaves those inputs alone
  (it judges a partition by faust's own fetches, which it no longer makes);
- ``Producer._settings_extra`` (aiokafka driver): faust makes its producer idempotent only
  inside transactions; ours always is (acks=all, enable_idempotence), so a send retried
  after a broker fault is written once, and in order.

And four private names are reached through the functions below, nowhere else:

- ``faust.streams._current_event``: a table write goes to the changelog partition of the
  current event, so the stages set it to each record's event before writing;
- ``Consumer._unacked_messages`` and ``_waiting_for_ack``: a batch read directly is registered
  there as one unacked message, so that a rebalance waits for it as for faust's own events;
- ``Stream._enable_passive``: the reader faust's own ``take_events`` uses, for our micro-batches;
- the consumer's ``_acked``, ``_acked_index``, ``_committed_offset`` and ``_gap`` (in the commit rule).

``tests/kafka/test_faust_patches.py`` pins the signatures and behaviours relied on, so a faust
upgrade that changes one fails there and not somewhere unpredictable in a running worker.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection
from typing import Any

from faust.streams import _current_event
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Producer
from mode.utils.futures import notify

from streams.kafka.commits import FLOOR_ATTR, Floors, exact_new_offset

WRITTEN_FOR = "0.15.3"  # the faust-streaming version these patches were written and pinned against
DIRECT_ATTR = "affectwatch_direct_topics"  # on the faust app: topics faust must not fetch

_faust_fetch_records = AIOKafkaConsumerThread._fetch_records
_faust_verify_event_path = AIOKafkaConsumerThread.verify_event_path


def _new_offset(self: Consumer, tp: Any) -> int | None:
    floors: Floors = getattr(self.app, FLOOR_ATTR, {})
    acked = self._acked[tp]
    offset, covered = exact_new_offset(acked, self._committed_offset[tp], floors.get((tp.topic, tp.partition)))
    if covered:
        self._acked_index[tp].difference_update(acked[:covered])
        del acked[:covered]
    self._gap.pop(tp, None)  # never counted as acked: see streams.kafka.commits
    return offset


async def _fetch_without_direct(self: Any, consumer: Any, active_partitions: Any, timeout: float | None = None,
                                max_records: int | None = None) -> Any:
    """faust's fetch, minus the topics read directly: they are paused in its
    aiokafka client too (runs in faust's consumer thread, where that client
    lives), so it neither fetches nor buffers them. A new assignment unpauses
    them there; the next fetch pauses them again."""
    direct: Collection[str] = getattr(self.consumer.app, DIRECT_ATTR, ())
    if direct:
        paused = consumer.paused()
        if stray := [tp for tp in consumer.assignment() if tp.topic in direct and tp not in paused]:
            consumer.pause(*stray)
        if active_partitions:
            active_partitions = {tp for tp in active_partitions if tp.topic not in direct}
    return await _faust_fetch_records(self, consumer, active_partitions, timeout=timeout, max_records=max_records)


def _verify_fetched_only(self: Any, now: float, tp: Any) -> None:
    """faust's livelock check, except for the topics read directly: left in, it
    would log an error for each of them every few seconds once
    ``stream_processing_timeout`` has passed. Their progress is the reader's lag
    (``affectwatch_consumer_lag_records``)."""
    if tp.topic in getattr(self.consumer.app, DIRECT_ATTR, ()):
        return None
    return _faust_verify_event_path(self, now, tp)


def _idempotent(self: Any) -> dict[str, Any]:
    """The producer settings faust adds to its defaults (credentials and the like come separately)."""
    return {"acks": "all", "enable_idempotence": True}


def install(app: Any, direct_topics: Collection[str]) -> None:
    """Applies the four replacements (idempotent: process-wide, as there is one
    faust consumer per worker process); the directly read topics are per app."""
    setattr(app, DIRECT_ATTR, frozenset(direct_topics))
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    AIOKafkaConsumerThread._fetch_records = _fetch_without_direct  # type: ignore[method-assign]
    AIOKafkaConsumerThread.verify_event_path = _verify_fetched_only  # type: ignore[method-assign]
    Producer._settings_extra = _idempotent  # type: ignore[method-assign]


def set_current_event(event: Any) -> None:
    """Makes ``event`` the current one: table writes that follow go to its changelog partition."""
    _current_event.set(weakref.ref(event))


def current_event_ref() -> Any:
    """The current event's weak reference (what a table write reads), or None."""
    return _current_event.get()


def restore_current_event(ref: Any) -> None:
    """Sets the current event from a reference taken by ``current_event_ref``."""
    _current_event.set(ref)


def hold_unacked(consumer: Any, message: Any) -> None:
    """Registers ``message`` as unacked: faust's rebalances and shutdown wait for it
    (``Consumer.wait_empty``). The set is weak: the caller keeps ``message`` alive."""
    consumer._unacked_messages.add(message)


def release_unacked(consumer: Any, message: Any) -> None:
    """Unregisters ``message`` and wakes a rebalance waiting for acks."""
    consumer._unacked_messages.discard(message)
    notify(consumer._waiting_for_ack)


def enable_passive(stream: Any) -> None:
    """Starts the stream's reader of its channel without faust's own iteration (as ``take_events`` does)."""
    stream._enable_passive(aiter(stream.channel))
