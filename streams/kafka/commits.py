"""Offsets are committed only past records that were processed (the rule that
``streams.kafka.faust_patches`` puts in place of faust's).

faust decides what to commit in its consumer's new-offset rule: the first run of
consecutive acked offsets. Three of its rules can commit past a record that
never reached an agent (a record dropped while the flow was suspended during a
rebalance, the takeover loss of issue 14):

- an offset gap it saw while fetching is counted as acked (meant for
  transaction markers and compaction, but a record faust dropped makes the
  same gap);
- a run of acks may start one offset *after* the committed one (its check is
  ``min(acked) - committed > 1``, off by one);
- with no committed offset, or a committed offset of 0 (falsy), there is no
  check at all, so a new worker that dropped the first records of a partition
  commits past them and nothing ever reads them again.

``exact_new_offset`` commits a run only if it starts exactly at the committed
offset, or, when faust knows none, at the start ``floor`` the gap filler found
(the broker's committed offset, or the partition's first offset). Records that
were dropped leave a hole the commit cannot pass; the gap filler reads the
hole directly, and ``ack_ranges`` marks all its offsets acked once its records
are processed (offsets without a record, such as transaction markers, with them).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

Floors = MutableMapping[tuple[str, int], int]
Ranges = list[tuple[str, int, int, int]]  # (topic, partition, start, end): offsets read directly, all accounted for
FLOOR_ATTR = "affectwatch_floors"  # on the faust app: (topic, partition) -> first offset to process


def exact_new_offset(acked: list[int], committed: int | None, floor: int | None) -> tuple[int | None, int]:
    """The offset to commit for one partition (None: nothing yet), and how many
    of the sorted ``acked`` offsets (from the front) that commit covers and
    may be forgotten. ``acked`` is sorted in place."""
    acked.sort()
    # faust stores a committed 0 as None: then the floor the gap filler found says where to start.
    start = committed if committed or floor is None else floor
    if start is None or not acked:
        return None, 0
    drop = 0
    while drop < len(acked) and acked[drop] < start:  # acks behind the commit: already covered
        drop += 1
    if drop == len(acked) or acked[drop] != start:
        return None, drop  # a hole at the head: a record not processed yet
    end = drop
    while end + 1 < len(acked) and acked[end + 1] <= acked[end] + 1:
        end += 1
    return acked[end] + 1, end + 1


@dataclass(eq=False)
class DirectMessage:
    """What ``Consumer.ack`` reads of a message, for a record the gap filler
    read directly (hashable by identity, as faust keeps unacked ones in a set)."""

    topic: str
    partition: int
    offset: int
    acked: bool = False
    tp: Any = field(init=False)

    def __post_init__(self) -> None:
        from faust.types import TP

        self.tp = TP(self.topic, self.partition)


def ack_ranges(app: Any, ranges: Ranges, generation: int) -> int:
    """Acks every offset of ranges read directly (``GapFiller.take_ranges``)
    once their records are processed, so that faust's commits can pass them;
    offsets without a record (transaction markers) are acked with them.
    Skipped after a rebalance (``generation`` changed) or for a partition no
    longer owned: its next owner reads them again, and every state update is
    idempotent. Returns how many offsets were acked."""
    if not ranges or app.consumer_generation_id != generation:
        return 0
    owned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
    n = 0
    for topic, partition, start, end in ranges:
        if (topic, partition) in owned:
            for offset in range(start, end):
                n += bool(app.consumer.ack(DirectMessage(topic, partition, offset)))
    return n
