"""What the worker's stages share: the settings, the core, the state caches and
one ``WorkerIO``, the only way a stage reaches faust and the broker.

``FaustIO`` is the real one (``streams.kafka.worker`` builds it from the faust
app); the stages' unit tests give them an in-memory one, so a stage's logic is
tested without a broker and the real-broker tests cover ``FaustIO``.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import TopicPartition

from streams.core.records import DeadLetter
from streams.kafka import faust_patches
from streams.kafka.commits import Ranges, ack_ranges
from streams.kafka.direct import InFlight
from streams.kafka.restore import restore_pending, state_settled, wait_restored
from streams.kafka.stages.liveness import Lease, Liveness
from streams.kafka.writeback import WriteBack
from streams.observe.metrics import Metrics
from streams.settings import Settings
from streams.wiring import Core

# The channels a stage sends to (each a Kafka topic named in the settings).
SCORES, DEAD_LETTERS, VIOLATIONS, SNAPSHOTS = "scores", "dead-letters", "violations", "snapshots"


class Mark(Protocol):
    def release(self) -> None: ...


class WorkerIO(Protocol):
    """faust and the broker, as the stages use them."""

    @property
    def should_stop(self) -> bool: ...

    @property
    def generation(self) -> int:
        """The consumer group's rebalance generation now."""
        ...

    def settled(self) -> bool:
        """No rebalance and no table restore under way: table state is whole."""
        ...

    def state(self) -> dict[str, bool]:
        """What holds the state unsettled: a rebalance, a restore."""
        ...

    async def wait_restored(self) -> None: ...

    def owned(self, topics: Collection[str]) -> list[TopicPartition]:
        """This worker's partitions of ``topics`` now."""
        ...

    async def send(self, channel: str, key: bytes, value: Any) -> Any:
        """Sends a message; returns the future of its delivery."""
        ...

    def ack(self, ranges: Ranges, generation: int) -> None:
        """Marks offset ranges processed, so commits may pass them (not after a rebalance)."""
        ...

    def hold(self, records: int) -> Mark:
        """A mark that a rebalance waits for until it is released: records taken and not settled."""
        ...

    async def delivered(self, table: str) -> None:
        """Waits until the table's changelog writes so far are on the broker."""
        ...

    def set_current_event(self, event: Any) -> None:
        """Table writes that follow go to ``event``'s changelog partition."""
        ...

    def current_event_ref(self) -> Any: ...

    def restore_current_event(self, ref: Any) -> None: ...

    def table_snapshot(self, table: str) -> dict[str, bytes]:
        """A copy of a table's values (JSON bytes) as they are now."""
        ...

    async def lag(self, topics: Collection[str]) -> dict[TopicPartition, int]:
        """Records between the end of each owned partition of ``topics`` and the consumer's position."""
        ...


class FaustIO:
    """``WorkerIO`` over a faust app, its topics (by channel) and its tables (by name)."""

    def __init__(self, app: Any, channels: dict[str, Any], tables: dict[str, Any]) -> None:
        self.app, self.channels, self.tables = app, channels, tables
        # Called per record: faust_patches' functions themselves, without a method in between.
        self.set_current_event = faust_patches.set_current_event
        self.current_event_ref = faust_patches.current_event_ref
        self.restore_current_event = faust_patches.restore_current_event

    @property
    def should_stop(self) -> bool:
        return bool(self.app.should_stop)

    @property
    def generation(self) -> int:
        return self.app.consumer_generation_id

    def settled(self) -> bool:
        return state_settled(self.app)

    def state(self) -> dict[str, bool]:
        return {"rebalancing": bool(self.app.rebalancing), "restore_pending": restore_pending(self.app)}

    async def wait_restored(self) -> None:
        await wait_restored(self.app)

    def owned(self, topics: Collection[str]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition) for tp in self.app.consumer.assignment() if tp.topic in topics]

    async def send(self, channel: str, key: bytes, value: Any) -> Any:
        return await self.channels[channel].send(key=key, value=value)

    def ack(self, ranges: Ranges, generation: int) -> None:
        ack_ranges(self.app, ranges, generation)

    def hold(self, records: int) -> Mark:
        return InFlight(self.app.consumer, records)

    async def delivered(self, table: str) -> None:
        await self.tables[table].delivered()

    def table_snapshot(self, table: str) -> dict[str, bytes]:
        return dict(self.tables[table].items())

    async def lag(self, topics: Collection[str]) -> dict[TopicPartition, int]:
        consumer, out = self.app.consumer, {}
        for tp in consumer.assignment():
            if tp.topic not in topics:
                continue
            try:
                pos = await consumer.position(tp)
                high = consumer.highwater(tp)
            except Exception:  # lag is best-effort: never let it stop the figures
                continue
            if pos is not None and high is not None:
                out[TopicPartition(tp.topic, tp.partition)] = max(0, high - pos)
        return out


@dataclass(eq=False)
class WorkerContext:
    """One worker's shared parts; each stage takes it and nothing else of the worker."""

    settings: Settings
    core: Core
    io: WorkerIO
    executor: Executor  # runs the classifier calls (which wait on the classifier processes)
    authors: WriteBack  # the authors table, written once per changed author per batch
    windows: WriteBack  # the windows table, kept between rebalances (only the aggregation writes it)
    worker_id: str
    figures_at: float = 0.0  # wall time of the last published figures (``/ready`` shows it)
    input_topics: frozenset[str] = field(init=False)
    liveness: Liveness = field(init=False)  # which stage has work waiting and makes no progress
    lease: Lease = field(init=False)  # no state from before a pause longer than the group waits

    def __post_init__(self) -> None:
        w, k = self.settings.worker, self.settings.kafka
        self.liveness = Liveness(w.stall_seconds, w.stall_exit_seconds)
        # The group may evict a member that sent no heartbeat for the session timeout; its last one
        # was up to a heartbeat interval before a pause began.
        self.lease = Lease(max(k.heartbeat_seconds, k.session_timeout_seconds - 2 * k.heartbeat_seconds))
        self.input_topics = frozenset({self.settings.kafka.topic_posts, self.settings.kafka.topic_responses})

    @property
    def metrics(self) -> Metrics:
        return self.core.metrics

    def in_range(self, ms: int) -> bool:
        """Whether an event time is inside a backfill run's --from/--to (always, live)."""
        w = self.settings.worker
        return (w.backfill_from_ms is None or ms >= w.backfill_from_ms) and (
            w.backfill_to_ms is None or ms < w.backfill_to_ms)

    async def reject(self, dead: DeadLetter) -> Any:
        """Sends a dead letter, keyed by its source offset (so a compacted topic or
        a reader keeps one per offset); returns the delivery future to await before acking."""
        self.metrics.record_rejected(dead.reason)
        src = dead.source
        key = "/".join(str(src.get(k)) for k in ("topic", "partition", "offset", "index") if k in src).encode()
        return await self.io.send(DEAD_LETTERS, key, dead.to_dict(self.settings.limits.dead_letter_max_raw_bytes))
