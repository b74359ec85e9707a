"""An in-memory ``WorkerIO`` for the stages' unit tests: what a stage sends and
acks is recorded, deliveries complete at once, and the group's state is set by
the test. It stands in for faust's app (``FaustIO``), not for the broker's
behaviour, which the real-broker tests in tests/kafka cover."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from streams.kafka.commits import Ranges
from streams.kafka.gaps import GapEvent, GapMessage
from streams.kafka.stages.context import WorkerContext
from streams.kafka.writeback import WriteBack
from streams.settings import Settings
from streams.wiring import build_core


class HeldMark:
    def __init__(self, records: int) -> None:
        self.records, self.released = records, False

    def release(self) -> None:
        self.released = True


class MemoryIO:
    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[bytes, Any]]] = defaultdict(list)
        self.acked: list[tuple[Ranges, int]] = []
        self.generation = 1
        self.is_settled = True
        self.should_stop = False
        self.current: Any = None
        self.tables: dict[str, dict[str, bytes]] = defaultdict(dict)
        self.lags: dict[Any, int] = {}
        self.marks: list[HeldMark] = []  # what a rebalance would wait for, and whether it was released

    def settled(self) -> bool:
        return self.is_settled

    def state(self) -> dict[str, bool]:
        return {"rebalancing": not self.is_settled, "restore_pending": False}

    async def wait_restored(self) -> None:
        return None

    def owned(self, topics: Collection[str]) -> list[Any]:
        return []

    async def send(self, channel: str, key: bytes, value: Any) -> Any:
        self.sent[channel].append((key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def ack(self, ranges: Ranges, generation: int) -> None:
        if ranges and generation == self.generation:
            self.acked.append((ranges, generation))

    async def delivered(self, table: str) -> None:
        return None

    def hold(self, records: int) -> HeldMark:
        mark = HeldMark(records)
        self.marks.append(mark)
        return mark

    def set_current_event(self, event: Any) -> None:
        self.current = event

    def current_event_ref(self) -> Any:
        return self.current

    def restore_current_event(self, ref: Any) -> None:
        self.current = ref

    def table_snapshot(self, table: str) -> dict[str, bytes]:
        return dict(self.tables[table])

    async def lag(self, topics: Collection[str]) -> dict[Any, int]:
        return dict(self.lags)


def memory_context(settings: Settings, classifier: Any) -> tuple[WorkerContext, MemoryIO, dict, dict]:
    """A worker context on ``MemoryIO``, with plain dicts as the authors and windows tables."""
    io = MemoryIO()
    core = build_core(settings, classifier)
    authors: dict[str, dict] = {}
    windows: dict[str, dict] = {}
    ctx = WorkerContext(settings, core, io, executor=ThreadPoolExecutor(1), worker_id="test:1",
                        authors=WriteBack(authors, io.current_event_ref),
                        windows=WriteBack(windows, io.current_event_ref, keep=True))
    core.scorer.authors = ctx.authors
    core.aggregator.windows.table = ctx.windows
    return ctx, io, authors, windows


def event(topic: str, partition: int, offset: int, value: bytes | None) -> GapEvent:
    return GapEvent(GapMessage(topic, partition, offset, None, value), value)


def demo_lines(path: Path, n: int) -> list[bytes]:
    return path.read_bytes().splitlines()[:n]
