"""Kafka plumbing for the CLI: creating topics and replaying files into them.

Replay produces each record with its event time as the Kafka timestamp, posts
keyed by ``author_id`` (so an author's posts stay in order on one partition,
where their ideology state lives) and responses by ``id``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.core.inputs import RawInput
from streams.core.records import to_epoch_ms
from streams.kafka.security import connected
from streams.settings import Settings


def project_topics(settings: Settings) -> list[str]:
    k = settings.kafka
    return [k.topic_posts, k.topic_responses, k.topic_scores, k.topic_dead_letters, k.topic_snapshots,
            k.topic_violations, k.topic_reviews]


def create_topics(settings: Settings) -> dict[str, str]:
    """Create the project's topics; returns name -> created / exists."""
    admin = connected(KafkaAdminClient, settings.kafka, client_id="affectwatch-admin")
    out: dict[str, str] = {}
    try:
        existing = set(admin.list_topics())
        for name in project_topics(settings):
            if name in existing:
                out[name] = "exists"
                continue
            # Replayed records carry their event time as the Kafka timestamp, so
            # time-based retention would delete an old replay at once: input
            # topics get their own retention (default: keep everything).
            configs = ({"retention.ms": str(settings.kafka.input_retention_ms)}
                       if name in (settings.kafka.topic_posts, settings.kafka.topic_responses) else {})
            configs["min.insync.replicas"] = str(settings.kafka.insync_replicas)
            try:
                admin.create_topics([NewTopic(name, settings.kafka.partitions, settings.kafka.replication_factor,
                                              topic_configs=configs)])
                out[name] = "created"
            except TopicAlreadyExistsError:
                out[name] = "exists"
        for name, replicas in _replication(admin, [n for n, st in out.items() if st == "exists"]).items():
            if replicas != settings.kafka.replication_factor:
                out[name] = f"exists with replication factor {replicas}, not {settings.kafka.replication_factor}"
    finally:
        admin.close()
    return out


@dataclass(frozen=True)
class PartitionState:
    """One partition as the cluster's metadata says now."""

    leader: int  # -1: none
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def partitions(admin: KafkaAdminClient, names: list[str], within: float = 10.0) -> dict[str, dict[int, PartitionState]]:
    """topic -> partition -> its leader, replicas and in-sync replicas, for the topics that exist.

    A topic created a moment ago may reach the answering broker's metadata
    late, or before its partitions do: waits (up to ``within``) until each
    named topic has them; a topic that does not exist costs that wait.
    kafka-python 3 and 2.x name the fields differently; both are read."""
    if not names:
        return {}
    deadline = time.monotonic() + within
    while True:  # a topic just created may answer "unknown", or with no partitions, for a moment
        described = admin.describe_topics(names)
        if all(d.get("partitions") and not d.get("error_code") for d in described) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    described = [d for d in described if not d.get("error_code")]
    return {(d.get("name") or d.get("topic")): {
        int(x.get("partition_index", x.get("partition", -1))): PartitionState(
            int(x.get("leader_id", x.get("leader", -1))),
            tuple(x.get("replica_nodes", x.get("replicas", []))),
            tuple(x.get("isr_nodes", x.get("isr", []))))
        for x in d["partitions"]} for d in described if d.get("partitions")}


def _replication(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """The smallest replica count of each existing topic's partitions."""
    return {name: min(len(p.replicas) for p in parts.values()) for name, parts in partitions(admin, names).items()}


TABLES = ("authors", "windows")  # the worker's changelog-backed tables (streams.kafka.worker)


def create_changelogs(settings: Settings, timeout: float = 60.0) -> None:
    """Create the tables' changelog topics before the worker starts, and wait until
    the broker lists them with all their partitions. faust would create them
    itself, but on a loaded broker the first table write could come before the new
    topic reached the metadata ("has 0 partitions"), and the agent crashed."""
    names = [f"{settings.kafka.app_id}-{t}-changelog" for t in TABLES]
    admin = connected(KafkaAdminClient, settings.kafka, client_id="affectwatch-admin")
    try:
        existing = set(admin.list_topics())
        for name in names:
            if name not in existing:
                with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                    admin.create_topics([NewTopic(name, settings.kafka.partitions, settings.kafka.replication_factor,
                                                  topic_configs={"cleanup.policy": "compact",
                                                                 "min.insync.replicas":
                                                                     str(settings.kafka.insync_replicas)})])
        deadline = time.monotonic() + timeout
        while True:
            # kafka-python 3 names the topic "name", 2.x "topic"; a partition counts once it has a leader
            described = {d.get("name") or d.get("topic"): sum(1 for x in d.get("partitions") or []
                                                              if x.get("leader_id", x.get("leader", -1)) >= 0)
                         for d in admin.describe_topics(names) if not d.get("error_code")}
            if all(described.get(n, 0) >= settings.kafka.partitions for n in names):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"changelog topics not ready after {timeout:.0f}s: {described}")
            time.sleep(0.5)
    finally:
        admin.close()


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    timestamp_ms: int | None


def _value_bytes(item: RawInput) -> bytes:
    if isinstance(item.raw, bytes):
        return item.raw
    return json.dumps(item.raw, ensure_ascii=False).encode("utf-8", "surrogatepass")


def plan(settings: Settings, items: Iterable[RawInput], start_ms: int | None = None,
         end_ms: int | None = None) -> list[Outgoing]:
    """Messages in event-time order, within [start, end) when given.

    A line that is not even JSON is still sent (with no timestamp) so that the
    workers dead-letter it with its reason, as they would live.
    """
    out: list[tuple[int, int, Outgoing]] = []
    for n, item in enumerate(items):
        value = _value_bytes(item)
        topic = settings.kafka.topic_posts if item.kind == "post" else settings.kafka.topic_responses
        try:
            data = item.raw if isinstance(item.raw, dict) else json.loads(value)
            ts = to_epoch_ms(data["created_at"])
            if not 0 <= ts < 2**63:  # not a Kafka timestamp: the worker dead-letters it with its reason
                raise ValueError(ts)
            key_field = "author_id" if item.kind == "post" else "id"
            key = str(data[key_field]).encode("utf-8", "surrogatepass") if data.get(key_field) is not None else None
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            out.append((-1, n, Outgoing(topic, None, value, None)))
            continue
        if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts >= end_ms):
            continue
        out.append((ts, n, Outgoing(topic, key, value, ts)))
    out.sort(key=lambda t: t[:2])
    return [o for _, _, o in out]


def replay(settings: Settings, messages: list[Outgoing], speed: float | None,
           progress: Callable[[int, int], None] | None = None) -> int:
    """Produce messages; ``speed`` None is as fast as possible, else a multiple
    of real time between event timestamps."""
    # One request in flight per broker: a retry after a broker fault can never put a partition's
    # records out of their event-time order (the order the windows judge lateness in).
    producer = connected(KafkaProducer, settings.kafka, acks="all", enable_idempotence=True, linger_ms=20,
                         max_in_flight_requests_per_connection=1, max_request_size=4_000_000,
                         client_id="affectwatch-replay")
    first_ts = next((m.timestamp_ms for m in messages if m.timestamp_ms is not None), None)
    started = time.monotonic()
    try:
        for i, m in enumerate(messages):
            if speed and first_ts is not None and m.timestamp_ms is not None:
                due = (m.timestamp_ms - first_ts) / 1000 / speed
                wait = due - (time.monotonic() - started)
                if wait > 0:
                    time.sleep(wait)
            producer.send(m.topic, key=m.key, value=m.value, timestamp_ms=m.timestamp_ms)
            if progress and (i % 200 == 0 or i == len(messages) - 1):
                progress(i + 1, len(messages))
        producer.flush()
    finally:
        producer.close()
    return len(messages)
