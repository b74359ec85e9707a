"""Adding a ``Counts`` (one topic key's micro-batch) to the windows in one step.

The result equals, key for key, adding its observations one at a time with
``Windows.add``: each record's lateness is judged against the watermark and
source maxima as they stood just before it (computed over the batch's columns
at once), each bucket key takes its cells' counts, soft sums and last offsets
in one write, and the watermark key its new maxima. When that equality cannot
be had that cheaply, the batch is added one observation at a time:

- some key already took part of it (a replay after a crash, or a batch scored
  again and cut differently by the next owner of its input partition);
- the skew guard could hold a record (the topic key's first records, or one
  that would move the watermark further than the guard allows);
- a source's offsets do not ascend within the batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from streams.core.counts import UNITS, Cell, Counts, cells_of
from streams.core.observations import SEP
from streams.core.windows import Windows, add_soft

LOW, HIGH = np.iinfo(np.int64).min, np.iinfo(np.int64).max


@dataclass
class Tally:
    """Records of a batch counted in the windows, and judged late, by stream."""

    counted: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)


def add_counts(w: Windows, c: Counts) -> Tally:
    """Adds a batch to the windows; how many records were counted and late."""
    if not len(c):
        return Tally()
    wkey = f"w{SEP}{c.subject}"
    wval = w.table.get(wkey)
    spans = spans_of(c)
    late = late_rows(w, c, wval, spans)
    if late is None:
        return one_by_one(w, c)
    streams = c.streams
    cells = (c.cells if c.cells is not None and c.bucket_ms == w.cfg.bucket_ms and not late.any()
             else cells_of(c, w.cfg.bucket_ms, ~late))
    late_keys = {SEP.join(("c", "late", c.subject, s)) for s in set(streams[late].tolist())}
    if not _untouched(w, spans, [wkey, *late_keys, *_bucket_keys(w, c.subject, cells)]):
        return one_by_one(w, c)
    tally = Tally(Counter(streams[~late].tolist()), Counter(streams[late].tolist()))
    for stream, n in tally.late.items():
        key = SEP.join(("c", "late", c.subject, stream))
        old = w.table.get(key)
        _put(w, key, {"n": int((old or {"n": 0})["n"]) + n}, old, _last_offsets(c, late & (streams == stream)))
    for cell in cells:
        _add_cell(w, c.subject, cell)
    _advance(w, c, spans, wkey, wval)
    return tally


@dataclass(frozen=True)
class Span:
    """One source partition's rows in a batch."""

    name: str
    rows: np.ndarray  # bool [n]
    first: int  # its lowest offset
    last: int  # its highest offset
    newest_ms: int  # its newest event time
    ascending: bool  # whether its offsets ascend in row order


def spans_of(c: Counts) -> list[Span]:
    """Every source partition the batch has rows of, summed up once."""
    out = []
    for j, name in enumerate(c.sources):
        rows = c.source == j
        offsets = c.offset[rows]
        if len(offsets):
            out.append(Span(name, rows, int(offsets.min()), int(offsets.max()), int(c.event_ms[rows].max()),
                            bool(np.all(np.diff(offsets) > 0))))
    return out


def one_by_one(w: Windows, c: Counts) -> Tally:
    """The batch's rows added one at a time (``Windows.add`` decides each)."""
    tally = Tally()
    for i in range(len(c)):
        obs, origin = c.observation(i)
        (tally.counted if w.add(obs, origin) else tally.late)[obs.series.stream] += 1
    return tally


def late_rows(w: Windows, c: Counts, wval: dict | None, spans: list[Span]) -> np.ndarray | None:
    """Which rows ``Windows.add`` would judge late, one after the other; None
    when the skew guard could hold one or a source's offsets do not ascend."""
    cfg, t = w.cfg, c.event_ms
    wm0 = None if wval is None or wval["ms"] is None else int(wval["ms"])
    if cfg.skew_ms > 0 and (wm0 is None or int(t.max()) > wm0 + cfg.skew_ms):
        return None
    if not all(span.ascending for span in spans):
        return None
    n = len(t)
    known = {k: int(v) for k, v in (wval or {}).get("src", {}).items()}
    # A live batch is far newer than anything lateness judges against: no
    # watermark or source maximum before any row is past ``newest``.
    newest = max([int(t.max()), *known.values(), *([wm0] if wm0 is not None else [])])
    oldest = int(t.min())
    if oldest >= newest - cfg.lateness_ms and w.bucket_of(oldest) >= (
            w.bucket_of(newest) - cfg.longest_span_ms - cfg.lateness_ms):
        return np.zeros(n, dtype=bool)
    rows_of = {span.name: span.rows for span in spans}
    names = sorted(set(known) | set(rows_of))
    before = np.empty((len(names), n), dtype=np.int64)  # a source's newest event time before each row
    seen = np.empty((len(names), n), dtype=bool)  # whether the source had been seen before each row
    for j, name in enumerate(names):
        mine = rows_of[name] if name in rows_of else np.zeros(n, dtype=bool)
        newest = np.maximum.accumulate(np.where(mine, t, LOW))
        before[j] = np.concatenate(([LOW], newest[:-1]))
        seen[j] = np.concatenate(([False], np.logical_or.accumulate(mine)[:-1]))
        if name in known:
            before[j], seen[j] = np.maximum(before[j], known[name]), True
    all_seen = seen.sum(axis=0) >= cfg.expected_sources
    low = np.where(seen, before, HIGH).min(axis=0)
    newest_t = np.maximum.accumulate(t)
    wm = np.concatenate(([wm0 if wm0 is not None else 0], newest_t[:-1]))
    if wm0 is not None:
        wm = np.maximum(wm, wm0)
    has_wm = np.ones(n, dtype=bool)
    has_wm[0] = wm0 is not None
    base = np.where(all_seen, low, wm)
    horizon = base - np.mod(base, cfg.bucket_ms) - cfg.longest_span_ms - cfg.lateness_ms
    too_old = all_seen & (t < np.where(all_seen, low, 0) - cfg.lateness_ms)
    expired = has_wm & (t - np.mod(t, cfg.bucket_ms) < np.where(has_wm, horizon, LOW))
    return too_old | expired


def _bucket_keys(w: Windows, subject: str, cells: tuple[Cell, ...]) -> list[str]:
    """Every slot key of the buckets the cells go to (a replay may have written any of them)."""
    keys = []
    for bucket in sorted({cell.bucket for cell in cells}):
        slot = 0
        while (key := SEP.join(("tb", subject, str(bucket), str(slot)))) in w.table:
            keys.append(key)
            slot += 1
    return keys


def _untouched(w: Windows, spans: list[Span], keys: list[str]) -> bool:
    """Whether none of ``keys`` took any row of the batch yet (each key
    remembers the last offset it took from each source partition)."""
    for key in keys:
        taken = (w.table.get(key) or {}).get("hw", {})
        if any(taken.get(span.name, -1) >= span.first for span in spans):
            return False
    return True


def _last_offsets(c: Counts, rows: np.ndarray) -> dict[str, int]:
    return {name: int(c.offset[rows & (c.source == j)].max())
            for j, name in enumerate(c.sources) if bool((rows & (c.source == j)).any())}


def _put(w: Windows, key: str, value: dict, old: dict | None, last: dict[str, int]) -> None:
    """Writes a key with the last offsets it took, as ``Windows.put`` does
    for one record (a key shared by several cells keeps the newest)."""
    hw = dict((old or {}).get("hw", {}))
    for name, offset in last.items():
        hw[name] = max(hw.get(name, offset), offset)
    value["hw"] = hw
    w.table[key] = value


def _add_cell(w: Windows, subject: str, cell: Cell) -> None:
    key, old = w.slot(subject, cell.bucket, cell.series)
    series = dict(old["series"]) if old else {}
    dims = dict(series.get(cell.series, {}))
    for dim, counts in cell.sets.items():
        val = dims.get(dim) or {"sets": {}, "soft": None}
        sets = dict(val["sets"])
        for sk, n in counts.items():
            sets[sk] = sets.get(sk, 0) + n
        dims[dim] = {"sets": sets, "soft": add_soft(val["soft"], [u / UNITS for u in cell.units[dim]])}
    series[cell.series] = dims
    _put(w, key, {"series": series}, old, cell.last)
    if old is None:
        w.note_bucket_key(subject, key, cell.bucket)


def _advance(w: Windows, c: Counts, spans: list[Span], wkey: str, wval: dict | None) -> None:
    """The watermark key after the batch: newest time, each source's newest, held times passed."""
    t = c.event_ms
    newest = int(t.max()) if wval is None or wval["ms"] is None else max(int(wval["ms"]), int(t.max()))
    sources = dict((wval or {}).get("src", {}))
    for span in spans:
        sources[span.name] = max(int(sources.get(span.name, span.newest_ms)), span.newest_ms)
    value: dict = {"ms": newest, "src": sources}
    if ahead := [x for x in (wval or {}).get("ahead", []) if x > newest + w.cfg.skew_ms]:
        value["ahead"] = ahead
    _put(w, wkey, value, wval, {span.name: span.last for span in spans})
