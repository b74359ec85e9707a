"""Where probe answers go: a JSONL file that ``affectwatch run --responses``
reads, or the ``lm-responses`` topic that the workers consume.

Both drop an answer whose id they already hold or sent in this process, so a
restart that re-sends stored answers adds none twice to a file; on Kafka the
re-send after a kill is at least once, with the same id and key (see
docs/probe.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from streams.safe_files import UnsafeOutput, open_output


class Sink(Protocol):
    def emit(self, records: list[dict[str, Any]]) -> None: ...  # pragma: no cover

    def close(self) -> None: ...  # pragma: no cover


class JsonlSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: set[str] = set()
        if path.is_symlink():
            raise UnsafeOutput(f"refusing to write through the symbolic link {path}")
        if path.exists():
            data = path.read_bytes()
            whole = data[: data.rfind(b"\n") + 1]
            if len(whole) < len(data):  # a line torn by a kill: cut it, its answer is re-sent from the ledger
                os.truncate(path, len(whole))
            for line in whole.decode("utf-8", errors="replace").splitlines():
                try:
                    self.ids.add(str(json.loads(line)["id"]))
                except (ValueError, KeyError, TypeError):
                    continue
        self.fh = open_output(path, append=True)

    def emit(self, records: list[dict[str, Any]]) -> None:
        fresh = [r for r in records if r["id"] not in self.ids]
        if not fresh:
            return
        self.fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fresh))
        self.fh.flush()
        os.fsync(self.fh.fileno())  # on disk before the ledger calls them emitted
        self.ids.update(r["id"] for r in fresh)

    def close(self) -> None:
        self.fh.close()


class KafkaSink:
    def __init__(self, settings: Any) -> None:
        from kafka import KafkaProducer

        from streams.kafka.security import connected

        self.topic = settings.kafka.topic_responses
        self.producer = connected(KafkaProducer, settings.kafka, acks="all", enable_idempotence=True, linger_ms=20)

    def emit(self, records: list[dict[str, Any]]) -> None:
        futures = [
            self.producer.send(self.topic, key=r["id"].encode(), value=json.dumps(r, ensure_ascii=False).encode(),
                               timestamp_ms=int(r["created_at"]))
            for r in records
        ]
        self.producer.flush()
        for f in futures:
            f.get(timeout=30)  # raises if the broker refused one: the ledger keeps them unsent

    def close(self) -> None:
        self.producer.close()
