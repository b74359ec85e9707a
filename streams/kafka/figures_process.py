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

import orjson

from streams.core.figures import FigureMaker, Figures
from streams.core.windows import WindowConfig, Windows
from streams.kafka.tables import decode_values

_maker: FigureMaker | None = None
_cfg: WindowConfig | None = None


def _start(maker: FigureMaker, cfg: WindowConfig) -> None:
    global _maker, _cfg
    _maker, _cfg = maker, cfg


def computed(maker: FigureMaker, cfg: WindowConfig, snapshot: dict[str, bytes],
             head: dict[str, Any]) -> tuple[Figures, bytes | None]:
    """The figures of a stored windows table, and their ``drift-snapshots``
    message (``head`` first; None while there are no figures). Encoded here,
    off the event loop: ``Figures.to_dict`` was 4% of a busy worker's loop."""
    figs = maker.compute(Windows(decode_values(snapshot), cfg))
    if figs.end_ms is None:
        return figs, None
    # The options of faust's json serializer, which encoded these messages before.
    return figs, orjson.dumps({**head, **figs.to_dict()}, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


def _compute(snapshot: dict[str, bytes], head: dict[str, Any]) -> tuple[Figures, bytes | None]:
    assert _maker is not None and _cfg is not None
    return computed(_maker, _cfg, snapshot, head)


def _ready() -> bool:
    return _maker is not None


class FiguresProcess:
    """``compute(snapshot, head)`` (``computed``) in one child process started
    with ``spawn``; the snapshot is the windows table as it is stored (JSON
    bytes), decoded there."""

    def __init__(self, maker: FigureMaker, cfg: WindowConfig) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(maker, cfg))
        self._pool.submit(_ready).result()  # started now, not at the first refresh

    async def compute(self, snapshot: dict[str, bytes], head: dict[str, Any]) -> tuple[Figures, bytes | None]:
        return await asyncio.wrap_future(self._pool.submit(_compute, snapshot, head))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
