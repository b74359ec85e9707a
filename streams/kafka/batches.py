"""Micro-batches over a faust stream, with acks under the caller's control
(a replacement for faust's racy ``take_events``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust

from streams.kafka.faust_patches import enable_passive


async def micro_batches(
    stream: faust.Stream, max_size: int, within: float, auto_ack: bool = True, idle: bool = False
) -> AsyncIterator[list[Any]]:
    """Events in batches of at most ``max_size``, waiting at most ``within``
    seconds to fill one. With ``auto_ack`` a batch's events are acked only after
    the caller has processed it (when it asks for the next batch); without it
    the caller acks them itself (``ack_all``), so it can hold two batches at
    once. With ``idle`` an empty batch is yielded after ``within`` seconds
    without events, so a caller holding a batch can finish it.

    faust's ``take_events`` is not used: an event that its background reader
    appends while the previous batch is being processed can be cleared from its
    buffer and acked unprocessed (seen here as ~100 records lost after a worker
    took over partitions). Here the reader hands events over through a bounded
    queue, so an event is either in a batch the caller gets or still queued.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_size)

    async def hand_over(value: Any) -> Any:
        event = stream.current_event
        if event is None:
            raise RuntimeError("a stream value without its event")
        await queue.put(event)
        return value

    stream.enable_acks = False
    stream.add_processor(hand_over)
    enable_passive(stream)  # the reader faust's own take_events uses
    loop = asyncio.get_running_loop()
    while not stream.should_stop:
        try:
            # An item stays queued if a wait is cancelled: nothing is lost.
            batch = [await (asyncio.wait_for(queue.get(), within) if idle else queue.get())]
        except TimeoutError:
            yield []
            continue
        deadline = loop.time() + within
        while len(batch) < max_size:
            if not queue.empty():  # under load: no timer and task per event
                batch.append(queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), left))
            except TimeoutError:
                break
        yield batch
        if auto_ack:
            await ack_all(stream, batch)


async def ack_all(stream: faust.Stream, events: list[Any]) -> None:
    for event in events:
        await stream.ack(event)

