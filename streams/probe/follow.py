"""The probe on Kafka: read scored posts from ``affect-scores`` (a consumer
group of its own), sample them into the ledger, ask, and produce the answers
to ``lm-responses``, where the workers score and count them like any other LM
traffic. Offsets are committed only after the sampled posts are in the ledger,
so a kill loses no post; asking goes on from the ledger after a restart."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streams.probe.runner import Probe

log = logging.getLogger(__name__)


def follow(settings: Any, probe: Probe, stop: threading.Event, idle_exit_seconds: float | None = None,
           on_pass: Any = None) -> None:
    """Run until ``stop`` is set (or, with ``idle_exit_seconds``, until nothing
    arrived and nothing was due for that long: used by tests and one-off runs)."""
    from kafka import KafkaConsumer

    from streams.kafka.messages import decode_message, score_records
    from streams.kafka.security import connected

    consumer = connected(KafkaConsumer, settings.kafka, group_id=settings.probe.group_id,
                         auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.subscribe([settings.kafka.topic_scores])
    probe.resend()
    quiet_since = time.monotonic()
    # Ask in slices, so that polling (and the group's liveness) goes on while an endpoint is slow.
    slice_size = {e.name: e.concurrency * 4 for e in probe.endpoints}
    try:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=500, max_records=500)
            records: list[Any] = []
            for messages in polled.values():
                for message in messages:
                    try:
                        records.extend(score_records(decode_message(message.value)))
                    except (ValueError, TypeError, AttributeError):
                        records.append(None)  # counted as malformed
            if polled:
                probe.offer(records)
                consumer.commit()
            try:
                result = probe.ask(limit_per_endpoint=max(slice_size.values(), default=1))
            except Exception as exc:  # sending stored answers failed (broker away): they wait in the ledger
                log.warning("answers not sent (%s: %s); retrying in 5 s", type(exc).__name__, exc)
                stop.wait(5)
                continue
            if on_pass:
                on_pass(result)
            if polled or result.answered or result.failures:
                quiet_since = time.monotonic()
            elif idle_exit_seconds is not None and time.monotonic() - quiet_since > idle_exit_seconds:
                break
            if not polled and not result.answered:
                stop.wait(0.5)
    finally:
        consumer.close()
