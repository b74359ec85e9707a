"""Event-time windows against a brute-force recount."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.windows import Observation, Series, WindowConfig, Windows, set_key

BUCKET = 60_000
CFG = WindowConfig(bucket_ms=BUCKET, longest_span_ms=10 * BUCKET, lateness_ms=3 * BUCKET, reference_ms=5 * BUCKET)
SERIES = [
    Series("human", group="liberal"),
    Series("human", group="conservative"),
    Series("lm", model="m", steering="d"),
]
LABELS = ["x", "y", "z"]

events = st.lists(
    st.tuples(
        st.integers(0, 40 * BUCKET),  # event time
        st.integers(0, 2),  # series
        st.sampled_from(["t1", "t2"]),
        st.sets(st.sampled_from(LABELS), max_size=3),
    ),
    max_size=120,
)


def obs(t, s, topic, labels) -> Observation:
    return Observation(SERIES[s], topic, t, {"emotion": tuple(sorted(labels))}, {"emotion": (0.1, 0.2, 0.3)})


def brute(evts, span, end):
    """Replays the lateness rule, then recounts the accepted events in [end-span, end)."""
    wm = None
    accepted, late = [], Counter()
    for e in evts:
        if wm is not None and e[0] < wm - CFG.lateness_ms:
            late[SERIES[e[1]].stream] += 1
            continue
        accepted.append(e)
        wm = e[0] if wm is None else max(wm, e[0])
    out: dict[tuple[str, str, str], Counter] = {}
    for t, s, topic, labels in accepted:
        if end - span <= t - t % BUCKET < end:
            for tp in (topic, "all"):
                out.setdefault((SERIES[s].id, tp, "emotion"), Counter())[set_key(labels)] += 1
    return out, late, wm


@given(events, st.integers(1, 10))
@settings(max_examples=200, deadline=None)
def test_window_sums_equal_brute_force_recount(evts, span_buckets):
    w = Windows({}, CFG)
    for e in evts:
        w.add(obs(*e))
        w.expire()  # expiring as we go must never lose what a span can still see
    expected, late, wm = brute(evts, span_buckets * BUCKET, 0)
    if wm is None:
        assert w.span_end() is None
        return
    end = w.span_end()
    expected, late, _ = brute(evts, span_buckets * BUCKET, end)
    got = {k: Counter(v[0]) for k, v in w.totals(span_buckets * BUCKET, end).items()}
    assert {k: +v for k, v in got.items()} == {k: +v for k, v in expected.items()}
    assert w.late_counts() == dict(late)


@given(events)
@settings(max_examples=100, deadline=None)
def test_order_within_lateness_does_not_change_totals(evts):
    # Events sorted by time never count as late, so any order whose lateness
    # stays within the allowance gives the same totals as the sorted order.
    ordered = sorted(evts, key=lambda e: e[0])
    jittered = sorted(evts, key=lambda e: (e[0] // (2 * BUCKET), -e[0]))  # reversed within 2-bucket blocks
    a, b = Windows({}, CFG), Windows({}, CFG)
    for e in ordered:
        a.add(obs(*e))
    for e in jittered:
        b.add(obs(*e))
    assert b.late_counts() == {}
    end = a.span_end()
    if end is None:
        return
    ta = {k: Counter(v[0]) for k, v in a.totals(10 * BUCKET, end).items()}
    tb = {k: Counter(v[0]) for k, v in b.totals(10 * BUCKET, end).items()}
    assert ta == tb
    assert {k: Counter(v[0]) for k, v in a.references().items()} == {
        k: Counter(v[0]) for k, v in b.references().items()
    }


def test_late_record_is_counted_not_added():
    w = Windows({}, CFG)
    w.add(obs(20 * BUCKET, 0, "t1", {"x"}))
    assert not w.add(obs(10 * BUCKET, 0, "t1", {"y"}))
    assert w.late_counts() == {"human": 1}
    totals = w.totals(CFG.longest_span_ms, w.span_end())
    assert totals[("human:liberal", "t1", "emotion")][0] == Counter({"x": 1})


def test_expiry_drops_only_unreachable_buckets():
    w = Windows({}, CFG)
    w.add(obs(0, 0, "t1", {"x"}))
    w.add(obs(30 * BUCKET, 0, "t1", {"y"}))
    assert w.expire() == 1
    assert not any(k.startswith("b|") and k.endswith("|0") for k in w.table)


def test_reference_is_earliest_window_and_kept_after_expiry():
    w = Windows({}, CFG)
    w.add(obs(6 * BUCKET, 2, "t1", {"x"}))  # reference window [5, 10)
    w.add(obs(4 * BUCKET, 2, "t1", {"y"}))  # earlier window [0, 5) replaces it (within lateness)
    w.add(obs(3 * BUCKET, 2, "t1", {"z"}))
    w.add(obs(100 * BUCKET, 2, "t1", {"x"}))
    w.expire()
    ref = w.references()[("lm:m:d", "t1", "emotion")][0]
    assert ref == Counter({"y": 1, "z": 1})
