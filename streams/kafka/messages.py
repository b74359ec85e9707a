"""The messages between the score and aggregate stages on ``affect-scores``."""

from __future__ import annotations

from typing import Any

from streams.core.topics import ALL
from streams.core.windows import Observation, Series


def observation_messages(scored: Any) -> list[tuple[str, dict[str, Any]]]:
    """(topic key, message) of one score: its own topic, with the score record,
    and ``all``, with only what the windows need (``score`` is null), so the
    score record travels once."""
    obs = scored.observation()
    src = scored.parsed.source
    base = {
        "series": obs.series.id,
        "event_ms": obs.event_ms,
        "labels": {k: list(v) for k, v in obs.labels.items()},
        "probs": {k: list(v) for k, v in obs.probs.items()},
        "origin": [f"{src['topic']}/{src['partition']}", src["offset"]],
    }
    return [
        (scored.topic, {"topic_key": scored.topic, **base, "score": scored.to_record()}),
        (ALL, {"topic_key": ALL, **base, "score": None}),
    ]


def observation_of(msg: dict[str, Any]) -> tuple[Observation, tuple[str, int]]:
    obs = Observation(
        series=Series.from_id(msg["series"]),
        topic=msg["topic_key"],
        event_ms=int(msg["event_ms"]),
        labels={k: tuple(v) for k, v in msg["labels"].items()},
        probs={k: tuple(v) for k, v in msg["probs"].items()},
    )
    return obs, (str(msg["origin"][0]), int(msg["origin"][1]))
