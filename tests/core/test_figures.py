"""The published math (streams.core.figures): shares, entropy, alignment, the
partisan baseline, liberal tendency and drift, computed by hand from known
window contents and compared; the sample gate; and the refresh's reuse of tests."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from models.labels import EMOTIONS
from streams.core.figures import FigureConfig, FigureMaker
from streams.core.windows import Observation, Series, WindowConfig, Windows

T = 1_000_000


def close(x: float):
    return pytest.approx(x, abs=1e-6)  # published figures are rounded to 6 decimals


SPAN = {"1h": 3_600_000}
# Single-label emotion texts per series: (label, how many)
LIBERAL = {"joy": 30, "optimism": 20, "anger": 10}
CONSERVATIVE = {"anger": 30, "disgust": 20, "joy": 10}
MODEL = {"joy": 25, "optimism": 25, "fear": 10}


def windows_of(series: dict[str, dict[str, int]], topic: str = "guns") -> Windows:
    w = Windows({}, WindowConfig(300_000, 3_600_000, 600_000, 3_600_000))
    probs = {"emotion": tuple([0.1] * len(EMOTIONS))}
    for sid, counts in series.items():
        i = 0
        for label, n in counts.items():
            for _ in range(n):
                for key in (topic, "all"):
                    w.add(Observation(Series.from_id(sid), key, T + i * 1000, {"emotion": (label,)}, probs))
                i += 1
    return w


def distribution(counts: dict[str, int]) -> np.ndarray:
    """Over the emotions and 'none', as the figures see a series."""
    v = np.array([counts.get(e, 0) for e in EMOTIONS] + [0], dtype=float)
    return v / v.sum()


@pytest.fixture(scope="module")
def figures():
    w = windows_of({"human:liberal": LIBERAL, "human:conservative": CONSERVATIVE, "lm:m:default": MODEL})
    return FigureMaker(FigureConfig(spans=SPAN, min_samples=30, permutations=99, seed=1)).compute(w)


def _one(rows, **match):
    [row] = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    return row


def test_shares_and_entropy_are_the_label_frequencies(figures):
    row = _one(figures.series, subject="guns", dimension="emotion", window="1h", series=Series.from_id("lm:m:default"))
    assert row.n == 60
    assert row.shares["joy"] == close(25 / 60) and row.shares["fear"] == close(10 / 60)
    assert row.entropy_bits == close(entropy([25, 25, 10], base=2))


def test_alignment_baseline_and_tendency_are_one_minus_the_js_distance(figures):
    lib, con, lm = distribution(LIBERAL), distribution(CONSERVATIVE), distribution(MODEL)
    a_lib = _one(figures.alignment, subject="guns", dimension="emotion", group="liberal", model="m")
    a_con = _one(figures.alignment, subject="guns", dimension="emotion", group="conservative", model="m")
    assert a_lib.alignment == close(1 - jensenshannon(lm, lib, base=2))
    assert a_con.alignment == close(1 - jensenshannon(lm, con, base=2))
    assert a_lib.n_lm == 60 and a_lib.n_group == 60 and a_lib.enough_samples
    base = _one(figures.baseline, subject="guns", dimension="emotion")
    assert base.value == close(1 - jensenshannon(lib, con, base=2))
    tend = _one(figures.tendency, subject="guns", dimension="emotion", model="m")
    assert tend.value == close(a_lib.alignment - a_con.alignment)
    assert tend.value > 0  # the model's joy and optimism are the liberal side's
    # The drivers are the largest terms of the divergence, which add up to it.
    assert a_con.drivers[0]["label"] == "anger" and a_con.drivers[0]["share"] == 0
    assert a_lib.interval is not None and a_lib.interval[0] <= a_lib.alignment <= a_lib.interval[1]


def test_the_model_apart_from_the_groups_is_significant_and_one_alike_is_not(figures):
    a_con = _one(figures.alignment, subject="guns", dimension="emotion", group="conservative", model="m")
    assert a_con.p_value is not None and a_con.p_value < 0.05
    w = windows_of({"human:liberal": LIBERAL, "lm:twin:default": LIBERAL})
    same = FigureMaker(FigureConfig(spans=SPAN, min_samples=30, permutations=99, seed=1)).compute(w)
    twin = _one(same.alignment, subject="guns", dimension="emotion", group="liberal", model="twin")
    assert twin.alignment == close(1.0) and twin.p_value > 0.5


def test_too_few_texts_publish_the_figure_but_flag_it_and_test_nothing():
    small = {k: max(1, v // 10) for k, v in MODEL.items()}  # 6 texts
    w = windows_of({"human:liberal": LIBERAL, "lm:m:default": small})
    figs = FigureMaker(FigureConfig(spans=SPAN, min_samples=30, permutations=99, seed=1)).compute(w)
    row = _one(figs.alignment, subject="guns", dimension="emotion", group="liberal", model="m")
    assert not row.enough_samples and row.n_lm == sum(small.values())
    assert row.p_value is None and row.interval is None
    assert row.alignment == close(1 - jensenshannon(distribution(small), distribution(LIBERAL), base=2))


def test_figures_are_the_same_whatever_the_order_of_the_records():
    cfg = FigureConfig(spans=SPAN, min_samples=30, permutations=99, seed=1)
    series = {"human:liberal": LIBERAL, "human:conservative": CONSERVATIVE, "lm:m:default": MODEL}
    forward = FigureMaker(cfg).compute(windows_of(series)).to_dict()
    backward = FigureMaker(cfg).compute(windows_of(dict(reversed(series.items())))).to_dict()
    assert forward == backward
    assert Counter(r["topic"] for r in forward["series"]) == Counter({"guns": 3, "all": 3})


def test_a_refresh_reuses_tests_whose_counts_did_not_move_and_gives_the_same_figures(monkeypatch):
    """The figure maker memoizes each significance test by its identity and
    counts: a second refresh over unchanged windows runs no test, a refresh
    after one more record reruns only the tests that record touched, and the
    figures equal those of a fresh maker."""
    import streams.core.figures as figures_module

    cfg = FigureConfig(spans={"1h": 3_600_000}, min_samples=2, permutations=19)
    w = Windows({}, WindowConfig(300_000, 3_600_000, 600_000, 3_600_000))
    emo = ("anger",) + ("joy",) * 10
    for i in range(30):
        for sid in ("human:liberal", "human:conservative", "lm:m:default"):
            labels = {"emotion": (emo[i % len(emo)],)}
            probs = {"emotion": tuple([0.1] * 11)}
            for topic in ("guns", "all"):
                w.add(Observation(Series.from_id(sid), topic, 1_000_000 + i * 1000, labels, probs))
    calls = []
    real = figures_module.permutation_p_value

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(figures_module, "permutation_p_value", counting)
    maker = FigureMaker(cfg)
    first = maker.compute(w).to_dict()
    n_first = len(calls)
    assert n_first > 0
    again = maker.compute(w).to_dict()
    assert again == first and len(calls) == n_first
    w.add(Observation(Series.from_id("lm:m:default"), "guns", 1_100_000, {"emotion": ("fear",)},
                      {"emotion": tuple([0.1] * 11)}))
    moved = maker.compute(w).to_dict()
    rerun = len(calls) - n_first
    assert 0 < rerun < n_first  # only the "guns" tests that involve the model
    assert moved == FigureMaker(cfg).compute(w).to_dict()



def test_a_refresh_draws_each_samples_resamples_once_and_shares_them(monkeypatch):
    """Intervals and gap tests of one sample (a series in a topic key,
    dimension and window) use the same resamples, drawn once a refresh: the
    draws were two thirds of a refresh when each test drew its own."""
    import streams.core.figures as figures_module

    cfg = FigureConfig(spans={"1h": 3_600_000, "2h": 7_200_000}, min_samples=2, permutations=19)
    w = Windows({}, WindowConfig(300_000, 7_200_000, 600_000, 3_600_000))
    emo = ("anger", "joy", "fear", "joy", "sadness")
    sids = ("human:liberal", "human:conservative", "lm:m:default", "lm:n:default")
    for i in range(40):
        for k, sid in enumerate(sids):
            labels = {"emotion": (emo[(i + k) % len(emo)],), "moral": (("care", "fairness")[(i * k) % 2],)}
            probs = {"emotion": tuple([0.1] * 11), "moral": tuple([0.1] * 6)}
            for topic in ("guns", "all"):
                w.add(Observation(Series.from_id(sid), topic, 1_000_000 + i * 1000, labels, probs))
    drawn: list[tuple] = []
    real = figures_module.resampled

    def counting(sets, labels, include_none, resamples, rng):
        drawn.append(tuple(sorted(sets.items())))
        return real(sets, labels, include_none, resamples, rng)

    monkeypatch.setattr(figures_module, "resampled", counting)
    figs = FigureMaker(cfg).compute(w)
    gaps = [a for a in figs.alignment if a.below_baseline_p_value is not None]
    intervals = [x for x in (*figs.alignment, *figs.baseline, *figs.tendency, *figs.drift) if x.interval is not None]
    assert gaps and len(intervals) > 20
    assert any(d.interval is not None for d in figs.drift)
    # 4 series x 2 topic keys x 2 dimensions x 2 windows, and each drift
    # reference (one per series, topic key and dimension), each drawn once
    assert len(drawn) == 4 * 2 * 2 * 2 + 4 * 2 * 2
