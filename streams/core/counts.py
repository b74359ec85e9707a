"""A micro-batch's observations of one topic key, column by column, and their
counts per series and bucket: what the windows add at once.

The score stage builds one ``Counts`` per topic key per micro-batch
(``CountsBuilder``); the aggregate stage adds it to the windows in one step
(``streams.core.window_batches``) instead of one observation at a time. The
columns (source partition, offset, event time, series, label sets and
probabilities of each record) let it decide lateness and replays per record
exactly as before; the cells (per series and bucket: label-set counts, soft
sums and the last offset per source) are what it writes.

Probabilities are carried in units of 2**-20 (``UNITS``). Sums of such values
are exact in float64 in any order (up to 2**33 records a bucket), so a cell's
sum added at once equals its records added one by one, and both runners'
windows hold the same numbers however the stream was cut into batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from streams.core.observations import SET_SEP, Observation, Series, set_key

UNITS = 1 << 20  # a probability is counted in 2**-20ths


def to_units(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Probabilities as whole units (int64)."""
    return np.rint(np.asarray(values, dtype=np.float64) * UNITS).astype(np.int64)


def quantized(values: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    """Probabilities rounded to whole units, as floats (what every window adds)."""
    return tuple((to_units(values) / UNITS).tolist())


@dataclass(frozen=True)
class Cell:
    """What one series' records of a batch add to one bucket."""

    series: str
    bucket: int
    n: int
    sets: dict[str, dict[str, int]]  # dimension -> label-set key -> records
    units: dict[str, tuple[int, ...]]  # dimension -> summed probabilities, in units
    last: dict[str, int]  # source partition -> last offset among these records


@dataclass(frozen=True, eq=False)
class Counts:
    """The observations of one topic key in one micro-batch, as columns (one row a record, in order)."""

    subject: str
    sources: tuple[str, ...]  # source partitions ("topic/partition")
    series: tuple[str, ...]  # series ids
    set_keys: dict[str, tuple[str, ...]]  # dimension -> the label-set keys the rows point at
    source: np.ndarray  # int64 [n]: index into ``sources``
    offset: np.ndarray  # int64 [n]
    event_ms: np.ndarray  # int64 [n]
    series_at: np.ndarray  # int64 [n]: index into ``series``
    # Read only when the batch is cut again or added one row at a time (a
    # decoder may give mappings that decode and check a column on first use).
    sets_at: Mapping[str, np.ndarray]  # dimension -> int64 [n]: index into ``set_keys``
    units: Mapping[str, np.ndarray]  # dimension -> int64 [n, labels]
    widths: dict[str, int]  # dimension -> its labels (the columns of ``units``)
    bucket_ms: int | None = None  # the bucket width ``cells`` were cut with
    cells: tuple[Cell, ...] | None = None  # precomputed (``with_cells``)

    def __len__(self) -> int:
        return len(self.offset)

    @cached_property
    def streams(self) -> np.ndarray:
        """Each row's stream ("human", "lm"): a str array [n]."""
        return np.array([Series.from_id(sid).stream for sid in self.series])[self.series_at]

    def check(self) -> None:
        """ValueError unless the columns are consistent (a message from the scores topic may be anything)."""
        n = len(self.offset)
        if any(col.shape != (n,) for col in (self.source, self.event_ms, self.series_at)):
            raise ValueError("columns of different lengths")
        if not set(self.set_keys) == set(self.sets_at) == set(self.units) == set(self.widths):
            raise ValueError("label sets and probabilities of different dimensions")
        for name, top in (("source", len(self.sources)), ("series", len(self.series))):
            col = self.source if name == "source" else self.series_at
            if n and (col.min() < 0 or col.max() >= top):
                raise ValueError(f"a {name} index out of range")
        if self.streams.shape != (n,):  # every series id parses (Series.from_id raises otherwise)
            raise ValueError("a series index column of another length")
        if self.cells is not None:
            self._check_cells(n)

    def _check_cells(self, n: int) -> None:
        if sum(cell.n for cell in self.cells or ()) != n:
            raise ValueError("the cells do not hold the batch's records")
        for cell in self.cells or ():
            if cell.series not in self.series or not set(cell.last) <= set(self.sources):
                raise ValueError("a cell of a series or source the batch does not have")
            for dim, keys in self.set_keys.items():
                sets, units = cell.sets.get(dim, {}), cell.units.get(dim, ())
                if sum(sets.values()) != cell.n or not set(sets) <= set(keys):
                    raise ValueError(f"a cell's {dim} label sets do not add up to its records")
                if len(units) != self.widths[dim]:
                    raise ValueError(f"a cell's {dim} sums are not one a label")

    def observation(self, i: int) -> tuple[Observation, tuple[str, int]]:
        """Row ``i`` as the observation and origin ``Windows.add`` takes."""
        labels = {}
        probs = {}
        for dim, keys in self.set_keys.items():
            key = keys[int(self.sets_at[dim][i])]
            labels[dim] = tuple(key.split(SET_SEP)) if key else ()
            probs[dim] = tuple((self.units[dim][i] / UNITS).tolist())
        obs = Observation(Series.from_id(self.series[int(self.series_at[i])]), self.subject,
                          int(self.event_ms[i]), labels, probs)
        return obs, (self.sources[int(self.source[i])], int(self.offset[i]))

    def part(self, start: int, stop: int) -> Counts:
        """Rows ``start:stop`` as a batch of their own: only the names they use, cells cut again
        at the width this batch's were."""
        if self.bucket_ms is None:
            raise ValueError("a batch without cells has no bucket width to cut its part's at")
        rows = slice(start, stop)
        sources, source = _used(self.sources, self.source[rows])
        series, series_at = _used(self.series, self.series_at[rows])
        set_keys, sets_at = {}, {}
        for dim, keys in self.set_keys.items():
            set_keys[dim], sets_at[dim] = _used(keys, self.sets_at[dim][rows])
        return replace(self, sources=sources, series=series, set_keys=set_keys, source=source,
                       offset=self.offset[rows], event_ms=self.event_ms[rows], series_at=series_at,
                       sets_at=sets_at, units={d: v[rows] for d, v in self.units.items()}
                       ).with_cells(self.bucket_ms)

    def with_cells(self, bucket_ms: int) -> Counts:
        """The same batch with its cells cut at ``bucket_ms``."""
        return replace(self, bucket_ms=bucket_ms, cells=cells_of(self, bucket_ms))


def _used(names: tuple[str, ...], at: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The names a column points at, and the column pointing into them."""
    used = np.unique(at)
    remap = np.zeros(len(names), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return tuple(names[int(u)] for u in used), remap[at]


def cells_of(c: Counts, bucket_ms: int, keep: np.ndarray | None = None) -> tuple[Cell, ...]:
    """The cells of the rows ``keep`` selects (all by default), in the order
    their first record came: a bucket key's slots fill in that order.

    Vectorized over the cells (a historic burst can hold a cell a record):
    each sum is one numpy call for all cells, not one per cell."""
    rows = np.arange(len(c)) if keep is None else np.flatnonzero(keep)
    if not len(rows):
        return ()
    times = c.event_ms[rows]
    pairs = np.stack([times - np.mod(times, bucket_ms), c.series_at[rows]], axis=1)
    groups, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    members = np.bincount(inverse, minlength=len(groups))
    by_group = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(members)[:-1]))
    units = {dim: np.add.reduceat(c.units[dim][rows][by_group], starts, axis=0) for dim in c.set_keys}
    sets: list[dict[str, dict[str, int]]] = [{} for _ in groups]
    for dim, keys in c.set_keys.items():
        for g, key, n in _tally(inverse, c.sets_at[dim][rows], len(keys)):
            sets[g].setdefault(dim, {})[keys[key]] = n
    last: list[dict[str, int]] = [{} for _ in groups]
    for g, j, offset in _maxima(inverse, c.source[rows], c.offset[rows], len(c.sources)):
        last[g][c.sources[j]] = offset
    return tuple(Cell(c.series[int(groups[g][1])], int(groups[g][0]), int(members[g]),
                      {dim: sets[g].get(dim, {}) for dim in c.set_keys},
                      {dim: tuple(u[g].tolist()) for dim, u in units.items()}, last[g])
                 for g in np.argsort(first, kind="stable").tolist())


def _tally(group: np.ndarray, value: np.ndarray, values: int) -> list[tuple[int, int, int]]:
    """(group, value, rows) of every value that occurs in a group, by group then value."""
    found, counts = np.unique(group * values + value, return_counts=True)
    return list(zip((found // values).tolist(), (found % values).tolist(), counts.tolist(), strict=True))


def _maxima(group: np.ndarray, source: np.ndarray, offset: np.ndarray, sources: int) -> list[tuple[int, int, int]]:
    """(group, source, highest offset) of every source that occurs in a group."""
    key = group * sources + source
    order = np.lexsort((offset, key))
    key, offset = key[order], offset[order]
    ends = np.flatnonzero(np.append(key[1:] != key[:-1], True))
    return list(zip((key[ends] // sources).tolist(), (key[ends] % sources).tolist(), offset[ends].tolist(),
                    strict=True))


@dataclass
class CountsBuilder:
    """Rows appended one record at a time (the score stage), then frozen into ``Counts``."""

    subject: str
    sources: dict[str, int] = field(default_factory=dict)
    series: dict[str, int] = field(default_factory=dict)
    set_keys: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: list[tuple[int, int, int, int]] = field(default_factory=list)  # source, offset, event ms, series
    sets_at: dict[str, list[int]] = field(default_factory=dict)
    units: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, obs: Observation, origin: tuple[str, int], units: dict[str, np.ndarray] | None = None) -> None:
        """One record; ``units``: its probabilities already in units (else from ``obs.probs``)."""
        src = self.sources.setdefault(origin[0], len(self.sources))
        sid = self.series.setdefault(obs.series.id, len(self.series))
        self.rows.append((src, int(origin[1]), int(obs.event_ms), sid))
        for dim, labels in obs.labels.items():
            keys = self.set_keys.setdefault(dim, {})
            self.sets_at.setdefault(dim, []).append(keys.setdefault(set_key(labels), len(keys)))
            self.units.setdefault(dim, []).append(units[dim] if units is not None else to_units(obs.probs[dim]))

    def __len__(self) -> int:
        return len(self.rows)

    def build(self, bucket_ms: int) -> Counts:
        cols = np.array(self.rows, dtype=np.int64).reshape(-1, 4)
        return Counts(
            subject=self.subject,
            sources=tuple(self.sources),
            series=tuple(self.series),
            set_keys={dim: tuple(keys) for dim, keys in self.set_keys.items()},
            source=cols[:, 0].copy(),
            offset=cols[:, 1].copy(),
            event_ms=cols[:, 2].copy(),
            series_at=cols[:, 3].copy(),
            sets_at={dim: np.array(v, dtype=np.int64) for dim, v in self.sets_at.items()},
            units=(units := {dim: np.array(v, dtype=np.int64).reshape(len(v), -1) for dim, v in self.units.items()}),
            widths={dim: v.shape[1] for dim, v in units.items()},
        ).with_cells(bucket_ms)
