"""The worker's figures, computed in a child process.

In a thread of the worker, a refresh competes for the GIL with the event loop:
under load a refresh that takes 0.2-0.8 s on a quiet worker took 2.4-3.1 s,
and every record waited for it on its way to the published figures. A child
process has a GIL of its own. It keeps one ``FigureMaker``, so the memoized
significance tests of one refresh serve the next, as they do in a thread.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from streams.core.figures import FigureMaker, Figures
from streams.core.windows import WindowConfig, Windows
from streams.kafka.tables import decode_values

_maker: FigureMaker | None = None
_cfg: WindowConfig | None = None


def _start(maker: FigureMaker, cfg: WindowConfig) -> None:
    global _maker, _cfg
    _maker, _cfg = maker, cfg


def _compute(snapshot: dict[str, bytes]) -> Figures:
    assert _maker is not None and _cfg is not None
    return _maker.compute(Windows(decode_values(snapshot), _cfg))


def _ready() -> bool:
    return _maker is not None


class FiguresProcess:
    """``compute(snapshot)`` in one child process started with ``spawn``; the
    snapshot is the windows table as it is stored (JSON bytes), decoded there."""

    def __init__(self, maker: FigureMaker, cfg: WindowConfig) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(maker, cfg))
        self._pool.submit(_ready).result()  # started now, not at the first refresh

    async def compute(self, snapshot: dict[str, bytes]) -> Any:
        return await asyncio.wrap_future(self._pool.submit(_compute, snapshot))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
