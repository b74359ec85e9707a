"""Feeding violations to the reviewer without losing any.

File mode: violations JSONL in, reviews JSONL out (appended, one line per
review, flushed). A violation counts as reviewed only once its review line is
written; one the endpoint fails on stays pending, is retried in the next pass,
and is listed in ``unreviewed.jsonl`` with the reason if it is still pending
at the end (running the command again retries it).

Kafka mode: a consumer group on ``guardrail-violations``; a review goes to
``reviews`` and only then is the violation's offset committed; on a failure the
consumer seeks back to that violation and retries it after a backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.observe.metrics import Metrics
from streams.review.chat import ChatError
from streams.review.reviewer import Debate
from streams.safe_files import open_output, write_text


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line of a killed run: its violation is simply reviewed again
    return out


def review_file(violations: Path, reviews: Path, debate: Debate, metrics: Metrics | None = None,
                passes: int = 3, backoff_seconds: float = 5.0,
                sleep: Callable[[float], None] = time.sleep) -> tuple[int, list[dict[str, Any]]]:
    """Reviews every violation without a review yet; returns (reviewed now, still unreviewed)."""
    done = {r.get("violation_id") for r in read_jsonl(reviews)}
    pending = [v for v in read_jsonl(violations) if v.get("id") not in done]
    reviewed = 0
    failures: dict[str, str] = {}
    for p in range(passes):
        if not pending:
            break
        if p:
            sleep(backoff_seconds * 2 ** (p - 1))
        still = []
        for v in pending:
            try:
                review = debate.run(v)
            except ChatError as exc:
                failures[str(v.get("id"))] = str(exc)
                if metrics:
                    metrics.review_failures.labels(metrics.run).inc()
                still.append(v)
                continue
            with open_output(reviews, append=True) as fh:
                fh.write(json.dumps(review) + "\n")
            reviewed += 1
            if metrics:
                metrics.reviews.labels(metrics.run, review["verdict"]).inc()
        pending = still
    unreviewed = [{"violation_id": v.get("id"), "reason": failures.get(str(v.get("id")), "")} for v in pending]
    out = reviews.with_name("unreviewed.jsonl")
    write_text(out, "".join(json.dumps(u) + "\n" for u in unreviewed))
    return reviewed, unreviewed


def review_kafka(settings: Any, debate: Debate, metrics: Metrics | None = None, idle_seconds: float | None = None,
                 backoff_seconds: float = 5.0) -> int:
    """Reviews violations from Kafka until idle for ``idle_seconds`` (None: forever); returns reviews sent."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from streams.kafka.security import connected

    consumer = connected(KafkaConsumer, settings.kafka, group_id=f"{settings.kafka.app_id}-reviewer",
                         enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=1,
                         max_poll_interval_ms=30 * 60 * 1000)  # one debate can take minutes
    consumer.subscribe([settings.kafka.topic_violations])
    producer = connected(KafkaProducer, settings.kafka, acks="all", enable_idempotence=True)
    sent, idle_since = 0, time.monotonic()
    try:
        while idle_seconds is None or time.monotonic() - idle_since < idle_seconds:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for rec in records:
                    idle_since = time.monotonic()
                    try:
                        v = json.loads(rec.value)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        v = None
                    if isinstance(v, dict):
                        try:
                            review = debate.run(v)
                        except ChatError:
                            if metrics:
                                metrics.review_failures.labels(metrics.run).inc()
                            consumer.seek(TopicPartition(tp.topic, tp.partition), rec.offset)
                            time.sleep(backoff_seconds)
                            break  # this violation again, after the backoff
                        producer.send(settings.kafka.topic_reviews, key=str(v.get("id")).encode(),
                                      value=json.dumps(review).encode()).get(timeout=30)
                        sent += 1
                        if metrics:
                            metrics.reviews.labels(metrics.run, review["verdict"]).inc()
                    consumer.commit({TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(rec.offset + 1, "",
                                                                                               -1)})
    finally:
        producer.close()
        consumer.close()
    return sent
