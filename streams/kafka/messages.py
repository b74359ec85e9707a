"""The messages between the score and aggregate stages on ``affect-scores``.

A micro-batch of scores travels as one **envelope** per topic key (split when
large), not as two messages per record: per-message broker and client work is
what made the Kafka path slow, and an envelope amortizes it over the batch.

Envelope (JSON), keyed by its topic key::

    {"v": 1, "topic_key": "economy",
     "obs": [{"series": "lm:m:default", "event_ms": 1709294400000,
              "labels": {"emotion": [...], "moral": [...]},
              "probs": {"emotion": [...], "moral": [...]},
              "origin": ["posts/3", 1234],
              "score": {...the affect-scores record...}}, ...]}

Each record's observation appears in the envelope of its own topic key (with
its full score record under ``score``) and in the ``all`` envelope (with
``score`` null), so the score record travels once. ``origin`` (source
partition, offset) keeps every window update idempotent. ``score_records``
unpacks envelopes into score records one by one (``affectwatch scores``).
A single-observation message (the format before envelopes) is still read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from streams.core.topics import ALL
from streams.core.windows import Observation, Series

ENVELOPE_VERSION = 1
MAX_ENVELOPE_BYTES = 512 * 1024  # bound per envelope; the broker's default message limit is 1 MiB


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


def _size(entry: dict[str, Any]) -> int:
    """An upper bound of an entry's encoded size: a text of control characters
    takes six bytes a character in JSON, and an envelope over the broker's
    message limit would stop the worker on every retry."""
    score = entry.get("score")
    return 600 + (6 * len(score.get("text", "")) if score else 0)


def envelopes(entries: Iterable[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> list[tuple[str, dict]]:
    """(topic key, envelope) for a batch of (topic, observation entry, score record)."""
    by_key: dict[str, list[list[dict[str, Any]]]] = {}
    sizes: dict[str, int] = {}

    def put(key: str, entry: dict[str, Any]) -> None:
        chunks = by_key.setdefault(key, [[]])
        size = _size(entry)
        if chunks[-1] and sizes.get(key, 0) + size > MAX_ENVELOPE_BYTES:
            chunks.append([])
            sizes[key] = 0
        chunks[-1].append(entry)
        sizes[key] = sizes.get(key, 0) + size

    for topic, entry, score in entries:
        put(topic, {**entry, "score": score})
        if topic != ALL:
            put(ALL, {**entry, "score": None})
    return [(key, {"v": ENVELOPE_VERSION, "topic_key": key, "obs": chunk})
            for key, chunks in by_key.items() for chunk in chunks]


def observations_of(msg: dict[str, Any]) -> Iterator[tuple[Observation, tuple[str, int]]]:
    """The observations of one message (an envelope, or one observation)."""
    topic = msg["topic_key"]
    for entry in msg.get("obs", [msg]):
        obs = Observation(
            series=Series.from_id(entry["series"]),
            topic=topic,
            event_ms=int(entry["event_ms"]),
            labels={k: tuple(v) for k, v in entry["labels"].items()},
            probs={k: tuple(v) for k, v in entry["probs"].items()},
        )
        yield obs, (str(entry["origin"][0]), int(entry["origin"][1]))


def score_records(msg: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The score records a message carries (none in ``all`` envelopes)."""
    for entry in msg.get("obs", [msg]):
        if entry.get("score") is not None:
            yield entry["score"]
