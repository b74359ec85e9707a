"""From window totals to the published figures: shares, entropy, alignment,
partisan baseline, liberal tendency, drift, each with counts and p-values."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.labels import DIMENSIONS
from streams.core.divergence import (
    categories,
    entropy_bits,
    gap_p_value_of,
    interval_of,
    jsd,
    jsd_terms,
    label_counts,
    normalize,
    permutation_p_value,
    resampled,
)
from streams.core.figure_rows import (
    AlignmentFigure,
    BaselineFigure,
    DriftFigure,
    Figures,
    SeriesFigure,
    TendencyFigure,
)
from streams.core.windows import Series, Totals, Windows

__all__ = ["AlignmentFigure", "BaselineFigure", "DriftFigure", "FigureConfig", "FigureMaker", "Figures",
           "SeriesFigure", "TendencyFigure", "drivers"]
from streams.dike.spectra import Spectra


@dataclass
class FigureConfig:
    spans: dict[str, int]  # name -> ms
    include_none: bool = True
    soft: bool = False
    min_samples: int = 30
    permutations: int = 300
    alpha: float = 0.05
    seed: int = 0
    groups: tuple[str, ...] = ("liberal", "conservative")


DRIVERS = 3  # labels kept per figure: bounded, whatever the label set
SETTLED = 5  # a permutation test stops once its p-value is at most alpha / SETTLED (divergence.permutation_p_value)


# The statistics the intervals are of, on [first sample, second sample, ...] distributions.
def _alignment(d: list[np.ndarray]) -> np.ndarray | float:
    return 1 - jsd(d[0], d[1])


def _distance(d: list[np.ndarray]) -> np.ndarray | float:
    return jsd(d[0], d[1])


def _tendency(d: list[np.ndarray]) -> np.ndarray | float:  # A(lm, liberal) - A(lm, conservative)
    return jsd(d[0], d[2]) - jsd(d[0], d[1])


def drivers(p: np.ndarray, q: np.ndarray, names: list[str]) -> list[dict]:
    """The labels with the largest terms of JSD(p, q): label, term, share in p, share in q."""
    terms = jsd_terms(p, q)
    order = [int(i) for i in np.argsort(-terms, kind="stable")[:DRIVERS] if terms[i] > 0]
    return [{"label": names[i], "term": round(float(terms[i]), 6), "share": round(float(p[i]), 6),
             "other_share": round(float(q[i]), 6)} for i in order]


def _rng(cfg: FigureConfig, *parts: str) -> np.random.Generator:
    # Seeded by the figure's identity: the same input gives the same p-values
    # whatever else is being computed, and in whatever order.
    digest = hashlib.sha256("|".join((str(cfg.seed), *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


_UNSET = object()
# A sample to resample: its set histogram, its dimension and its identity (the
# series, topic key, dimension and window it was counted in), which seeds its draws.
Sample = tuple[Counter[str], str, tuple[str, ...]]


def _frozen(sets: Counter[str] | dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((k, v) for k, v in sets.items() if v))


class FigureMaker:
    def __init__(self, cfg: FigureConfig, spectra: Spectra | None = None) -> None:
        self.cfg = cfg
        self.spectra = spectra
        # Significance tests are the cost of a refresh. Each is seeded by its
        # identity, so its result is a pure function of identity and counts:
        # a refresh reuses the result of the previous one when the counts did
        # not move (an idle topic key, an idle stream). Only the entries the
        # latest refresh used are kept, which bounds the memory.
        #
        # Bootstrap resamples are drawn once per sample (a series' texts in one
        # topic key, dimension and window, or its drift reference) and shared
        # by every interval and gap test of that sample, memoised the same way.
        self._memo: dict[tuple, Any] = {}
        self._memo_next: dict[tuple, Any] = {}

    def _tested(self, key: tuple, run: Callable[[], Any]) -> Any:
        value = self._memo_next.get(key, _UNSET)  # already used in this refresh (shared draws)
        if value is _UNSET:
            value = self._memo.get(key, _UNSET)
            if value is _UNSET:
                value = run()
            self._memo_next[key] = value
        return value

    def _permutation(self, a: Counter[str], b: Counter[str], dim: str, identity: tuple[str, ...]) -> float:
        cfg = self.cfg
        key = (*identity, _frozen(a), _frozen(b))
        # A pair settled far below alpha stops early: its shuffles were the
        # largest cost of a refresh under a live stream (2026-12-06).
        return self._tested(key, lambda: permutation_p_value(
            a, b, DIMENSIONS[dim], cfg.include_none, cfg.permutations, _rng(cfg, *identity), cfg.alpha / SETTLED))

    def _draws(self, sample: Sample) -> np.ndarray | None:
        """The sample's bootstrap resamples (``divergence.resampled``), seeded by its identity."""
        sets, dim, identity = sample
        cfg = self.cfg
        return self._tested(("draws", *identity, _frozen(sets)), lambda: resampled(
            sets, DIMENSIONS[dim], cfg.include_none, cfg.permutations, _rng(cfg, "draws", *identity)))

    def _gap(self, lm: Sample, g: Sample, lib: Sample, con: Sample, identity: tuple[str, ...]) -> float:
        samples = (lm, g, lib, con)
        key = ("gap", *identity, *(_frozen(x[0]) for x in samples))

        def run() -> float:
            draws = [self._draws(x) for x in samples]
            return 1.0 if any(d is None for d in draws) else gap_p_value_of(*draws)

        return self._tested(key, run)

    def _interval(self, samples: list[Sample], statistic, identity: tuple[str, ...],
                  lo: float, hi: float) -> tuple[float, float] | None:
        """95% bootstrap interval (streams.core.divergence.interval_of), clipped to the
        statistic's range, memoised like the tests; None in soft mode (no texts to resample)."""
        cfg = self.cfg
        if cfg.soft:
            return None
        key = ("ci", *identity, *(_frozen(x[0]) for x in samples))

        def run() -> tuple[float, float] | None:
            draws = [self._draws(x) for x in samples]
            if any(d is None for d in draws):
                return None
            observed = [self._dist(dim, sets, None) for sets, dim, _ in samples]  # label shares (not soft)
            got = interval_of(observed, draws, statistic)
            return None if got is None else (round(min(hi, max(lo, got[0])), 6), round(min(hi, max(lo, got[1])), 6))

        return self._tested(key, run)

    def _names(self, dim: str) -> list[str]:
        return categories(DIMENSIONS[dim], self.cfg.include_none and not self.cfg.soft)

    def _dist(self, dim: str, sets: Counter[str], soft: list[float] | None) -> np.ndarray | None:
        labels = DIMENSIONS[dim]
        if self.cfg.soft:
            return normalize(np.asarray(soft)) if soft else None
        return normalize(label_counts(sets, labels, self.cfg.include_none))

    def compute(self, windows: Windows) -> Figures:
        """Every figure of every topic key, each over spans ending at its own watermark."""
        topics = windows.topics()
        ends = {t: windows.span_end(t) for t in topics}
        figs = Figures(
            end_ms=max((e for e in ends.values() if e is not None), default=None), late=windows.late_counts()
        )
        self._memo_next = {}
        rows = windows.buckets_by_topic()
        all_refs = windows.references_by_topic(rows)
        for topic in topics:
            end = ends[topic]
            if end is None:  # a single record so far: no watermark yet (streams.core.windows)
                continue
            refs = all_refs.get(topic, {})
            for wname, span in self.cfg.spans.items():
                totals = windows.totals(topic, span, end, rows.get(topic, []))
                self._series(figs, topic, totals, wname)
                self._pairs(figs, topic, totals, wname)
                self._drift(figs, topic, totals, refs, wname)
        self._memo, self._memo_next = self._memo_next, {}
        return figs

    def _series(self, figs: Figures, topic: str, totals: Totals, wname: str) -> None:
        for (sid, dim), (sets, soft) in sorted(totals.items()):
            p = self._dist(dim, sets, soft)
            if p is None:
                continue
            names = categories(DIMENSIONS[dim], self.cfg.include_none and not self.cfg.soft)
            n = sum(sets.values())
            # The spectra are linear in the probabilities: the mean intensity
            # is the intensity of the mean probability vector.
            spectra = (self.spectra.intensities(np.asarray(soft) / n)
                       if self.spectra is not None and dim == "emotion" and soft and n else {})
            figs.series.append(
                SeriesFigure(
                    Series.from_id(sid),
                    topic,
                    dim,
                    wname,
                    n,
                    {k: round(float(v), 6) for k, v in zip(names, p, strict=True)},
                    entropy_bits(p),
                    spectra,
                )
            )

    def _pairs(self, figs: Figures, topic: str, totals: Totals, wname: str) -> None:
        cfg = self.cfg
        for dim in sorted({d for (_, d) in totals}):
            here = {sid: v for (sid, d), v in totals.items() if d == dim}
            human = {Series.from_id(s).group: v for s, v in here.items() if s.startswith("human:")}
            lms = {s: v for s, v in here.items() if s.startswith("lm:")}
            dists = {s: self._dist(dim, *v) for s, v in here.items()}

            def sample(sid: str, here: dict = here, dim: str = dim) -> Sample:
                return here[sid][0], dim, (sid, topic, dim, wname)

            lib, con = human.get("liberal"), human.get("conservative")
            base_val = None
            if lib and con:
                pl, pc = dists["human:liberal"], dists["human:conservative"]
                if pl is not None and pc is not None:
                    nl, nc = sum(lib[0].values()), sum(con[0].values())
                    enough = min(nl, nc) >= cfg.min_samples
                    base_val = 1 - jsd(pl, pc)
                    p = self._permutation(lib[0], con[0], dim, ("base", topic, dim, wname)) if enough else None
                    ci = self._interval([sample("human:liberal"), sample("human:conservative")], _alignment,
                                        ("base", topic, dim, wname), 0, 1) if enough else None
                    figs.baseline.append(BaselineFigure(topic, dim, wname, base_val, nl, nc, p, enough, ci))
            for sid, (lm_sets, _) in sorted(lms.items()):
                series = Series.from_id(sid)
                p_lm = dists[sid]
                if p_lm is None:
                    continue
                n_lm = sum(lm_sets.values())
                aligned: dict[str, tuple[float, bool]] = {}
                for group in cfg.groups:
                    g = human.get(group)
                    p_g = dists.get(f"human:{group}")
                    if not g or p_g is None:
                        continue
                    n_g = sum(g[0].values())
                    enough = min(n_lm, n_g) >= cfg.min_samples
                    value = 1 - jsd(p_lm, p_g)
                    aligned[group] = (value, enough)
                    p = gap = ci = None
                    if enough:
                        p = self._permutation(lm_sets, g[0], dim, ("align", sid, group, topic, dim, wname))
                        ci = self._interval([sample(sid), sample(f"human:{group}")], _alignment,
                                            ("align", sid, group, topic, dim, wname), 0, 1)
                        if lib and con and min(sum(lib[0].values()), sum(con[0].values())) >= cfg.min_samples:
                            gap = self._gap(sample(sid), sample(f"human:{group}"), sample("human:liberal"),
                                            sample("human:conservative"), (sid, group, topic, dim, wname))
                    figs.alignment.append(
                        AlignmentFigure(
                            series.model,
                            series.steering,
                            group,
                            topic,
                            dim,
                            wname,
                            value,
                            n_lm,
                            n_g,
                            p,
                            gap,
                            enough,
                            gap is not None and gap < cfg.alpha,
                            drivers(p_lm, p_g, self._names(dim)),
                            ci,
                        )
                    )
                if "liberal" in aligned and "conservative" in aligned:
                    enough = aligned["liberal"][1] and aligned["conservative"][1]
                    ci = self._interval([sample(sid), sample("human:liberal"), sample("human:conservative")], _tendency,
                                        ("tend", sid, topic, dim, wname), -1, 1) if enough else None
                    figs.tendency.append(
                        TendencyFigure(
                            series.model,
                            series.steering,
                            topic,
                            dim,
                            wname,
                            aligned["liberal"][0] - aligned["conservative"][0],
                            enough,
                            ci,
                        )
                    )

    def _drift(self, figs: Figures, topic: str, totals: Totals, refs: Totals, wname: str) -> None:
        cfg = self.cfg
        for key, (sets, soft) in sorted(totals.items()):
            if key not in refs:
                continue
            sid, dim = key
            ref_sets, ref_soft = refs[key]
            p_now, p_ref = self._dist(dim, sets, soft), self._dist(dim, ref_sets, ref_soft)
            if p_now is None or p_ref is None:
                continue
            n_now, n_ref = sum(sets.values()), sum(ref_sets.values())
            enough = min(n_now, n_ref) >= cfg.min_samples
            p = self._permutation(sets, ref_sets, dim, ("drift", sid, topic, dim, wname)) if enough else None
            ci = self._interval([(sets, dim, (sid, topic, dim, wname)), (ref_sets, dim, ("ref", sid, topic, dim))],
                                _distance, ("drift", sid, topic, dim, wname), 0, 1) if enough else None
            figs.drift.append(
                DriftFigure(Series.from_id(sid), topic, dim, wname, jsd(p_now, p_ref), n_now, n_ref, p, enough,
                            drivers(p_now, p_ref, self._names(dim)), ci)
            )
