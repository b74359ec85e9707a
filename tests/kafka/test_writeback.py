"""The per-batch write-back cache: same state as writing through, and exact
after a crash in the middle of a flush."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.windows import Windows
from streams.kafka.writeback import WriteBack
from tests.core.test_windows import CFG, Crash, CrashingTable, events, obs

ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from("abcde"), st.integers(0, 9)),
        st.tuples(st.just("del"), st.sampled_from("abcde"), st.just(0)),
        st.tuples(st.just("get"), st.sampled_from("abcde"), st.just(0)),
        st.tuples(st.just("keys"), st.just(""), st.just(0)),
        st.tuples(st.just("flush"), st.just(""), st.just(0)),
        st.tuples(st.just("rebalance"), st.sampled_from("abcde"), st.integers(0, 9)),
    ),
    max_size=60,
)


@given(ops, st.dictionaries(st.sampled_from("abcde"), st.integers(0, 9).map(lambda n: {"n": n})), st.booleans(),
       st.integers(1, 6))
@settings(max_examples=400, deadline=None)
def test_reads_and_writes_match_a_plain_dict(seq, start, keep, max_keys):
    """Also when values are kept across flushes, and the table is changed
    behind the cache at a rebalance (the worker calls ``forget`` then)."""
    plain, table = dict(start), dict(start)
    cache = WriteBack(table, keep=keep, max_keys=max_keys)
    for op, key, n in seq:
        if op == "rebalance":
            cache.flush()
            plain[key] = table[key] = {"n": 100 + n}  # restored from a changelog another worker wrote
            cache.forget()
            continue
        if op == "set":
            plain[key] = cache[key] = {"n": n}
        elif op == "del":
            assert (key in plain) == (cache.get(key) is not None)
            if key in plain:
                del plain[key]
                del cache[key]
        elif op == "get":
            assert cache.get(key) == plain.get(key)
        elif op == "keys":
            assert sorted(cache.keys()) == sorted(plain)
            assert len(cache) == len(plain)
        else:
            cache.flush()
            assert table == plain
    cache.flush()
    assert table == plain and cache.dirty == 0


def test_each_changed_key_is_written_once_per_flush_and_watermarks_last():
    writes: list[str] = []

    class Recording(dict):
        def __setitem__(self, key, value):
            writes.append(key)
            super().__setitem__(key, value)

    w = Windows(WriteBack(Recording()), CFG)
    for t in range(50):
        w.add(obs(t * 1000, t % 2, "t1", {"x"}), ("scores/0", t))
    assert writes == []
    w.table.flush()
    assert len(writes) == len(set(writes))
    assert [k[:2] for k in writes].index("w|") == len(writes) - 1


def test_flush_hands_back_the_token_of_each_keys_last_write():
    current = {"event": "e1"}
    cache = WriteBack({}, lambda: current["event"])
    cache["a"] = {"n": 1}
    current["event"] = "e2"
    cache["b"] = {"n": 1}
    cache["a"] = {"n": 2}
    seen = []
    cache.flush(seen.append)
    assert seen == ["e2", "e2"]


@given(events, st.integers(1, 40), st.integers(0, 600), st.integers(0, 60))
@settings(max_examples=200, deadline=None)
def test_crash_during_a_flush_then_replay_gives_exact_counts(evts, batch, crash_after, rewind):
    """Batches go through the cache; the table (the changelog) takes a limited
    number of writes and then the worker dies mid-flush. The restarted worker
    replays from the first record of the unfinished batch, or earlier (offsets
    are committed only after a flush); the state equals a clean run's."""
    msgs = [(obs(*e), ("scores/0", i)) for i, e in enumerate(evts)]
    cfg = replace(CFG, expected_sources=1)
    clean = Windows({}, cfg)
    for o, origin in msgs:
        clean.add(o, origin)
        clean.add(replace(o, subject="all"), origin)
    table = CrashingTable(crash_after)
    w = Windows(WriteBack(table), cfg)
    committed = 0
    try:
        for start in range(0, len(msgs), batch):
            for o, origin in msgs[start : start + batch]:
                w.add(o, origin)
                w.add(replace(o, subject="all"), origin)
            w.table.flush()
            committed = start + batch
    except Crash:
        pass
    recovered = Windows(WriteBack(dict(table)), cfg)
    for o, origin in msgs[max(0, committed - rewind) :]:
        recovered.add(o, origin)
        recovered.add(replace(o, subject="all"), origin)
    recovered.table.flush()
    strip = lambda t: {k: {f: v for f, v in val.items() if f != "hw"} for k, val in t.items()}  # noqa: E731
    assert strip(recovered.table.table) == strip(clean.table)


def test_kept_values_are_read_from_the_cache_until_forgotten():
    reads: list[str] = []

    class Counting(dict):
        def get(self, key, default=None):
            reads.append(key)
            return super().get(key, default)

    table = Counting(a={"n": 1})
    cache = WriteBack(table, keep=True)
    cache["b"] = {"n": cache["a"]["n"] + 1}
    del cache["a"]
    cache.flush()
    assert reads == ["a"] and dict(table) == {"b": {"n": 2}}
    assert cache.get("b") == {"n": 2} and reads == ["a"]  # kept: the table is not read
    assert cache.get("a") is None and reads == ["a", "a"]  # a deleted key is not kept
    dict.__setitem__(table, "b", {"n": 7})  # written behind the cache: a rebalance restored it
    cache.forget()
    assert cache.get("b") == {"n": 7}
    cache["c"] = {"n": 0}
    with pytest.raises(RuntimeError, match="unflushed"):
        cache.forget()
