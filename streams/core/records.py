"""Input records (``posts``, ``lm-responses``), their validation, dead letters.

``parse`` never raises on data: it returns a validated record or a
``DeadLetter`` that keeps the original bytes and a machine-readable reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

Kind = Literal["post", "lm"]


def to_epoch_ms(value: Any) -> int:
    """RFC 3339 string or epoch milliseconds (int, or a digit string) to epoch ms."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite time")
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            return int(s)
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"not RFC 3339 or epoch ms: {value[:40]!r}") from exc
        if dt.tzinfo is None:
            raise ValueError("RFC 3339 time needs a zone offset")
        return int(dt.timestamp() * 1000)
    raise ValueError(f"created_at must be RFC 3339 or epoch ms, got {type(value).__name__}")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    id: str
    text: str
    created_at: int
    topic: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise ValueError("id must be a string or an integer")
        return str(v)

    @field_validator("created_at", mode="before")
    @classmethod
    def _created(cls, v: Any) -> int:
        return to_epoch_ms(v)


class Post(_Record):
    author_id: str
    urls: list[str] = []
    domains: list[str] = []
    group: str | None = None

    @field_validator("author_id", mode="before")
    @classmethod
    def _author(cls, v: Any) -> str:
        return cls._id(v)


class LMResponse(_Record):
    model: str
    steering: str = "default"
    prompt_id: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A rejected input: the original bytes, where they came from, and why."""

    raw: bytes
    source: dict[str, Any]
    reason: str
    detail: str = ""

    def to_dict(self, max_raw_bytes: int | None = None) -> dict[str, Any]:
        """JSON-ready. Past ``max_raw_bytes`` only a prefix of the bytes is kept,
        with their size and SHA-256: the whole record stays at its source."""
        data = self.raw if max_raw_bytes is None else self.raw[:max_raw_bytes]
        try:
            raw, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raw, encoding = base64.b64encode(data).decode("ascii"), "base64"
        out = {
            "raw": raw,
            "raw_encoding": encoding,
            "source": self.source,
            "reason": self.reason,
            "detail": self.detail,
        }
        if len(data) < len(self.raw):
            out.update(raw_truncated=True, raw_bytes=len(self.raw), raw_sha256=hashlib.sha256(self.raw).hexdigest())
        return out


@dataclass
class Limits:
    groups: tuple[str, ...] = ("liberal", "conservative")
    max_text_chars: int = 50_000
    max_record_bytes: int = 2_000_000


@dataclass(frozen=True)
class Parsed:
    kind: Kind
    record: Post | LMResponse
    source: dict[str, Any] = field(default_factory=dict)


def _reason(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "record"
    kind = "missing_field" if first["type"] == "missing" else "invalid_field"
    return f"{kind}:{loc}", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())[:500]


def parse(raw: bytes | str | dict, kind: Kind, source: dict[str, Any], limits: Limits) -> Parsed | DeadLetter:
    """Validate one input; every failure becomes a dead letter with a reason."""
    if isinstance(raw, dict):
        data: Any = raw
        raw_bytes = json.dumps(raw, ensure_ascii=False, default=str).encode("utf-8", "replace")
    else:
        raw_bytes = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        if len(raw_bytes) > limits.max_record_bytes:
            return DeadLetter(raw_bytes, source, "record_too_large", f"{len(raw_bytes)} bytes")
        try:
            text = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            return DeadLetter(raw_bytes, source, "invalid_utf8", str(exc))
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            return DeadLetter(raw_bytes, source, "malformed_json", str(exc)[:200])
    if not isinstance(data, dict):
        return DeadLetter(raw_bytes, source, "not_an_object", type(data).__name__)
    if "group" in data and data["group"] is not None and not isinstance(data["group"], str):
        return DeadLetter(raw_bytes, source, "invalid_field:group", "group must be a string")
    try:
        record: Post | LMResponse = (Post if kind == "post" else LMResponse).model_validate(data)
    except ValidationError as exc:
        reason, detail = _reason(exc)
        return DeadLetter(raw_bytes, source, reason, detail)
    if len(record.text) > limits.max_text_chars:
        return DeadLetter(raw_bytes, source, "text_too_long", f"{len(record.text)} characters")
    if isinstance(record, Post) and record.group is not None and record.group not in limits.groups:
        return DeadLetter(raw_bytes, source, "unknown_group", f"{record.group!r} not in {list(limits.groups)}")
    return Parsed(kind, record, source)
