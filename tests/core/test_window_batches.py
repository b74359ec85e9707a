"""A batch of counts adds to the windows exactly what its records add one by one,
however the stream is cut into batches, replayed or delivered again."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core import window_batches
from streams.core.counts import UNITS, CountsBuilder, quantized
from streams.core.windows import Observation, Series, WindowConfig, Windows

BUCKET = 60_000
SERIES = [Series("human", group="liberal"), Series("human", group="conservative"),
          Series("lm", model="m", steering="d")]
SOURCES = ["posts/0", "posts/1", "lm/0"]
EMOTIONS = ["x", "y", "z"]
MORALS = ["care", "purity"]


def config(skew: int = 0, sources: int = 1) -> WindowConfig:
    return WindowConfig(bucket_ms=BUCKET, longest_span_ms=10 * BUCKET, lateness_ms=3 * BUCKET,
                        reference_ms=5 * BUCKET, expected_sources=sources, skew_ms=skew)


records = st.lists(
    st.tuples(
        st.integers(0, 40 * BUCKET),  # event time
        st.integers(0, 2),  # series
        st.integers(0, 2),  # source partition
        st.sets(st.sampled_from(EMOTIONS), max_size=3),
        st.sets(st.sampled_from(MORALS), max_size=2),
        st.lists(st.floats(0, 1), min_size=5, max_size=5),  # three emotion and two moral probabilities
    ),
    max_size=80,
)


def stream_of(rows) -> list[tuple[Observation, tuple[str, int]]]:
    """Observations of topic key ``all`` with their origins (offsets ascending per source)."""
    offsets = [0, 0, 0]
    out = []
    for t, s, src, emo, mor, p in rows:
        offsets[src] += 1
        obs = Observation(SERIES[s], "all", t, {"emotion": tuple(sorted(emo)), "moral": tuple(sorted(mor))},
                          {"emotion": quantized(p[:3]), "moral": quantized(p[3:])})
        out.append((obs, (SOURCES[src], offsets[src])))
    return out


def batch(items, bucket_ms: int = BUCKET):
    builder = CountsBuilder("all")
    for obs, origin in items:
        builder.add(obs, origin)
    return builder.build(bucket_ms)


def cut(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    points = sorted({0, n, *(c % (n + 1) for c in cuts)})
    return list(itertools.pairwise(points))


deliveries = st.tuples(records, st.lists(st.integers(0, 200), max_size=8), st.lists(st.integers(0, 200), max_size=8),
                       st.integers(0, 200))


@settings(max_examples=150, deadline=None)
@given(deliveries, st.sampled_from([0, 5 * BUCKET]), st.sampled_from([1, 3]))
def test_any_cut_of_a_stream_into_batches_gives_the_windows_of_one_record_at_a_time(delivery, skew, sources):
    rows, cuts, recuts, replay_from = delivery
    items = stream_of(rows)
    # What a worker sees: the stream cut into batches, then (a crash before its
    # commit) the stream again from an earlier point, cut differently.
    start = replay_from % (len(items) + 1)
    delivered = [items[a:b] for a, b in cut(len(items), cuts)]
    delivered += [items[start:][a:b] for a, b in cut(len(items) - start, recuts)]
    one, batched = Windows({}, config(skew, sources)), Windows({}, config(skew, sources))
    expected_late, late = 0, 0
    for chunk in delivered:
        for obs, origin in chunk:
            expected_late += not one.add(obs, origin)
        late += sum(window_batches.add_counts(batched, batch(chunk)).late.values())
    assert batched.table == one.table
    assert late == expected_late


def test_batches_in_order_are_added_at_once_not_one_by_one(monkeypatch):
    """The point of a batch: on a live stream no record is added on its own."""
    items = stream_of([(BUCKET * 20 + i * 1000, i % 3, i % 2, {"x"}, {"care"}, [0.5] * 5) for i in range(300)])
    w = Windows({}, config(skew=5 * BUCKET, sources=2))
    window_batches.add_counts(w, batch(items[:2]))  # the skew guard's first records go one by one
    monkeypatch.setattr(window_batches, "one_by_one", lambda *a: pytest.fail("added one by one"))
    tallies = [window_batches.add_counts(w, batch(items[i:i + 50])) for i in range(2, 300, 50)]
    assert sum(sum(t.counted.values()) for t in tallies) == 298


def test_a_late_record_inside_a_batch_is_counted_late_and_kept_out_of_its_bucket():
    items = stream_of([(BUCKET * 30, 0, 0, {"x"}, set(), [0.5] * 5), (BUCKET * 30 + 1, 0, 0, {"y"}, set(), [0.5] * 5),
                       (BUCKET * 2, 1, 0, {"z"}, set(), [0.25] * 5), (BUCKET * 30 + 2, 2, 0, set(), set(), [0.5] * 5)])
    w = Windows({}, config())
    tally = window_batches.add_counts(w, batch(items))
    assert tally.late == {"human": 1} and tally.counted == {"human": 2, "lm": 1}
    assert w.late_counts() == {"all": {"human": 1}}
    rows = w.buckets_by_topic()["all"]
    assert sorted(bucket for _, dim, bucket, _ in rows if dim == "emotion") == [BUCKET * 30] * 2


def test_soft_sums_are_exact_in_any_order():
    """Probabilities in whole 2**-20 units: summed at once or one by one, the same float."""
    p = np.random.default_rng(3).random((500, 3))
    one = 0.0
    for row in p:
        one += quantized(row)[0]
    assert one == sum(round(x * UNITS) for x in p[:, 0]) / UNITS


def test_cells_cut_at_another_bucket_width_are_cut_again():
    items = stream_of([(BUCKET * 20 + i * 7000, 0, 0, {"x"}, set(), [0.5] * 5) for i in range(40)])
    one, batched = Windows({}, config()), Windows({}, config())
    for obs, origin in items:
        one.add(obs, origin)
    window_batches.add_counts(batched, batch(items, bucket_ms=BUCKET * 2))
    assert batched.table == one.table
