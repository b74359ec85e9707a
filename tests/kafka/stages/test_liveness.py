"""Liveness that means progress (streams.kafka.stages.liveness), on a clock the test moves."""

from __future__ import annotations

import asyncio

import pytest

from streams.kafka.stages.liveness import Liveness, watch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_a_stage_with_work_waiting_and_no_progress_is_stalled():
    clock = Clock()
    live = Liveness(stall_seconds=60, exit_seconds=300, clock=clock)
    clock.now += 500
    assert live.stalled() == {}  # idle for 500 s: nothing waits, nothing is stalled
    live.waiting("score", True)
    clock.now += 59
    assert live.stalled() == {}
    for _ in range(10):  # busy and moving: never stalled
        clock.now += 30
        live.moved("score")
    assert live.stalled() == {}
    clock.now += 61
    assert live.stalled() == {"score": pytest.approx(61)}
    assert live.beyond_help() == {}
    clock.now += 240
    assert set(live.beyond_help()) == {"score"}
    live.moved("score")
    assert live.stalled() == {}
    live.waiting("score", False)
    clock.now += 1000
    assert live.stalled_for()["score"] == 0


def test_exit_off_never_gives_up():
    clock = Clock()
    live = Liveness(stall_seconds=1, exit_seconds=0, clock=clock)
    live.waiting("aggregate", True)
    clock.now += 10_000
    assert set(live.stalled()) == {"aggregate"} and live.beyond_help() == {}


def test_the_watch_reports_a_rebalance_that_never_ends():
    clock = Clock()
    live = Liveness(stall_seconds=5, exit_seconds=0, clock=clock)
    reports: list[dict[str, float]] = []

    def report(stalled: dict[str, float]) -> None:
        reports.append(stalled)
        clock.now += 3

    async def go() -> None:
        await watch(live, rebalancing=lambda: True, report=report, should_stop=lambda: len(reports) >= 4, every=0)

    asyncio.run(go())
    assert reports[0]["rebalance"] == 0 and reports[-1]["rebalance"] == pytest.approx(9)
    assert set(live.stalled()) == {"rebalance"}


def test_a_pause_past_the_lease_ends_the_worker_before_it_writes():
    from streams.kafka.stages.liveness import Lease

    clock, ended = Clock(), []
    lease = Lease(limit=4, clock=clock, end=ended.append)
    clock.now += 100
    lease.check()  # start-up (no tick yet) is no pause
    lease.tick()
    for _ in range(20):  # ticking every 0.25 s: held
        clock.now += 0.25
        lease.tick()
    clock.now += 3.9
    lease.check()
    assert ended == []
    clock.now += 15  # frozen past the lease: the first check after it ends the worker
    lease.check()
    assert ended == [pytest.approx(18.9)]
