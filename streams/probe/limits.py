"""Request pacing for one endpoint: at most ``rate`` requests a second,
spread evenly (a request waits for its slot; thread-safe)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:  # book the next slot, then wait for it outside the lock
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self.sleep(wait)


def budget_window(now_s: float, window_seconds: int) -> int:
    """Start (epoch seconds) of the wall-clock budget window ``now_s`` is in."""
    return int(now_s) - int(now_s) % window_seconds
