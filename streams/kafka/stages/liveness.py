"""Liveness that means progress: which stage has work waiting and makes none.

Each stage says when it moves (a batch settled, a batch counted, a rebalance
over) and whether work is waiting for it (batches held, records behind the end
of its partitions, a rebalance under way). A stage with work waiting that has
not moved for ``stall_seconds`` is stalled: ``/live`` and ``/ready`` answer 503
and ``affectwatch_stage_stalled_seconds`` says which stage and for how long.
Past ``exit_seconds`` the worker exits non-zero with one log line, so that its
supervisor restarts it onto its committed offsets (a restart is exact, as a
``kill -9`` is). A stage with nothing waiting is idle, not stalled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

STAGES = ("score", "aggregate", "rebalance")


@dataclass
class StageClock:
    moved_at: float
    waiting_since: float | None = None  # when work began waiting since the last move


@dataclass
class Liveness:
    stall_seconds: float
    exit_seconds: float  # 0: never exit
    clock: Callable[[], float] = time.monotonic
    stages: dict[str, StageClock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.clock()
        self.stages = {name: StageClock(now) for name in STAGES}

    def moved(self, stage: str) -> None:
        clock = self.stages[stage]
        clock.moved_at = self.clock()
        if clock.waiting_since is not None:
            clock.waiting_since = clock.moved_at

    def waiting(self, stage: str, waiting: bool) -> None:
        clock = self.stages[stage]
        if not waiting:
            clock.waiting_since = None
        elif clock.waiting_since is None:
            clock.waiting_since = self.clock()

    def stalled_for(self) -> dict[str, float]:
        """Seconds each stage has had work waiting without moving (0: fine or idle)."""
        now = self.clock()
        out = {}
        for name, clock in self.stages.items():
            if clock.waiting_since is None:
                out[name] = 0.0
            else:
                out[name] = max(0.0, now - max(clock.waiting_since, clock.moved_at))
        return out

    def stalled(self) -> dict[str, float]:
        """The stages stalled past ``stall_seconds``, with their seconds."""
        return {name: s for name, s in self.stalled_for().items() if s >= self.stall_seconds}

    def beyond_help(self) -> dict[str, float]:
        """The stages stalled past ``exit_seconds`` (none when exiting is off)."""
        if not self.exit_seconds:
            return {}
        return {name: s for name, s in self.stalled_for().items() if s >= self.exit_seconds}


EXIT_STALLED = 70  # EX_SOFTWARE: a supervisor restarts on any non-zero exit


async def watch(liveness: Liveness, rebalancing: Callable[[], bool], report: Callable[[dict[str, float]], None],
                should_stop: Callable[[], bool], every: float = 1.0) -> None:
    """Every ``every`` seconds: the rebalance's progress, the stalled seconds to ``report``, and the
    exit of a worker whose stage is stalled past help (one log line, then ``os._exit``: a stalled loop
    may never finish a clean stop, and a restart onto the committed offsets is exact, as after kill -9)."""
    import asyncio
    import logging

    log = logging.getLogger(__name__)
    while not should_stop():
        busy = rebalancing()
        liveness.waiting("rebalance", busy)
        if not busy:
            liveness.moved("rebalance")
        report(liveness.stalled_for())
        if stuck := liveness.beyond_help():
            stage, seconds = max(stuck.items(), key=lambda kv: kv[1])
            log.critical("stage %s has had work waiting and made no progress for %.0f s: exiting (%d) so that a "
                         "supervisor restarts this worker onto its committed offsets", stage, seconds, EXIT_STALLED)
            exit_now()
        await asyncio.sleep(every)


class Lease:
    """A worker acts on its partitions' state only while it has not been paused for longer than the
    group would wait for it.

    A process frozen past its session timeout (SIGSTOP, a VM paused for live migration, a cgroup
    frozen, a long stall) has lost its partitions to another worker by the time it runs again, but
    its batches, caches and buffered writes are from before: written now, they would overwrite the
    other worker's newer state, and the records it counted meanwhile would be lost. The monotonic
    clock runs on while a process is frozen, so the gap since the last tick shows the pause: the
    first tick, stage write or SIGCONT that sees a gap longer than ``limit`` ends the worker at once,
    before any of that state is written, and its supervisor restarts it onto its committed offsets,
    with its tables rebuilt from the changelogs (an unclean stop), as after kill -9."""

    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic,
                 end: Callable[[float], None] | None = None) -> None:
        self.limit, self.clock = limit, clock
        self.end = end or _exit_paused
        self.ticked: float | None = None  # held from the first tick on (start-up is no pause)

    def tick(self) -> None:
        self.check()
        self.ticked = self.clock()

    def check(self) -> None:
        """Ends the worker when it was paused past ``limit`` since the last tick."""
        if self.ticked is not None and (gap := self.clock() - self.ticked) > self.limit:
            self.end(gap)


def _exit_paused(gap: float) -> None:
    import logging

    logging.getLogger(__name__).critical(
        "this worker was paused for %.0f s, longer than its group waits for it: its partitions are another "
        "worker's now; exiting (%d) before acting on state from before the pause, for its supervisor to "
        "restart it onto its committed offsets", gap, EXIT_STALLED)
    exit_now()


def exit_now() -> None:
    """Ends the worker at once with ``EXIT_STALLED``, its child processes (the classifier's, the
    figures') first: orphaned, they would run on with nothing to serve."""
    import logging
    import multiprocessing
    import os

    for child in multiprocessing.active_children():
        child.kill()
    logging.shutdown()
    os._exit(EXIT_STALLED)
