"""The classifier in a child process, for the Kafka worker.

In one process, onnxruntime's threads must take the GIL at the start and end of
every call, and the worker's event loop holds it most of the time under load:
each call then waits for the loop to let go, and the classifier ran at half
its speed. A child process has a GIL of its own. Same graph, same per-text
calls, so the same scores.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from models.classifier import Classifier

_child: Classifier | None = None


def _start(kwargs: dict[str, Any]) -> None:
    global _child
    _child = Classifier(**kwargs)


def _describe() -> tuple[str, dict[str, np.ndarray], str]:
    assert _child is not None
    return _child.version, _child.thresholds, _child.sha256


def _predict(texts: list[object]) -> tuple:
    assert _child is not None
    return _child.predict(texts)


class ClassifierProcess:
    """``Classifier``'s interface (``predict``, ``version``, ``thresholds``),
    served by one child process started with ``spawn`` (forking a process that
    already runs threads is unsafe)."""

    def __init__(self, **kwargs: Any) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                                         initargs=(kwargs,))
        self.version, self.thresholds, self.sha256 = self._pool.submit(_describe).result()

    def predict(self, texts: Sequence[object]) -> tuple:
        return self._pool.submit(_predict, list(texts)).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
