"""The classifier in child processes, for the Kafka worker; they heal.

In one process, onnxruntime's threads must take the GIL at the start and end of
every call, and the worker's event loop holds it most of the time under load:
each call then waits for the loop to let go, and the classifier ran at half
its speed. A child process has a GIL of its own. Same graph, same per-text
calls, so the same scores.

A child that dies (the kernel's OOM killer picks the largest process) breaks
the pool: every call in flight fails at once. One that hangs (a frozen
process) answers nothing. Either way the pool is replaced by a new one and the
calls are made again, so the batches they held are classified and nothing is
counted twice (the caller has not counted them yet). When new processes cannot
be started, ``ClassifierUnavailable`` says so: an infrastructure fault, on which
the worker exits for its supervisor to restart it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as CallTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from models.classifier import Classifier

log = logging.getLogger(__name__)
_child: Classifier | None = None


class ClassifierUnavailable(RuntimeError):
    """The classifier's processes died or hung and could not be replaced."""


def _start(kwargs: dict[str, Any], nice: int) -> None:
    global _child
    if nice:
        os.nice(nice)
    _child = Classifier(**kwargs)


def _describe() -> tuple[str, dict[str, np.ndarray], str]:
    assert _child is not None
    return _child.version, _child.thresholds, _child.sha256


def _predict(texts: list[object]) -> tuple:
    assert _child is not None
    return _child.predict(texts)


class ClassifierProcess:
    """``Classifier``'s interface (``predict``, ``version``, ``thresholds``),
    served by child processes started with ``spawn`` (forking a process that
    already runs threads is unsafe; scripts that use it need the usual
    ``if __name__ == "__main__"`` guard).

    With several processes each runs one onnxruntime thread and takes whole
    calls, so two batches are classified side by side and no core waits at the
    end of a batch for its slowest text; the caller keeps that many calls in
    flight (``AFFECTWATCH_CLASSIFIER_BATCHES_AHEAD``).

    A call that gets no answer within ``timeout`` seconds, or whose process
    died, is made again on new processes, at most ``retries`` times;
    ``on_restart`` is called at each replacement (the worker counts them)."""

    def __init__(self, processes: int = 1, nice: int = 0, timeout: float = 60.0, retries: int = 3,
                 on_restart: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        if processes > 1:
            kwargs = {**kwargs, "threads": 1}
        self.processes, self.nice, self.kwargs = processes, nice, kwargs
        self.timeout, self.retries = timeout, retries
        self.on_restart = on_restart or (lambda reason: None)
        self.restarts = 0
        self._lock = threading.Lock()  # two calls that find the pool broken replace it once
        self._pool = self._new_pool()
        self.version, self.thresholds, self.sha256 = self._describe_all(self._pool)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start, initargs=(self.kwargs, self.nice))

    def _describe_all(self, pool: ProcessPoolExecutor) -> tuple[str, dict[str, np.ndarray], str]:
        # One call per process at once starts them all now, not mid-stream.
        answers = [f.result() for f in [pool.submit(_describe) for _ in range(self.processes)]]
        return answers[0]

    def pids(self) -> list[int]:
        """The processes now serving (for a test or an operator)."""
        return sorted(self._pool._processes or {})  # the stdlib keeps them there (since 3.2)

    def _replace(self, broken: ProcessPoolExecutor, reason: str) -> None:
        with self._lock:
            if self._pool is not broken:  # another call replaced it already
                return
            log.error("a classifier process %s: starting %d new ones and classifying its batches again",
                      reason, self.processes)
            for process in list((broken._processes or {}).values()):
                if process.is_alive():
                    process.kill()  # a frozen one too: SIGKILL needs no cooperation
            broken.shutdown(wait=False, cancel_futures=True)
            started = time.monotonic()
            pool = self._new_pool()
            try:
                self._describe_all(pool)
            except Exception as exc:
                pool.shutdown(wait=False, cancel_futures=True)
                raise ClassifierUnavailable(f"new classifier processes failed to start: {exc!r}") from exc
            self._pool = pool
            self.restarts += 1
            log.warning("classifier processes replaced in %.1f s", time.monotonic() - started)
        self.on_restart(reason)

    def predict(self, texts: Sequence[object]) -> tuple:
        batch = list(texts)
        for _ in range(self.retries + 1):
            pool = self._pool
            try:
                return pool.submit(_predict, batch).result(timeout=self.timeout)
            except BrokenProcessPool:
                self._replace(pool, "died (killed, or out of memory)")
            except CallTimeout:
                self._replace(pool, f"answered nothing for {self.timeout:.0f} s (hung or frozen)")
            except RuntimeError as exc:  # submit after a shutdown by another call's replacement: try the new pool
                if "shutdown" not in str(exc):
                    raise
        raise ClassifierUnavailable(f"the classifier failed {self.retries + 1} times in a row")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
