"""Event-time windowing over a plain key-value table.

State is a ``MutableMapping[str, dict]``: a dict in the embedded runner, a
changelog-backed faust table on Kafka, so both run this same code. Each bucket
key holds the histogram of *label sets* seen in that bucket (for example
``{"anger|disgust": 3, "": 1}``; ``""`` is a text with no label), which is
enough to recount labels and to run the permutation test exactly at the level
of texts, plus the sums of probabilities for the soft mode.

The unit of aggregation is a *topic key*: each topic, and ``all``, which the
caller feeds every observation a second time. Each topic key has its own
watermark, so on Kafka, where scores are partitioned by topic key, one
partition holds everything about its topic keys and the embedded runner and
the workers count exactly alike.

Keys:
- ``tb|<topic>|<bucket_ms>|<slot>`` -> ``{"series": {<series>: {<dimension>: {"sets": {...}, "soft": [...]}}}}``:
  a topic key's bucket holds up to ``SERIES_PER_KEY`` series in one key, so a
  micro-batch writes it once, not once per series and dimension (on Kafka each
  write is a changelog message). A further series takes the first slot with
  room; the cap keeps a value well under Kafka's 1 MB message limit however
  many series a topic key has (a row is at most 2^11 label sets). State of
  earlier releases, one ``b|<series>|<topic>|<dimension>|<bucket_ms>`` key per
  row, is still read, summed with the new keys and expired.
- ``r|<series>|<topic>|<dimension>`` -> the expired buckets of the drift reference window:
  ``{"start": ms, "sets", "soft", "merged": [bucket_ms, ...]}`` (see ``references_by_topic``)
- ``w|<topic>`` -> ``{"ms": the watermark, "src": {source partition: max}, "ahead": [held event times]}``

The watermark is the newest event time of the topic key, with one guard: it
never moves more than ``skew_ms`` ahead (nor starts) on the word of a single
record. Such a record is counted in its bucket, but its time is held in
``ahead`` until another record within ``skew_ms`` of it confirms the jump; a
lone record of 2025 in a replay of 2019 therefore cannot move the spans six
years on and empty every figure.
- ``c|late|<topic>|<stream>`` -> ``{"n": count}``
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, MutableMapping

from models.labels import MORALS, MORALS_AFFECT1
from streams.core.observations import SEP, SET_SEP, Observation, Series, WindowConfig, clean_label, set_key

__all__ = ["SEP", "SET_SEP", "Observation", "Series", "WindowConfig", "Windows", "clean_label", "set_key"]

BUCKET = "tb"  # prefix of a topic key's bucket
SERIES_PER_KEY = 8  # series in one bucket key (a worst-case row is about 80 KB of JSON)
OLD_BUCKET = "b"  # prefix of an earlier release's per-series bucket
# (series id, dimension) -> (label-set histogram, soft sums)
Totals = dict[tuple[str, str], tuple[Counter[str], list[float] | None]]
CONFIRMATIONS = 2  # records that must agree before the watermark starts or jumps past the skew
MAX_AHEAD = 16  # held event times kept per topic key


def merge_sets(into: Counter[str], sets: dict[str, int]) -> None:
    for k, v in sets.items():
        into[k] += v


_PURITY_AT = MORALS.index("purity")


def _current(soft: list[float] | None) -> list[float] | None:
    """Moral probability sums written before the dimension gained purity
    (affect-1's five labels) read with a zero purity sum in its place."""
    if soft is not None and len(soft) == len(MORALS_AFFECT1):
        return [*soft[:_PURITY_AT], 0.0, *soft[_PURITY_AT:]]
    return soft


def add_soft(a: list[float] | None, b: Iterable[float]) -> list[float]:
    b = _current(list(b))
    return [x + y for x, y in zip(_current(a), b, strict=True)] if a else b


class Windows:
    """Bucketed label-set counts per (series, topic, dimension)."""

    def __init__(self, table: MutableMapping[str, dict], config: WindowConfig) -> None:
        self.table = table
        self.cfg = config
        # Bucket keys (with their bucket) by topic key, read from the table once
        # and then kept up to date here, so that expiry does not walk the whole
        # table each time (in a replay it did so every few seconds per topic key).
        self._keys: dict[str, dict[str, int]] | None = None

    def forget_keys(self) -> None:
        """Reads the bucket keys from the table again at the next expiry: to be
        called when the table changed by other means (a Kafka rebalance
        restores and hides partitions)."""
        self._keys = None

    def note_bucket_key(self, topic: str, key: str, bucket: int) -> None:
        """Keeps the key index up to date with a bucket key just created."""
        if self._keys is not None:
            self._keys.setdefault(topic, {})[key] = bucket

    def _bucket_keys(self) -> dict[str, dict[str, int]]:
        if self._keys is None:
            index: dict[str, dict[str, int]] = {}
            for k in list(self.table.keys()):
                if (where := _parse_bucket_key(k)) is not None:
                    index.setdefault(where[0], {})[k] = where[1]
            self._keys = index
        return self._keys

    # -- state -------------------------------------------------------------
    def watermark(self, topic: str) -> int | None:
        w = self.table.get(f"w{SEP}{topic}")
        return None if w is None or w["ms"] is None else int(w["ms"])

    def _advance(self, wval: dict | None, event_ms: int, src: str) -> tuple[int | None, dict, list[int]]:
        """The watermark, source maxima and held times after one counted record."""
        wm = None if wval is None or wval["ms"] is None else int(wval["ms"])
        sources = dict(wval.get("src", {})) if wval else {}
        ahead = list(wval.get("ahead", [])) if wval else []
        skew = self.cfg.skew_ms
        if skew <= 0 or (wm is not None and event_ms <= wm + skew):
            new = event_ms if wm is None else max(wm, event_ms)
        else:
            near = [t for t in ahead if abs(t - event_ms) <= skew]
            if len(near) + 1 < CONFIRMATIONS:  # alone so far: counted, but it moves nothing yet
                return wm, sources, [*ahead, event_ms][-MAX_AHEAD:]
            new = max([*near, event_ms] + ([wm] if wm is not None else []))
        sources[src] = max(sources.get(src, event_ms), event_ms)
        return new, sources, [t for t in ahead if t > new + skew]

    def topics(self) -> list[str]:
        return sorted(k.split(SEP, 1)[1] for k in list(self.table.keys()) if k.startswith("w|"))

    def late_counts(self) -> dict[str, dict[str, int]]:
        """topic key -> stream -> records that were too late for it."""
        out: dict[str, dict[str, int]] = {}
        for k, v in list(self.table.items()):
            if k.startswith("c|late|"):
                _, _, topic, stream = k.split(SEP)
                out.setdefault(topic, {})[stream] = int(v["n"])
        return out

    def bucket_of(self, ms: int) -> int:
        return ms - ms % self.cfg.bucket_ms

    # -- updates -----------------------------------------------------------
    def _fresh(self, value: dict | None, origin: tuple[str, int] | None) -> bool:
        """Whether a key has not yet taken the update from ``origin``."""
        return origin is None or value is None or value.get("hw", {}).get(origin[0], -1) < origin[1]

    def _put(self, key: str, value: dict, old: dict | None, origin: tuple[str, int] | None) -> None:
        if origin is not None:
            value["hw"] = {**(old or {}).get("hw", {}), origin[0]: origin[1]}
        self.table[key] = value

    def add(self, obs: Observation, origin: tuple[str, int] | None = None) -> bool:
        """Count one observation; False (and the late counter) when it is too late.

        ``origin`` (source partition, offset) makes the update idempotent: every
        key remembers the last offset it took from each source partition, so a
        record replayed after a crash changes nothing it already changed, and the
        watermark, written last, decides lateness exactly as the first time.
        """
        wkey = f"w{SEP}{obs.subject}"
        wval = self.table.get(wkey)
        if not self._fresh(wval, origin):
            return True  # fully applied before a restart (the watermark is written last)
        # Lateness is judged against the slowest source partition, so that
        # partitions consumed at different paces (a replay at full speed) do
        # not make each other's records late; expiry follows the fastest.
        sources = dict(wval.get("src", {})) if wval else {}
        src = origin[0] if origin else "-"
        low = min(sources.values()) if len(sources) >= self.cfg.expected_sources else None
        horizon = self._horizon_of(wval)
        ok = (low is None or obs.event_ms >= low - self.cfg.lateness_ms) and (
            horizon is None or self.bucket_of(obs.event_ms) >= horizon
        )
        if not ok:
            key = SEP.join(("c", "late", obs.subject, obs.series.stream))
            old = self.table.get(key)
            if self._fresh(old, origin):
                self._put(key, {"n": int((old or {"n": 0})["n"]) + 1}, old, origin)
        else:
            key, old = self.slot(obs.subject, self.bucket_of(obs.event_ms), obs.series.id)
            if self._fresh(old, origin):
                series = dict(old["series"]) if old else {}
                dims = dict(series.get(obs.series.id, {}))
                for dim, labels in obs.labels.items():
                    val = dims.get(dim) or {"sets": {}, "soft": None}
                    sets = dict(val["sets"])
                    sk = set_key(labels)
                    sets[sk] = sets.get(sk, 0) + 1
                    dims[dim] = {"sets": sets, "soft": add_soft(val["soft"], obs.probs[dim])}
                series[obs.series.id] = dims
                self._put(key, {"series": series}, old, origin)
                if old is None:
                    self.note_bucket_key(obs.subject, key, self.bucket_of(obs.event_ms))
        new_ms, sources, ahead = self._advance(wval, obs.event_ms, src)
        value: dict = {"ms": new_ms, "src": sources}
        if ahead:
            value["ahead"] = ahead
        if origin is not None or wval is None or any(value.get(k) != wval.get(k) for k in ("ms", "src", "ahead")):
            self._put(wkey, value, wval, origin)
        return ok

    def slot(self, topic: str, bucket: int, sid: str) -> tuple[str, dict | None]:
        """The bucket key holding ``sid`` (or the first with room for it) and its value.

        Slots fill in the order series first appear in the topic key, which a
        replay repeats exactly (each key's value is restored with its offsets)."""
        slot = 0
        while True:
            key = SEP.join((BUCKET, topic, str(bucket), str(slot)))
            value = self.table.get(key)
            if value is None or sid in value["series"] or len(value["series"]) < SERIES_PER_KEY:
                return key, value
            slot += 1

    def horizon(self, topic: str) -> int | None:
        """Buckets before this can no longer be reached by any span, nor taken
        by any source partition: the slowest one once all have been seen, else
        the fastest (so that an idle partition cannot hold memory forever)."""
        return self._horizon_of(self.table.get(f"w{SEP}{topic}"))

    def _horizon_of(self, w: dict | None) -> int | None:
        """``horizon()`` from a topic key's watermark value already read."""
        if w is None or w["ms"] is None:
            return None
        sources = w.get("src", {})
        base = min(sources.values()) if len(sources) >= self.cfg.expected_sources else int(w["ms"])
        return self.bucket_of(base) - self.cfg.longest_span_ms - self.cfg.lateness_ms

    def expire(self, topic: str | None = None) -> int:
        """Drop buckets beyond their topic key's horizon (of one topic key, or
        of all); returns how many.

        On Kafka a deletion goes to the changelog partition of the event being
        processed, so the workers expire only the topic key of that event."""
        horizons = {t: self.horizon(t) for t in ([topic] if topic is not None else self.topics())}
        index = self._bucket_keys()
        expiring = sorted((k, t) for t, h in horizons.items() if h is not None
                          for k, bucket in index.get(t, {}).items() if bucket < h)
        # Only keys the table holds: a key the index kept past a change it was
        # not told of must never become a deletion.
        old = [k for k, _ in expiring if k in self.table]
        self._freeze_references(old)  # written before the deletes: a crash between them loses nothing
        for k in old:
            del self.table[k]
        for k, t in expiring:
            del index[t][k]
        return len(old)

    def _ref_start(self, bucket: int) -> int:
        return bucket - bucket % self.cfg.reference_ms

    def _freeze_references(self, expiring: list[str]) -> None:
        """Moves the expiring buckets of each series' reference window into its
        reference key (``r|``), which outlives expiry.

        The reference is the earliest reference window holding data; its
        buckets expire oldest first, so while none has, the reference is read
        from the live buckets alone (``references_by_topic``), and once some
        have, from this key plus the live rest of its window. It is derived
        from the bucket keys, which are exact under replays and takeovers,
        never updated per record; ``merged`` lists the buckets taken, so a
        replayed expiry after a crash takes none twice."""
        by_base: dict[str, list[tuple[int, dict]]] = {}
        for k in expiring:
            if (value := self.table.get(k)) is None:
                continue
            for sid, topic, dim, bucket, val in _rows_of(k, value):
                by_base.setdefault(SEP.join((sid, topic, dim)), []).append((bucket, val))
        for base, items in by_base.items():
            rkey = f"r{SEP}{base}"
            ref = self.table.get(rkey)
            if ref is not None and "merged" not in ref:
                continue  # a reference of an earlier release: complete as it is
            start = ref["start"] if ref is not None else self._ref_start(min(b for b, _ in items))
            merged = list(ref["merged"]) if ref is not None else []
            take = [(b, v) for b, v in sorted(items, key=lambda item: item[0])
                    if self._ref_start(b) == start and b not in merged]
            if ref is None or take:
                sets, soft = _sum_buckets(ref, take)
                merged += [b for b, _ in take]
                self.table[rkey] = {"start": start, "sets": dict(sets), "soft": soft, "merged": sorted(merged)}

    # -- queries -----------------------------------------------------------
    def span_end(self, topic: str) -> int | None:
        """Spans of a topic key end at the end of the bucket holding its watermark."""
        wm = self.watermark(topic)
        return None if wm is None else self.bucket_of(wm) + self.cfg.bucket_ms

    def buckets_by_topic(self) -> dict[str, list[tuple[str, str, int, dict]]]:
        """topic key -> (series id, dimension, bucket, value) of its buckets, in one pass."""
        out: dict[str, list[tuple[str, str, int, dict]]] = {}
        for key, value in list(self.table.items()):
            for sid, t, dim, bucket, val in _rows_of(key, value):
                out.setdefault(t, []).append((sid, dim, bucket, val))
        return out

    def totals(
        self, topic: str, span_ms: int, end_ms: int, rows: list[tuple[str, str, int, dict]] | None = None
    ) -> dict[tuple[str, str], tuple[Counter[str], list[float] | None]]:
        """(series id, dimension) -> summed set histogram and soft sums over the
        topic key's buckets starting in [end - span, end). ``rows``: the topic
        key's entry of ``buckets_by_topic`` (saves a scan per call)."""
        start = end_ms - span_ms
        out: Totals = {}
        if rows is None:
            rows = self.buckets_by_topic().get(topic, [])
        for sid, dim, bucket, val in rows:
            if not start <= bucket < end_ms:
                continue
            sets, soft = out.get((sid, dim), (Counter(), None))
            merge_sets(sets, val["sets"])
            out[(sid, dim)] = (sets, add_soft(soft, val["soft"]) if val["soft"] else soft)
        return out

    def references(self, topic: str) -> Totals:
        return self.references_by_topic().get(topic, {})

    def references_by_topic(self, rows: dict[str, list[tuple[str, str, int, dict]]] | None = None
                            ) -> dict[str, Totals]:
        """topic key -> (series id, dimension) -> its drift reference: the
        earliest reference window with data, from the frozen reference key
        (expired buckets) plus the live buckets of that window. ``rows``: the
        result of ``buckets_by_topic`` when the caller has it (saves a scan)."""
        frozen = {key[2:]: val for key, val in list(self.table.items()) if key.startswith("r|")}
        live: dict[str, list[tuple[int, dict]]] = {}
        for topic, items in (self.buckets_by_topic() if rows is None else rows).items():
            for sid, dim, bucket, val in items:
                live.setdefault(SEP.join((sid, topic, dim)), []).append((bucket, val))
        out: dict[str, Totals] = {}
        for base in set(frozen) | set(live):
            ref, buckets = frozen.get(base), live.get(base, [])
            if ref is not None and "merged" not in ref:  # an earlier release's reference: complete as it is
                found = (Counter(ref["sets"]), _current(ref["soft"]))
            else:
                start = ref["start"] if ref is not None else self._ref_start(min(b for b, _ in buckets))
                found = _sum_buckets(ref, [(b, v) for b, v in buckets if self._ref_start(b) == start])
            sid, topic, dim = base.split(SEP)
            out.setdefault(topic, {})[(sid, dim)] = found
        return out


def _parse_bucket_key(key: str) -> tuple[str, int, str | None, str | None] | None:
    """(topic key, bucket, series id, dimension) of a bucket key of either
    layout (series and dimension only in the earlier one); None for other keys."""
    parts = key.split(SEP)
    if parts[0] == BUCKET and len(parts) == 4:
        return parts[1], int(parts[2]), None, None
    if parts[0] == OLD_BUCKET and len(parts) == 5:
        return parts[2], int(parts[4]), parts[1], parts[3]
    return None


def _rows_of(key: str, value: dict) -> Iterator[tuple[str, str, str, int, dict]]:
    """(series id, topic key, dimension, bucket, {"sets", "soft"}) of one bucket key's value."""
    parsed = _parse_bucket_key(key)
    if parsed is None:
        return
    topic, bucket, sid, dim = parsed
    if sid is None:
        for sid_, dims in value["series"].items():
            for dim_, val in dims.items():
                yield sid_, topic, dim_, bucket, val
    else:
        yield sid, topic, dim, bucket, value


def _sum_buckets(ref: dict | None, buckets: list[tuple[int, dict]]) -> tuple[Counter[str], list[float] | None]:
    """A reference key's sets and soft sums (if any) plus those of ``buckets``."""
    sets, soft = (Counter(ref["sets"]), _current(ref["soft"])) if ref is not None else (Counter(), None)
    for _, val in buckets:
        merge_sets(sets, val["sets"])
        soft = add_soft(soft, val["soft"]) if val["soft"] else soft
    return sets, soft
