"""The agents' guard against half-restored tables reads faust's own restore
bookkeeping (a real faust app and its Recovery service; no broker is needed
to build them). If a faust upgrade renames what it reads, these fail."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.types import TP

from streams.kafka.restore import restore_pending, state_settled, wait_restored


@pytest.fixture
def app() -> faust.App:
    return faust.App("restore-test", broker="kafka://127.0.0.1:1", store="memory://")


def test_pending_until_every_active_changelog_partition_is_restored(app):
    rec = app.tables.recovery
    assert restore_pending(app)  # no recovery has completed yet
    rec.completed.set()
    assert not restore_pending(app) and state_settled(app)
    tp = TP("aw-windows-changelog", 3)
    rec.active_tps.add(tp)
    assert restore_pending(app)  # newly active, its highwater not read yet ("Worker ready" came first)
    rec.active_highwaters[tp] = 10
    rec.active_offsets[tp] = 4
    assert restore_pending(app)  # six changes still to restore
    rec.active_offsets[tp] = 10
    assert not restore_pending(app)
    rec.signal_recovery_start.set()  # a rebalance asked for a recovery that has not begun
    assert restore_pending(app)
    rec.signal_recovery_start.clear()
    app.in_recovery = True
    assert restore_pending(app)
    app.in_recovery = False
    app.rebalancing = True
    assert not restore_pending(app) and not state_settled(app)


def test_waiting_ends_with_the_restore_and_gives_way_to_a_new_rebalance(app):
    rec = app.tables.recovery

    async def finish_later() -> None:
        await asyncio.sleep(0.1)
        rec.completed.set()

    async def both() -> list:
        return await asyncio.gather(wait_restored(app, poll=0.01), finish_later())

    assert asyncio.run(both())[0] is True
    assert not restore_pending(app)
    rec.completed.clear()
    app.rebalancing = True  # the restore runs inside a rebalance: waiting goes on

    async def another_rebalance() -> None:
        await asyncio.sleep(0.1)
        app.rebalancing_count += 1

    async def interrupted() -> list:
        return await asyncio.gather(wait_restored(app, poll=0.01), another_rebalance())

    assert asyncio.run(interrupted())[0] is False  # a new rebalance waits for these events: go on
    assert restore_pending(app)
