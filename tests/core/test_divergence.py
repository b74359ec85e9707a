"""JSD, entropy and the significance tests of streams.core.divergence."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from streams.core.divergence import (
    bootstrap_gap_p_value,
    bootstrap_interval,
    entropy_bits,
    jsd,
    jsd_terms,
    label_counts,
    permutation_p_value,
)

weights = st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=12)


@st.composite
def pairs(draw):
    n = draw(st.integers(2, 12))
    p = draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=n, max_size=n))
    q = draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=n, max_size=n))
    assume(sum(p) > 1e-6 and sum(q) > 1e-6)
    return np.array(p), np.array(q)


@given(pairs())
@settings(max_examples=300)
def test_jsd_equals_scipy_base2(pq):
    p, q = pq
    assert abs(jsd(p, q) - jensenshannon(p, q, base=2)) < 1e-9


@given(pairs())
def test_jsd_symmetric_and_bounded(pq):
    p, q = pq
    d = jsd(p, q)
    assert abs(d - jsd(q, p)) < 1e-12
    assert 0.0 <= d <= 1.0


@given(pairs())
def test_jsd_zero_only_for_equal_distributions(pq):
    p, q = pq
    pn, qn = p / p.sum(), q / q.sum()
    assert jsd(p, p) < 1e-7
    if np.abs(pn - qn).max() > 1e-6:
        assert jsd(p, q) > 0


@given(pairs())
@settings(max_examples=300)
def test_per_label_terms_sum_to_the_divergence_whose_square_root_is_the_distance(pq):
    p, q = pq
    terms = jsd_terms(p, q)
    assert terms.shape == p.shape and (terms >= 0).all()
    assert abs(np.sqrt(terms.sum()) - jsd(p, q)) < 1e-7
    assert abs(np.sqrt(terms.sum()) - jensenshannon(p, q, base=2)) < 1e-7
    # a label both sides give the same share adds nothing
    pn, qn = p / p.sum(), q / q.sum()
    assert all(t < 1e-12 for t, a, b in zip(terms, pn, qn, strict=True) if abs(a - b) < 1e-15)


def test_jsd_is_one_for_disjoint_support():
    assert abs(jsd(np.array([1, 0, 0]), np.array([0, 0.5, 0.5])) - 1.0) < 1e-12


def test_jsd_vectorised_rows_match_scalar():
    rng = np.random.default_rng(0)
    p, q = rng.random((5, 4)), rng.random((5, 4))
    rows = jsd(p, q)
    assert np.allclose(rows, [jensenshannon(a, b, base=2) for a, b in zip(p, q, strict=True)])


@given(weights)
def test_entropy_matches_scipy(w):
    assume(sum(w) > 1e-6)
    assert abs(entropy_bits(np.array(w)) - scipy_entropy(w, base=2)) < 1e-9


def test_label_counts_multi_label_and_none():
    sets = {"anger+fear": 2, "joy": 1, "": 3}
    counts = label_counts(sets, ("anger", "fear", "joy"), include_none=True)
    assert counts.tolist() == [2, 2, 1, 3]
    assert label_counts(sets, ("anger", "fear", "joy"), include_none=False).tolist() == [2, 2, 1]


LABELS = ("a", "b", "c")


def test_permutation_p_value_small_for_different_samples():
    a = {"a": 80, "b": 20}
    b = {"c": 70, "b": 30}
    p = permutation_p_value(a, b, LABELS, True, 200, np.random.default_rng(1))
    assert p < 0.01


def test_permutation_p_value_large_for_same_distribution():
    a = {"a": 40, "b": 40, "a+b": 20}
    b = {"a": 41, "b": 39, "a+b": 20}
    p = permutation_p_value(a, b, LABELS, True, 200, np.random.default_rng(1))
    assert p > 0.5


def test_permutation_test_stops_once_settled_far_below_alpha():
    a = {"a": 80, "b": 20}
    b = {"c": 70, "b": 30}
    full = permutation_p_value(a, b, LABELS, True, 300, np.random.default_rng(1))
    early = permutation_p_value(a, b, LABELS, True, 300, np.random.default_rng(1), settled_below=0.01)
    assert full == 1 / 301  # no shuffle as extreme in all 300
    assert early == 1 / 101  # stopped at the first chunk end where (1 + 0) / (1 + drawn) <= 0.01


def test_early_stop_keeps_every_decision_at_alpha():
    # Pairs from no difference to a clear one, each tested with and without the
    # early stop on the same draws: the decisions at alpha must agree.
    rng = np.random.default_rng(11)
    keys = ["a", "b", "c", "a+b", ""]
    base = np.array([0.3, 0.3, 0.2, 0.1, 0.1])
    decided = set()
    for i in range(120):
        shift = np.array([1, -1, 0, 0, 0]) * 0.002 * i
        ca, cb = rng.multinomial(60, base), rng.multinomial(60, base + shift)
        a = dict(zip(keys, ca.tolist(), strict=True))
        b = dict(zip(keys, cb.tolist(), strict=True))
        full = permutation_p_value(a, b, LABELS, True, 300, np.random.default_rng(i))
        early = permutation_p_value(a, b, LABELS, True, 300, np.random.default_rng(i), settled_below=0.01)
        assert (full < 0.05) == (early < 0.05), (i, full, early)
        assert early == full or early <= 0.01  # it only ever stops on a settled pair
        decided.add(full < 0.05)
    assert decided == {True, False}  # both outcomes were tested


def test_permutation_false_alarm_rate_near_alpha():
    # Two samples drawn from one distribution: about alpha of tests should fire.
    rng = np.random.default_rng(7)
    keys = ["a", "b", "c", "a+b", ""]
    probs = [0.3, 0.3, 0.2, 0.1, 0.1]
    fired = 0
    for _ in range(200):
        ca, cb = rng.multinomial(40, probs), rng.multinomial(40, probs)
        a = dict(zip(keys, ca.tolist(), strict=True))
        b = dict(zip(keys, cb.tolist(), strict=True))
        fired += permutation_p_value(a, b, LABELS, True, 99, rng) < 0.05
    assert fired / 200 < 0.10


def test_gap_p_value_detects_model_less_aligned_than_baseline():
    lib = {"a": 50, "b": 50}
    con = {"a": 45, "b": 55}
    lm = {"c": 90, "a": 10}
    rng = np.random.default_rng(3)
    assert bootstrap_gap_p_value(lm, lib, lib, con, LABELS, True, 200, rng) < 0.01
    close = {"a": 48, "b": 52}
    assert bootstrap_gap_p_value(close, lib, lib, con, LABELS, True, 200, rng) > 0.05


def test_the_bootstrap_interval_covers_the_true_alignment_about_95_percent_of_the_time():
    """Simulated streams with known label distributions (300 texts a side, 8 labels)."""
    rng = np.random.default_rng(7)
    labels = [f"l{i}" for i in range(8)]
    hits = trials = 0
    for _ in range(300):
        p, g = rng.dirichlet(np.ones(8)), rng.dirichlet(np.ones(8))
        truth = 1 - jsd(p, g)
        a = dict(zip(labels, rng.multinomial(300, p).tolist(), strict=True))
        b = dict(zip(labels, rng.multinomial(300, g).tolist(), strict=True))
        ci = bootstrap_interval([a, b], lambda d: 1 - jsd(d[0], d[1]), labels, False, 300, rng)
        assert ci is not None and ci[0] <= 1 - jsd(np.array(list(a.values())), np.array(list(b.values()))) <= ci[1]
        hits += ci[0] <= truth <= ci[1]
        trials += 1
    assert 0.90 <= hits / trials <= 0.98, hits / trials
