"""The idle tail's timing without a broker: a check once per idle second, none
while busy, none while the state is unsettled (streams.kafka.stages.idle_tail)."""

from __future__ import annotations

import asyncio

from streams.kafka.stages.idle_tail import IdleTail
from tests.kafka.stages.memory_io import MemoryIO


def test_due_once_per_idle_second():
    tail = IdleTail(MemoryIO(), {"affect-scores"}, gaps=None, within=0.25)  # type: ignore[arg-type]
    assert tail.idle_batches == 4
    due = [tail.due(busy=False) for _ in range(12)]
    assert due == [False, False, False, True] * 3
    assert not tail.due(busy=True) and [tail.due(busy=False) for _ in range(4)] == [False, False, False, True]


def test_no_read_while_unsettled():
    io = MemoryIO()
    io.is_settled = False
    tail = IdleTail(io, {"affect-scores"}, gaps=None, within=0.5)  # type: ignore[arg-type]  # a read would fail

    async def go() -> list:
        return [await tail.check(busy=False) for _ in range(6)]

    assert asyncio.run(go()) == [[]] * 6 and tail.held_since is not None
