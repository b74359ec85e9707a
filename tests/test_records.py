"""Validation of posts and LM responses: every bad input becomes a dead letter."""

from __future__ import annotations

import json

import pytest

from streams.core.records import DeadLetter, Limits, Parsed, parse, to_epoch_ms

LIMITS = Limits(groups=("liberal", "conservative"), max_text_chars=1000)
SRC = {"file": "x", "line": 1}
POST = {"id": "p1", "author_id": "a1", "text": "hello", "created_at": "2024-03-01T12:00:00Z"}
LM = {"id": "r1", "model": "m", "steering": "default", "text": "hi", "created_at": 1709294400000}


def dead(raw, kind="post") -> DeadLetter:
    out = parse(raw, kind, SRC, LIMITS)
    assert isinstance(out, DeadLetter), out
    return out


def test_valid_post_and_response():
    p = parse(json.dumps(POST).encode(), "post", SRC, LIMITS)
    assert isinstance(p, Parsed) and p.record.created_at == 1709294400000
    r = parse(json.dumps(LM), "lm", SRC, LIMITS)
    assert isinstance(r, Parsed) and r.record.steering == "default"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b"[1, 2]", "not_an_object"),
        (json.dumps({k: v for k, v in POST.items() if k != "text"}).encode(), "missing_field:text"),
        (json.dumps({**POST, "text": 5}).encode(), "invalid_field:text"),
        (json.dumps({**POST, "created_at": "yesterday"}).encode(), "invalid_field:created_at"),
        (json.dumps({**POST, "created_at": "2024-03-01T12:00:00"}).encode(), "invalid_field:created_at"),
        (json.dumps({**POST, "group": "green"}).encode(), "unknown_group"),
        (json.dumps({**POST, "group": 3}).encode(), "invalid_field:group"),
        (json.dumps({**POST, "text": "x" * 1001}).encode(), "text_too_long"),
        (json.dumps({**POST, "urls": "not-a-list"}).encode(), "invalid_field:urls"),
        (b'{"id": "1", "author_id": "a", "text": "' + b"[" * 100_000 + b'"}', "missing_field:created_at"),
    ],
)
def test_bad_posts_get_reasons(raw, reason):
    d = dead(raw)
    assert d.reason == reason
    assert d.raw == raw
    assert d.to_dict()["source"] == SRC


def test_record_too_large_and_deeply_nested():
    assert dead(b"{" + b" " * 2_000_001 + b"}").reason == "record_too_large"
    assert dead(b"[" * 100_000 + b"]" * 100_000).reason == "malformed_json"


def test_dead_letter_keeps_non_utf8_bytes_as_base64():
    d = dead(b"\xff\x00garbage").to_dict()
    assert d["raw_encoding"] == "base64" and d["reason"] == "invalid_utf8"


def test_lm_response_needs_a_model():
    assert dead(json.dumps({k: v for k, v in LM.items() if k != "model"}), "lm").reason == "missing_field:model"


def test_times():
    assert to_epoch_ms("2024-03-01T13:00:00+01:00") == 1709294400000
    assert to_epoch_ms("1709294400000") == 1709294400000
    with pytest.raises(ValueError):
        to_epoch_ms(True)
    with pytest.raises(ValueError):
        to_epoch_ms(float("nan"))
