"""The messages between the score and aggregate stages on ``affect-scores``.

A micro-batch of scores travels as one **envelope** per topic key (split when
large), not as messages per record: per-message broker and client work is
what made the Kafka path slow, and an envelope amortizes it over the batch.

An envelope (version 2) is a JSON header, then (in the envelope of a
record's own topic key) a newline and the JSON array of its score records::

    {"v": 2, "topic_key": "economy", "n": 2, "bucket_ms": 300000,
     "sources": ["posts/3"], "series": ["human:liberal"],
     "sets": {"emotion": ["anger+disgust", ""], "moral": ["care"]},
     "cols": {"source": "<base64>", "offset": ..., "event_ms": ..., "series": ...,
              "sets": {"emotion": ..., "moral": ...}, "units": {"emotion": ..., "moral": ...}},
     "cells": [{"series": 0, "bucket": 1709294400000, "n": 2,
                "sets": {"emotion": {"anger+disgust": 1, "": 1}, "moral": {"care": 2}},
                "units": {"emotion": [...], "moral": [...]}, "last": {"posts/3": 1235}}]}
    [{...the affect-scores record...}, ...]

The header is a ``streams.core.counts.Counts``: its cells are what the windows
add; its columns (little-endian arrays, one row a record) keep lateness and
replays exact per record. The aggregate stage reads the header only. Every
record is in the envelope of its own topic key (with its score record) and
in the ``all`` envelope (without), so the score record travels once.

Envelopes of version 1 (one entry per record under ``obs``, each with its
``origin`` and its score record or null) and single observations (the format
before envelopes) are still read: they may wait in the topic at an upgrade.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from faust.utils import json as faust_json

from streams.core.counts import UNITS, Cell, Counts, CountsBuilder, to_units
from streams.core.subjects import ALL
from streams.core.windows import Observation

ENVELOPE_VERSION = 2
MAX_ENVELOPE_BYTES = 512 * 1024  # bound per envelope; the broker's default message limit is 1 MiB
MAX_ROWS = 65_535  # the index columns are 16-bit
ROW_BYTES = 200  # a row's usual share of a header (columns and cells), for cutting; ``_parts`` makes sure
COLUMNS = {"source": "<u2", "offset": "<i8", "event_ms": "<i8", "series": "<u2"}
SET_TYPE, UNIT_TYPE = "<u2", "<u4"  # label-set indexes; probabilities in 2**-20ths (at most 2**20)


def encode_json(value: Any) -> bytes:
    """JSON bytes with the codec faust's sends use (orjson when installed): a
    value it refuses (a lone surrogate) fails here, for its own record."""
    out = faust_json.dumps(value)
    return out.encode() if isinstance(out, str) else out


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def encode_counts(c: Counts, scores: list[bytes]) -> bytes:
    """One envelope: the header of ``c``, then its score records (if any)."""
    cells = c.cells if c.cells is not None else ()
    series_at = {sid: i for i, sid in enumerate(c.series)}
    header = {
        "v": ENVELOPE_VERSION, "topic_key": c.subject, "n": len(c), "bucket_ms": c.bucket_ms,
        "sources": list(c.sources), "series": list(c.series), "sets": {d: list(k) for d, k in c.set_keys.items()},
        "cols": {
            "source": _b64(c.source, COLUMNS["source"]), "offset": _b64(c.offset, COLUMNS["offset"]),
            "event_ms": _b64(c.event_ms, COLUMNS["event_ms"]), "series": _b64(c.series_at, COLUMNS["series"]),
            "sets": {d: _b64(v, SET_TYPE) for d, v in c.sets_at.items()},
            "units": {d: _b64(v, UNIT_TYPE) for d, v in c.units.items()},
        },
        "cells": [{"series": series_at[cell.series], "bucket": cell.bucket, "n": cell.n, "sets": cell.sets,
                   "units": {d: list(u) for d, u in cell.units.items()}, "last": cell.last} for cell in cells],
    }
    out = encode_json(header)
    return out + b"\n[" + b",".join(scores) + b"]" if scores else out


@dataclass
class _Open:
    rows: CountsBuilder
    scores: list[bytes] = field(default_factory=list)
    size: int = 1024


@dataclass
class EnvelopeWriter:
    """A micro-batch's rows by topic key, cut into envelopes under
    ``MAX_ENVELOPE_BYTES`` (an envelope over the broker's message limit would
    stop the worker on every retry); one score record over it travels alone."""

    bucket_ms: int
    done: list[tuple[str, bytes]] = field(default_factory=list)
    open: dict[str, _Open] = field(default_factory=dict)

    def add(self, obs: Observation, origin: tuple[str, int], units: dict[str, np.ndarray] | None,
            score: bytes) -> None:
        """A record: in its own topic key's envelope with its score record, and in ``all`` without
        (``units``: its probabilities in units, else taken from ``obs``)."""
        if units is None:  # once a record, for both envelopes
            units = {dim: to_units(values) for dim, values in obs.probs.items()}
        self._put(obs.subject, obs, origin, units, score)
        if obs.subject != ALL:
            self._put(ALL, obs, origin, units, None)

    def _put(self, key: str, obs: Observation, origin: tuple[str, int], units: dict[str, np.ndarray] | None,
             score: bytes | None) -> None:
        grow = ROW_BYTES + (len(score) + 1 if score is not None else 0)
        at = self.open.get(key)
        if at is not None and (at.size + grow > MAX_ENVELOPE_BYTES or len(at.rows) >= MAX_ROWS):
            self.done += self._close(key, at)
            at = None
        if at is None:
            at = self.open[key] = _Open(CountsBuilder(key))
        at.rows.add(obs, origin, units)
        if score is not None:
            at.scores.append(score)
        at.size += grow

    def _close(self, key: str, at: _Open) -> list[tuple[str, bytes]]:
        return [(key, payload) for payload in _parts(at.rows.build(self.bucket_ms), at.scores)]

    def envelopes(self) -> list[tuple[str, bytes]]:
        """(topic key, envelope) of every row added, in the order they were cut."""
        out = self.done + [env for key, at in self.open.items() for env in self._close(key, at)]
        self.done, self.open = [], {}
        return out


def _parts(c: Counts, scores: list[bytes]) -> list[bytes]:
    """The envelope of ``c``, halved until each part is under ``MAX_ENVELOPE_BYTES``
    (``ROW_BYTES`` cuts most batches before; rows each in a cell of their own,
    with long names, can pass it). One record alone may still pass it."""
    payload = encode_counts(c, scores)
    if len(payload) <= MAX_ENVELOPE_BYTES or len(c) < 2:
        return [payload]
    half = len(c) // 2
    return _parts(c.part(0, half), scores[:half]) + _parts(c.part(half, len(c)), scores[half:])


def decode_message(payload: bytes) -> dict[str, Any]:
    """A message of ``affect-scores`` from its bytes: the header (its score
    records, if any, kept as bytes under ``_scores``); ValueError when it is
    not a JSON object."""
    head, newline, scores = payload.partition(b"\n")
    msg = orjson.loads(head)
    if not isinstance(msg, dict):
        raise ValueError("a score message must be a JSON object")
    if newline:
        msg["_scores"] = scores
    return msg


class MalformedEnvelope(ValueError):
    """An envelope's column that does not hold what its header says (found when it is read)."""


def _column(data: str, dtype: str, n: int, top: int | None = None) -> np.ndarray:
    """A column decoded: ``n`` rows (of one value, or of as many as it holds), each under ``top``."""
    try:
        values = np.frombuffer(base64.b64decode(data, validate=True), dtype=dtype).astype(np.int64)
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        raise MalformedEnvelope(f"a column is not base64 of {dtype}: {exc}") from exc
    if n == 0 or values.size % n:
        raise MalformedEnvelope(f"a column of {values.size} values for {n} rows")
    if top is not None and values.size and (values.min() < 0 or values.max() >= top):
        raise MalformedEnvelope("a column value out of range")
    return values if values.size == n else values.reshape(n, -1)


def _values_in(data: str, size: int) -> int:
    """How many values of ``size`` bytes a base64 column holds, without decoding it."""
    if not isinstance(data, str) or len(data) % 4:
        raise ValueError("a column is not base64")
    return (len(data) * 3 // 4 - (len(data) - len(data.rstrip("=")))) // size


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of names")
    return tuple(value)


class _Lazy(Mapping[str, np.ndarray]):
    """Columns by dimension, each decoded and checked on first use: only a
    batch cut again (a late row) or added one row at a time reads them."""

    def __init__(self, raw: dict[str, str], decode: Callable[[str, str], np.ndarray]) -> None:
        self.raw, self.decode, self.done = raw, decode, {}

    def __getitem__(self, dim: str) -> np.ndarray:
        if dim not in self.done:
            self.done[dim] = self.decode(dim, self.raw[dim])
        return self.done[dim]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


def counts_of(msg: dict[str, Any]) -> Counts:
    """The ``Counts`` of a version 2 envelope, checked (ValueError, KeyError or TypeError when malformed)."""
    n, cols, series = int(msg["n"]), msg["cols"], _names(msg["series"])
    set_keys = {str(d): _names(keys) for d, keys in msg["sets"].items()}
    cells = tuple(
        Cell(series[int(cell["series"])], int(cell["bucket"]), int(cell["n"]),
             {str(d): {str(k): int(v) for k, v in sets.items()} for d, sets in cell["sets"].items()},
             {str(d): tuple(int(u) for u in units) for d, units in cell["units"].items()},
             {str(s): int(o) for s, o in cell["last"].items()})
        for cell in msg["cells"]
    )
    widths = {}
    for dim, data in cols["units"].items():
        values = _values_in(data, 4)
        if n == 0 or values % n:
            raise ValueError(f"{dim} probabilities are not one row a record")
        widths[str(dim)] = values // n
    counts = Counts(
        subject=str(msg["topic_key"]),
        sources=_names(msg["sources"]),
        series=series,
        set_keys=set_keys,
        source=_column(cols["source"], COLUMNS["source"], n),
        offset=_column(cols["offset"], COLUMNS["offset"], n),
        event_ms=_column(cols["event_ms"], COLUMNS["event_ms"], n),
        series_at=_column(cols["series"], COLUMNS["series"], n),
        sets_at=_Lazy({str(d): v for d, v in cols["sets"].items()},
                      lambda dim, data: _column(data, SET_TYPE, n, len(set_keys[dim])).reshape(n)),
        units=_Lazy({str(d): v for d, v in cols["units"].items()},
                    lambda dim, data: _column(data, UNIT_TYPE, n, UNITS + 1).reshape(n, widths[dim])),
        widths=widths,
        bucket_ms=int(msg["bucket_ms"]) if msg.get("bucket_ms") is not None else None,
        cells=cells,
    )
    counts.check()
    return counts


def score_records(msg: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The score records a message carries (none in ``all`` envelopes)."""
    if "_scores" in msg:
        yield from orjson.loads(msg["_scores"])
        return
    for entry in msg.get("obs", [msg]):  # version 1, or a single observation
        if entry.get("score") is not None:
            yield entry["score"]
