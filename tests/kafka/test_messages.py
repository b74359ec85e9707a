"""The affect-scores envelopes: one message per topic key per micro-batch, holding its counts."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from streams.core.counts import quantized
from streams.core.subjects import ALL
from streams.core.windows import Observation, Series
from streams.kafka.messages import (
    MAX_ENVELOPE_BYTES,
    EnvelopeWriter,
    counts_of,
    decode_message,
    encode_json,
    score_records,
)
from streams.kafka.messages_v1 import encode_observation, envelopes, observations_of

BUCKET_MS = 300_000
T0 = 1_709_294_400_000


def observation(i: int, subject: str) -> Observation:
    return Observation(Series("lm", model="m", steering="default") if i % 3 else Series("human", group="liberal"),
                       subject, T0 + i * 60_000, {"emotion": ("joy",) if i % 2 else (), "moral": ("care", "purity")},
                       {"emotion": quantized([i / 20] * 11), "moral": quantized([0.1] * 6)})


def written(n: int, text: str = "t") -> dict[str, list[bytes]]:
    writer = EnvelopeWriter(BUCKET_MS)
    for i in range(n):
        subject = "economy" if i % 2 else "health"
        writer.add(observation(i, subject), ("lm-responses/1", i), None, encode_json({"id": f"r{i}", "text": text}))
    out: dict[str, list[bytes]] = {}
    for key, payload in writer.envelopes():
        out.setdefault(key, []).append(payload)
    return out


def test_each_record_is_in_its_topic_envelope_with_its_score_and_in_all_without():
    out = written(10)
    assert set(out) == {"economy", "health", ALL}
    health = decode_message(out["health"][0])
    assert health["v"] == 2 and health["topic_key"] == "health"
    assert sorted(r["id"] for k in ("economy", "health") for r in score_records(decode_message(out[k][0]))) == [
        f"r{i}" for i in range(10)]
    everything = decode_message(out[ALL][0])
    assert "_scores" not in everything and list(score_records(everything)) == []
    counts = counts_of(everything)
    assert counts.offset.tolist() == list(range(10))  # batch order kept
    assert [counts.observation(i) for i in range(10)] == [
        (Observation(o.series, ALL, o.event_ms, o.labels, o.probs), ("lm-responses/1", i))
        for i, o in ((i, observation(i, ALL)) for i in range(10))]
    # the cells: per series and bucket, what the windows add
    assert sum(cell.n for cell in counts.cells) == 10 and counts.bucket_ms == BUCKET_MS
    assert {(c.series, c.bucket) for c in counts.cells} == {
        (o.series.id, o.event_ms - o.event_ms % BUCKET_MS) for o in (observation(i, ALL) for i in range(10))}
    economy = counts_of(decode_message(out["economy"][0]))
    assert {c.observation(0)[0].subject for c in [economy]} == {"economy"} and len(economy) == 5


def test_large_batches_are_split_under_the_broker_limit():
    out = written(12, text="x" * 100_000)
    assert len(out["economy"]) > 1 and len(out[ALL]) == 1
    assert all(len(p) <= MAX_ENVELOPE_BYTES for parts in out.values() for p in parts)
    assert sum(len(counts_of(decode_message(p))) for p in out["economy"]) == 6
    assert sum(len(list(score_records(decode_message(p)))) for p in out["economy"]) == 6


def test_a_value_the_codec_refuses_fails_for_its_own_record_and_newlines_stay_inside_strings():
    with pytest.raises(TypeError):
        encode_json({"id": "r1", "text": "lone \ud800 surrogate"})
    writer = EnvelopeWriter(BUCKET_MS)
    writer.add(observation(2, "economy"), ("posts/0", 2), None, encode_json({"id": "r2", "text": "\u00e9\"\n"}))
    (key, payload), _ = writer.envelopes()
    assert key == "economy" and next(score_records(decode_message(payload)))["text"] == "\u00e9\"\n"


def _tampered(change) -> dict:
    msg = decode_message(written(4)[ALL][0])
    change(msg)
    return json.loads(json.dumps(msg))


@pytest.mark.parametrize("change", [
    lambda m: m.update(n=5),  # more rows than the columns hold
    lambda m: m["cols"].update(offset="not base64!"),
    lambda m: m["cols"].update(source=base64.b64encode(np.array([0, 0, 0, 7], "<u2").tobytes()).decode()),
    lambda m: m["cells"][0].update(n=m["cells"][0]["n"] + 1),  # cells that do not add up
    lambda m: m["cells"][0]["sets"]["moral"].update({"made+up": 1}),
    lambda m: m["cells"][0]["units"].update(emotion=[1, 2]),
    lambda m: m.pop("cols"),
    lambda m: m.update(series="not a list of series"),
])
def test_a_malformed_envelope_is_refused_whole(change):
    with pytest.raises((ValueError, KeyError, TypeError, IndexError)):
        counts_of(_tampered(change))


def test_envelopes_of_version_1_and_single_observations_still_read():
    entry = {"series": "lm:m:default", "event_ms": T0 + 3, "labels": {"emotion": ["joy"], "moral": []},
             "probs": {"emotion": [0.5] * 11, "moral": [0.1] * 6}, "origin": ["lm-responses/1", 3]}
    (key, payload), (all_key, _) = envelopes([encode_observation("economy", entry, {"id": "r3", "text": "t"})])
    msg = decode_message(payload)
    assert (key, all_key) == ("economy", ALL) and msg["v"] == 1 and [r["id"] for r in score_records(msg)] == ["r3"]
    (obs, origin), = observations_of(msg)
    assert obs.subject == "economy" and origin == ("lm-responses/1", 3)
    old = {"topic_key": "economy", **entry, "score": {"id": "r3"}}
    (obs, origin), = observations_of(old)
    assert obs.subject == "economy" and origin == ("lm-responses/1", 3)
    assert [r["id"] for r in score_records(old)] == ["r3"]


def test_a_column_read_only_when_needed_is_checked_when_read():
    """The label sets and probabilities are decoded only for a batch cut again
    or added row by row; a bad one is refused then, before anything is written."""
    msg = _tampered(lambda m: m["cols"]["sets"].update(
        emotion=base64.b64encode(np.array([0, 0, 0, 9], "<u2").tobytes()).decode()))
    counts = counts_of(msg)
    with pytest.raises(ValueError, match="out of range"):
        counts.observation(0)


def test_rows_each_in_a_cell_of_its_own_are_still_cut_under_the_broker_limit():
    """A sparse replay with long names: every row its own series and bucket, so each costs far more than usual."""
    writer = EnvelopeWriter(BUCKET_MS)
    long = "m" * 200
    for i in range(2500):
        obs = Observation(Series("lm", model=f"{long}{i}", steering="s" * 200), ALL, T0 + i * BUCKET_MS,
                          {"emotion": ("anger", "joy"), "moral": ("care",)},
                          {"emotion": quantized([0.5] * 11), "moral": quantized([0.1] * 6)})
        writer.add(obs, (f"{'t' * 200}/{i % 7}", i), None, b"")
    parts = [payload for _, payload in writer.envelopes()]
    assert 1 < len(parts) <= 50 and all(len(p) <= MAX_ENVELOPE_BYTES for p in parts)  # halves keep only their names
    counts = [counts_of(decode_message(p)) for p in parts]
    assert sorted(int(o) for c in counts for o in c.offset) == list(range(2500))
