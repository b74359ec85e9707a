"""Input records (``posts``, ``lm-responses``), their validation, dead letters.

``parse`` is the one validation boundary: every record crosses it before
anything else touches it, and it never raises on data. It returns a validated
record or a ``DeadLetter`` that keeps the original bytes and a machine-readable
reason. Bounded here: the record's size, JSON nesting depth and number of
values, numbers (64-bit integers, finite floats), strings (must encode as
UTF-8: no lone surrogates), names (``streams.core.names``), list fields, empty
texts, and event times (a plausible range around the wall clock).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from models.labels import DIMENSIONS
from streams.core.names import MAX_ID_CHARS, MAX_NAME_CHARS, name_problem

Kind = Literal["post", "lm"]
BOM = b"\xef\xbb\xbf"
INT64 = 2**63


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
    # Set by the probe: the answered post's group, top label and labels per
    # dimension (streams.core.pairing compares them with the answer's own).
    prompt_group: str | None = None
    prompt_top: dict[str, str] | None = None
    prompt_labels: dict[str, list[str]] | None = None

    @field_validator("prompt_top")
    @classmethod
    def _top(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for dim, label in (v or {}).items():
            if label not in DIMENSIONS.get(dim, ()):
                raise ValueError(f"{str(dim)[:20]!r}: {str(label)[:40]!r} is not a label of that dimension")
        return v

    @field_validator("prompt_labels")
    @classmethod
    def _labels(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for dim, labels in (v or {}).items():
            known = DIMENSIONS.get(dim, ())
            if not known or any(x not in known for x in labels) or len(set(labels)) != len(labels):
                raise ValueError(f"{str(dim)[:20]!r}: labels must be distinct labels of that dimension")
        return v


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


def wall_ms() -> int:
    return int(time.time() * 1000)


def internal_error(parsed: Parsed, exc: BaseException) -> DeadLetter:
    """The dead letter of a record whose handling raised: the worker goes on."""
    raw = json.dumps(parsed.record.model_dump(), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return DeadLetter(raw, parsed.source, f"internal_error:{type(exc).__name__}", str(exc)[:300])


@dataclass
class Limits:
    groups: tuple[str, ...] = ("liberal", "conservative")
    max_text_chars: int = 50_000
    max_record_bytes: int = 2_000_000
    max_depth: int = 16  # nesting of objects and lists in one record
    max_values: int = 10_000  # scalars, objects and lists in one record
    max_list_items: int = 256  # entries of urls / domains
    min_event_ms: int = 946_684_800_000  # 2000-01-01T00:00:00Z
    max_future_ms: int = 3_600_000  # how far past the wall clock an event time may lie
    now_ms: Callable[[], int] = wall_ms


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


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _deeper_than(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``, found
    without recursion. The decoder would recurse once per level: near the
    interpreter's limit any finalizer that runs meanwhile fails too, so deep
    input is refused before it is decoded (most records have too few
    brackets to be scanned at all)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _shape_problem(data: Any, limits: Limits) -> tuple[str, str] | None:
    """(reason, detail) when a decoded record is deeper, larger or holds values
    that cannot travel on (big integers, non-finite floats, unencodable strings).
    Iterative, so no nesting can exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "record")]
    seen = 0
    while stack:
        value, depth, where = stack.pop()
        seen += 1
        if seen > limits.max_values:
            return "too_many_values", f"more than {limits.max_values} values"
        if isinstance(value, dict | list):
            if depth > limits.max_depth:
                return "too_deep", f"nested more than {limits.max_depth} levels at {where}"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str) and not _encodes(k):
                    return "invalid_string", f"a key at {where} has an unpaired surrogate"
                stack.append((v, depth + 1, f"{where}.{k}" if depth < 4 else where))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -INT64 <= value < INT64:
                return "invalid_number", f"an integer at {where} is outside 64 bits"
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return "invalid_number", f"a non-finite number at {where}"
        elif isinstance(value, str):
            if not _encodes(value):
                return f"invalid_string:{where.removeprefix('record.')}", "unpaired surrogate (not encodable as UTF-8)"
        else:  # in-process inputs (CSV rows, dicts) may hold anything
            return "invalid_field", f"{type(value).__name__} at {where}"
    return None


def _encodes(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_names(record: Post | LMResponse) -> tuple[str, str] | None:
    names: list[tuple[str, str | None, int]] = [
        ("id", record.id, MAX_ID_CHARS),
        ("topic", record.topic, MAX_NAME_CHARS),
    ]
    if isinstance(record, Post):
        names += [("author_id", record.author_id, MAX_ID_CHARS), ("group", record.group, MAX_NAME_CHARS)]
    else:
        names += [("model", record.model, MAX_NAME_CHARS), ("steering", record.steering, MAX_NAME_CHARS),
                  ("prompt_id", record.prompt_id, MAX_ID_CHARS), ("prompt_group", record.prompt_group, MAX_NAME_CHARS)]
    for field_name, value, cap in names:
        if value is not None and (problem := name_problem(value, cap)):
            return f"invalid_name:{field_name}", problem
    return None


def _time_problem(ms: int, limits: Limits) -> str | None:
    if ms < limits.min_event_ms:
        hint = ""
        if 10**9 <= ms < 10**11:
            hint = " (it looks like epoch seconds: created_at takes epoch milliseconds or RFC 3339)"
        return f"{ms} is before {iso(limits.min_event_ms)}{hint}"
    latest = limits.now_ms() + limits.max_future_ms
    if ms > latest:
        return f"{ms} is more than {limits.max_future_ms // 1000}s past the wall clock"
    return None


def parse(raw: bytes | str | dict, kind: Kind, source: dict[str, Any], limits: Limits) -> Parsed | DeadLetter:
    """Validate one input; every failure becomes a dead letter with a reason."""
    if isinstance(raw, dict):
        data: Any = raw
        raw_bytes = json.dumps(raw, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    else:
        raw_bytes = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
        if len(raw_bytes) > limits.max_record_bytes:
            return DeadLetter(raw_bytes, source, "record_too_large", f"{len(raw_bytes)} bytes")
        try:
            # A leading BOM is allowed and ignored (RFC 8259, section 8.1).
            text = raw_bytes.removeprefix(BOM).decode("utf-8")
        except UnicodeDecodeError as exc:
            return DeadLetter(raw_bytes, source, "invalid_utf8", str(exc))
        if _deeper_than(text, limits.max_depth):
            return DeadLetter(raw_bytes, source, "too_deep", f"nested more than {limits.max_depth} levels")
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            return DeadLetter(raw_bytes, source, "malformed_json", str(exc)[:200])
        except RecursionError:
            return DeadLetter(raw_bytes, source, "too_deep", "nesting deeper than the JSON decoder allows")
        except ValueError as exc:  # NaN/Infinity, or an integer of more than 4300 digits
            return DeadLetter(raw_bytes, source, "invalid_number", str(exc)[:200])
    if not isinstance(data, dict):
        return DeadLetter(raw_bytes, source, "not_an_object", type(data).__name__)
    if problem := _shape_problem(data, limits):
        return DeadLetter(raw_bytes, source, *problem)
    if "group" in data and data["group"] is not None and not isinstance(data["group"], str):
        return DeadLetter(raw_bytes, source, "invalid_field:group", "group must be a string")
    for list_field in ("urls", "domains"):
        value = data.get(list_field)
        if isinstance(value, list) and len(value) > limits.max_list_items:
            return DeadLetter(raw_bytes, source, f"invalid_field:{list_field}",
                              f"{len(value)} entries, at most {limits.max_list_items}")
    try:
        record: Post | LMResponse = (Post if kind == "post" else LMResponse).model_validate(data)
    except ValidationError as exc:
        reason, detail = _reason(exc)
        return DeadLetter(raw_bytes, source, reason, detail)
    if not record.text.strip():
        return DeadLetter(raw_bytes, source, "empty_text", "the text is empty or white space only")
    if len(record.text) > limits.max_text_chars:
        return DeadLetter(raw_bytes, source, "text_too_long", f"{len(record.text)} characters")
    if problem := _check_names(record):
        return DeadLetter(raw_bytes, source, *problem)
    if isinstance(record, Post) and record.group is not None and record.group not in limits.groups:
        return DeadLetter(raw_bytes, source, "unknown_group", f"{record.group!r} not in {list(limits.groups)}")
    if detail := _time_problem(record.created_at, limits):
        return DeadLetter(raw_bytes, source, "timestamp_out_of_range", detail)
    return Parsed(kind, record, source)
