"""The commit rule: an offset is committed only past records that were processed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.kafka.commits import exact_new_offset


def test_a_run_from_the_committed_offset_is_committed():
    acked = [32, 30, 31, 35]
    assert exact_new_offset(acked, 30, None) == (33, 3)
    assert acked == [30, 31, 32, 35]  # sorted in place; the caller drops the first 3


def test_faust_off_by_one_a_run_starting_after_the_committed_offset_waits():
    # faust's own rule commits 33 here, past record 30 that no agent processed
    assert exact_new_offset([31, 32], 30, None) == (None, 0)


def test_no_committed_offset_uses_the_floor_and_waits_without_one():
    # faust stores a committed 0, and "none yet", as None and then commits any run
    assert exact_new_offset([5, 6, 7], None, 0) == (None, 0)
    assert exact_new_offset([0, 1, 2], None, 0) == (3, 3)
    assert exact_new_offset([0, 1, 2], None, None) == (None, 0)
    assert exact_new_offset([120, 121], None, 120) == (122, 2)


def test_acks_behind_the_commit_are_dropped_and_a_hole_holds_the_commit():
    assert exact_new_offset([3, 4, 10, 12], 10, None) == (11, 3)
    assert exact_new_offset([3, 4, 12], 10, None) == (None, 2)


@given(st.sets(st.integers(0, 60)), st.integers(0, 30))
def test_never_commits_past_an_offset_that_was_not_acked(acked_set, start):
    offset, covered = exact_new_offset(sorted(acked_set), start, start)
    if offset is not None:
        assert all(o in acked_set for o in range(start, offset))
        assert offset not in acked_set
        assert covered == sum(1 for o in acked_set if o < offset)
