"""The classifier in a child process, for the Kafka worker.

In one process, onnxruntime's threads must take the GIL at the start and end of
every call, and the worker's event loop holds it most of the time under load:
each call then waits for the loop to let go, and the classifier ran at half
its speed. A child process has a GIL of its own. Same graph, same per-text
calls, so the same scores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from models.classifier import Classifier

_child: Classifier | None = None


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
    flight (``AFFECTWATCH_CLASSIFIER_BATCHES_AHEAD``)."""

    def __init__(self, processes: int = 1, nice: int = 0, **kwargs: Any) -> None:
        if processes > 1:
            kwargs = {**kwargs, "threads": 1}
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(kwargs, nice))
        # One call per process at once starts them all now, not mid-stream.
        described = [self._pool.submit(_describe) for _ in range(processes)]
        answers = [f.result() for f in described]
        self.version, self.thresholds, self.sha256 = answers[0]

    def predict(self, texts: Sequence[object]) -> tuple:
        return self._pool.submit(_predict, list(texts)).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
