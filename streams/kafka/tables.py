"""faust tables as the core sees them: a table whose changelog writes can be
awaited (so offsets are never committed ahead of state), and a plain mapping view."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any

import faust


class DeliveredTable(faust.Table):
    """A table that can wait until its changelog writes are on the broker.

    faust commits a stream's offsets after ``producer.flush()``, but that flush
    gives up when its buffer makes no progress for 0.1 s, so an offset could be
    committed ahead of the table writes it caused; a kill -9 then loses them
    (seen as 1-6 missing records in a thousand). The agents therefore await
    ``delivered()`` before their events can be acked.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[asyncio.Future] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        self._unsent.append(fut)
        return fut

    async def delivered(self) -> None:
        while self._unsent:
            futs, self._unsent = self._unsent, []
            await asyncio.gather(*futs)



def delivered_table(app: faust.App, name: str, partitions: int) -> DeliveredTable:
    table = DeliveredTable(app, name=name, default=None, beacon=app.tables.beacon, partitions=partitions)
    app.tables.add(table)
    return table


class TableMapping(MutableMapping[str, dict]):
    """A faust Table seen as the plain mapping the core expects."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, key: str) -> dict:
        return self.table[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.table.get(key, default)

    def __setitem__(self, key: str, value: dict) -> None:
        self.table[key] = value

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table.keys()))

    def __len__(self) -> int:
        return len(self.table)

    def items(self):  # type: ignore[override]
        return list(self.table.items())

    def keys(self):  # type: ignore[override]
        return list(self.table.keys())
