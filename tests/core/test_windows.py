"""Event-time windows against a brute-force recount."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.windows import Observation, Series, WindowConfig, Windows, set_key

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


def feed(w: Windows, e) -> None:
    """What the aggregator does: the record's own topic key, then ``all``."""
    o = obs(*e)
    w.add(o)
    w.add(Observation(o.series, "all", o.event_ms, o.labels, o.probs))


def brute(evts, topic, span):
    """Replays the lateness rule per topic key, then recounts the accepted
    events of that key in [end - span, end), end being after its watermark."""
    wm: int | None = None
    accepted, late = [], Counter()
    for e in evts:
        if topic != "all" and e[2] != topic:
            continue
        if wm is not None and e[0] < wm - CFG.lateness_ms:
            late[SERIES[e[1]].stream] += 1
            continue
        accepted.append(e)
        wm = e[0] if wm is None else max(wm, e[0])
    if wm is None:
        return None, {}, late
    end = wm - wm % BUCKET + BUCKET
    out: dict[tuple[str, str], Counter] = {}
    for t, s, _, labels in accepted:
        if end - span <= t - t % BUCKET < end:
            out.setdefault((SERIES[s].id, "emotion"), Counter())[set_key(labels)] += 1
    return end, out, late


def counted(w: Windows, topic: str, span: int, end: int) -> dict:
    return {k: Counter(v[0]) for k, v in w.totals(topic, span, end).items()}


@given(events, st.integers(1, 10))
@settings(max_examples=200, deadline=None)
def test_window_sums_equal_brute_force_recount(evts, span_buckets):
    w = Windows({}, CFG)
    for e in evts:
        feed(w, e)
        w.expire()  # expiring as we go must never lose what a span can still see
    span = span_buckets * BUCKET
    for topic in ("t1", "t2", "all"):
        end, expected, late = brute(evts, topic, span)
        assert w.span_end(topic) == end
        if end is None:
            continue
        assert counted(w, topic, span, end) == expected
        assert w.late_counts().get(topic, {}) == dict(late)


@given(events)
@settings(max_examples=100, deadline=None)
def test_order_within_lateness_does_not_change_totals(evts):
    # Events sorted by time never count as late, so any order whose lateness
    # stays within the allowance gives the same totals as the sorted order.
    ordered = sorted(evts, key=lambda e: e[0])
    jittered = sorted(evts, key=lambda e: (e[0] // (2 * BUCKET), -e[0]))  # reversed within 2-bucket blocks
    a, b = Windows({}, CFG), Windows({}, CFG)
    for e in ordered:
        feed(a, e)
    for e in jittered:
        feed(b, e)
    assert b.late_counts() == {}
    for topic in a.topics():
        end = a.span_end(topic)
        assert counted(a, topic, 10 * BUCKET, end) == counted(b, topic, 10 * BUCKET, end)
        assert a.references(topic) == b.references(topic)


def test_late_record_is_counted_not_added():
    w = Windows({}, CFG)
    w.add(obs(20 * BUCKET, 0, "t1", {"x"}))
    assert not w.add(obs(10 * BUCKET, 0, "t1", {"y"}))
    assert w.add(obs(10 * BUCKET, 0, "t2", {"y"}))  # each topic key has its own watermark
    assert w.late_counts() == {"t1": {"human": 1}}
    totals = w.totals("t1", CFG.longest_span_ms, w.span_end("t1"))
    assert totals[("human:liberal", "emotion")][0] == Counter({"x": 1})


def test_expiry_drops_only_unreachable_buckets():
    w = Windows({}, CFG)
    w.add(obs(0, 0, "t1", {"x"}))
    w.add(obs(30 * BUCKET, 0, "t1", {"y"}))
    assert w.expire() == 1
    assert sorted(k for k in w.table if "tb|" in k) == ["tb|t1|1800000|0"]  # the bucket at 0 is gone


def test_reference_is_earliest_window_and_kept_after_expiry():
    w = Windows({}, CFG)
    w.add(obs(6 * BUCKET, 2, "t1", {"x"}))  # reference window [5, 10)
    w.add(obs(4 * BUCKET, 2, "t1", {"y"}))  # earlier window [0, 5) replaces it (within lateness)
    w.add(obs(3 * BUCKET, 2, "t1", {"z"}))
    w.add(obs(100 * BUCKET, 2, "t1", {"x"}))
    w.expire()
    ref = w.references("t1")[("lm:m:d", "emotion")][0]
    assert ref == Counter({"y": 1, "z": 1})


class Crash(Exception):
    pass


class CrashingTable(dict):
    """A table that dies after a number of writes, keeping what was written:
    the changelog holds a prefix of the writes when a worker is killed."""

    def __init__(self, writes_left: int) -> None:
        super().__init__()
        self.writes_left = writes_left

    def __setitem__(self, key, value) -> None:
        if self.writes_left <= 0:
            raise Crash
        self.writes_left -= 1
        super().__setitem__(key, value)


@given(events, st.integers(0, 400), st.integers(0, 120))
@settings(max_examples=200, deadline=None)
def test_kill_and_replay_from_an_earlier_offset_gives_exact_counts(evts, crash_after, rewind):
    msgs = [(obs(*e), ("scores/0", i)) for i, e in enumerate(evts)]
    clean = Windows({}, CFG)
    for o, origin in msgs:
        clean.add(o, origin)
    table = CrashingTable(crash_after)
    w = Windows(table, CFG)
    done = 0
    try:
        for o, origin in msgs:
            w.add(o, origin)
            done += 1
    except Crash:
        pass
    # Restart: the state is what reached the changelog; the consumer resumes
    # from a committed offset at or before the crash and replays from there.
    recovered = Windows(dict(table), CFG)
    for o, origin in msgs[max(0, done - rewind) :]:
        recovered.add(o, origin)
    strip = lambda t: {k: {f: v for f, v in val.items() if f != "hw"} for k, val in t.items()}  # noqa: E731
    assert strip(recovered.table) == strip(clean.table)


@given(events, st.integers(0, 400), st.integers(0, 120), st.integers(1, 5))
@settings(max_examples=200, deadline=None)
def test_kill_mid_expiry_and_replay_keeps_the_drift_references(evts, crash_after, rewind, every):
    """Expiry moves reference buckets into the reference key before deleting
    them; a kill between any two writes and a replay take nothing twice and
    lose nothing."""
    msgs = [(obs(*e), ("scores/0", i)) for i, e in enumerate(sorted(evts, key=lambda e: e[0]))]

    def run(w: Windows, items) -> int:
        done = 0
        for n, (o, origin) in enumerate(items):
            w.add(o, origin)
            if n % every == 0:
                w.expire()
            done += 1
        return done

    clean = Windows({}, CFG)
    run(clean, msgs)
    clean.expire()
    table = CrashingTable(crash_after)
    done = 0
    try:
        w = Windows(table, CFG)
        for n, (o, origin) in enumerate(msgs):
            w.add(o, origin)
            if n % every == 0:
                w.expire()
            done += 1
    except Crash:
        pass
    recovered = Windows(dict(table), CFG)
    run(recovered, msgs[max(0, done - rewind):])
    recovered.expire()
    assert recovered.references_by_topic() == clean.references_by_topic()


@given(events, st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_sources_consumed_at_different_paces_make_nothing_late(evts, rnd):
    # Four source partitions, each in event-time order (as a replay writes
    # them), interleaved at random (as a consumer fetches them): no record is
    # late and the totals equal those of one sorted source.
    ordered = sorted(evts, key=lambda e: e[0])
    parts: list[list] = [[], [], [], []]
    for i, e in enumerate(ordered):
        parts[i % 4].append((e, i))
    merged = []
    while any(parts):
        p = rnd.choice([q for q in parts if q])
        merged.append(p.pop(0))
    # A span longer than the stream: here no bucket expires while a slow
    # partition could still reach it (that horizon is tested on its own).
    cfg = replace(CFG, longest_span_ms=50 * BUCKET)
    a, b = Windows({}, cfg), Windows({}, replace(cfg, expected_sources=4))
    for e in ordered:
        a.add(obs(*e))
    for e, i in merged:
        b.add(obs(*e), (f"posts/{i % 4}", i))
    assert b.late_counts() == {}
    for topic in a.topics():
        end = a.span_end(topic)
        assert counted(a, topic, 10 * BUCKET, end) == counted(b, topic, 10 * BUCKET, end)
    assert b.references_by_topic() == a.references_by_topic()  # the drift references too


@given(events, st.integers(1, 7))
@settings(max_examples=150, deadline=None)
def test_drift_references_do_not_depend_on_when_buckets_expire(evts, every):
    """The reference is read from the buckets of its window, live or frozen at
    expiry: expiring after every few records (a worker) or never (a short
    embedded run) gives the same references, and they hold every record of
    the earliest reference window that was counted."""
    ordered = sorted(evts, key=lambda e: e[0])
    never, often = Windows({}, CFG), Windows({}, CFG)
    for i, e in enumerate(ordered):
        never.add(obs(*e))
        often.add(obs(*e))
        if i % every == 0:
            often.expire()
    often.expire()
    want: dict = {}
    for t, s, topic, labels in ordered:
        start = t - t % CFG.reference_ms
        first = want.setdefault(topic, {}).setdefault((SERIES[s].id, "emotion"), [start, Counter()])
        if start == first[0]:
            first[1][set_key(labels)] += 1
    got = {t: {k: v[0] for k, v in refs.items()} for t, refs in often.references_by_topic().items()}
    assert got == {t: {k: v[1] for k, v in refs.items()} for t, refs in want.items()}
    assert often.references_by_topic() == never.references_by_topic()


@given(events, st.integers(1, 7), st.integers(0, 119))
@settings(max_examples=150, deadline=None)
def test_expiry_from_the_key_index_drops_what_a_full_scan_would(evts, every, behind):
    """Expiry reads the bucket keys from an index kept beside the table: at
    every step it drops exactly the keys a fresh reader of the same table
    (a full scan) drops, also after keys were written and removed behind its
    back, once it is told to read them again (a Kafka rebalance)."""
    ordered = sorted(evts, key=lambda e: e[0])
    behind %= max(1, len(ordered))
    table: dict = {}
    indexed = Windows(table, CFG)
    for i, e in enumerate(ordered):
        feed(indexed, e)
        if i == behind:  # a restore writes some keys and hides others
            ours = sorted(k for k in table if k.startswith("tb|t1|"))
            if ours:  # a slot of an earlier bucket it never saw
                bucket = int(ours[-1].split("|")[2])
                table[f"tb|t1|{bucket - 20 * BUCKET}|1"] = table[ours[-1]]
            for k in ours[:-1][:2]:
                del table[k]
            indexed.forget_keys()
        if i % every == 0:
            fresh = Windows(dict(table), CFG)
            want = fresh.expire()
            assert indexed.expire() == want
            assert table == fresh.table


def test_a_key_the_index_kept_past_a_change_is_never_deleted_again():
    table: dict = {}
    w = Windows(table, CFG)
    w.add(obs(0, 0, "t1", {"x"}))
    w.expire()  # the index is read now
    (key,) = [k for k in table if k.startswith("tb|")]
    del table[key]  # gone behind its back, never told
    w.add(obs(40 * BUCKET, 0, "t1", {"y"}))
    assert w.expire() == 0 and all(k != key for k in table)


def test_expiry_waits_for_the_slowest_source_once_all_are_known():
    cfg = replace(CFG, expected_sources=2)
    w = Windows({}, cfg)
    w.add(obs(0, 0, "t1", {"x"}), ("posts/0", 0))
    w.add(obs(30 * BUCKET, 0, "t1", {"x"}), ("posts/0", 1))
    assert w.horizon("t1") == 30 * BUCKET - cfg.longest_span_ms - cfg.lateness_ms  # posts/1 unseen: fastest
    w.add(obs(1 * BUCKET, 0, "t1", {"y"}), ("posts/1", 0))
    assert w.horizon("t1") == BUCKET - cfg.longest_span_ms - cfg.lateness_ms  # the slowest now
    assert w.expire() == 0
    assert not w.add(obs(-20 * BUCKET, 0, "t1", {"z"}), ("posts/1", 1))  # beyond the horizon: late


# --- the watermark guard: one record cannot start or jump the watermark past the skew ---

GUARDED = replace(CFG, skew_ms=20 * BUCKET)


def test_one_far_ahead_record_is_counted_but_moves_no_watermark():
    w = Windows({}, GUARDED)
    for t in range(0, 10 * BUCKET, BUCKET):
        assert w.add(obs(t, 0, "t1", {"x"}))
    before = w.watermark("t1")
    far = 10_000 * BUCKET
    assert w.add(obs(far, 0, "t1", {"y"}))  # counted in its own bucket...
    assert w.watermark("t1") == before  # ...but the spans stay where the stream is
    assert w.add(obs(before + BUCKET, 1, "t1", {"x"}))  # later valid records are neither late nor lost
    assert w.watermark("t1") == before + BUCKET
    assert w.add(obs(far + BUCKET, 2, "t1", {"z"}))  # a second record confirms the jump
    assert w.watermark("t1") == far + BUCKET


def test_a_lone_first_record_does_not_start_the_watermark():
    w = Windows({}, GUARDED)
    assert w.add(obs(10_000 * BUCKET, 0, "t1", {"x"}))  # a hostile first record
    assert w.watermark("t1") is None
    assert w.add(obs(5 * BUCKET, 0, "t1", {"x"})) and w.watermark("t1") is None
    assert w.add(obs(6 * BUCKET, 1, "t1", {"y"}))  # two agree: the stream's own time
    assert w.watermark("t1") == 6 * BUCKET


def test_without_the_guard_the_first_record_starts_the_watermark():
    w = Windows({}, CFG)
    w.add(obs(5 * BUCKET, 0, "t1", {"x"}))
    assert w.watermark("t1") == 5 * BUCKET


def test_moral_sums_from_before_purity_are_read_with_a_zero_purity_sum():
    """State written by affect-1 (five moral probabilities a record) stays readable
    after the dimension gained purity: old and new records sum label by label."""
    table: dict = {}
    w = Windows(table, CFG)
    probs5 = [0.1, 0.2, 0.3, 0.4, 0.5]  # care, fairness, loyalty, authority, non-moral
    probs6 = (1.0, 1.0, 1.0, 1.0, 2.0, 1.0)  # ... authority, purity, non-moral
    series = SERIES[0]
    w.add(Observation(series, "t1", 0, {"moral": ("care",)}, {"moral": (0.0,) * 6}))
    del table["tb|t1|0|0"]  # as an earlier release wrote it: a key per series and dimension, five sums
    table[f"b|{series.id}|t1|moral|0"] = {"sets": {"care": 1}, "soft": probs5}
    w.add(Observation(series, "t1", BUCKET, {"moral": ("care",)}, {"moral": probs6}))
    sets, soft = w.totals("t1", 10 * BUCKET, 2 * BUCKET)[(series.id, "moral")]
    assert sets == Counter({"care": 2})
    assert soft == pytest.approx([1.1, 1.2, 1.3, 1.4, 2.0, 1.5])
    assert w.references("t1")[(series.id, "moral")][1] == pytest.approx([1.1, 1.2, 1.3, 1.4, 2.0, 1.5])


def _as_earlier_release(table: dict) -> dict:
    """The same state in the layout of releases before one key per topic key and
    bucket: a bucket key per series, topic key and dimension."""
    out = {}
    for key, value in table.items():
        if key.startswith("tb|"):
            _, topic, bucket, _ = key.split("|")
            for sid, dims in value["series"].items():
                for dim, row in dims.items():
                    out[f"b|{sid}|{topic}|{dim}|{bucket}"] = dict(row)
        else:
            out[key] = value
    return out


@settings(max_examples=60, deadline=None)
@given(events, st.integers(0, 120))
def test_state_of_the_earlier_layout_counts_on_alike(evts, cut):
    """A worker upgraded mid-stream reads the per-series bucket keys an earlier
    release left, writes the new ones, and its figures, references and expiry
    are those of a run that used the new layout throughout."""
    new = Windows({}, CFG)
    for e in evts[:cut]:
        feed(new, e)
    upgraded = Windows(_as_earlier_release(dict(new.table)), CFG)
    for w in (new, upgraded):
        for e in evts[cut:]:
            feed(w, e)
        w.expire()
    assert not any(k.startswith("b|") and int(k.rsplit("|", 1)[1]) < (upgraded.horizon(k.split("|")[2]) or 0)
                   for k in upgraded.table)  # old keys expire like new ones
    for topic in new.topics():
        end = new.span_end(topic)
        for span in (BUCKET, 10 * BUCKET):
            assert counted(new, topic, span, end) == counted(upgraded, topic, span, end)
        a, b = new.references(topic), upgraded.references(topic)
        assert {k: v[0] for k, v in a.items()} == {k: v[0] for k, v in b.items()}
        # soft sums: the same terms, added in another order (old and new keys apart)
        for k, (_, soft) in a.items():
            assert soft == pytest.approx(b[k][1])


def test_a_topic_key_with_many_series_keeps_every_value_small():
    """Hostile names: 200 series, each with many label sets, in one topic key
    and bucket. Every state value stays far below Kafka's 1 MB message limit
    (one changelog message each) and every count is still exact."""
    import itertools
    import json

    w = Windows({}, CFG)
    labels = [f"label{i}" for i in range(11)]
    sets = [c for r in (1, 2, 3) for c in itertools.combinations(labels, r)][:120]
    expected = Counter()
    for s in range(200):
        series = Series("lm", model=f"m{s}", steering="d")
        for labs in sets:
            w.add(Observation(series, "t1", 5, {"emotion": labs}, {"emotion": (0.5,) * 11}))
            expected[(series.id, set_key(labs))] += 1
    sizes = [len(json.dumps(v)) for k, v in w.table.items() if k.startswith("tb|")]
    assert len(sizes) == 25 and max(sizes) < 200_000
    totals = w.totals("t1", BUCKET, BUCKET)
    assert {(sid, sk): n for (sid, _), (c, _) in totals.items() for sk, n in c.items()} == expected
