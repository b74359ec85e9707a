"""Envelopes of version 1: one entry per record, under ``obs``.

The aggregate stage still reads them (``observations_of``): some may wait in
the scores topic when a release with version 2 envelopes takes over. They are
written only by the aggregation bench (the "before" of its comparison) and by
the tests of that upgrade. Envelope (JSON), keyed by its topic key::

    {"v": 1, "topic_key": "economy",
     "obs": [{"series": "lm:m:default", "event_ms": 1709294400000,
              "labels": {"emotion": [...], "moral": [...]},
              "probs": {"emotion": [...], "moral": [...]},
              "origin": ["posts/3", 1234],
              "score": {...the affect-scores record...}}, ...]}

Each record's entry is in the envelope of its own topic key (with its score
record) and in the ``all`` envelope (with ``score`` null). A single
observation (the format before envelopes) is read as a one-entry envelope.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from streams.core.subjects import ALL
from streams.core.windows import Observation, Series
from streams.kafka.messages import MAX_ENVELOPE_BYTES, encode_json

VERSION = 1


def observation_entry(scored: Any) -> dict[str, Any]:
    """What the windows need of one score (no score record)."""
    obs = scored.observation()
    src = scored.parsed.source
    return {
        "series": obs.series.id,
        "event_ms": obs.event_ms,
        "labels": {k: list(v) for k, v in obs.labels.items()},
        "probs": {k: list(v) for k, v in obs.probs.items()},
        "origin": [f"{src['topic']}/{src['partition']}", src["offset"]],
    }


@dataclass(frozen=True, slots=True)
class EncodedObservation:
    """One score's two envelope entries, encoded once: ``own`` (with its score
    record) for its topic key, ``shared`` (score null) for ``all``."""

    subject: str
    own: bytes
    shared: bytes


def encode_observation(subject: str, entry: dict[str, Any], record: dict[str, Any] | None) -> EncodedObservation:
    """Encodes an observation entry and its score record once; the envelopes
    are joined from these bytes instead of encoding every entry again."""
    body = encode_json(entry)[:-1]  # an object without its closing brace: the score key follows
    return EncodedObservation(subject, body + b',"score":' + encode_json(record) + b"}", body + b',"score":null}')


def envelopes(items: Iterable[EncodedObservation]) -> list[tuple[str, bytes]]:
    """(topic key, encoded envelope) for a batch, split where an envelope would
    pass ``MAX_ENVELOPE_BYTES`` (an envelope over the broker's message limit
    would stop the worker on every retry); one entry over it travels alone."""
    heads: dict[str, bytes] = {}
    by_key: dict[str, list[list[bytes]]] = {}
    sizes: dict[str, int] = {}

    def put(key: str, entry: bytes) -> None:
        if key not in heads:
            heads[key] = b'{"v":%d,"topic_key":%s,"obs":[' % (VERSION, encode_json(key))
            by_key[key], sizes[key] = [[]], len(heads[key]) + 2
        chunks = by_key[key]
        if chunks[-1] and sizes[key] + len(entry) > MAX_ENVELOPE_BYTES:
            chunks.append([])
            sizes[key] = len(heads[key]) + 2
        chunks[-1].append(entry)
        sizes[key] += len(entry) + 1  # and its comma

    for item in items:
        put(item.subject, item.own)
        if item.subject != ALL:
            put(ALL, item.shared)
    return [(key, heads[key] + b",".join(chunk) + b"]}") for key, chunks in by_key.items() for chunk in chunks]


def observations_of(msg: dict[str, Any]) -> Iterator[tuple[Observation, tuple[str, int]]]:
    """The observations of one message (an envelope, or one observation)."""
    subject = msg["topic_key"]
    for entry in msg.get("obs", [msg]):
        obs = Observation(
            series=Series.from_id(entry["series"]),
            subject=subject,
            event_ms=int(entry["event_ms"]),
            labels={k: tuple(v) for k, v in entry["labels"].items()},
            probs={k: tuple(v) for k, v in entry["probs"].items()},
        )
        yield obs, (str(entry["origin"][0]), int(entry["origin"][1]))
