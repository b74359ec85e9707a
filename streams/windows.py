"""Event-time windowing over a plain key-value table.

State is a ``MutableMapping[str, dict]``: a dict in the embedded runner, a
changelog-backed faust table on Kafka, so both run this same code. Each bucket
key holds the histogram of *label sets* seen in that bucket (for example
``{"anger|disgust": 3, "": 1}``; ``""`` is a text with no label), which is
enough to recount labels and to run the permutation test exactly at the level
of texts, plus the sums of probabilities for the soft mode.

Keys:
- ``b|<series>|<topic>|<dimension>|<bucket_ms>`` -> ``{"sets": {...}, "soft": [...]}``
- ``r|<series>|<topic>|<dimension>`` -> the drift reference: ``{"start": ms, "sets", "soft"}``
- ``w|watermark`` -> ``{"ms": max event time seen}``
- ``c|late|<stream>`` -> ``{"n": count}``
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass

from streams.topics import ALL

SEP = "|"
SET_SEP = "+"


@dataclass(frozen=True)
class Series:
    """Whose texts a distribution is over: a human group or an LM under a steering."""

    stream: str  # "human" or "lm"
    group: str = ""
    model: str = ""
    steering: str = ""

    @property
    def id(self) -> str:
        return f"human:{self.group}" if self.stream == "human" else f"lm:{self.model}:{self.steering}"

    @classmethod
    def from_id(cls, sid: str) -> Series:
        parts = sid.split(":")
        if parts[0] == "human":
            return cls("human", group=parts[1])
        return cls("lm", model=":".join(parts[1:-1]), steering=parts[-1])


def clean_label(value: str) -> str:
    """Names that become key parts must not carry our separators."""
    return value.replace(SEP, "/").replace(":", "/").replace(SET_SEP, "/").strip() or "unknown"


def set_key(labels: Iterable[str]) -> str:
    return SET_SEP.join(sorted(labels))


@dataclass(frozen=True)
class Observation:
    """One scored text as the windows see it."""

    series: Series
    topic: str
    event_ms: int
    labels: dict[str, tuple[str, ...]]  # dimension -> predicted labels
    probs: dict[str, tuple[float, ...]]  # dimension -> probabilities in label order


@dataclass
class WindowConfig:
    bucket_ms: int
    longest_span_ms: int
    lateness_ms: int
    reference_ms: int


def merge_sets(into: Counter[str], sets: dict[str, int]) -> None:
    for k, v in sets.items():
        into[k] += v


def _add_soft(a: list[float] | None, b: Iterable[float]) -> list[float]:
    b = list(b)
    return [x + y for x, y in zip(a, b, strict=True)] if a else b


class Windows:
    """Bucketed label-set counts per (series, topic, dimension)."""

    def __init__(self, table: MutableMapping[str, dict], config: WindowConfig) -> None:
        self.table = table
        self.cfg = config

    # -- state -------------------------------------------------------------
    @property
    def watermark(self) -> int | None:
        w = self.table.get("w|watermark")
        return None if w is None else int(w["ms"])

    def late_counts(self) -> dict[str, int]:
        return {k.split(SEP)[2]: int(v["n"]) for k, v in self.table.items() if k.startswith("c|late|")}

    def bucket_of(self, ms: int) -> int:
        return ms - ms % self.cfg.bucket_ms

    # -- updates -----------------------------------------------------------
    def add(self, obs: Observation) -> bool:
        """Count one observation; False (and the late counter) when it is too late."""
        wm = self.watermark
        if wm is not None and obs.event_ms < wm - self.cfg.lateness_ms:
            key = f"c|late|{obs.series.stream}"
            self.table[key] = {"n": int(self.table.get(key, {"n": 0})["n"]) + 1}
            return False
        bucket = self.bucket_of(obs.event_ms)
        ref_start = obs.event_ms - obs.event_ms % self.cfg.reference_ms
        for dim, labels in obs.labels.items():
            base = SEP.join((obs.series.id, obs.topic, dim))
            key = f"b{SEP}{base}{SEP}{bucket}"
            val = self.table.get(key) or {"sets": {}, "soft": None}
            sets = dict(val["sets"])
            sk = set_key(labels)
            sets[sk] = sets.get(sk, 0) + 1
            self.table[key] = {"sets": sets, "soft": _add_soft(val["soft"], obs.probs[dim])}
            self._add_reference(f"r{SEP}{base}", ref_start, sk, obs.probs[dim])
        if wm is None or obs.event_ms > wm:
            self.table["w|watermark"] = {"ms": obs.event_ms}
        return True

    def _add_reference(self, key: str, start: int, sk: str, probs: tuple[float, ...]) -> None:
        # The reference is the earliest aligned reference window with data. An
        # earlier window replaces a later one while it can still receive records
        # (before that it is late), so the choice does not depend on arrival order.
        ref = self.table.get(key)
        if ref is None or start < ref["start"]:
            ref = {"start": start, "sets": {}, "soft": None}
        elif start > ref["start"]:
            return
        sets = dict(ref["sets"])
        sets[sk] = sets.get(sk, 0) + 1
        self.table[key] = {"start": start, "sets": sets, "soft": _add_soft(ref["soft"], probs)}

    def expire(self) -> int:
        """Drop buckets no span can reach any more; returns how many."""
        wm = self.watermark
        if wm is None:
            return 0
        horizon = self.bucket_of(wm) - self.cfg.longest_span_ms - self.cfg.lateness_ms
        old = [k for k in list(self.table.keys()) if k.startswith("b|") and int(k.rsplit(SEP, 1)[1]) < horizon]
        for k in old:
            del self.table[k]
        return len(old)

    # -- queries -----------------------------------------------------------
    def span_end(self) -> int | None:
        wm = self.watermark
        return None if wm is None else self.bucket_of(wm) + self.cfg.bucket_ms

    def totals(self, span_ms: int, end_ms: int) -> dict[tuple[str, str, str], tuple[Counter[str], list[float] | None]]:
        """(series id, topic, dimension) -> summed set histogram and soft sums over
        buckets starting in [end - span, end); the topic ``all`` sums every topic."""
        start = end_ms - span_ms
        out: dict[tuple[str, str, str], tuple[Counter[str], list[float] | None]] = {}
        for key, val in self.table.items():
            if not key.startswith("b|"):
                continue
            _, sid, topic, dim, bucket = key.split(SEP)
            if not start <= int(bucket) < end_ms:
                continue
            for t in (topic, ALL):
                sets, soft = out.get((sid, t, dim), (Counter(), None))
                merge_sets(sets, val["sets"])
                out[(sid, t, dim)] = (sets, _add_soft(soft, val["soft"]) if val["soft"] else soft)
        return out

    def references(self) -> dict[tuple[str, str, str], tuple[Counter[str], list[float] | None]]:
        out: dict[tuple[str, str, str], tuple[Counter[str], list[float] | None]] = {}
        for key, val in self.table.items():
            if not key.startswith("r|"):
                continue
            _, sid, topic, dim = key.split(SEP)
            for t in (topic, ALL):
                sets, soft = out.get((sid, t, dim), (Counter(), None))
                merge_sets(sets, val["sets"])
                out[(sid, t, dim)] = (sets, _add_soft(soft, val["soft"]) if val["soft"] else soft)
        return out

    def reference_pinned(self, key_start: int) -> bool:
        wm = self.watermark
        return wm is not None and wm - self.cfg.lateness_ms >= key_start + self.cfg.reference_ms
