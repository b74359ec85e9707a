"""Whether faust is restoring table state, which no agent may read meanwhile.

faust can declare a rebalance over and the worker ready (``completed`` set,
``rebalancing`` false, "Worker ready" in the log) before it has even read the
highwaters of the changelog partitions it just made active, let alone
restored them; it resumes the streams at that point. Seen in a chaos run
(issue 14): the idle tail read a score directly 0.5 s after "Worker ready",
while the windows changelog was still being restored, and the topic key's
bucket value written from that half-restored table lost one record for good.
So the agents look at faust's own restore bookkeeping, not at its flags alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger(__name__)


def restore_pending(app: Any) -> bool:
    """A restore of this worker's active changelog partitions is under way or
    has not been evaluated yet for the current assignment."""
    rec = app.tables.recovery
    return bool(
        app.in_recovery
        or not rec.completed.is_set()
        or rec.signal_recovery_start.is_set()  # a rebalance asked for a recovery not yet begun
        or any(tp not in rec.active_highwaters for tp in rec.active_tps)  # highwaters not read yet
        or rec.need_recovery()
    )


def state_settled(app: Any) -> bool:
    """No rebalance and no restore: table state is whole."""
    return not app.rebalancing and not restore_pending(app)


async def wait_restored(app: Any, poll: float = 0.05, say_every: float = 30.0) -> bool:
    """Waits while a restore is pending; True once it is done.

    Gives up (False, and a warning) when another rebalance starts meanwhile:
    faust's rebalance waits for the events an agent holds to be acked, and
    the restore waits for the rebalance, so waiting on would never end. The
    events then go on as they did before this guard (the restore itself runs
    inside a rebalance, so ``rebalancing`` is true throughout: only a new one
    counts)."""
    rebalances = app.rebalancing_count
    started = time.monotonic()
    said = started
    while restore_pending(app):
        if app.rebalancing_count != rebalances:
            log.warning("a rebalance began while events waited %.1f s for a table restore; going on",
                        time.monotonic() - started)
            return False
        if time.monotonic() - said >= say_every:
            said = time.monotonic()
            log.warning("events have waited %.0f s for a table restore", said - started)
        await asyncio.sleep(poll)
    return True
