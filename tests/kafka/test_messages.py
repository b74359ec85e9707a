"""The affect-scores envelopes: one message per topic key per micro-batch."""

from __future__ import annotations

import json

import pytest

from streams.core.subjects import ALL
from streams.kafka.messages import MAX_ENVELOPE_BYTES, encode_observation, envelopes, observations_of, score_records


def entry(i: int) -> dict:
    return {"series": "lm:m:default", "event_ms": 1_709_294_400_000 + i, "labels": {"emotion": ["joy"], "moral": []},
            "probs": {"emotion": [0.5] * 11, "moral": [0.1] * 5}, "origin": ["lm-responses/1", i]}


def test_each_record_is_in_its_topic_envelope_with_its_score_and_in_all_without():
    batch = [encode_observation("economy" if i % 2 else "health", entry(i), {"id": f"r{i}", "text": "t"})
             for i in range(10)]
    out = {key: json.loads(payload) for key, payload in envelopes(batch)}  # each a whole JSON document
    assert out["health"]["v"] == 1 and out["health"]["topic_key"] == "health"
    assert out["health"]["obs"][0] == {**entry(0), "score": {"id": "r0", "text": "t"}}
    assert set(out) == {"economy", "health", ALL}
    assert [o["origin"][1] for o in out[ALL]["obs"]] == list(range(10))  # batch order kept
    assert all(o["score"] is None for o in out[ALL]["obs"])
    assert sorted(r["id"] for k in ("economy", "health") for r in score_records(out[k])) == [f"r{i}" for i in range(10)]
    assert list(score_records(out[ALL])) == []
    obs = list(observations_of(json.loads(json.dumps(out["economy"]))))
    assert [o.subject for o, _ in obs] == ["economy"] * 5
    assert [origin for _, origin in obs] == [("lm-responses/1", i) for i in range(1, 10, 2)]


def test_large_batches_are_split_and_the_old_single_message_still_reads():
    text = "x" * 100_000
    batch = [encode_observation("economy", entry(i), {"id": f"r{i}", "text": text}) for i in range(12)]
    encoded = [env for key, env in envelopes(batch) if key == "economy"]
    assert len(encoded) > 1
    assert all(len(p) <= MAX_ENVELOPE_BYTES for p in encoded)
    parts = [json.loads(p) for p in encoded]
    assert sum(len(p["obs"]) for p in parts) == 12
    old = {"topic_key": "economy", **entry(3), "score": {"id": "r3"}}
    (obs, origin), = observations_of(old)
    assert obs.subject == "economy" and origin == ("lm-responses/1", 3)
    assert [r["id"] for r in score_records(old)] == ["r3"]


def test_a_value_the_codec_refuses_fails_when_its_own_record_is_encoded():
    with pytest.raises(TypeError):
        encode_observation("economy", entry(1), {"id": "r1", "text": "lone \ud800 surrogate"})
    (key, payload), _ = envelopes([encode_observation("economy", entry(2), {"id": "r2", "text": "\u00e9\"\n"})])
    assert key == "economy" and next(score_records(json.loads(payload)))["text"] == "\u00e9\"\n"
